"""Spark side of the grain and of unavailable periods: detect the grain, bucket sales to
it, mark stock-outs and declared launches, and count per series the periods that are not
demand (closed, out of stock, reporting gap, before its launch). The pandas kernels apply
the same rules in `panel.Availability`.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from restock.forecasting.panel import LAUNCH_EVIDENCE
from restock.grain import DataSettings, Grain, detect
from restock.io.tables import SERIES_KEYS

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

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


def flag(df: DataFrame, name: str) -> Column:
    """Spark: a row's boolean flag `name`; null, or no such column, is True (open, in stock)."""
    from pyspark.sql import functions as F

    return F.coalesce(F.col(name), F.lit(True)) if name in df.columns else F.lit(True)


def with_stockouts(daily: DataFrame, inventory: DataFrame | None, grain: Grain) -> DataFrame:
    """Periods with `in_stock` false: an inventory snapshot in the period says nothing was
    on hand (`on_hand` <= 0) and the period sold nothing: a stock-out, not zero demand.

    A snapshot counts for the period of its `as_of_date` (at W and M, the period ending on or
    after it). A stock-out period without a sales row gets one (quantity 0), from the
    series' first row to the newest sales date; snapshots of series without sales are
    ignored. Without inventory the frame is returned as it is.
    """
    from pyspark.sql import functions as F

    if inventory is None:
        return daily
    newest = daily.agg(F.max("date")).first()[0]
    first = daily.groupBy(*KEYS).agg(F.min("date").alias("first_date"))
    out = (
        inventory.where(F.col("on_hand") <= 0)
        .select(*KEYS, grain.end_col(F.col("as_of_date")).alias("date"))
        .distinct().join(first, KEYS)
        .where((F.col("date") >= F.col("first_date")) & (F.col("date") <= F.lit(newest)))
        .select(*KEYS, "date", F.lit(True).alias("out"))
    )
    joined = daily.join(out, [*KEYS, "date"], "full_outer")
    quantity = F.coalesce(F.col("quantity"), F.lit(0.0))
    added = F.col("quantity").isNull()
    return (
        joined.withColumn("sales_value", F.when(added, F.lit(0.0)).otherwise(F.col("sales_value")))
        .withColumn("quantity", quantity)
        .withColumn("in_stock", ~(F.coalesce(F.col("out"), F.lit(False)) & (quantity <= 0)))
        .drop("out")
    )


def with_launch(daily: DataFrame, item_params: DataFrame | None) -> DataFrame:
    """Sales rows with their series' declared `launch_date` (item_params, optional column;
    null without one): demand history starts at the launch period (`listed_from`)."""
    from pyspark.sql import functions as F

    if item_params is None or "launch_date" not in item_params.columns:
        return daily
    launch = item_params.where(F.col("launch_date").isNotNull()).select(*KEYS, "launch_date")
    return daily.join(F.broadcast(launch), KEYS, "left")


def series_availability(
    daily: DataFrame, as_of_date: dt.date, grain: Grain, settings: DataSettings,
    window_days: int = 0,
) -> DataFrame:
    """Per series, counts of periods by cause, from the first row to the as-of period.

    Columns: first_idx (first row) and start (where demand history starts, `listed_from`;
    period indexes), periods (start .. as-of), rows (periods with a row from the start),
    closed_periods, stockout_periods (open but out of stock, `with_stockouts`),
    gap_periods, prelaunch_periods (first row .. before the start), available_periods =
    periods − closed − stock-out − gap; and the same over the trailing `window_days`
    (`window_available_periods`; 0 = whole history).
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    end = grain.index_of(as_of_date)
    idx = grain.index_col(F.col("date"))
    launch = (grain.index_col(F.col("launch_date")) if "launch_date" in daily.columns
              else F.lit(None)).cast("long")
    is_open, in_stock = flag(daily, "open"), flag(daily, "in_stock")
    rows = daily.where(F.col("date") <= F.lit(as_of_date)).select(
        *KEYS, idx.alias("idx"), (F.col("quantity") > 0).alias("sold"), is_open.alias("is_open"),
        (is_open & in_stock).alias("usable"), launch.alias("launch"))
    by_series = Window.partitionBy(*KEYS)
    rows = rows.withColumn("sale", F.min(F.when(F.col("sold"), F.col("idx"))).over(by_series))
    firsts = rows.groupBy(*KEYS).agg(
        F.min("idx").alias("first_idx"), F.min("sale").alias("sale"),
        F.max("launch").alias("launch"),
        F.countDistinct(F.when(F.col("sold"), F.col("idx"))).alias("sold_periods"),
        F.countDistinct(F.when(F.col("usable") & (F.col("idx") >= F.col("sale")), F.col("idx")))
        .alias("open_periods"))
    rows = rows.drop("sale", "launch").join(
        firsts.select(*KEYS, listed_from(end).alias("start")), KEYS)
    lag = F.lag("idx").over(Window.partitionBy(*KEYS).orderBy("idx"))
    rows = rows.withColumn("prev", F.greatest(F.coalesce(lag, F.col("idx")), F.col("start")))
    starts = _window_start(grain, end, window_days)
    run_len = F.col("idx") - F.col("prev") - 1
    stats = rows.groupBy(*KEYS).agg(
        F.min("idx").alias("first_idx"), F.first("start").alias("start"),
        F.max("idx").alias("last_idx"),
        F.count(F.when(F.col("idx") >= F.col("start"), 1)).alias("rows"),
        F.count(F.when(~F.col("is_open") & (F.col("idx") >= F.col("start")), 1))
        .alias("closed_periods"),
        F.count(F.when(F.col("is_open") & ~F.col("usable") & (F.col("idx") >= F.col("start")), 1))
        .alias("stockout_periods"),
        F.count(F.when(~F.col("usable") & (F.col("idx") >= starts), 1))
        .alias("window_unavailable"),
        F.collect_list(F.when(run_len > 0, F.struct((F.col("prev") + 1).alias("a"),
                                                    (F.col("idx") - 1).alias("b"))))
        .alias("runs"),
    )
    return _with_gaps(stats, grain, end, starts, settings)


def improbable_silence(periods: Column, rate: Column) -> Column:
    """Spark: `periods` periods without a sale are improbable at the sale rate p (a share of
    periods): p >= 1, or (1 - p)^periods < `panel.LAUNCH_EVIDENCE`. The test behind a launch
    (`listed_from`) and behind end of life by inactivity (`profile`)."""
    from pyspark.sql import functions as F

    return F.when(rate >= 1, F.lit(True)).otherwise(
        periods * F.log1p(-rate) < F.lit(math.log(LAUNCH_EVIDENCE)))


def listed_from(end: int) -> Column:
    """Spark form of `panel.listed_from` over the columns first_idx (first row), sale (first
    sale, null for none), launch (declared launch period, null for none), sold_periods
    (distinct periods with a sale) and open_periods (distinct open, in-stock periods with a
    row from the first sale): where demand history starts; `end` is the as-of period."""
    from pyspark.sql import functions as F

    k, m = F.col("sold_periods"), F.col("open_periods")
    rate = F.when((k > 1) & (m > 1), (k - 1) / (m - 1)).otherwise(0.0)
    leading = F.col("sale") - F.col("first_idx")
    launched = (k > 1) & (leading > 0) & improbable_silence(leading, rate)
    wait = F.when(rate > 0, F.rint((1 - rate) / rate)).otherwise(0.0)
    evidence = F.when(launched, F.col("sale") - F.least(wait, leading)).otherwise(
        F.col("first_idx"))
    declared = F.least(F.greatest(F.col("launch"), F.col("first_idx")),
                       F.coalesce(F.col("sale"), F.lit(end)))
    return F.when(F.col("launch").isNotNull(), declared).otherwise(evidence).cast("long")


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
    periods = F.lit(end) - F.col("start") + 1
    coverage = F.col("rows") / periods
    gap = F.aggregate(long_runs, F.lit(0).cast("long"), lambda acc, r: acc + r["b"] - r["a"] + 1)
    in_window = F.aggregate(
        long_runs, F.lit(0).cast("long"),
        lambda acc, r: acc + F.greatest(F.lit(0), r["b"] - F.greatest(r["a"], starts) + 1))
    counted = coverage >= settings.gap_min_coverage
    window_periods = F.lit(end) - F.greatest(F.col("start"), starts) + 1
    return stats.select(
        *KEYS,
        F.col("first_idx"), F.col("start"), periods.alias("periods"), F.col("rows"),
        F.col("closed_periods"), F.col("stockout_periods"),
        F.when(counted, gap).otherwise(0).alias("gap_periods"),
        (F.col("start") - F.col("first_idx")).alias("prelaunch_periods"),
        (window_periods - F.col("window_unavailable")
         - F.when(counted, in_window).otherwise(0)).alias("window_available_periods"),
    ).withColumn(
        "available_periods",
        F.col("periods") - F.col("closed_periods") - F.col("stockout_periods")
        - F.col("gap_periods"),
    )
