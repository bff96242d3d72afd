"""The `restock` command line. Heavy imports live inside the commands so --help is instant."""

from __future__ import annotations

import datetime as dt
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

import click

from restock.app.context import (
    DATE,
    Context,
    common_options,
    context_of,
    execute,
    models_flag,
    run_options,
)
from restock.errors import RestockError
from restock.io.tables import INPUTS


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="restock")
def cli() -> None:
    """restock: demand forecasting and replenishment planning on Spark + Delta Lake.

    A typical night: `restock run` (ingest, profile, backtest, forecast, plan in one run
    id), then `restock summary`. Tables live under the warehouse (conf `warehouse`).
    """


@cli.command()
@click.option("--series", type=click.IntRange(1), default=500, show_default=True,
              help="Number of SKU × location series.")
@click.option("--days", type=click.IntRange(28), default=730, show_default=True,
              help="Days of history per series (ending at --end-date).")
@click.option("--seed", type=int, default=42, show_default=True, help="Random seed.")
@click.option("--end-date", type=DATE, default="2026-10-31", show_default=True,
              help="Last day of history (and inventory date).")
@click.option("--bad-rows", type=click.FloatRange(0, 0.5), default=0.0, show_default=True,
              help="Share of sales rows to corrupt, to exercise quarantine.")
@click.option("--mix", default="default", show_default=True,
              help="Shares of demand patterns, yearly cycles and promotions: default | "
                   "calendar (every series seasonal and promoted).")
@common_options
def generate(series, days, seed, end_date, bad_rows, mix, **options) -> None:
    """Write synthetic sales, inventory, item_params, calendar and promotions tables (same
    seed, same data)."""
    from restock.dev.demand import MIXES
    from restock.dev.generate import generate as make
    from restock.io import tables

    if mix not in MIXES:
        raise click.BadParameter(f"'{mix}'; known: {', '.join(MIXES)}", param_hint="--mix")
    ctx = context_of(options)
    frames = make(ctx.spark, series, days, seed, end_date.date(), bad_row_share=bad_rows,
                  mix=MIXES[mix])
    note = f"generate series={series} days={days} seed={seed} mix={mix}"
    for name, df in frames.items():
        tables.write_input(df, ctx.conf, name, note)
        click.echo(f"{name:<12} {tables.location(ctx.conf, name)}")


def _verb_command(name: str, doc: str, written: str) -> Callable[..., Any]:
    """A command that runs one verb of the step graph with --run-id and --as-of-date."""

    @cli.command(name, help=doc)
    @run_options
    @common_options
    def command(run_id, as_of_date, **options) -> None:
        run = execute(name, options, run_id, as_of_date)[0]
        click.echo(f"run {run.run_id}: {written} written (as of {run.as_of_date})")

    return command


profile_cmd = _verb_command(
    "profile", "Validate sales and write series_profile (demand and ABC classes, lifecycle).",
    "series_profile")
backtest_cmd = _verb_command(
    "backtest", "Rolling-origin backtests; write backtest_metrics, model_selection, "
    "backtest_residuals.", "backtest")


_MODELS_HELP = ("auto (selection, else routing), routed, or model names separated by commas "
                "(e.g. AutoETS,AutoARIMA). Default: conf forecast.models.")


@cli.command("forecast")
@run_options
@click.option("--models", help=_MODELS_HELP)
@common_options
def forecast_cmd(run_id, as_of_date, models, **options) -> None:
    """Profile, route and forecast every series; write forecasts."""
    run = execute("forecast", options, run_id, as_of_date, models=models_flag(models))[0]
    click.echo(f"run {run.run_id}: forecasts written (as of {run.as_of_date})")


@cli.command("plan")
@click.option("--run-id", help="Run id of the plan (default: a new one).")
@click.option("--forecast-run-id", help="Plan from this forecast run (default: the latest).")
@click.option("--as-of-version", type=click.IntRange(0),
              help="Read the forecasts table as of this Delta version.")
@common_options
def plan_cmd(run_id, forecast_run_id, as_of_version, **options) -> None:
    """Turn forecasts into a replenishment plan; write plans."""
    run, state = execute("plan", options, run_id, None, forecast_run_id=forecast_run_id,
                          forecasts_version=as_of_version)
    click.echo(state["plans"])
    click.echo(f"run {run.run_id}: plans written (as of {run.as_of_date})")


@cli.command("run")
@run_options
@click.option("--models", help=_MODELS_HELP)
@click.option("--backtest/--no-backtest", default=None,
              help="Run the backtest and selection first (default: conf backtest.in_run).")
@common_options
def run_cmd(run_id, as_of_date, models, backtest, **options) -> None:
    """Ingest, check data quality, profile, (backtest,) forecast and plan in one run id."""
    ctx = context_of(options)
    in_run = ctx.settings.backtest.in_run if backtest is None else backtest
    run, state = execute("run", ctx, run_id, as_of_date,
                          skip=() if in_run else ("backtest",), models=models_flag(models))
    from restock.reporting.summary import traps_text

    run.notes += [c.message for c in state["checks"] if c.check == "unavailable_share"]
    if not ctx.quiet:  # --quiet: only the final line
        for note in [*run.notes, state["plans"], traps_text(ctx.spark, ctx.conf, run.run_id)]:
            click.echo(note)
    click.echo(f"run {run.run_id} succeeded (as of {run.as_of_date})")


@cli.command("demo")
@click.option("--series", type=click.IntRange(1), default=300, show_default=True)
@click.option("--days", type=click.IntRange(28), default=1095, show_default=True)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--sim-share", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="simulation.sample_share of the simulate step.")
@click.option("--out", type=click.Path(dir_okay=False),
              help="Where the HTML report goes (default: report.html in the warehouse).")
@common_options
@click.pass_context
def demo_cmd(cctx, series, days, seed, sim_share, out, **options) -> None:
    """generate, run, summary, simulate and report in one process (one Spark session)."""
    import time

    from restock.paths import resolve
    from restock.spark.progress import ProgressSettings, step

    started = time.monotonic()
    ctx = Context(**options)
    shown = ProgressSettings.from_conf(ctx.conf, options["quiet"])
    out = out or os.path.join(resolve(str(ctx.conf["warehouse"])), "report.html")
    sim = {**options, "overrides": (*options["overrides"], f"simulation.sample_share={sim_share}")}
    with step(ctx.spark, "generate", shown):
        cctx.invoke(generate, series=series, days=days, seed=seed, bad_rows=0.001,
                    end_date=dt.datetime(2026, 10, 31), mix="default", **options)
    cctx.invoke(run_cmd, run_id=None, as_of_date=None, models=None, backtest=None, **options)
    with step(ctx.spark, "summary", shown):
        cctx.invoke(summary_cmd, run_id=None, **options)
    cctx.invoke(simulate_cmd, run_id=None, forecast_run_id=None, as_of_date=None, **sim)
    with step(ctx.spark, "report", shown):
        cctx.invoke(report_cmd, run_id=None, out=out, **options)
    click.echo(f"demo done in {time.monotonic() - started:.0f} s ({series} series x {days} days)")


@cli.command("simulate")
@click.option("--run-id", help="Run id of the simulation (default: a new one).")
@click.option("--forecast-run-id",
              help="Simulate the series and models of this forecast run (default: the latest).")
@click.option("--as-of-date", type=DATE,
              help="End of the replayed period (default: the forecast run's as-of date).")
@click.option("--fit-at-cutoff/--no-fit-at-cutoff", default=True, show_default=True,
              help="Without --forecast-run-id: first profile, backtest and forecast at the "
                   "start of the replayed period, so none of it is seen.")
@common_options
def simulate_cmd(run_id, forecast_run_id, as_of_date, fit_at_cutoff, **options) -> None:
    """Replay the policy on held-out demand; write simulation and simulation_summary.

    The last simulation.holdout_days days before the as-of date are replayed day by day:
    each review forecasts the series from the days before it, recomputes the policy and
    orders; restock's three safety-stock methods run next to two baselines.
    """
    from restock.reporting import summary as report

    ctx = context_of(options)
    if fit_at_cutoff and not forecast_run_id:
        from restock.app import steps

        forecast_run_id, end = steps.fit_before_holdout(
            ctx.spark, ctx.settings, as_of_date.date() if as_of_date else None)
        as_of_date = dt.datetime.combine(end, dt.time())
    run, state = execute("simulate", ctx, run_id, as_of_date,
                          forecast_run_id=forecast_run_id)
    click.echo(report.simulation_text(state["simulation_summary"].toPandas(),
                                      run.settings.simulation))
    click.echo(f"run {run.run_id}: simulation written (as of {run.as_of_date})")


@cli.command("settings")
@click.option("--spark", "from_spark", is_flag=True,
              help="Start the session and print each conf Spark setting as Spark holds it.")
@common_options
def settings_cmd(from_spark, **options) -> None:
    """Print the effective conf (all layers, checked); with --spark, read back from Spark."""
    import yaml

    ctx = context_of(options)
    if not from_spark:
        click.echo(yaml.safe_dump(dict(ctx.conf), sort_keys=False).rstrip())
        return
    for key in sorted(ctx.conf.get("spark") or {}):
        click.echo(f"{key}={ctx.spark.conf.get(key, '<unset>')}")


@cli.command("runs")
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True)
@common_options
def runs_cmd(limit, **options) -> None:
    """List recent runs (runs table) and each table's Delta versions."""
    from restock.reporting import summary as report

    ctx = context_of(options)
    click.echo(report.runs_text(ctx.spark, ctx.conf, limit))


@cli.command("maintain")
@click.option("--apply", is_flag=True,
              help="Do it (default: a dry run that prints what it would remove).")
@common_options
def maintain_cmd(apply, **options) -> None:
    """Drop old runs from the output tables, OPTIMIZE (Z-order by series) and VACUUM them.

    Keeps (conf `retention`) the newest keep_runs runs, runs started within keep_days, the
    newest succeeded run of every job and running runs; input tables are never touched.
    """
    from restock.io.maintain import maintain

    ctx = context_of(options)
    for line in maintain(ctx.spark, ctx.conf, apply=apply):
        click.echo(line)


@cli.command("show")
@click.argument("table")
@click.option("--run-id", help="Only this run's rows (output tables).")
@click.option("--as-of-version", type=click.IntRange(0), help="Read this Delta version.")
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True)
@common_options
def show_cmd(table, run_id, as_of_version, limit, **options) -> None:
    """Print rows of a table (any input or output table)."""
    from restock.reporting import summary as report

    ctx = context_of(options)
    click.echo(report.show_text(ctx.spark, ctx.conf, table, run_id, as_of_version, limit))


@cli.command("summary")
@click.option("--run-id", help="Run to summarise (default: the latest plan run).")
@common_options
def summary_cmd(run_id, **options) -> None:
    """Run id, row counts, table paths, accuracy and the ten largest recommended orders."""
    from restock.reporting import summary as report

    ctx = context_of(options)
    click.echo(report.summary_text(ctx.spark, ctx.settings, run_id))


@cli.command("report")
@click.option("--run-id", help="Run to report (default: the latest plan run).")
@click.option("--out", type=click.Path(dir_okay=False), default="report.html",
              show_default=True, help="Where to write the HTML file.")
@common_options
def report_cmd(run_id, out, **options) -> None:
    """Write a self-contained HTML report: forecasts, accuracy, the plan, the simulation."""
    from restock.reporting.html import write_report

    ctx = context_of(options)
    click.echo(f"report written to {write_report(ctx.spark, ctx.settings, run_id, out).resolve()}")


@cli.command("ingest")
@click.argument("table", type=click.Choice(sorted(INPUTS)))
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet", "delta"]),
              help="File format (default: from the file name; a folder with _delta_log is delta).")
@click.option("--mapping", multiple=True, metavar="COLUMN=FILE_COLUMN",
              help="Read a contract column from a differently named file column, "
                   "e.g. --mapping sku_id=item_code.")
@click.option("--as-of-date", type=DATE,
              help="Reject rows dated after this day (default: today, UTC).")
@click.option("--run-id", help="Run id (default: a new one).")
@common_options
def ingest_cmd(table, paths, fmt, mapping, as_of_date, run_id, **options) -> None:
    """Load CSV, Parquet or Delta files into an input table (MERGE on its key).

    Rejected rows go to `quarantine` with the file, the reason and the raw values; exact
    duplicates are dropped and counted. Prints rows read = accepted + quarantined +
    duplicates, and the rows inserted, updated and unchanged.
    """
    from restock.io import runs, tables
    from restock.io.ingest import load_files
    from restock.io.sources import parse_mapping

    ctx = context_of(options)
    result = load_files(
        ctx.spark, ctx.conf, table, list(paths),
        run_id=tables.check_run_id(run_id) if run_id else runs.new_run_id(),
        as_of_date=as_of_date.date() if as_of_date else dt.datetime.now(dt.timezone.utc).date(),
        fmt=fmt, mapping=parse_mapping(mapping, table), settings=ctx.settings.ingest,
    )
    click.echo(result.summary())


@cli.command("init-params")
@click.option("--out", type=click.Path(file_okay=False), default="templates", show_default=True,
              help="Folder to write item_params.csv and inventory.csv into.")
@common_options
def init_params_cmd(out, **options) -> None:
    """Write item_params and inventory templates with every series of sales and stated
    defaults (lead time 7 days, weekly review, unit cost 1, on hand 0, ...), to edit and
    `restock ingest`."""
    from restock.io.templates import write_templates

    ctx = context_of(options)
    for name, path in write_templates(ctx.spark, ctx.conf, out).items():
        click.echo(f"{name:<12} {path}  (then: restock ingest {name} {path})")


@cli.command("quality")
@run_options
@common_options
def quality_cmd(run_id, as_of_date, **options) -> None:
    """Validate sales and write the data_quality report (warn / fail thresholds in conf)."""
    run, state = execute("quality", options, run_id, as_of_date)
    for c in state["checks"]:
        click.echo(f"{c.severity:<5} {c.check:<20} {c.value:>10.4g}  {c.message}")
    click.echo(f"run {run.run_id}: data_quality written (as of {run.as_of_date})")


def main(argv: list[str] | None = None) -> int:
    """Entry point: user errors print one line and exit 1; Spark errors without a Java trace."""
    try:
        cli.main(args=argv, prog_name="restock", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx else "restock"
        click.echo(f"restock: error: {exc.format_message()} (see '{command} --help')", err=True)
        return exc.exit_code
    except click.ClickException as exc:
        click.echo(f"restock: error: {exc.format_message()}", err=True)
        return exc.exit_code
    except click.Abort:
        click.echo("aborted", err=True)
        return 130
    except RestockError as exc:
        if os.environ.get("RESTOCK_DEBUG"):
            traceback.print_exc()
        click.echo(f"restock: error: {exc}", err=True)
        return exc.exit_code
    except Exception as exc:  # noqa: BLE001 - the last line of defence prints one line
        if os.environ.get("RESTOCK_DEBUG"):
            traceback.print_exc()
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        click.echo(f"restock: error: {type(exc).__name__}: {first[:500]}", err=True)
        click.echo("(set RESTOCK_DEBUG=1 for the full trace)", err=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
