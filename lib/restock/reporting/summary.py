"""Text reports for the terminal: runs and versions, table rows, and a run summary.

Everything printed is an aggregate or a bounded number of rows (limit / top ten).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from restock.errors import ArgumentError, ConfigError, RunNotFoundError
from restock.io import tables
from restock.reporting.queries import order_totals, top_orders, unplanned

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from restock.app.settings import Settings
    from restock.forecasting.calendar import CalendarSettings
    from restock.planning.simulate import SimulationSettings

_WIDTH = 160
_INPUTS = tuple(tables.INPUTS)
_RUN_TABLES = (
    "quarantine", "series_profile", "backtest_metrics", "model_selection",
    "backtest_residuals", "forecasts", "plans", "simulation", "simulation_summary",
    "data_quality",
)


def runs_text(spark: SparkSession, conf: Mapping[str, Any], limit: int) -> str:
    """Recent runs (newest first) and the Delta versions of every table.

    `running` rows whose job is gone are marked `abandoned` first (runs.mark_abandoned).
    """
    from pyspark.sql import functions as F

    from restock.io.runs import mark_abandoned

    lines = [f"marked abandoned: run {run_id} job {job}"
             for run_id, job in mark_abandoned(spark, conf)]
    if tables.exists(spark, conf, "runs"):
        runs = tables.read(spark, conf, "runs")
        recent = (
            runs.orderBy(F.col("started_at").desc())
            .limit(limit)
            .select("run_id", "job", "status", "as_of_date", "started_at",
                    (F.col("finished_at").cast("long") - F.col("started_at").cast("long"))
                    .alias("seconds"),
                    "rows_in", "rows_out", "rows_quarantined", "series_count", "failed_series",
                    *[c for c in ("host", "pid") if c in runs.columns], "message")
        )
        lines += ["runs (newest first):", _frame(recent.toPandas())]
    else:
        lines.append(f"no runs yet (no table at {tables.location(conf, 'runs')})")
    lines += ["", "table versions:"]
    rows = []
    for name in (*_INPUTS, "runs", *_RUN_TABLES):
        if tables.exists(spark, conf, name):
            last = tables.history(spark, conf, name).orderBy(F.col("version").desc()).first()
            rows.append((name, last["version"], str(last["timestamp"]), last["operation"],
                         last["userMetadata"], tables.location(conf, name)))
    lines.append(_frame(pd.DataFrame(
        rows, columns=["table", "version", "timestamp", "operation", "userMetadata", "path"]
    )))
    return "\n".join(lines)


def show_text(
    spark: SparkSession,
    conf: Mapping[str, Any],
    name: str,
    run_id: str | None,
    version: int | None,
    limit: int,
) -> str:
    """Rows of one table, optionally one run's and/or at an older Delta version."""
    from pyspark.sql import functions as F

    if name not in (*_INPUTS, *tables.OUTPUTS):
        known = ", ".join((*_INPUTS, *tables.OUTPUTS))
        raise ArgumentError(f"unknown table '{name}'; tables: {known}")
    df = tables.read(spark, conf, name, version=version)
    if run_id:
        if "run_id" not in df.columns:
            raise ConfigError(f"table '{name}' has no run_id column")
        df = df.where(F.col("run_id") == tables.check_run_id(run_id))
    drop = [c for c in ("cum_error", "record") if c in df.columns]
    total = df.count()
    shown = df.drop(*drop).limit(limit).toPandas()
    where = f"version {version}" if version is not None else "latest version"
    return f"{name} ({where}): {total} rows, first {len(shown)}:\n{_frame(shown)}"


def summary_text(spark: SparkSession, tree: Settings, run_id: str | None) -> str:
    """The demo's summary of one run (default: the latest succeeded plan run)."""
    conf = tree.conf
    if run_id is None:
        plans = tables.read(spark, conf, "plans")
        run_id = tables.latest_run(spark, conf, plans, "plan")
    tables.check_run_id(run_id)
    sections = [
        f"run {run_id}",
        _jobs(spark, conf, run_id),
        _counts(spark, conf, run_id),
        _accuracy(spark, conf, run_id, tree.calendar),
        _plan_overview(spark, conf, run_id),
        traps_text(spark, conf, run_id),
        _top_orders(spark, conf, run_id),
    ]
    return "\n\n".join(s for s in sections if s)


TRAP_HINTS = {
    "horizon_short": "lead time + review period longer than the forecast horizon "
                     "(raise forecast.horizon_days)",
    "no_inventory": "no inventory row on or before the as-of date: planned from zero stock",
    "end_of_life_inactive": "end of life only because no sale for profile.eol_inactive_days",
    "inventory_after_as_of": "inventory rows dated after the as-of date only (ignored)",
}


def planning_traps(spark: SparkSession, conf: Mapping[str, Any], run_id: str) -> list[tuple]:
    """(trap, series, hint) for the plan traps that otherwise hide in columns; [] without
    a plan for the run. Aggregates only."""
    from pyspark.sql import functions as F

    if not tables.exists(spark, conf, "plans"):
        return []
    plan = tables.read(spark, conf, "plans").where(F.col("run_id") == run_id)
    first = plan.agg(F.max("as_of_date"), F.sum(F.col("horizon_short").cast("int")),
                     F.sum((F.col("status") == "no_inventory").cast("int"))).first()
    as_of, counts = first[0], {"horizon_short": first[1], "no_inventory": first[2]}
    if as_of is None:
        return []
    if tables.exists(spark, conf, "series_profile"):
        eol_days = int(conf["profile"]["eol_inactive_days"])
        profiled = tables.read(spark, conf, "series_profile").where(F.col("run_id") == run_id)
        idle = F.datediff(F.lit(as_of), F.coalesce("last_sale_date", "first_date"))
        counts["end_of_life_inactive"] = profiled.where(
            (F.col("lifecycle") == "end_of_life") & (idle > eol_days)).count()
    if tables.exists(spark, conf, "inventory"):
        inventory = tables.read(spark, conf, "inventory").groupBy(*tables.SERIES_KEYS).agg(
            F.min("as_of_date").alias("first"))
        counts["inventory_after_as_of"] = inventory.where(F.col("first") > F.lit(as_of)).count()
    return [(name, int(n or 0), TRAP_HINTS[name]) for name, n in counts.items()]


def traps_text(spark: SparkSession, conf: Mapping[str, Any], run_id: str) -> str:
    """The planning traps with their series counts ('' without a plan)."""
    found = planning_traps(spark, conf, run_id)
    if not found:
        return ""
    lines = [f"  {name:<22} {n:>7} series  {hint}" for name, n, hint in found]
    return "planning traps:\n" + "\n".join(lines)


def _jobs(spark: SparkSession, conf: Mapping[str, Any], run_id: str) -> str:
    """The run's jobs from the runs table."""
    from pyspark.sql import functions as F

    jobs = tables.read(spark, conf, "runs").where(F.col("run_id") == run_id)
    if jobs.limit(1).count() == 0:
        raise RunNotFoundError(f"run '{run_id}' is not in the runs table")
    seconds = F.col("finished_at").cast("long") - F.col("started_at").cast("long")
    frame = jobs.orderBy("started_at").select(
        "job", "status", "as_of_date", seconds.alias("seconds"), "rows_in", "rows_out",
        "rows_quarantined", "series_count", "failed_series", "message",
    ).toPandas()
    return "jobs:\n" + _frame(frame)


def _counts(spark: SparkSession, conf: Mapping[str, Any], run_id: str) -> str:
    """Row counts and paths of every table (inputs: all rows; outputs: this run's)."""
    from pyspark.sql import functions as F

    rows = []
    for name in (*_INPUTS, *_RUN_TABLES):
        if not tables.exists(spark, conf, name):
            continue
        df = tables.read(spark, conf, name)
        if name not in _INPUTS:
            df = df.where(F.col("run_id") == run_id)
        rows.append((name, df.count(), tables.location(conf, name)))
    return "tables (inputs: all rows; outputs: this run's rows):\n" + _frame(
        pd.DataFrame(rows, columns=["table", "rows", "path"])
    )


def _accuracy(
    spark: SparkSession, conf: Mapping[str, Any], run_id: str, calendar: CalendarSettings
) -> str:
    """Backtest accuracy: overall per model and for the per-series selection."""
    from pyspark.sql import functions as F

    if not tables.exists(spark, conf, "backtest_metrics"):
        return ""
    agg = tables.read(spark, conf, "backtest_metrics").where(
        (F.col("run_id") == run_id) & F.col("scope").isin("overall", "demand_class")
    )
    levels = [c.split("_")[1] for c in agg.columns if c.startswith("coverage_")]
    cols = ["scope", "demand_class", "model", "n_series", "mase", "wape", "bias_pct",
            *[f"coverage_{lv}" for lv in levels]]
    frame = agg.select(*cols).orderBy("scope", "demand_class", "mase").toPandas()
    if frame.empty:
        return ""
    overall = frame[frame["scope"] == "overall"].set_index("model")["mase"]
    skill = ""
    if "selected" in overall and "SeasonalNaive" in overall and overall["SeasonalNaive"] > 0:
        gain = 1 - overall["selected"] / overall["SeasonalNaive"]
        skill = (f"\nselected models: MASE {overall['selected']:.3f} against seasonal naive "
                 f"{overall['SeasonalNaive']:.3f} ({gain:.1%} better)")
    return (
        "backtest accuracy (mean series MASE, pooled WAPE and bias; 'selected' = each "
        "series' chosen model, scored on the windows it was chosen on):\n" + _frame(frame)
        + skill + _calendar_gain(spark, conf, run_id, calendar)
    )


def _calendar_gain(
    spark: SparkSession, conf: Mapping[str, Any], run_id: str, cal: CalendarSettings
) -> str:
    """The calendar-aware gain on the backtest windows: on the series backtested with the
    weekly-only reference (`calendar.benchmark`), mean MASE of the selected models against
    it; and how many of the series with a material yearly cycle chose the yearly model."""
    from pyspark.sql import functions as F

    if not cal.benchmark:
        return ""
    rows = tables.read(spark, conf, "backtest_metrics").where(
        (F.col("run_id") == run_id) & (F.col("scope") == "series") & (F.col("status") == "ok")
    )
    per_series = rows.groupBy("sku_id", "location_id").agg(
        F.max(F.when(F.col("selected"), F.col("mase"))).alias("selected"),
        F.max(F.when(F.col("model") == cal.benchmark, F.col("mase"))).alias("weekly"),
        F.max((F.col("model") == cal.yearly_model).cast("int")).alias("yearly"),
        F.max((F.col("selected") & (F.col("model") == cal.yearly_model)).cast("int"))
        .alias("chose"),
    ).where(F.col("selected").isNotNull() & F.col("weekly").isNotNull())
    n, selected, weekly, yearly, chose = per_series.agg(
        F.count(F.lit(1)), F.avg("selected"), F.avg("weekly"), F.sum("yearly"), F.sum("chose")
    ).first()
    if not n or not weekly:
        return ""
    return (
        f"\ncalendar-aware: on the {n} series backtested against the weekly-only reference "
        f"({cal.benchmark}: no promotions, events or yearly cycle), selected MASE "
        f"{selected:.3f} against {weekly:.3f} ({1 - selected / weekly:.1%} better); "
        f"{chose} of the {yearly} series with a material yearly cycle chose {cal.yearly_model}"
    )


def _plan_overview(spark: SparkSession, conf: Mapping[str, Any], run_id: str) -> str:
    """Plan status counts, orders, alerts and values."""
    from pyspark.sql import functions as F

    if not tables.exists(spark, conf, "plans"):
        return ""
    plan = tables.read(spark, conf, "plans").where(F.col("run_id") == run_id)
    frame = order_totals(plan, "status").sort_values("series", ascending=False)
    skipped = unplanned(plan)
    out = "plan by status:\n" + _frame(frame.round(2))
    return out + ("\nseries not planned as ok, and why:\n" + _frame(skipped)
                  if len(skipped) else "")


def _top_orders(spark: SparkSession, conf: Mapping[str, Any], run_id: str) -> str:
    """The ten largest recommended orders by value."""
    from pyspark.sql import functions as F

    if not tables.exists(spark, conf, "plans"):
        return ""
    plan = tables.read(spark, conf, "plans").where(F.col("run_id") == run_id)
    frame = top_orders(plan, 10)
    return "ten largest recommended orders (by value):\n" + _frame(frame.round(2))


def simulation_text(summary: pd.DataFrame, settings: SimulationSettings) -> str:
    """The simulation summary: achieved service against the target per ABC class and
    overall, turnover and cost, restock's three safety-stock methods next to the baselines."""
    if summary.empty:
        return "simulation: no series simulated"
    days = settings.holdout_days
    frame = summary.assign(
        order=summary["group_type"].map({"abc_class": 0, "overall": 1}),
        csl_gap=(summary["cycle_service_level"] - summary["target_service_level"]) * 100,
    ).sort_values(["order", "group", "strategy", "ss_method"])
    shown = pd.DataFrame({
        "group": frame["group"], "strategy": frame["strategy"], "ss_method": frame["ss_method"],
        "series": frame["series"],
        "target_csl": frame["target_service_level"].round(3),
        "achieved_csl": frame["cycle_service_level"].round(3),
        "gap_pts": frame["csl_gap"].round(1),
        "fill_rate": frame["fill_rate"].round(4),
        "turnover": frame["inventory_turnover"].round(1),
        "stockout_days": frame["stockout_days"].round(2),
        "relevant_cost": frame["relevant_cost"].round(0),
        "total_cost": frame["total_cost"].round(0),
    })
    unmet = settings.unmet_demand
    head = (f"simulation: policy replayed on the last {days} days "
            f"({settings.policy.policy_type} review, unmet demand {unmet}); "
            "csl = cycles without a stockout / cycles; relevant cost = holding + ordering + "
            "shortage; total adds the purchase cost of the units sold")
    return "\n".join([head, _frame(shown)])


def _frame(frame: pd.DataFrame) -> str:
    """A pandas frame as aligned text."""
    if frame.empty:
        return "  (none)"
    with pd.option_context("display.width", _WIDTH, "display.max_columns", 50,
                           "display.max_colwidth", 60):
        return frame.convert_dtypes().to_string(index=False)
