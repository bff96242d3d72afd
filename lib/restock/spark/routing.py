"""Class routing as Spark columns: which model(s) each profiled series gets.

The routing policy lives here once: demand class (and ABC overrides) from conf `routing`,
the short-history baseline, the yearly model for series with a material yearly cycle,
then `forecast.models` (auto: the backtest's selection where there is one).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from restock.errors import ConfigError
from restock.forecasting.models import DEMAND_CLASSES, check_models
from restock.io.config import section
from restock.io.tables import SERIES_KEYS

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from restock.forecasting.calendar import CalendarSettings


@dataclass(frozen=True)
class RoutingSettings:
    """Conf `routing`, with the calendar's yearly rule it applies on top."""

    min_history_days: int
    short_history: str
    by_class: tuple[tuple[str, str], ...]
    by_abc: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]
    calendar: CalendarSettings

    @classmethod
    def from_conf(cls, conf: Mapping[str, Any], calendar: CalendarSettings) -> RoutingSettings:
        """Read and check conf `routing` (model names, demand classes)."""
        r = section(conf, "routing")
        by_class = dict(r.get("by_class") or {})
        _check_classes(by_class, "routing.by_class")
        check_models(list(by_class.values()), "routing.by_class")
        by_abc = []
        for abc, overrides in (r.get("by_abc") or {}).items():
            if not isinstance(overrides, Mapping):
                raise ConfigError(f"routing.by_abc.{abc}: expected a map of demand class to model")
            _check_classes(overrides, f"routing.by_abc.{abc}")
            check_models(list(overrides.values()), f"routing.by_abc.{abc}")
            by_abc.append((str(abc), tuple(overrides.items())))
        if int(r["min_history_days"]) < 1:
            raise ConfigError("routing.min_history_days: expected >= 1")
        return cls(
            min_history_days=int(r["min_history_days"]),
            short_history=check_models([r["short_history"]], "routing.short_history")[0],
            by_class=tuple(by_class.items()), by_abc=tuple(by_abc), calendar=calendar,
        )


def routing_expr(routing: RoutingSettings) -> Column:
    """Spark expression choosing each profiled series' model from conf `routing`.

    End-of-life series get null (nothing to forecast); histories shorter than
    `min_history_days` get the short-history baseline; the rest their demand class's
    model, overridden per ABC class by `routing.by_abc`.
    """
    from pyspark.sql import functions as F

    expr = F.lit(None).cast("string")
    for demand_class, model in routing.by_class:
        expr = F.when(F.col("demand_class") == demand_class, F.lit(model)).otherwise(expr)
    for abc, overrides in routing.by_abc:
        for demand_class, model in overrides:
            match = (F.col("abc_class") == abc) & (F.col("demand_class") == demand_class)
            expr = F.when(match, F.lit(model)).otherwise(expr)
    short = F.col("history_days") < routing.min_history_days
    expr = F.when(short, F.lit(routing.short_history)).otherwise(expr)
    return F.when(F.col("lifecycle") == "end_of_life", F.lit(None)).otherwise(expr)


def routes(
    spark: SparkSession,
    profiled: DataFrame,
    routing: RoutingSettings,
    models: str | tuple[str, ...],
    selection: DataFrame | None,
) -> DataFrame:
    """sku_id, location_id, model, form: the model(s) to fit per live series, and the
    searched form the selection's backtest found for its model (null: search it).

    Args:
        spark: the session (for the forced-model frame).
        profiled: `series_profile` rows.
        routing: the routing settings.
        models: `auto` (the selection's model where there is one, else routing), `routed`
            (routing only), or model names fitted for every live series.
        selection: `model_selection` rows of the run's backtest (auto only), or None.
    """
    from pyspark.sql import functions as F

    cal = routing.calendar
    routed = profiled.withColumn("model", routing_expr(routing))
    yearly = cal.yearly_eligible() & F.col("model").isNotNull()
    routed = routed.withColumn(
        "model", F.when(yearly, F.lit(cal.yearly_model)).otherwise(F.col("model"))
    )
    live = routed.where(F.col("model").isNotNull())
    if models in ("routed", "auto"):
        form = F.lit(None)
        if models == "auto" and selection is not None:
            form = F.col("form") if "form" in selection.columns else form  # pre-form tables
            chosen = selection.select(*SERIES_KEYS, F.col("model").alias("selected"),
                                      form.alias("selected_form"))
            live = live.join(chosen, SERIES_KEYS, "left").withColumn(
                "model", F.coalesce("selected", "model"))
            form = F.col("selected_form")
        return live.select(*SERIES_KEYS, "model", form.cast("string").alias("form"))
    forced = spark.createDataFrame([(n, None) for n in models], "model string, form string")
    return live.select(*SERIES_KEYS).crossJoin(F.broadcast(forced))


def _check_classes(mapping: Mapping[str, Any], where: str) -> None:
    """Every key must be a demand class."""
    unknown = [k for k in mapping if k not in DEMAND_CLASSES]
    if unknown:
        raise ConfigError(f"{where}: unknown demand class(es) {', '.join(map(str, unknown))}; "
                          f"known: {', '.join(DEMAND_CLASSES)}")
