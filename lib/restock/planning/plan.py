"""Assemble one input row per series from forecasts, item params, inventory, profile and
backtest residuals, and plan every series with `bounds.checked_plan` inside `mapInPandas`."""

from __future__ import annotations

import dataclasses
import datetime as dt
from functools import partial
from typing import TYPE_CHECKING

from restock.io.tables import SERIES_KEYS
from restock.planning.bounds import CHECKED_PLAN_SCHEMA, PlanSettings, checked_batches
from restock.planning.planner import PLAN_INPUT_FIELDS
from restock.planning.policy import PolicySettings, interval_z

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

_PARAMS = (
    "lead_time_days", "lead_time_std_days", "review_period_days", "unit_cost", "order_cost",
    "holding_rate", "shortage_cost", "moq", "pack_size", "service_level",
)


def build_plan(
    forecasts: DataFrame,
    item_params: DataFrame,
    inventory: DataFrame,
    profile: DataFrame | None,
    residuals: DataFrame | None,
    *,
    as_of_date: str | dt.date,
    settings: PolicySettings,
    plan_settings: PlanSettings | None = None,
) -> DataFrame:
    """One plan row per series (CHECKED_PLAN_SCHEMA) for every series with item params or a
    forecast.

    Weekly and monthly forecasts are first spread over the days of their periods
    (`daily_forecasts`), so lead time and review period stay in (fractional) days.
    A series forecast by several models (a forced list of models) is planned with the
    first model in sorted order; its backtest residuals are used only for that model.
    Lifecycle comes from the profile, else item params; `end_of_life` declared in item
    params always wins. The caller adds `run_id` and `as_of_date`.

    Args:
        forecasts: one run of the `forecasts` table.
        item_params: the `item_params` input table.
        inventory: the `inventory` input table; per series the latest row dated on or
            before `as_of_date` is used.
        profile: `series_profile` rows of one run, or None (classes left null).
        residuals: `backtest_residuals` rows of one run, or None (normal safety stock).
        as_of_date: the plan date.
        settings: the policy settings (with the forecast interval levels).
        plan_settings: conf `plan` (missing inventory, bounds; default: skip, 1e9).

    Returns:
        The plan, one row per series.
    """
    from pyspark.sql import functions as F

    settings = dataclasses.replace(settings, period_days=_period_days(forecasts, as_of_date))
    forecasts = daily_forecasts(forecasts, settings.levels, as_of_date)
    params = item_params.select(
        *SERIES_KEYS, *_PARAMS, F.col("lifecycle").alias("params_lifecycle"),
        F.lit(True).alias("has_params"),
    )
    rows = (
        params.join(_forecast_series(forecasts, settings.levels), SERIES_KEYS, "full_outer")
        .join(_latest_inventory(inventory, as_of_date), SERIES_KEYS, "left")
        .transform(with_profile, profile)
    )
    if residuals is not None:
        rows = rows.join(_cum_errors(residuals), [*SERIES_KEYS, "model"], "left")
    else:
        rows = rows.withColumn("cum_errors", F.lit(None))
    rows = rows.withColumn("lifecycle", lifecycle())
    typed = rows.select(*[F.col(name).cast(kind).alias(name) for name, kind in PLAN_INPUT_FIELDS])
    checked = partial(checked_batches, policy=settings,
                      plan=plan_settings or PlanSettings.from_conf({}))
    return typed.mapInPandas(checked, CHECKED_PLAN_SCHEMA)


def daily_forecasts(
    forecasts: DataFrame, levels: tuple[float, ...], as_of_date: str | dt.date
) -> DataFrame:
    """Forecasts of periods longer than a day as one row per day: each period's yhat spread
    evenly over its days (the day after the previous period's end .. its end), each
    interval half-width scaled by 1/√days (the daily σ of a sum of independent days);
    `step` becomes days after the as-of date. Daily forecasts come back unchanged."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    as_of = F.lit(str(as_of_date)).cast("date")
    first = forecasts.where(F.col("step") == 1).agg(F.max(F.datediff("date", as_of))).first()[0]
    if first is None or first <= 1:
        return forecasts
    order = Window.partitionBy(*SERIES_KEYS, "model").orderBy("step")
    begin = F.coalesce(F.lag("date").over(order), as_of)
    dated = forecasts.where(F.col("step").isNotNull()).withColumn("begin", begin).withColumn(
        "days", F.greatest(F.lit(1), F.datediff("date", "begin")))
    spread = dated.withColumn("k", F.explode(F.sequence(F.lit(1), F.col("days")))).withColumn(
        "date", F.date_add("begin", F.col("k")))
    mean = F.col("yhat") / F.col("days")
    bounds = {f"{b}_{lv}": mean + (F.col(f"{b}_{lv}") - F.col("yhat")) / F.sqrt(F.col("days"))
              for lv in levels for b in ("lo", "hi") if f"{b}_{lv}" in forecasts.columns}
    daily = spread.withColumns({
        "step": F.datediff("date", as_of).cast("int"), "yhat": mean,
        **{name: F.greatest(F.lit(0.0), bound) for name, bound in bounds.items()},
    }).select(*forecasts.columns)
    return daily.unionByName(forecasts.where(F.col("step").isNull()))


def _period_days(forecasts: DataFrame, as_of_date: str | dt.date) -> float:
    """Mean days per forecast step: 1 at D, 7 at W, about 30.4 at M (the backtest errors'
    steps too, `policy.error_blocks`); read from the forecasts, so a plan of another run's
    forecasts needs no grain in conf."""
    from pyspark.sql import functions as F

    as_of = F.lit(str(as_of_date)).cast("date")
    steps, days = forecasts.where(F.col("step").isNotNull()).agg(
        F.max("step"), F.max(F.datediff("date", as_of))).first()
    return float(days) / float(steps) if steps and days and days > steps else 1.0


def _forecast_series(forecasts: DataFrame, levels: tuple[float, ...]) -> DataFrame:
    """Per series: the first model in sorted order, its yhat array by step, and σ_d.

    σ_d = (hi_W − yhat) / z_W for the widest level W, z_W = Φ⁻¹(0.5 + W/200), at the
    first step whose hi_W is positive (a known closure is forecast 0, interval too), else
    at step 1 (`policy.first_open` is the replay's form); null without intervals. A failed
    series (no yhat) keeps a row with a null array.
    """
    from pyspark.sql import functions as F

    point = F.col("yhat").isNotNull() & F.col("step").isNotNull()
    hi = F.col(f"hi_{max(levels)}") if levels else F.lit(None)
    sigma = F.struct("step", _sigma(levels).alias("sigma"))
    per_model = forecasts.groupBy(*SERIES_KEYS, "model").agg(
        F.sort_array(F.collect_list(F.when(point, F.struct("step", "yhat")))).alias("points"),
        F.coalesce(F.min(F.when(point & (hi > 0), sigma))["sigma"],
                   F.max(F.when(F.col("step") == 1, _sigma(levels)))).alias("sigma_daily"),
    )
    first = per_model.groupBy(*SERIES_KEYS).agg(
        F.min(F.struct("model", "points", "sigma_daily")).alias("chosen")
    )
    points = F.col("chosen.points")
    return first.select(
        *SERIES_KEYS,
        F.col("chosen.model").alias("model"),
        F.when(F.size(points) > 0, points.getField("yhat")).alias("yhat"),
        F.col("chosen.sigma_daily").alias("sigma_daily"),
    )


def _sigma(levels: tuple[float, ...]) -> Column:
    """One-step σ_d from the widest interval's upper bound (null without levels): the
    Spark form of `policy.interval_sigma`, which the replay uses."""
    from pyspark.sql import functions as F

    if not levels:
        return F.lit(None).cast("double")
    return (F.col(f"hi_{max(levels)}") - F.col("yhat")) / F.lit(interval_z(levels))


def _latest_inventory(inventory: DataFrame, as_of_date: str | dt.date) -> DataFrame:
    """The latest inventory row dated on or before as_of_date, per series."""
    from pyspark.sql import functions as F

    latest = (
        inventory.where(F.col("as_of_date") <= F.lit(str(as_of_date)).cast("date"))
        .groupBy(*SERIES_KEYS)
        .agg(F.max(F.struct("as_of_date", "on_hand", "on_order", "backorders")).alias("inv"))
    )
    return latest.select(
        *SERIES_KEYS, "inv.on_hand", "inv.on_order", "inv.backorders",
        F.lit(True).alias("has_inventory"),
    )


def lifecycle() -> Column:
    """A series' lifecycle: `end_of_life` declared in item params always wins, then the
    profile's, then the item params', else `active` (needs `params_lifecycle` and
    `profile_lifecycle` columns)."""
    from pyspark.sql import functions as F

    return F.when(F.col("params_lifecycle") == "end_of_life", "end_of_life").otherwise(
        F.coalesce("profile_lifecycle", "params_lifecycle", F.lit("active"))
    )


def with_profile(rows: DataFrame, profile: DataFrame | None) -> DataFrame:
    """Add demand class, ABC class, the profile's lifecycle and the trailing std of daily
    demand (all null without a profile)."""
    from pyspark.sql import functions as F

    if profile is None:
        return rows.select(
            "*", *[F.lit(None).cast("string").alias(c)
                   for c in ("demand_class", "abc_class", "profile_lifecycle")],
            F.lit(None).cast("double").alias("demand_std_daily"),
        )
    std = "demand_std_daily"  # absent from profiles written before it existed
    classes = profile.select(
        *SERIES_KEYS, "demand_class", "abc_class", F.col("lifecycle").alias("profile_lifecycle"),
        F.col(std) if std in profile.columns else F.lit(None).cast("double").alias(std),
    )
    return rows.join(classes, SERIES_KEYS, "left")


def _cum_errors(residuals: DataFrame) -> DataFrame:
    """Backtest cumulative errors per series and model, one array per cutoff, by cutoff."""
    from pyspark.sql import functions as F

    windows = F.sort_array(F.collect_list(F.struct("cutoff", "cum_error")))
    return (
        residuals.groupBy(*SERIES_KEYS, "model")
        .agg(windows.alias("windows"))
        .select(*SERIES_KEYS, "model", F.col("windows.cum_error").alias("cum_errors"))
    )
