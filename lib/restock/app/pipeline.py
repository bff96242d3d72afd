"""The jobs' steps: read tables, call the library, write versioned tables, record the run.

Every step takes an open SparkSession (built by the caller) and a conf; nothing here
builds a session or collects per-series data to the driver.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from restock.app.run import Inputs, Run
from restock.errors import ConfigError, ForecastFailureError, RunNotFoundError
from restock.forecasting.backtest import (
    backtest,
    candidates_of,
    metrics_table,
    residuals_table,
    selection_table,
)
from restock.forecasting.calendar import collect_events, promo_days
from restock.forecasting.forecast import forecast
from restock.forecasting.profile import profile
from restock.forecasting.selection import select
from restock.io import runs, tables
from restock.quality import data_quality as checks
from restock.quality import rules as quality
from restock.spark.routing import routes

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from restock.forecasting.exog import Events

KEYS = tables.SERIES_KEYS


_TAGGERS = {
    "item_params": quality.tag_item_params,
    "inventory": quality.tag_inventory,
    "calendar": quality.tag_calendar,
    "promotions": quality.tag_promotions,
}
CALENDAR_INPUTS = ("calendar", "promotions")  # read with sales when conf calendar.features


def read_inputs(run: Run, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> Inputs:
    """Validate input tables, quarantine their rejected rows, return the accepted rows.

    The rejected rows of every input go to `quarantine` in one write (one commit, not one
    per input); then an input with too many rejected rows fails the job, its rows there to
    see. Sales become daily totals; run.as_of_date becomes the newest sales date when the
    caller gave none. A missing required table is an error; a missing optional one is None.
    """
    from functools import reduce

    settings = run.settings.quality
    if "sales" in required and run.settings.calendar.features:
        optional = (*optional, *CALENDAR_INPUTS)
    present = [n for n in optional if tables.exists(run.spark, run.conf, n)]
    frames = {n: tables.read(run.spark, run.conf, n) for n in (*required, *present)}
    inputs = Inputs()
    with run.recorded("ingest") as record:
        tagged: dict[str, DataFrame] = {}
        try:
            for name, df in frames.items():
                tagged[name] = (quality.tag_sales(df, settings) if name == "sales"
                                else _TAGGERS[name](df)).persist()
            reports = quality.reports(tagged)
            rejected = reduce(lambda a, b: a.unionByName(b),
                              [quality.quarantined(t, name) for name, t in tagged.items()])
            tables.write_run(rejected, run.conf, "quarantine", run.run_id,
                             ("source_table", tuple(tagged)))
            for name, report in reports.items():
                report.check(settings, name)
            for name in sorted(tagged, key=lambda n: n == "sales"):  # sales reads the others
                _keep_accepted(run, name, tagged[name], inputs, record)
        finally:
            for t in tagged.values():
                t.unpersist()
        inputs.reports = reports
        record.rows_in = sum(r.rows_in for r in reports.values())
        record.rows_out = sum(r.rows_accepted for r in reports.values())
        record.rows_quarantined = sum(r.rows_quarantined for r in reports.values())
        record.message = "accepted: " + "; ".join(
            f"{name} {r.rows_accepted}/{r.rows_in}"
            + (f" ({r.negatives_zeroed} negatives set to 0)" if r.negatives_zeroed else "")
            for name, r in reports.items()
        )
    return inputs


def _keep_accepted(
    run: Run, name: str, tagged: DataFrame, inputs: Inputs, record: runs.RunRecord
) -> None:
    """Keep one input's accepted rows (persisted) in `inputs`: sales as daily totals, read
    after the others (their stock-outs and launch dates mark its unavailable periods)."""
    if name == "sales":
        inputs.daily = _daily(run, tagged, record, inputs)
    else:
        accepted = quality.accepted(tagged).persist()
        accepted.count()
        setattr(inputs, name, accepted)


def _daily(run: Run, tagged: DataFrame, record: runs.RunRecord, inputs: Inputs) -> DataFrame:
    """Sales of the accepted rows per period of the run's grain (persisted), with the
    inventory's stock-outs (`data.stockouts_from_inventory`) and item_params' launch dates;
    fixes the run's as-of date."""
    from pyspark.sql import functions as F

    from restock.forecasting.availability import (
        resolve_grain,
        to_grain,
        with_launch,
        with_stockouts,
    )

    daily = quality.daily_sales(tagged)
    grain, message = resolve_grain(run.conf, daily)
    run.resolve_grain(grain.name)
    if message not in run.notes:
        run.notes.append(message)
    daily = to_grain(daily, grain)
    if run.settings.data.stockouts_from_inventory:
        daily = with_stockouts(daily, inputs.inventory, grain)
    daily = with_launch(daily, inputs.item_params).persist()
    newest, series = daily.agg(F.max("date"), F.countDistinct(*KEYS)).first()
    if newest is None:
        raise ConfigError("table 'sales' has no accepted rows")
    if run.as_of_date is None:
        run.fix_as_of(newest)
    record.as_of_date, record.series_count = run.as_of_date, int(series)
    run.series = int(series)
    return daily


def quality_step(run: Run, inputs: Inputs, reference_date: dt.date) -> list[checks.Check]:
    """Write the run's `data_quality` report; fail the job when a check fails."""
    with run.recorded("quality") as record:
        found = checks.run_checks(
            inputs.daily, inputs.reports["sales"], run.settings, as_of_date=run.as_of_date,
            reference_date=reference_date, buckets=run.buckets(),
        )
        tables.write_run(checks.to_frame(run.spark, found), run.conf, "data_quality", run.run_id)
        record.rows_out = len(found)
        record.message = checks.summary(found)[:1000]
        checks.fail_on(found)
    return found


def profile_step(run: Run, inputs: Inputs) -> DataFrame:
    """Write `series_profile` for the run; return it as read back from Delta."""
    settings = run.settings.profile
    with run.recorded("profile") as record:
        rows = profile(inputs.daily, inputs.item_params, run.as_of_date, settings)
        tables.write_run(_stamped(rows, run), run.conf, "series_profile", run.run_id)
        written = _this_run(run, "series_profile")
        record.rows_out = record.series_count = written.count()
    return written


def backtest_step(run: Run, inputs: Inputs, profiled: DataFrame) -> None:
    """Backtest candidates, write metrics, selection and residuals for the run."""
    settings = run.settings.backtest
    with run.recorded("backtest") as record:
        candidates = candidates_of(profiled, settings, run.settings.calendar)
        events, promo = _regressors(inputs, run.as_of_date)
        ranked = backtest(
            inputs.daily, candidates, as_of_date=run.as_of_date, settings=settings,
            buckets=run.buckets(), events=events, promo_days=promo,
        ).persist()
        results = select(ranked, profiled, settings, run.buckets()).persist()
        try:
            tables.write_run(
                _stamped(metrics_table(results, profiled, settings.levels), run),
                run.conf, "backtest_metrics", run.run_id,
            )
            tables.write_run(
                _stamped(selection_table(results, settings.metric), run),
                run.conf, "model_selection", run.run_id,
            )
            tables.write_run(residuals_table(results), run.conf, "backtest_residuals", run.run_id)
        finally:
            results.unpersist()
            ranked.unpersist()
        selected = _this_run(run, "model_selection")
        record.series_count = selected.count()
        record.rows_out = _this_run(run, "backtest_metrics").count()


def routes_for(run: Run, profiled: DataFrame, models: str | tuple[str, ...]) -> DataFrame:
    """The model(s) per series (`spark.routing.routes`), with this run's selection for auto."""
    selection = _run_rows(run, "model_selection", None) if models == "auto" else None
    return routes(run.spark, profiled, run.settings.routing, models, selection)


def forecast_step(
    run: Run, inputs: Inputs, profiled: DataFrame, models: str | tuple[str, ...] | None = None
) -> None:
    """Forecast every routed series; fail above the failed-share threshold, naming series."""
    from pyspark.sql import functions as F

    settings = run.settings.forecast
    with run.recorded("forecast") as record:
        routed = routes_for(run, profiled, settings.models if models is None else models)
        grain = settings.grain
        horizon_end = grain.end_of(grain.index_of(run.as_of_date) + settings.horizon_days)
        events, promo = _regressors(inputs, horizon_end)
        out = forecast(
            inputs.daily, routed, as_of_date=run.as_of_date, settings=settings,
            buckets=run.buckets(), events=events, promo_days=promo,
        ).persist()
        try:
            by_status = out.groupBy("status").agg(
                F.countDistinct(*KEYS, "model").alias("series"), F.count(F.lit(1)).alias("rows")
            ).collect()
            counts = {r["status"]: r["series"] for r in by_status}
            total = sum(counts.values())
            failed = counts.get("failed", 0)
            record.series_count, record.failed_series = total, failed
            if total and failed / total > settings.max_failed_share:
                names = [
                    f"{r.sku_id}/{r.location_id} ({r.model}: {r.error})"
                    for r in out.where(F.col("status") == "failed").limit(5).collect()
                ]
                raise ForecastFailureError(
                    f"{failed} of {total} series failed to forecast ({failed / total:.1%} > "
                    f"forecast.max_failed_share {settings.max_failed_share:.1%}); "
                    f"first: {'; '.join(names)}"
                )
            tables.write_run(out, run.conf, "forecasts", run.run_id)
            record.rows_out = sum(r["rows"] for r in by_status)
            if counts.get("fallback"):
                record.message = f"{counts['fallback']} series used a fallback model"
        finally:
            out.unpersist()


def plan_step(
    run: Run,
    inputs: Inputs | None = None,
    forecast_run_id: str | None = None,
    forecasts_version: int | None = None,
) -> str:
    """Plan from one forecast run (this run's, the given one, or the latest succeeded).

    `forecasts_version` reads the forecasts table as of that Delta version. Without
    `inputs`, item_params and inventory are validated here.

    Returns:
        One line: series planned and series without an order, by status.
    """
    from pyspark.sql import functions as F

    from restock.planning.bounds import counts_line
    from restock.planning.plan import build_plan

    table = tables.read(run.spark, run.conf, "forecasts", version=forecasts_version)
    if forecast_run_id:
        forecasts, source = tables.select_run(
            run.spark, run.conf, table, "forecasts", forecast_run_id
        )
    else:
        forecasts, source = _first_run(run, table, "forecasts", [run.run_id])
    run.fix_as_of(forecasts.select("as_of_date").first()[0])
    settings, bounds = run.settings.policy, run.settings.plan
    if inputs is None or inputs.item_params is None or inputs.inventory is None:
        inputs = read_inputs(run, ("item_params", "inventory"))
    with run.recorded("plan") as record:
        profiled = _run_rows(run, "series_profile", source)
        residuals = _run_rows(run, "backtest_residuals", None)
        plan = build_plan(
            forecasts, inputs.item_params, inputs.inventory, profiled, residuals,
            as_of_date=run.as_of_date, settings=settings, plan_settings=bounds,
        )
        stamped = _stamped(plan, run).withColumn("forecast_run_id", F.lit(source))
        tables.write_run(stamped, run.conf, "plans", run.run_id)
        by_status = dict(_this_run(run, "plans").groupBy("status").count().collect())
        record.rows_out = record.series_count = sum(by_status.values())
        line = counts_line(by_status, bounds)
        record.message = f"forecasts from run {source}; {line}"[:1000]
    return line


def simulate_step(
    run: Run, forecast_run_id: str | None = None, inputs: Inputs | None = None
) -> DataFrame:
    """Replay the policy on the held-out end of history for the series of one forecast run.

    Writes `simulation` (per series and strategy) and `simulation_summary` (by ABC class
    and overall) and returns this run's summary rows (a few dozen).
    """
    from pyspark.sql import functions as F

    from restock.planning.simulate import replay_buckets, series_inputs, simulate, summary_table

    table = tables.read(run.spark, run.conf, "forecasts")
    forecasts, source = _first_run(run, table, "forecasts", [forecast_run_id, run.run_id])
    if run.as_of_date is None:
        run.fix_as_of(forecasts.select("as_of_date").first()[0])
    if inputs is None or inputs.daily is None or inputs.item_params is None:
        inputs = read_inputs(run, ("sales", "item_params"), ("inventory",))
    settings = run.settings.simulation  # after reading sales: the tree at the detected grain
    with run.recorded("simulate") as record:
        series = series_inputs(forecasts, inputs.item_params,
                               _run_rows(run, "series_profile", source))
        series = in_sample(series, settings.sample_share)
        buckets = replay_buckets(series.count(), settings, run.buckets(),
                                 run.spark.sparkContext.defaultParallelism)
        out = simulate(inputs.daily, series, settings=settings, as_of_date=run.as_of_date,
                       buckets=buckets)
        tables.write_run(_stamped(out, run).withColumn("forecast_run_id", F.lit(source)),
                         run.conf, "simulation", run.run_id)
        written = _this_run(run, "simulation")
        summary = summary_table(written)
        tables.write_run(_stamped(summary.withColumn("run_id", F.lit(run.run_id)), run),
                         run.conf, "simulation_summary", run.run_id)
        statuses = dict(written.groupBy("status").agg(F.countDistinct(*KEYS)).collect())
        record.rows_out = written.count()
        record.series_count = sum(statuses.values())
        record.failed_series = statuses.get("failed", 0)
        record.message = f"forecasts from run {source}; series by status: " + ", ".join(
            f"{k} {v}" for k, v in sorted(statuses.items()))
    return _this_run(run, "simulation_summary")


def in_sample(df: DataFrame, share: float) -> DataFrame:
    """The series of `df` in the replay's sample (`simulation.sample_share`): a stable hash
    of the keys, so the cut-off fit and the replay pick the same series."""
    from pyspark.sql import functions as F

    if share >= 1.0:
        return df
    return df.where(F.pmod(F.xxhash64(*KEYS), F.lit(10_000)) < int(share * 10_000))


def _regressors(inputs: Inputs, last_date: dt.date) -> tuple[Events | None, DataFrame | None]:
    """Calendar events (to the driver: one row per event day) and promotion days up to
    last_date, when the run read the calendar or promotions tables."""
    events = collect_events(inputs.calendar, inputs.promotions is not None)
    promo = promo_days(inputs.promotions, last_date) if inputs.promotions is not None else None
    return events, promo


def _first_run(
    run: Run, table: DataFrame, name: str, preferred: list[str | None]
) -> tuple[DataFrame, str]:
    """Rows of the first preferred run present in the table, else of the latest succeeded."""
    for candidate in dict.fromkeys(c for c in preferred if c):
        try:
            return tables.select_run(run.spark, run.conf, table, name, candidate)
        except RunNotFoundError:
            continue
    return tables.select_run(run.spark, run.conf, table, name)


def _run_rows(run: Run, name: str, run_id: str | None) -> DataFrame | None:
    """Rows of an output table for run_id, else this run's, else the latest; None if absent."""
    if not tables.exists(run.spark, run.conf, name):
        return None
    table = tables.read(run.spark, run.conf, name)
    try:
        return _first_run(run, table, name, [run_id, run.run_id])[0]
    except RunNotFoundError:
        return None


def _this_run(run: Run, name: str) -> DataFrame:
    """This run's rows of an output table."""
    from pyspark.sql import functions as F

    return tables.read(run.spark, run.conf, name).where(F.col("run_id") == run.run_id)


def _stamped(df: DataFrame, run: Run) -> DataFrame:
    """Add the run's as_of_date column."""
    from pyspark.sql import functions as F

    return df.withColumn("as_of_date", F.lit(run.as_of_date))
