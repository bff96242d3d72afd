"""The data-quality report: one row per check in `data_quality`, each ok, warn or fail.

Checks on the validated sales of a run (the daily totals of accepted rows) and on the
validation's counts:

- `missing_day_rate`: share of periods of the run's grain (days at D), per series from
  its first sale to the as-of date and pooled over series, without a sales row and not
  in a reporting gap (those are zero demand); the message names the worst series.
- `reporting_gap_share`: share of series with a reporting gap (`data.gap_min_days`).
- `unavailable_share`: closed, out-of-stock and reporting-gap periods / periods from the
  start of demand history; the message gives the counts by cause (closed, out of stock,
  gap, before the launch) and names the worst series.
- `duplicate_rate`: exact duplicate rows / rows read.
- `negative_share`: rows with a negative quantity (returns) / rows read.
- `freshness_days`: days from the newest sale to the reference date (today, or the
  `--as-of-date` given).
- `short_history_share`: share of series with fewer days of history than
  `routing.min_history_days`.
- `outlier_share`: non-zero days the outlier rule (`outliers.py`) caps / non-zero days.
- `implausible_share`: rows rejected by a plausibility bound (`quality.max_quantity`,
  `quality.max_relative_quantity`) / rows read.

A value above its `warn` threshold warns; above `fail` fails the run (conf
`quality.checks.<check>`; null = never).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from restock.errors import ConfigError, DataQualityError
from restock.forecasting.availability import series_availability
from restock.forecasting.panel import build_panel
from restock.grain import Grain
from restock.io.config import section
from restock.quality.outliers import OutlierRule
from restock.quality.rules import implausible_rows

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from restock.app.settings import Settings
    from restock.quality.rules import QualityReport

CHECKS = ("missing_day_rate", "reporting_gap_share", "unavailable_share", "duplicate_rate",
          "negative_share", "freshness_days", "short_history_share", "outlier_share",
          "implausible_share")
SCHEMA = ("check string, value double, threshold double, severity string, message string, "
          "as_of_date date")


@dataclass(frozen=True)
class Check:
    """One row of `data_quality`."""

    check: str
    value: float
    threshold: float | None
    severity: str
    message: str
    as_of_date: dt.date


@dataclass(frozen=True)
class CheckLimits:
    """Conf `quality.checks`: (warn, fail) per check (None = never); a check not listed
    never warns."""

    limits: tuple[tuple[str, float | None, float | None], ...]

    @classmethod
    def from_conf(cls, conf: Mapping[str, Any]) -> CheckLimits:
        """Read and check conf `quality.checks`."""
        given = section(conf, "quality").get("checks") or {}
        unknown = set(given) - set(CHECKS)
        if unknown:
            raise ConfigError(f"quality.checks: unknown check(s) {', '.join(sorted(unknown))} "
                              f"(known: {', '.join(CHECKS)})")
        out = []
        for name in CHECKS:
            limits = given.get(name) or {}
            warn, fail = limits.get("warn"), limits.get("fail")
            out.append((name, None if warn is None else float(warn),
                        None if fail is None else float(fail)))
        return cls(tuple(out))

    def of(self, name: str) -> tuple[float | None, float | None]:
        """(warn, fail) of one check."""
        return next((w, f) for n, w, f in self.limits if n == name)


def judge(name: str, value: float, limits: tuple[float | None, float | None], what: str,
          as_of: dt.date) -> Check:
    """A check's severity: fail above `fail`, warn above `warn`, else ok."""
    warn, fail = limits
    for severity, limit in (("fail", fail), ("warn", warn)):
        if limit is not None and value > limit:
            message = f"{name} {value:.4g} > {severity} {limit:g}: {what}"
            return Check(name, value, limit, severity, message, as_of)
    return Check(name, value, warn if warn is not None else fail, "ok", what, as_of)


def run_checks(
    daily: DataFrame,
    report: QualityReport,
    settings: Settings,
    *,
    as_of_date: dt.date,
    reference_date: dt.date,
    buckets: int,
) -> list[Check]:
    """Compute every check (three small aggregates reach the driver, nothing per series).

    Args:
        daily: accepted daily sales (sku_id, location_id, date, quantity[, promo]).
        report: the sales validation's counts.
        settings: the run's settings (`checks`, `routing.min_history_days`, `outliers`).
        as_of_date: the run's last day of history.
        reference_date: freshness is measured up to this day.
        buckets: series groups for the outlier count (one pandas call each).
    """
    from pyspark.sql import functions as F

    limits = settings.checks
    min_days = settings.routing.min_history_days
    history = daily.where(F.col("date") <= F.lit(as_of_date))
    first, newest = history.agg(F.min("date"), F.max("date")).first()
    if first is None:
        raise DataQualityError(f"table 'sales' has no accepted rows up to {as_of_date}")
    grain = settings.forecast.grain
    per_series = series_availability(history, as_of_date, grain, settings.data)
    series, short, found = availability_checks(per_series, grain, min_days)
    rows = max(report.rows_in, 1)
    duplicates = report.by_reason.get("duplicate row", 0)
    negatives = report.by_reason.get("negative quantity (return)", 0) + report.negatives_zeroed
    fresh = (reference_date - newest).days
    implausible = implausible_rows(report.by_reason)
    found += [
        ("duplicate_rate", duplicates / rows, f"{duplicates} of {report.rows_in} rows are exact "
         "duplicates"),
        ("negative_share", negatives / rows, f"{negatives} of {report.rows_in} rows have a "
         "negative quantity"),
        ("freshness_days", float(fresh), f"the newest sale is {newest}, {fresh} days before "
         f"{reference_date}"),
        ("short_history_share", (short or 0) / series, f"{short or 0} of {series} series have "
         f"under {min_days} days of history"),
        ("implausible_share", implausible / rows, f"{implausible} of {report.rows_in} rows "
         "hold an implausible quantity (quality.max_quantity, max_relative_quantity)"),
    ]
    rule = settings.outliers
    if rule.enabled:
        capped, nonzero = outlier_counts(history, rule, as_of_date, buckets, grain)
        found.append(("outlier_share", capped / max(nonzero, 1), f"{capped} of {nonzero} "
                      f"non-zero days above median + {rule.mad_k:g}·MAD of their series"))
    return [judge(name, float(value), limits.of(name), what, as_of_date)
            for name, value, what in found]


def availability_checks(
    per_series: DataFrame, grain: Grain, min_days: int
) -> tuple[int, int, list[tuple]]:
    """(series, series under `min_days` of available history, [missing_day_rate,
    reporting_gap_share, unavailable_share]) from per-series counts
    (`availability.series_availability`), in one aggregate: the sums and the worst series
    of each check reach the driver, nothing per series."""
    from pyspark.sql import functions as F

    missing = F.col("periods") - F.col("rows") - F.col("gap_periods")
    unavailable = F.col("closed_periods") + F.col("stockout_periods") + F.col("gap_periods")

    def worst(value: Column) -> Column:  # largest value; ties: the first series by keys
        return F.min(F.struct((-value).alias("key"), "sku_id", "location_id",
                              value.alias("v"), "periods"))

    row = per_series.agg(
        F.count(F.lit(1)),
        F.sum((F.col("available_periods") * grain.period_days < min_days).cast("long")),
        F.sum("periods"), F.sum(missing), F.sum("closed_periods"), F.sum("gap_periods"),
        F.sum("prelaunch_periods"), F.count(F.when(F.col("gap_periods") > 0, 1)),
        F.sum("stockout_periods"),
        worst(missing), worst(F.col("gap_periods")), worst(unavailable),
    ).first()
    series, short, periods, missed, closed, gap, prelaunch, gapped, stockout = (
        int(v or 0) for v in row[:9])
    worst_missing, worst_gap, worst_unavailable = row[9:]
    unit = {"D": "days", "W": "weeks", "M": "months"}[grain.kind]

    def named(w: Any) -> str:
        if w is None or not w.v:  # every series at 0: there is no worst one to name
            return f"no series has any such {unit}"
        return f"worst {w.sku_id}/{w.location_id}: {int(w.v)} of {w.periods} {unit}"

    return series, short, [
        ("missing_day_rate", missed / max(periods, 1),
         f"{missed} of {periods} series-{unit} ({grain.name}, first sale .. as-of) have no "
         f"sales row outside reporting gaps; {named(worst_missing)}"),
        ("reporting_gap_share", gapped / max(series, 1),
         f"{gapped} of {series} series have a reporting gap ({gap} {unit} in all, not "
         f"counted as zeros); {named(worst_gap)}"),
        ("unavailable_share", (closed + stockout + gap) / max(periods, 1),
         f"unavailable {unit}: {closed} closed, {stockout} out of stock, {gap} in reporting "
         f"gaps, {prelaunch} before launch; {named(worst_unavailable)}"),
    ]


def outlier_counts(
    history: DataFrame, rule: OutlierRule, as_of_date: dt.date, buckets: int,
    grain: Grain | None = None,
) -> tuple[int, int]:
    """(capped days, non-zero days) over all series: the fitting rule, per bucket of series."""
    from pyspark.sql import functions as F

    from restock.spark.buckets import bucket_of

    grain = grain or Grain()
    columns = ["sku_id", "location_id", grain.index_col(F.col("date")).alias("day"), "quantity"]
    if "promo" in history.columns:
        columns.append("promo")
    end = grain.index_of(as_of_date)

    def fn(history: pd.DataFrame) -> pd.DataFrame:  # a plain function: pyspark reads its
        return _bucket_outliers(history, rule=rule, end=end)  # hints (a partial warns)

    counts = (
        history.select(*columns).withColumn("bucket", bucket_of(buckets))
        .groupBy("bucket").applyInPandas(fn, "capped long, nonzero long")
        .agg(F.sum("capped"), F.sum("nonzero")).first()
    )
    return int(counts[0] or 0), int(counts[1] or 0)


def _bucket_outliers(history: pd.DataFrame, *, rule: OutlierRule, end: int) -> pd.DataFrame:
    """Capped and non-zero day counts of one bucket of series."""
    panel = build_panel(history, end, outliers=rule)
    nonzero = int(np.count_nonzero(panel.y > 0))
    return pd.DataFrame({"capped": [int(panel.capped.sum())], "nonzero": [nonzero]})


def to_frame(spark: SparkSession, found: list[Check]) -> DataFrame:
    """The checks as a `data_quality` frame (run_id is added by the writer)."""
    return spark.createDataFrame([asdict(c) for c in found], SCHEMA)


def fail_on(found: list[Check]) -> None:
    """Raise naming every failed check."""
    failed = [c.message for c in found if c.severity == "fail"]
    if failed:
        raise DataQualityError(f"data quality check(s) failed: {'; '.join(failed)} "
                               "(thresholds: conf quality.checks)")


def summary(found: list[Check]) -> str:
    """One line: each check's value and severity."""
    return "; ".join(f"{c.check} {c.value:.4g} {c.severity}" for c in found)
