"""Rolling-origin backtests per series and candidate model, metrics, and model selection."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial, reduce
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from restock.errors import ConfigError
from restock.forecasting import metrics
from restock.forecasting.calendar import CalendarSettings
from restock.forecasting.exog import Events, Exog, split_promo
from restock.forecasting.forecast import availability_of, closed_by_calendar, regressor_events
from restock.forecasting.models import (
    DEMAND_CLASSES,
    check_models,
    cost_rank,
)
from restock.forecasting.panel import Availability, build_panel
from restock.forecasting.windows import combinations_of, cross_validate, naive_scales, window_rows
from restock.grain import DataSettings, Grain
from restock.io.config import section
from restock.io.tables import SERIES_KEYS
from restock.spark.buckets import per_bucket

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

SELECTION_METRICS = ("rmsse", "mase", "wape", "rmse", "mae")
METRIC_NAMES = ("mae", "mse", "rmse", "mase", "rmsse", "wape", "bias", "bias_pct", "r2")
SUM_NAMES = ("sum_abs_error", "sum_error", "sum_actual")


@dataclass(frozen=True)
class BacktestSettings:
    """Conf `backtest` plus the forecast settings a backtest shares."""

    windows: int
    step_days: int
    horizon_days: int
    metric: str
    candidates: tuple[tuple[str, tuple[str, ...]], ...]
    benchmarks: tuple[str, ...]
    season_length: int
    levels: tuple[int, ...]
    interval_windows: int
    interval_step_days: int
    min_train_days: int
    uplift: tuple[str, int, int] = ("none", 0, 0)
    calendar_benchmark: str | None = None  # backtested where `candidates_of` adds it, unranked
    in_run: bool = True  # `restock run` backtests and selects before forecasting
    combination_size: int = 2  # Mean(...) candidates of 2 .. this many models; < 2 = none
    class_min_series: int = 30  # fewer series in a (demand, ABC) class: pool the demand class
    override_margin: float = 0.1  # a series leaves its class's model beating it by this share
    refit: bool = True  # False: fit once at the first cutoff, `forward` after (Guarded.fit)
    grain: Grain = Grain()  # windows are in its periods (conf days converted in from_conf)
    availability: Availability | None = None

    @classmethod
    def from_conf(
        cls, conf: Mapping[str, Any], calendar: CalendarSettings | None = None,
        data: DataSettings | None = None,
    ) -> BacktestSettings:
        """Read and check conf `backtest` (and the shared keys of `forecast`); calendar and
        data are their sections, built once by the settings tree (read from conf when not
        given)."""
        calendar = calendar or CalendarSettings.from_conf(conf)
        data = data or DataSettings.from_conf(conf)
        bt, fc = section(conf, "backtest"), section(conf, "forecast")
        metric = str(bt["metric"]).lower()
        if metric not in SELECTION_METRICS:
            raise ConfigError(f"backtest.metric must be one of {SELECTION_METRICS}, got '{metric}'")
        candidates = []
        for demand_class, names in (bt.get("candidates") or {}).items():
            if demand_class not in DEMAND_CLASSES:
                raise ConfigError(f"backtest.candidates: unknown demand class '{demand_class}'")
            where = f"backtest.candidates.{demand_class}"
            candidates.append((demand_class, tuple(check_models(names, where))))
        if int(bt["windows"]) < 1 or int(bt["step_days"]) < 1:
            raise ConfigError("backtest.windows and backtest.step_days must be at least 1")
        grain = data.grain()
        season = grain.season_length(int(fc["season_length"]))
        return cls(
            windows=int(bt["windows"]),
            step_days=grain.whole_periods(int(bt["step_days"])),
            horizon_days=grain.whole_periods(int(bt["horizon_days"])),
            metric=metric,
            candidates=tuple(candidates),
            benchmarks=tuple(check_models(bt.get("benchmarks") or [], "backtest.benchmarks")),
            season_length=season,
            levels=tuple(sorted(int(v) for v in fc["levels"])),
            interval_windows=int(fc["interval_windows"]),
            interval_step_days=grain.whole_periods(int(fc["interval_step_days"])),
            min_train_days=grain.whole_periods(int(bt.get("min_train_days", 28))),
            uplift=calendar.uplift_rule,
            calendar_benchmark=calendar.benchmark,
            in_run=bool(bt["in_run"]),
            combination_size=int(bt["combination_size"]),
            class_min_series=int(bt["class_min_series"]),
            override_margin=float(bt["override_margin"]),
            refit=bool(bt["refit"]),
            grain=grain,
            availability=availability_of(data, grain, season),
        )

    @property
    def min_history_days(self) -> float:
        """Shortest history (days) that fits every window with `min_train_days` of training."""
        periods = self.horizon_days + self.step_days * (self.windows - 1) + self.min_train_days
        return periods * self.grain.period_days


def output_schema(levels: tuple[int, ...]) -> str:
    """Spark DDL of backtest_bucket's output."""
    per_level = "".join(f", coverage_{lv} double, pinball_{lv} double, upper_pinball_{lv} double"
                        for lv in levels)
    numbers = ", ".join(f"{m} double" for m in (*METRIC_NAMES, *SUM_NAMES))
    return (
        "sku_id string, location_id string, model string, scope string, cutoff date, "
        f"n bigint, {numbers}{per_level}, rank int, selected boolean, status string, "
        "error string, form string, cum_error array<double>"
    )


def backtest_bucket(
    history: pd.DataFrame,
    candidates: pd.DataFrame,
    *,
    settings: BacktestSettings,
    as_of_date: dt.date,
    events: Events | None = None,
) -> pd.DataFrame:
    """Backtest every candidate model of every series in one bucket, then rank them.

    Args:
        history: sku_id, location_id, day (epoch day), quantity; null-quantity rows are
            promotion days (see `spark.buckets.per_bucket`).
        candidates: sku_id, location_id, model — one row per series and candidate.
        settings: windows, step, horizon, selection metric, combination size.
        as_of_date: last day of history: the last window ends on it.
        events: calendar events and whether promotions are known; None = no regressors.
            Each window's regressors come from the calendar and promotions only.

    Returns:
        `window` rows (series × model × cutoff, with the cumulative errors) and `series`
        rows (series × model, pooled over windows, ranked; rank 1 is `selected`), each
        with the searched form of a model fitted once (`forms`, `refit: false`). Models
        include the Mean(A+B) combinations of each series' ranked candidates
        (`combination_size`), scored from their parts' window forecasts without a refit.
    """
    columns = [c.split()[0] for c in output_schema(settings.levels).split(", ")]
    if history.empty or candidates.empty:
        return pd.DataFrame(columns=columns)
    history, promo = split_promo(history)
    history = closed_by_calendar(history, events, settings.grain)
    events = regressor_events(events)
    panel = build_panel(history, settings.grain.index_of(as_of_date),
                        availability=settings.availability)
    exog = Exog.build(panel, promo, events) if events is not None else None
    candidates = candidates.assign(code=panel.codes_of(candidates))
    candidates = candidates[candidates["code"] >= 0]
    fits = [
        cross_validate(panel, group["code"].to_numpy(), model, settings, exog)
        for model, group in candidates.groupby("model", sort=True)
    ]
    unranked = {*settings.benchmarks, settings.calendar_benchmark}
    fits += combinations_of([f for f in fits if f.model not in unranked],
                          settings.combination_size)
    scales = naive_scales(panel, fits, settings.season_length)
    windows = pd.concat([window_rows(panel, f, scales, settings.grain) for f in fits],
                        ignore_index=True)
    ranked = _series_rows(windows, settings)
    selected = ranked.loc[ranked["selected"], ["sku_id", "location_id", "model"]]
    windows = windows.merge(selected.assign(selected=True), how="left")
    windows["selected"] = windows["selected"].eq(True)
    return pd.concat([windows, ranked], ignore_index=True)[columns]


def _series_rows(windows: pd.DataFrame, s: BacktestSettings) -> pd.DataFrame:
    """Pool windows per series and model, then rank models per series.

    MAE, bias and WAPE pool the sums; MSE, MASE, R², coverage and pinball average the
    windows. Ranking: the selection metric (missing last), then MAE, then the cheaper
    model; benchmarks and models that failed in any window are not ranked.
    """
    keys = ["sku_id", "location_id", "model"]
    averaged = [
        c for c in windows.columns
        if c in ("mse", "mase", "rmsse", "r2")
        or c.startswith(("coverage_", "pinball_", "upper_pinball_"))
    ]
    g = windows.groupby(keys, sort=False)
    out = g[averaged].mean().join(g[["n", *SUM_NAMES]].sum())
    out["failed"] = g["status"].agg(lambda st: (st == "failed").any())
    out["error"] = g["error"].first()
    out["form"] = g["form"].last()  # the latest window's (refit false: the first cutoff's)
    out = out.reset_index()
    out["mae"] = out["sum_abs_error"] / out["n"]
    out["rmse"] = np.sqrt(out["mse"])
    out["bias"] = out["sum_error"] / out["n"]
    out["wape"] = metrics.ratio(out["sum_abs_error"], out["sum_actual"])
    out["bias_pct"] = metrics.ratio(out["sum_error"], out["sum_actual"])
    out.loc[out["failed"], list(METRIC_NAMES)] = np.nan
    out["status"] = np.where(out["failed"], "failed", "ok")
    out["scope"], out["cum_error"] = "series", None
    out["cutoff"] = pd.Series(pd.NaT, index=out.index, dtype="datetime64[s]")
    out["cost"] = out["model"].map(cost_rank)
    score = out[s.metric].round(9)
    order = out.assign(score=score).sort_values(
        ["sku_id", "location_id", "score", "mae", "cost", "model"], na_position="last"
    )
    order = order[~order["failed"] & ~order["model"].isin([*s.benchmarks, s.calendar_benchmark])]
    out["rank"] = order.groupby(SERIES_KEYS).cumcount().add(1).reindex(out.index)
    out["rank"] = out["rank"].astype("Int32")
    out["selected"] = (out["rank"] == 1).fillna(False).astype(bool)
    return out.drop(columns=["failed", "cost"])


def candidates_of(
    profile: DataFrame, settings: BacktestSettings, calendar: CalendarSettings | None = None
) -> DataFrame:
    """Models to backtest per profiled series: its demand class's candidates (conf) and the
    benchmarks, for every series that is not end of life and has enough history; plus
    `calendar.yearly_model` where the yearly component is material
    (`CalendarSettings.yearly_eligible`) and `calendar.benchmark` on the series of
    `calendar.yearly_classes`."""
    from pyspark.sql import functions as F

    pairs = sorted({
        (cls, model) for cls, models in settings.candidates
        for model in (*models, *settings.benchmarks)
    })
    table = profile.sparkSession.createDataFrame(pairs, "demand_class string, model string")
    eligible = profile.where(
        (F.col("lifecycle") != "end_of_life")
        & (F.col("history_days") >= settings.min_history_days)
    )
    out = eligible.join(F.broadcast(table), "demand_class").select(
        "sku_id", "location_id", "model"
    )
    if calendar is None:
        return out
    yearly = eligible.where(calendar.yearly_eligible()).select(
        "sku_id", "location_id", F.lit(calendar.yearly_model).alias("model")
    )
    out = out.unionByName(yearly)
    if calendar.benchmark:
        out = out.unionByName(
            eligible.where(F.col("demand_class").isin(*calendar.yearly_classes)).select(
                "sku_id", "location_id", F.lit(calendar.benchmark).alias("model"))
        )
    return out.distinct()


def backtest(
    sales: DataFrame,
    candidates: DataFrame,
    *,
    as_of_date: dt.date,
    settings: BacktestSettings,
    buckets: int,
    events: Events | None = None,
    promo_days: DataFrame | None = None,
) -> DataFrame:
    """Backtest all candidates: one `backtest_bucket` call per bucket of series.

    `events` and `promo_days` (up to as_of_date) as in `forecast.forecast`. Returns the
    `backtest_bucket` rows (window and series scope), lazily.
    """
    fn = partial(backtest_bucket, settings=settings, as_of_date=as_of_date, events=events)
    return per_bucket(sales, candidates, fn, output_schema(settings.levels), as_of_date=as_of_date,
                      buckets=buckets, promo_days=promo_days, grain=settings.grain)


def metrics_table(results: DataFrame, profile: DataFrame, levels: tuple[int, ...]) -> DataFrame:
    """`backtest_metrics`: window and series rows, plus aggregates by demand class, ABC
    class and overall — per model, and for `selected` (each series' chosen model).

    Aggregates average the series' MAE, MSE, RMSE, MASE, R², coverage and pinball; WAPE,
    bias and bias_pct pool the sums.
    """
    from pyspark.sql import functions as F

    classes = profile.select("sku_id", "location_id", "demand_class", "abc_class")
    detail = results.drop("cum_error").join(classes, SERIES_KEYS, "left")
    detail = detail.withColumn("n_series", F.lit(None).cast("bigint"))
    series = detail.where((F.col("scope") == "series") & (F.col("status") == "ok"))
    chosen = series.where("selected").withColumn("model", F.lit("selected"))
    pool = series.unionByName(chosen)
    averaged = ["mae", "mse", "rmse", "mase", "rmsse", "r2"] + [
        f"{m}_{lv}" for lv in levels for m in ("coverage", "pinball", "upper_pinball")
    ]
    aggs = [F.avg(c).alias(c) for c in averaged] + [F.sum(c).alias(c) for c in ("n", *SUM_NAMES)]
    aggs.append(F.count(F.lit(1)).alias("n_series"))
    demand = F.when(F.col("sum_actual") > 0, F.col("sum_actual"))
    parts = [detail]
    for scope, key in (("demand_class", "demand_class"), ("abc_class", "abc_class"),
                       ("overall", None)):
        grouped = pool.groupBy("model", *([key] if key else [])).agg(*aggs)
        grouped = (
            grouped.withColumn("scope", F.lit(scope))
            .withColumn("wape", F.col("sum_abs_error") / demand)
            .withColumn("bias", F.col("sum_error") / F.col("n"))
            .withColumn("bias_pct", F.col("sum_error") / demand)
        )
        parts.append(grouped)
    return reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), parts)


def selection_table(results: DataFrame, metric: str) -> DataFrame:
    """`model_selection`: each series' selected model, its searched form (the forecast fits
    it, `restock.forecasting.forms`), its score and the runner-up (the best-ranked other
    model)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    series = results.where((F.col("scope") == "series") & F.col("rank").isNotNull())
    best = series.where(F.col("selected")).select(
        "sku_id", "location_id", "model", "form", F.col(metric).alias("score"),
        F.col("mae").alias("mae"), F.col("n").alias("n_points"),
    )
    others = series.where(~F.col("selected")).withColumn(
        "order", F.row_number().over(Window.partitionBy(*SERIES_KEYS).orderBy("rank")))
    second = others.where(F.col("order") == 1).select(
        "sku_id", "location_id", F.col("model").alias("runner_up"),
        F.col(metric).alias("runner_up_score"),
    )
    return best.join(second, SERIES_KEYS, "left").withColumn(
        "metric", F.lit(metric)
    )


def residuals_table(results: DataFrame) -> DataFrame:
    """`backtest_residuals`: the selected model's cumulative errors per window, for planning."""
    from pyspark.sql import functions as F

    return results.where((F.col("scope") == "window") & F.col("selected")).select(
        "sku_id", "location_id", "model", "cutoff", "cum_error"
    )
