"""Class routing as a Spark column: each profiled series' model from conf `routing`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from restock.forecasting.models import check_models

if TYPE_CHECKING:
    from pyspark.sql import Column


def routing_expr(routing: Mapping[str, Any], min_history_days: int) -> Column:
    """Spark expression choosing each profiled series' model from conf `routing`.

    End-of-life series get null (nothing to forecast); histories shorter than
    `min_history_days` get the short-history baseline; the rest their demand class's
    model, overridden per ABC class by `routing.by_abc`.
    """
    from pyspark.sql import functions as F

    by_class = routing.get("by_class") or {}
    check_models(list(by_class.values()), "routing.by_class")
    short = check_models([routing["short_history"]], "routing.short_history")[0]
    expr = F.lit(None).cast("string")
    for demand_class, model in by_class.items():
        expr = F.when(F.col("demand_class") == demand_class, F.lit(model)).otherwise(expr)
    for abc, overrides in (routing.get("by_abc") or {}).items():
        check_models(list(overrides.values()), f"routing.by_abc.{abc}")
        for demand_class, model in overrides.items():
            match = (F.col("abc_class") == abc) & (F.col("demand_class") == demand_class)
            expr = F.when(match, F.lit(model)).otherwise(expr)
    expr = F.when(F.col("history_days") < min_history_days, F.lit(short)).otherwise(expr)
    return F.when(F.col("lifecycle") == "end_of_life", F.lit(None)).otherwise(expr)
