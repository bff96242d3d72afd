"""Spark side of the grain and of unavailable periods: detect the grain, bucket sales to
it, and count per series the periods that are not demand (closed, reporting gap, before
the first sale). The pandas kernels apply the same rules in `panel.Availability`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from restock.grain import DataSettings, Grain, detect
from restock.io.tables import SERIES_KEYS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

KEYS = SERIES_KEYS
MAX_DETECT_DATES = 50_000  # distinct dates read to the driver for detection (137 years daily)


def resolve_grain(conf: Mapping[str, Any], daily: DataFrame) -> tuple[Grain, str]:
    """The run's grain and a sentence: detected from the distinct sales dates when conf
    `data.frequency` is auto, else the one given (with the count of off-grain dates, which
    go to the period ending on or after them); `data.aggregate_to` wins."""
    from pyspark.sql import functions as F

    settings = DataSettings.from_conf(conf)
    dates = [r[0] for r in daily.select("date").distinct().limit(MAX_DETECT_DATES).collect()]
    found, message = detect(dates)
    if settings.frequency != "auto":
        found = Grain.parse(settings.frequency)
        message = f"grain {found.name} from data.frequency"
    grain = Grain.parse(settings.aggregate_to) if settings.aggregate_to else found
    off = daily.where(grain.end_col(F.col("date")) != F.col("date")).select("date").distinct()
    off_count = off.count()
    if settings.aggregate_to:
        message += f"; aggregated to {grain.name} (data.aggregate_to)"
    if off_count:
        message += (f"; {off_count} distinct date(s) not on the grain summed into the "
                    f"{grain.name} period ending on or after them")
    return grain, message


def to_grain(daily: DataFrame, grain: Grain) -> DataFrame:
    """Daily sales summed per series and period, dated by the period's last day.

    A period is closed (`open` false) only when every row of it is; promo when any row is.
    """
    from pyspark.sql import functions as F

    if grain.kind == "D":
        return daily
    optional = [F.max(c).alias(c) for c in ("promo", "open") if c in daily.columns]
    return (
        daily.withColumn("date", grain.end_col(F.col("date")))
        .groupBy(*KEYS, "date")
        .agg(F.sum("quantity").alias("quantity"), F.sum("sales_value").alias("sales_value"),
             *optional)
    )


def series_availability(
    daily: DataFrame, as_of_date: dt.date, grain: Grain, settings: DataSettings,
    window_days: int = 0,
) -> DataFrame:
    """Per series, counts of periods by cause, from the first row to the as-of period.

    Columns: first_idx (first row) and first_sale (period indexes), periods (first sale
    .. as-of), rows (periods with a row from the first sale), closed_periods,
    gap_periods, prelaunch_periods (first row .. before the first sale),
    available_periods = periods − closed − gap; and the same three over the trailing
    `window_days` (`window_available_periods`; 0 = whole history).
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    end = grain.index_of(as_of_date)
    idx = grain.index_col(F.col("date"))
    is_open = F.coalesce(F.col("open"), F.lit(True)) if "open" in daily.columns else F.lit(True)
    rows = daily.where(F.col("date") <= F.lit(as_of_date)).select(
        *KEYS, idx.alias("idx"), (F.col("quantity") > 0).alias("sold"), is_open.alias("is_open"))
    first_sale = F.min(F.when(F.col("sold"), F.col("idx"))).over(Window.partitionBy(*KEYS))
    rows = rows.withColumn("first_sale", F.coalesce(first_sale, F.min("idx").over(
        Window.partitionBy(*KEYS))))
    lag = F.lag("idx").over(Window.partitionBy(*KEYS).orderBy("idx"))
    rows = rows.withColumn("prev", F.greatest(F.coalesce(lag, F.col("idx")), F.col("first_sale")))
    starts = _window_start(grain, end, window_days)
    run_len = F.col("idx") - F.col("prev") - 1
    stats = rows.groupBy(*KEYS).agg(
        F.min("idx").alias("first_idx"), F.first("first_sale").alias("first_sale"),
        F.max("idx").alias("last_idx"),
        F.count(F.when(F.col("idx") >= F.col("first_sale"), 1)).alias("rows"),
        F.count(F.when(~F.col("is_open") & (F.col("idx") >= F.col("first_sale")), 1))
        .alias("closed_periods"),
        F.count(F.when(~F.col("is_open") & (F.col("idx") >= starts), 1)).alias("window_closed"),
        F.collect_list(F.when(run_len > 0, F.struct((F.col("prev") + 1).alias("a"),
                                                    (F.col("idx") - 1).alias("b"))))
        .alias("runs"),
    )
    return _with_gaps(stats, grain, end, starts, settings)


def _window_start(grain: Grain, end: int, window_days: int) -> Any:
    """First period index of the trailing window (a very small number for no window)."""
    from pyspark.sql import functions as F

    if window_days <= 0:
        return F.lit(-(10**9))
    return F.lit(end - grain.whole_periods(window_days) + 1)


def _with_gaps(stats: DataFrame, grain: Grain, end: int, starts: Any,
               settings: DataSettings) -> DataFrame:
    """Add the reporting-gap periods (whole history and window) and the derived counts."""
    from pyspark.sql import functions as F

    least = settings.gap_periods(grain)
    trailing = F.struct((F.col("last_idx") + 1).alias("a"), F.lit(end).cast("long").alias("b"))
    all_runs = F.concat(F.col("runs"), F.array(trailing))
    long_runs = F.filter(all_runs, lambda r: r["b"] - r["a"] + 1 >= least)
    periods = F.lit(end) - F.col("first_sale") + 1
    coverage = F.col("rows") / periods
    gap = F.aggregate(long_runs, F.lit(0).cast("long"), lambda acc, r: acc + r["b"] - r["a"] + 1)
    in_window = F.aggregate(
        long_runs, F.lit(0).cast("long"),
        lambda acc, r: acc + F.greatest(F.lit(0), r["b"] - F.greatest(r["a"], starts) + 1))
    counted = coverage >= settings.gap_min_coverage
    window_periods = F.lit(end) - F.greatest(F.col("first_sale"), starts) + 1
    return stats.select(
        *KEYS,
        F.col("first_idx"), F.col("first_sale"), periods.alias("periods"), F.col("rows"),
        F.col("closed_periods"),
        F.when(counted, gap).otherwise(0).alias("gap_periods"),
        (F.col("first_sale") - F.col("first_idx")).alias("prelaunch_periods"),
        (window_periods - F.col("window_closed")
         - F.when(counted, in_window).otherwise(0)).alias("window_available_periods"),
    ).withColumn(
        "available_periods", F.col("periods") - F.col("closed_periods") - F.col("gap_periods")
    )
