"""Calendar-aware forecasting, the Spark side: conf `calendar`, the events and promotion days
the per-bucket functions get, the yearly seasonal strength of a series, and which series
get the multi-seasonal model."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from restock.errors import ConfigError, DataQualityError
from restock.forecasting.exog import Events
from restock.forecasting.models import DEMAND_CLASSES, check_models
from restock.forecasting.panel import EPOCH
from restock.io.config import section

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

UPLIFT_MODES = ("posthoc", "none")
MAX_EVENT_ROWS = 1_000_000  # the calendar travels to every executor: it must stay small
WEEKS_YEAR_DAYS = 364  # 13 periods of 28 days: whole weeks, so the weekly cycle averages out
PERIOD_DAYS = 28


@dataclass(frozen=True)
class CalendarSettings:
    """Conf `calendar`."""

    features: bool
    uplift: str
    min_event_days: int
    baseline_days: int
    yearly_model: str
    yearly_classes: tuple[str, ...]
    min_yearly_strength: float
    min_yearly_history_days: int
    benchmark: str | None = None

    @property
    def uplift_rule(self) -> tuple[str, int, int]:
        """(mode, min_event_days, baseline_days) for `Guarded`."""
        return self.uplift, self.min_event_days, self.baseline_days

    @classmethod
    def from_conf(cls, conf: Mapping[str, Any]) -> CalendarSettings:
        """Read and check conf `calendar`."""
        c = section(conf, "calendar")
        uplift = str(c["uplift"])
        if uplift not in UPLIFT_MODES:
            raise ConfigError(f"calendar.uplift must be one of {UPLIFT_MODES}, got '{uplift}'")
        classes = tuple(c["yearly_classes"])
        unknown = [k for k in classes if k not in DEMAND_CLASSES]
        if unknown:
            raise ConfigError(f"calendar.yearly_classes: unknown demand class(es) {unknown}")
        return cls(
            features=bool(c["features"]),
            uplift=uplift,
            min_event_days=int(c["min_event_days"]),
            baseline_days=int(c["baseline_days"]),
            yearly_model=check_models([c["yearly_model"]], "calendar.yearly_model")[0],
            yearly_classes=classes,
            min_yearly_strength=float(c["min_yearly_strength"]),
            min_yearly_history_days=int(c["min_yearly_history_days"]),
            benchmark=(check_models([c["benchmark"]], "calendar.benchmark")[0]
                       if c.get("benchmark") else None),
        )

    def yearly_eligible(self) -> Column:
        """Spark condition on `series_profile` rows: the yearly component is material.

        Yearly strength at least `min_yearly_strength` (at W and M, where the season already
        is the year and the profile measures no strength, any), a span of history
        (`series_profile.span_days`: closed days counted, reporting gaps not) at least
        `min_yearly_history_days`, demand class in `yearly_classes`, not end of life.
        """
        from pyspark.sql import functions as F

        return (
            F.coalesce(F.col("yearly_strength") >= F.lit(self.min_yearly_strength), F.lit(True))
            & (F.coalesce("span_days", "history_days")  # profiles written before span_days
               >= F.lit(self.min_yearly_history_days))
            & F.col("demand_class").isin(*self.yearly_classes)
            & (F.col("lifecycle") != "end_of_life")
        )


def collect_events(calendar: DataFrame | None, promotions: bool) -> Events | None:
    """The calendar's distinct (date, location, type) rows to the driver; None without inputs.

    The calendar is one row per event day (and location): small whatever the number of
    series; more than MAX_EVENT_ROWS rows is refused.
    """
    from pyspark.sql import functions as F

    if calendar is None and not promotions:
        return None
    if calendar is None:
        return Events(promotions=promotions)
    location = F.col("location_id") if "location_id" in calendar.columns else F.lit(None)
    rows = calendar.select(
        F.datediff("date", F.lit(EPOCH)).alias("day"), location.cast("string").alias("loc"),
        "event_type",
    ).distinct().limit(MAX_EVENT_ROWS + 1).toPandas()
    if len(rows) > MAX_EVENT_ROWS:
        raise DataQualityError(
            f"table 'calendar' has more than {MAX_EVENT_ROWS} distinct (date, location_id, "
            "event_type) rows; it is meant to list events, not every day"
        )
    return Events(
        day=rows["day"].to_numpy(dtype=np.int64),
        location=rows["loc"].to_numpy(dtype=object),
        event_type=rows["event_type"].astype(str).to_numpy(dtype=object),
        promotions=promotions,
    )


def promo_days(promotions: DataFrame, last_date: dt.date) -> DataFrame:
    """One row per series and promotion day up to last_date (sku_id, location_id, date)."""
    from pyspark.sql import functions as F

    last = F.least(F.col("end_date"), F.lit(last_date))
    return (
        promotions.where(F.col("start_date") <= F.lit(last_date))
        .select("sku_id", "location_id", F.explode(F.sequence("start_date", last)).alias("date"))
        .distinct()
    )


def yearly_strength(daily: DataFrame, as_of: dt.date) -> DataFrame:
    """Per series with at least two whole years: the strength of its yearly cycle, in [0, 1].

    The newest k whole 364-day years (k ≥ 2) before as_of are cut into 13 periods of 28
    days; r_yp = mean daily demand of period p in year y / mean of year y (trend between
    years removed). With S_p the mean of r over the years, the within-period variance
    `s_w² = Σ (r_yp − S_p)² / (13·(k − 1))` estimates the noise and `s²` (sample variance
    of all r) the total: strength = max(0, 1 − s_w² / s²) — 0 for noise, → 1 for a cycle
    that repeats every year. Series with fewer than two whole years get no row.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    keys = ["sku_id", "location_id"]
    n_periods = WEEKS_YEAR_DAYS // PERIOD_DAYS
    age = F.datediff(F.lit(as_of), F.col("date"))
    recent = daily.where(F.col("date") <= F.lit(as_of))
    spans = recent.groupBy(*keys).agg(
        F.floor((F.datediff(F.lit(as_of), F.min("date")) + 1) / WEEKS_YEAR_DAYS).alias("years")
    ).where(F.col("years") >= 2)
    grid = spans.select(  # every (year, period) cell: a period without sales is 0, not absent
        *keys, F.explode(F.sequence(F.lit(0), F.col("years") - 1)).alias("year")
    ).select("*", F.explode(F.array(*[F.lit(p) for p in range(n_periods)])).alias("period"))
    sums = (
        recent.withColumn("year", F.floor(age / WEEKS_YEAR_DAYS))
        .withColumn("period", F.floor((age % WEEKS_YEAR_DAYS) / PERIOD_DAYS))
        .groupBy(*keys, "year", "period")
        .agg(F.sum("quantity").alias("quantity"))
    )
    cells = grid.join(sums, [*keys, "year", "period"], "left").select(
        *keys, "year", "period",
        (F.coalesce(F.col("quantity"), F.lit(0.0)) / PERIOD_DAYS).alias("mean_daily"),
    )
    full = cells.groupBy(*keys, "year").agg(F.sum("mean_daily").alias("total"))
    ratios = cells.join(full, [*keys, "year"]).where(F.col("total") > 0).withColumn(
        "ratio", F.col("mean_daily") * n_periods / F.col("total")
    )
    by_period = Window.partitionBy(*keys, "period")
    ratios = ratios.withColumn("dev", F.col("ratio") - F.avg("ratio").over(by_period))
    stats = ratios.groupBy(*keys).agg(
        F.countDistinct("year").alias("k"),
        F.sum(F.col("dev") ** 2).alias("within"),
        F.var_samp("ratio").alias("total_var"),
    )
    # try_divide: a flat series has total_var 0 (null strength, not an ANSI divide error)
    strength = F.greatest(
        F.lit(0.0),
        1 - F.try_divide(F.col("within") / (n_periods * (F.col("k") - 1)), F.col("total_var")),
    )
    return stats.where(F.col("k") >= 2).select(
        *keys, F.when(F.col("total_var") > 0, strength).otherwise(0.0).alias("yearly_strength")
    )
