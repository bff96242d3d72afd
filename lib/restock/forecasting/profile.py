"""Series profile: history length, intermittency, demand class, ABC class and lifecycle."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import accumulate
from typing import TYPE_CHECKING, Any

from restock.errors import ConfigError
from restock.forecasting.availability import flag, improbable_silence, series_availability
from restock.grain import DataSettings, Grain
from restock.io.config import section
from restock.io.tables import SERIES_KEYS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

KEYS = SERIES_KEYS
PROFILE_COLUMNS = [
    "sku_id", "location_id", "first_date", "last_sale_date", "history_days", "span_days",
    "nonzero_days", "zero_share", "adi", "cv2", "mean_daily_demand", "demand_std_daily",
    "total_quantity", "sales_value", "value_share_cum", "demand_class", "abc_class",
    "lifecycle", "yearly_strength",
]


@dataclass(frozen=True)
class ProfileSettings:
    """Conf `profile`."""

    sales_value_days: int
    abc_a: float
    abc_b: float
    new_history_days: int
    eol_inactive_days: int
    adi_cutoff: float
    cv2_cutoff: float
    demand_std_days: int
    data: DataSettings

    @property
    def grain(self) -> Grain:
        """The run's grain (conf `data`)."""
        return self.data.grain()

    @classmethod
    def from_conf(
        cls, conf: Mapping[str, Any], data: DataSettings | None = None
    ) -> ProfileSettings:
        """Read and check conf `profile`; data is conf `data`, built once by the settings
        tree (read from conf when not given)."""
        p = section(conf, "profile")
        data = data or DataSettings.from_conf(conf)
        shares = p["abc_shares"]
        a, b = float(shares["A"]), float(shares["B"])
        if not 0 < a < b <= 1:
            raise ConfigError(f"profile.abc_shares needs 0 < A < B <= 1, got A={a}, B={b}")
        return cls(
            int(p["sales_value_days"]), a, b, int(p["new_history_days"]),
            int(p["eol_inactive_days"]), float(p["adi_cutoff"]), float(p["cv2_cutoff"]),
            int(p["demand_std_days"]), data,
        )


def profile(
    daily: DataFrame,
    item_params: DataFrame | None,
    as_of_date: dt.date,
    settings: ProfileSettings,
) -> DataFrame:
    """One profile row per series with sales up to as_of_date.

    Works on periods of the run's grain (`restock.grain`) and only on available ones: closed
    periods, reporting gaps and the periods before the first sale are neither zeros nor
    history (`availability.series_availability`). `history_days` is the available periods ×
    the period's length in days; `span_days` is the calendar time from the start of demand
    history to the as-of period, closed periods counted, reporting gaps not: what a yearly
    model sees (a store closed on Sundays spans two years in two years, not in 28 months).
    Demand class uses the trailing `data.profile_window_days`
    (0 = all): ADI is available periods / periods with demand there; CV² is (std / mean)² of
    the non-zero period quantities (population std). Classes follow Syntetos–Boylan: smooth
    (ADI < 1.32, CV² < 0.49), erratic (ADI < 1.32), intermittent (CV² < 0.49), lumpy; a
    series with no demand at all is `no_demand`. ABC ranks series by sales value (quantity ×
    price from sales, else × unit_cost from item_params) over the trailing window: the
    series that takes the cumulative share past A's cut-off is still A. Lifecycle is
    `end_of_life` when item_params declares it or the last sale is older than
    `eol_inactive_days` and that silence is improbable at the series' own sale rate (below),
    `new` when the history is shorter than `new_history_days`.
    `demand_std_daily` is the population std of period demand (periods without sales count
    as 0) over the trailing `demand_std_days` (or the whole history when shorter), divided
    by √(days per period): the σ_d of the planner's `normal` safety stock. `yearly_strength`
    (null below two whole years, and at W and M, whose season is the year) is
    `calendar.yearly_strength`.
    """
    from pyspark.sql import functions as F

    from restock.forecasting.calendar import yearly_strength

    stats = _stats(daily, item_params, as_of_date, settings)
    if settings.grain.kind == "D":
        stats = stats.join(yearly_strength(daily, as_of_date), KEYS, "left")
    else:  # the season of a weekly or monthly series already is the year
        stats = stats.withColumn("yearly_strength", F.lit(None).cast("double"))
    with_abc = _abc(stats, settings)
    return with_abc.select(*PROFILE_COLUMNS)


def _stats(
    daily: DataFrame, item_params: DataFrame | None, as_of: dt.date, s: ProfileSettings
) -> DataFrame:
    """Per-series aggregates, demand class and lifecycle, on available periods only."""
    from pyspark.sql import functions as F

    grain, data = s.grain, s.data
    q = F.col("quantity")
    is_open = flag(daily, "open") & flag(daily, "in_stock")  # demand, not a closure or stock-out
    sold = (q > 0) & is_open
    window_days = data.profile_window_days
    in_window = (F.col("date") > F.date_sub(F.lit(as_of), window_days)) if window_days > 0 \
        else F.lit(True)
    recent = F.col("date") > F.date_sub(F.lit(as_of), s.sales_value_days)
    trailing = (F.col("date") > F.date_sub(F.lit(as_of), s.demand_std_days)) & is_open
    agg = (
        daily.where(F.col("date") <= F.lit(as_of))
        .groupBy(*KEYS)
        .agg(
            F.min("date").alias("first_date"),
            F.max(F.when(sold, F.col("date"))).alias("last_sale_date"),
            F.count(F.when(sold, 1)).alias("sold_periods"),
            F.count(F.when(sold & in_window, 1)).alias("nonzero_days"),
            F.sum(q).alias("total_quantity"),
            F.avg(F.when(sold & in_window, q)).alias("size_mean"),
            F.var_pop(F.when(sold & in_window, q)).alias("size_var"),
            F.sum(F.when(recent, q)).alias("recent_quantity"),
            F.sum(F.when(recent, F.col("sales_value"))).alias("recent_value"),
            F.count(F.when(trailing, 1)).alias("trailing_rows"),
            F.sum(F.when(trailing, q).otherwise(0.0)).alias("trailing_sum"),
            F.sum(F.when(trailing, q * q).otherwise(0.0)).alias("trailing_sumsq"),
        )
    )
    periods = series_availability(daily, as_of, grain, data, window_days)
    agg = agg.join(periods.select(*KEYS, "available_periods", "window_available_periods",
                                  (F.col("periods") - F.col("gap_periods")).alias("span")),
                   KEYS, "left")
    if item_params is not None:
        params = item_params.select(*KEYS, "unit_cost", F.col("lifecycle").alias("declared"))
        agg = agg.join(params, KEYS, "left")
    else:
        agg = agg.withColumn("unit_cost", F.lit(None).cast("double"))
        agg = agg.withColumn("declared", F.lit(None).cast("string"))
    history = F.greatest(F.lit(1), F.col("available_periods")) * F.lit(grain.period_days)
    window_periods = F.greatest(F.lit(1), F.col("window_available_periods"))
    idle = F.datediff(F.lit(as_of), F.coalesce("last_sale_date", "first_date"))
    # inactive: idle longer than eol_inactive_days and, for a series that has sold, a silence
    # this long improbable at its own rate p (`improbable_silence`, the launch rule's test):
    # a part that sells one month in five is not dead after 4 quiet months
    rate = F.least(F.lit(1.0), F.col("sold_periods") / F.greatest(F.lit(1), "available_periods"))
    silence = improbable_silence(idle / F.lit(grain.period_days), rate)
    inactive = (idle > s.eol_inactive_days) & ((F.col("sold_periods") == 0) | silence)
    trailing_periods = F.greatest(F.lit(1), F.least(
        F.col("available_periods"), F.lit(grain.whole_periods(s.demand_std_days))))
    trailing_mean = F.col("trailing_sum") / trailing_periods
    adi, cv2 = F.col("adi"), F.col("cv2")
    return (
        agg.withColumn("history_days", F.round(history).cast("int"))
        .withColumn("span_days", F.round(F.greatest(F.lit(1), F.col("span"))
                                         * F.lit(grain.period_days)).cast("int"))
        .withColumn("zero_share", 1 - F.col("nonzero_days") / window_periods)
        .withColumn(
            "adi", F.when(F.col("nonzero_days") > 0, window_periods / F.col("nonzero_days"))
        )
        .withColumn("cv2", F.col("size_var") / (F.col("size_mean") ** 2))
        .withColumn("mean_daily_demand", F.col("total_quantity") / history)
        .withColumn(  # σ of one period's demand, as the σ of a day: σ_period / sqrt(days)
            "demand_std_daily",
            F.sqrt(F.greatest(F.lit(0.0), F.col("trailing_sumsq") / trailing_periods
                              - trailing_mean ** 2)) / F.lit(grain.period_days ** 0.5),
        )
        .withColumn(
            "sales_value",
            F.coalesce(
                F.col("recent_value"), F.col("recent_quantity") * F.col("unit_cost"), F.lit(0.0)
            ),
        )
        .withColumn(
            "demand_class",
            F.when(F.col("nonzero_days") == 0, "no_demand")
            .when((adi < s.adi_cutoff) & (cv2 < s.cv2_cutoff), "smooth")
            .when(adi < s.adi_cutoff, "erratic")
            .when(cv2 < s.cv2_cutoff, "intermittent")
            .otherwise("lumpy"),
        )
        .withColumn(
            "lifecycle",
            F.when(
                (F.col("declared") == "end_of_life") | inactive,
                "end_of_life",
            )
            .when(F.col("history_days") < s.new_history_days, "new")
            .otherwise("active"),
        )
    )


def _abc(stats: DataFrame, s: ProfileSettings) -> DataFrame:
    """ABC class by cumulative value share, without moving all series to one partition.

    Series fall into value bands (bounds from approximate quantiles, largest values in
    band 0); each band's total comes to the driver (one number per band) and gives the
    band its starting offset; the running sum is taken within bands.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    bands = int(stats.sparkSession.conf.get("spark.sql.shuffle.partitions"))
    probabilities = [i / bands for i in range(1, bands)]
    cuts = sorted(set(stats.approxQuantile("sales_value", probabilities, 0.01)))
    band = F.lit(0)
    for cut in cuts:  # band = number of cuts above the value: the largest values are band 0
        band = band + (F.col("sales_value") < F.lit(cut)).cast("int")
    banded = stats.withColumn("band", band)
    totals = dict(banded.groupBy("band").agg(F.sum("sales_value")).collect())
    sums = [float(totals.get(b) or 0.0) for b in range(len(cuts) + 1)]
    starts, grand = [0.0, *accumulate(sums)][:-1], sum(sums)
    order = [F.col("sales_value").desc(), *[F.col(k) for k in KEYS]]
    running = F.sum("sales_value").over(
        Window.partitionBy("band").orderBy(*order).rowsBetween(Window.unboundedPreceding, 0)
    )
    cumulative = F.array(*[F.lit(x) for x in starts])[F.col("band")] + running
    share = F.col("value_share_cum")
    before = share - F.col("sales_value") / F.lit(grand or 1.0)
    return banded.withColumn("value_share_cum", cumulative / F.lit(grand or 1.0)).withColumn(
        "abc_class",
        F.when(F.lit(grand) <= 0, "C")
        .when(before < s.abc_a, "A")
        .when(before < s.abc_b, "B")
        .otherwise("C"),
    )
