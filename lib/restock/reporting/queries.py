"""The HTML report's data: aggregates and small samples computed in Spark.

Every function returns a pandas frame whose size is bounded by the number of classes,
models, jobs or a configured sample size, never by the number of series: the sample
series are chosen in Spark (`orderBy` + `limit`) and only their rows are collected.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from restock.errors import ConfigError, RunNotFoundError, TableNotFoundError
from restock.io import tables
from restock.io.config import section
from restock.quality.rules import QualitySettings, tag_sales

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

KEYS = tables.SERIES_KEYS
COVER_BINS = (0, 7, 14, 30, 60, 120, 240)  # days-of-cover histogram edges (last bin open)


@dataclass(frozen=True)
class ReportSettings:
    """Conf `report`: sample sizes and the history window of the forecast plots."""

    top_a_series: int
    worst_series: int
    history_days: int
    list_rows: int

    @classmethod
    def from_conf(cls, conf: Mapping[str, Any]) -> ReportSettings:
        """Read and check conf `report`."""
        r = section(conf, "report")
        values = {k: int(r[k]) for k in ("top_a_series", "worst_series", "history_days",
                                         "list_rows")}
        if any(v < 0 for v in values.values()) or values["history_days"] < 1:
            raise ConfigError(f"report: sizes must be >= 0 and history_days >= 1, got {values}")
        return cls(**values)


@dataclass
class ReportRun:
    """The run a report describes and the runs its parts come from."""

    run_id: str
    forecast_run_id: str
    as_of_date: dt.date | None
    jobs: pd.DataFrame


def resolve_run(spark: SparkSession, conf: Mapping[str, Any], run_id: str | None) -> ReportRun:
    """The given run, else the latest succeeded plan run, else the latest forecast run.

    The forecast plots, profile and backtest come from the plan's forecast run.
    """
    from pyspark.sql import functions as F

    if run_id is None:
        for name, job in (("plans", "plan"), ("forecasts", "forecast")):
            if tables.exists(spark, conf, name):
                run_id = tables.latest_run(spark, conf, tables.read(spark, conf, name), job)
                break
        else:
            raise TableNotFoundError(
                f"no plans or forecasts table under {conf.get('warehouse')}: "
                "run `restock run` first"
            )
    tables.check_run_id(run_id)
    if not tables.exists(spark, conf, "runs"):
        raise TableNotFoundError(f"table 'runs' not found at {tables.location(conf, 'runs')}")
    seconds = F.col("finished_at").cast("long") - F.col("started_at").cast("long")
    jobs = (
        tables.read(spark, conf, "runs").where(F.col("run_id") == run_id)
        .orderBy("started_at")
        .select("job", "status", "as_of_date", "started_at", seconds.alias("seconds"),
                "rows_in", "rows_out", "rows_quarantined", "series_count", "failed_series",
                "message")
        .toPandas()
    )
    if jobs.empty:
        raise RunNotFoundError(f"run '{run_id}' is not in the runs table")
    source = run_id
    plans = run_rows(spark, conf, "plans", run_id)
    if plans is not None and "forecast_run_id" in plans.columns:
        first = plans.select("forecast_run_id").first()
        source = (first and first[0]) or run_id
    dates = jobs["as_of_date"].dropna()
    return ReportRun(run_id, source, dates.iloc[-1] if len(dates) else None, jobs)


def run_rows(
    spark: SparkSession, conf: Mapping[str, Any], name: str, run_id: str
) -> DataFrame | None:
    """One run's rows of a table; None when the table or the run's rows do not exist."""
    from pyspark.sql import functions as F

    if not tables.exists(spark, conf, name):
        return None
    rows = tables.read(spark, conf, name).where(F.col("run_id") == run_id)
    return rows if rows.limit(1).count() else None


def class_counts(profile: DataFrame) -> pd.DataFrame:
    """Series count by demand class (rows) and ABC class (columns), with totals."""
    counts = profile.groupBy("demand_class", "abc_class").count().toPandas()
    table = counts.pivot_table(index="demand_class", columns="abc_class", values="count",
                               aggfunc="sum", fill_value=0, margins=True, margins_name="all")
    table.columns.name, table.index.name = "ABC class", "demand class"
    return table.astype(int)


def forecast_status(forecasts: DataFrame, limit: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Series per forecast status, and up to `limit` failed series with their error."""
    from pyspark.sql import functions as F

    status = (
        forecasts.groupBy("status").agg(F.countDistinct(*KEYS, "model").alias("series"))
        .orderBy("status").toPandas()
    )
    failed = (
        forecasts.where(F.col("status") == "failed")
        .select(*KEYS, "model", "error").distinct().orderBy(*KEYS).limit(limit).toPandas()
    )
    return status, failed


def sample_series(
    profile: DataFrame,
    forecasts: DataFrame,
    series_metrics: DataFrame | None,
    metric: str,
    settings: ReportSettings,
) -> pd.DataFrame:
    """The plotted series: the largest A items by sales value, then the worst-forecast ones.

    Worst = highest backtest `metric` of the selected model. Only series with a forecast
    that did not fail are eligible. Returns sku_id, location_id, reason, abc_class,
    demand_class, sales_value, score.
    """
    from pyspark.sql import functions as F

    plotted = forecasts.where(F.col("status") != "failed").select(*KEYS).distinct()
    classes = profile.select(*KEYS, "abc_class", "demand_class", "sales_value")
    largest = (
        classes.where(F.col("abc_class") == "A").join(plotted, KEYS, "left_semi")
        .orderBy(F.col("sales_value").desc(), *KEYS).limit(settings.top_a_series)
        .withColumn("reason", F.lit("largest A item"))
        .withColumn("score", F.lit(None).cast("double"))
        .toPandas()
    )
    frames = [largest]
    if series_metrics is not None and settings.worst_series:
        worst = (
            series_metrics.where(F.col("selected") & F.col(metric).isNotNull())
            .join(plotted, KEYS, "left_semi")
            .orderBy(F.col(metric).desc(), *KEYS)
            .limit(settings.worst_series + settings.top_a_series)
            .select(*KEYS, F.col(metric).alias("score"))
            .join(classes, KEYS, "left").toPandas()
            .sort_values(["score", *KEYS], ascending=[False, True, True])
        )
        worst = worst.merge(largest[KEYS], how="left", indicator=True)
        worst = worst[worst.pop("_merge") == "left_only"].head(settings.worst_series)
        frames.append(worst.assign(reason=f"worst backtest {metric.upper()}"))
    columns = [*KEYS, "reason", "abc_class", "demand_class", "sales_value", "score"]
    kept = [f[columns] for f in frames if not f.empty]
    return pd.concat(kept, ignore_index=True) if kept else pd.DataFrame(columns=columns)


def sample_rows(
    spark: SparkSession,
    conf: Mapping[str, Any],
    keys: pd.DataFrame,
    forecasts: DataFrame,
    as_of_date: dt.date,
    history_days: int,
    quality: QualitySettings,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """History and forecast rows of the sampled series only.

    History: accepted sales rows (the ingest's validation rules) summed per day over the
    `history_days` days ending at `as_of_date`, zeros filled for days without sales.
    """
    from pyspark.sql import functions as F

    wanted = F.broadcast(spark.createDataFrame(keys[KEYS], "sku_id string, location_id string"))
    start = as_of_date - dt.timedelta(days=history_days - 1)
    sales = tables.read(spark, conf, "sales").join(wanted, KEYS, "left_semi")
    sales = sales.where(F.col("date").between(F.lit(start), F.lit(as_of_date)))
    accepted = tag_sales(sales, quality).where(F.col("reason").isNull())
    daily = accepted.groupBy(*KEYS, "date").agg(F.sum("quantity").alias("quantity")).toPandas()
    calendar = pd.date_range(start, as_of_date, freq="D")
    frames = []
    for (sku, loc), _ in keys.groupby(KEYS, sort=False):
        mine = daily[(daily["sku_id"] == sku) & (daily["location_id"] == loc)]
        values = mine.set_index(pd.to_datetime(mine["date"]))["quantity"]
        full = values.reindex(calendar, fill_value=0.0)
        frames.append(pd.DataFrame({"sku_id": sku, "location_id": loc, "date": calendar,
                                    "quantity": full.to_numpy(dtype=float)}))
    history = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    future = forecasts.join(wanted, KEYS, "left_semi").where(F.col("status") != "failed")
    future = future.drop("run_id", "error").toPandas()
    future["date"] = pd.to_datetime(future["date"])
    return history, future.sort_values([*KEYS, "model", "date"])


def metric_quantiles(series_metrics: DataFrame, metric: str) -> pd.DataFrame:
    """Quantiles of the selected model's `metric` per demand class and overall.

    Returns label, n, p05, p25, p50, p75, p95 (approximate percentiles, relative error 1e-3).
    """
    from pyspark.sql import functions as F

    chosen = series_metrics.where(F.col("selected") & F.col(metric).isNotNull())
    probs = [0.05, 0.25, 0.5, 0.75, 0.95]
    aggs = [F.count(F.lit(1)).alias("n"),
            F.percentile_approx(metric, probs, 1000).alias("q")]
    by_class = chosen.groupBy(F.col("demand_class").alias("label")).agg(*aggs)
    overall = chosen.agg(*aggs).withColumn("label", F.lit("all"))
    frame = by_class.unionByName(overall).where(F.col("n") > 0).toPandas()
    for i, p in enumerate(probs):
        frame[f"p{round(p * 100):02d}"] = frame["q"].map(lambda q, i=i: q[i])
    order = frame["label"].eq("all").astype(int)
    return frame.assign(o=order).sort_values(["o", "label"]).drop(columns=["q", "o"])


def model_share(selection: DataFrame, profile: DataFrame) -> pd.DataFrame:
    """Share of series per selected model, by demand class (rows sum to 1)."""
    counts = (
        selection.join(profile.select(*KEYS, "demand_class"), KEYS, "left")
        .groupBy("demand_class", "model").count().toPandas()
    )
    table = counts.pivot_table(index="demand_class", columns="model", values="count",
                               aggfunc="sum", fill_value=0)
    return table.div(table.sum(axis=1), axis=0)


def accuracy_table(metrics: DataFrame, scope: str) -> pd.DataFrame:
    """Aggregate backtest rows of one scope (`overall`, `demand_class`, `abc_class`)."""
    from pyspark.sql import functions as F

    levels = sorted(c.split("_")[1] for c in metrics.columns if c.startswith("coverage_"))
    key = [] if scope == "overall" else [scope]
    cols = [*key, "model", "n_series", "mase", "wape", "bias_pct", "rmse",
            *[f"coverage_{lv}" for lv in levels]]
    rows = metrics.where(F.col("scope") == scope).select(*cols).toPandas()
    return rows.sort_values([*key, "mase"], na_position="last").reset_index(drop=True)


def order_totals(plans: DataFrame, by: str) -> pd.DataFrame:
    """Per value of `by` (abc_class, status): series, orders, units, order value, stockout
    risks, overstocks, excess units; the HTML report and the terminal summary share it."""
    from pyspark.sql import functions as F

    group = F.coalesce(F.col(by), F.lit("unclassified")).alias(by)
    frame = plans.groupBy(group).agg(
        F.count(F.lit(1)).alias("series"),
        F.sum((F.col("order_qty") > 0).cast("int")).alias("orders"),
        F.sum("order_qty").alias("order_units"),
        F.sum("order_value").alias("order_value"),
        F.sum(F.col("stockout_risk").cast("int")).alias("stockout_risk"),
        F.sum(F.col("overstock").cast("int")).alias("overstock"),
        F.sum("excess_qty").alias("excess_units"),
    ).orderBy(by).toPandas()
    return frame.fillna(0)


def unplanned(plans: DataFrame) -> pd.DataFrame:
    """Series without an order computed for them, by status and reason (a handful of rows)."""
    from pyspark.sql import functions as F

    reason = F.col("status_reason") if "status_reason" in plans.columns else F.lit(None)
    return plans.where(F.col("status") != "ok").groupBy(
        "status", reason.cast("string").alias("reason")
    ).agg(F.count(F.lit(1)).alias("series")).orderBy(F.col("series").desc(), "status").toPandas()


def top_orders(plans: DataFrame, limit: int) -> pd.DataFrame:
    """The largest recommended orders by value."""
    from pyspark.sql import functions as F

    return plans.where(F.col("order_qty") > 0).orderBy(
        F.col("order_value").desc(), *KEYS
    ).limit(limit).select(
        *KEYS, "abc_class", "model", "order_qty", "order_value", "inventory_position",
        "reorder_point", "order_up_to", "safety_stock", "sigma_method", "days_of_cover",
        "stockout_risk",
    ).toPandas()


def stockout_list(plans: DataFrame, limit: int) -> tuple[int, pd.DataFrame]:
    """Series at stockout risk (inventory position below lead-time demand), worst first.

    Shortfall = lead-time demand − inventory position (units); sorted by ABC class, then
    shortfall.
    """
    from pyspark.sql import functions as F

    risky = plans.where(F.col("stockout_risk")).withColumn(
        "shortfall", F.col("lead_time_demand") - F.col("inventory_position")
    )
    frame = risky.orderBy("abc_class", F.col("shortfall").desc(), *KEYS).limit(limit).select(
        *KEYS, "abc_class", "on_hand", "inventory_position", "lead_time_demand", "shortfall",
        "days_of_cover", "lead_time_days", "order_qty",
    ).toPandas()
    return risky.count(), frame


def overstock_list(
    plans: DataFrame, item_params: DataFrame | None, limit: int
) -> tuple[int, pd.DataFrame]:
    """Overstocked and end-of-life series with excess stock, by excess value (units × cost)."""
    from pyspark.sql import functions as F

    over = plans.where(F.col("overstock"))
    if item_params is not None:
        costs = item_params.select(*KEYS, "unit_cost").dropDuplicates(KEYS)
        over = over.join(costs, KEYS, "left")
    else:
        over = over.withColumn("unit_cost", F.lit(None).cast("double"))
    over = over.withColumn("excess_value", F.col("excess_qty") * F.col("unit_cost"))
    frame = over.orderBy(F.col("excess_value").desc_nulls_last(), F.col("excess_qty").desc(),
                         *KEYS).limit(limit).select(
        *KEYS, "abc_class", "status", "on_hand", "inventory_position", "mean_daily_demand",
        "days_of_cover", "excess_qty", "excess_value",
    ).toPandas()
    return over.count(), frame


def cover_histogram(plans: DataFrame) -> pd.DataFrame:
    """Series count per days-of-cover bin (rows) and ABC class (columns).

    Bins follow COVER_BINS; series without demand (no days of cover) get their own row.
    """
    from pyspark.sql import functions as F

    cover = F.col("days_of_cover")
    label = F.lit("no demand")
    edges = list(COVER_BINS)
    for lo, hi in reversed(list(zip(edges, [*edges[1:], None], strict=True))):
        name = f"{lo}–{hi}" if hi is not None else f"{lo}+"
        test = (cover >= lo) & (cover < hi) if hi is not None else cover >= lo
        label = F.when(cover.isNotNull() & test, F.lit(name)).otherwise(label)
    abc = F.coalesce(F.col("abc_class"), F.lit("unclassified"))
    counts = plans.groupBy(label.alias("bin"), abc.alias("abc_class")).count().toPandas()
    order = [f"{lo}–{hi}" for lo, hi in zip(edges, edges[1:], strict=False)]
    order += [f"{edges[-1]}+", "no demand"]
    table = counts.pivot_table(index="bin", columns="abc_class", values="count",
                               aggfunc="sum", fill_value=0)
    return table.reindex([b for b in order if b in table.index or b != "no demand"],
                         fill_value=0)


def simulation_summary(
    spark: SparkSession, conf: Mapping[str, Any], run_id: str, forecast_run_id: str
) -> tuple[str, pd.DataFrame] | None:
    """The simulation of a run and its `simulation_summary` rows, or None.

    The run's own simulation when it has one, else the latest succeeded `simulate` run
    that replayed the same forecast run (`simulation.forecast_run_id`).
    """
    from pyspark.sql import functions as F

    rows = run_rows(spark, conf, "simulation_summary", run_id)
    if rows is None and tables.exists(spark, conf, "simulation"):
        replays = tables.read(spark, conf, "simulation")
        if "forecast_run_id" in replays.columns:
            replays = replays.where(F.col("forecast_run_id") == forecast_run_id)
            try:
                run_id = tables.latest_run(spark, conf, replays, "simulate")
            except RunNotFoundError:
                return None
            rows = run_rows(spark, conf, "simulation_summary", run_id)
    if rows is None:
        return None
    frame = rows.drop("run_id").toPandas()
    return run_id, frame.sort_values(["group_type", "group", "strategy", "ss_method"]).reset_index(
        drop=True
    )
