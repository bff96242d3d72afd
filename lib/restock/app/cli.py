"""The `restock` command line. Heavy imports live inside the commands so --help is instant."""

from __future__ import annotations

import datetime as dt
import functools
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from restock.errors import RestockError
from restock.io.tables import INPUTS

_DATE = click.DateTime(formats=["%Y-%m-%d"])


def common_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Options every command takes, declared once (each also read from an env variable)."""
    options = [
        click.option("--env", "env", default="local", envvar="RESTOCK_ENV", show_default=True,
                     help="Conf layer conf/<env>.yaml laid over conf/base.yaml."),
        click.option("--conf-dir", type=click.Path(exists=True, file_okay=False),
                     envvar="RESTOCK_CONF_DIR", help="Folder of the YAML conf files."),
        click.option("--warehouse", envvar="RESTOCK_WAREHOUSE",
                     help="Root folder or URI of the Delta tables."),
        click.option("--master", envvar="RESTOCK_MASTER",
                     help="Spark master URL (overrides conf; spark-submit sets its own)."),
        click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                     help="Override a conf key, e.g. --set forecast.horizon_days=14."),
        click.option("--frequency", envvar="RESTOCK_FREQUENCY", metavar="D|W|W-FRI|M|auto",
                     help="Grain of the sales series (conf data.frequency; default: detected)."),
        click.option("--quiet", "-q", is_flag=True, envvar="RESTOCK_QUIET",
                     help="No progress lines (stderr); `run` prints only its final line."),
    ]
    return functools.reduce(lambda f, option: option(f), reversed(options), fn)


class Context:
    """The settings tree of one command (checked at once, before Spark) and its session,
    built on first use."""

    def __init__(self, env, conf_dir, warehouse, master, overrides, frequency=None,
                 quiet=False) -> None:
        from restock.app.settings import load_settings
        from restock.paths import resolve

        # a relative --warehouse is the user's: under the current directory
        extra = [f"data.frequency={frequency}"] if frequency else []
        self.settings = load_settings(
            env, conf_dir, [*overrides, *extra], master=master,
            warehouse=resolve(warehouse, Path.cwd()) if warehouse else None)
        self.conf = self.settings.conf
        self.quiet = quiet
        self._spark = None

    @property
    def spark(self):
        """The SparkSession (built once)."""
        if self._spark is None:
            from restock.io.session import build_spark

            self._spark = build_spark(self.conf)
        return self._spark

    def run(self, run_id: str | None, as_of: dt.datetime | None):
        """A pipeline Run with a new or given run id."""
        from restock.app.pipeline import Run
        from restock.io import runs, tables

        run_id = tables.check_run_id(run_id) if run_id else runs.new_run_id()
        from restock.spark.progress import ProgressSettings

        return Run(self.spark, self.conf, run_id, as_of.date() if as_of else None,
                   settings=self.settings,
                   progress=ProgressSettings.from_conf(self.conf, self.quiet))


def _context(options: dict[str, Any]) -> Context:
    """Pop the common options out of a command's kwargs and build its Context."""
    names = ("env", "conf_dir", "warehouse", "master", "overrides", "frequency", "quiet")
    return Context(*(options.pop(k) for k in names))


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
@click.option("--end-date", type=_DATE, default="2026-10-31", show_default=True,
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
    ctx = _context(options)
    frames = make(ctx.spark, series, days, seed, end_date.date(), bad_row_share=bad_rows,
                  mix=MIXES[mix])
    note = f"generate series={series} days={days} seed={seed} mix={mix}"
    for name, df in frames.items():
        tables.write_input(df, ctx.conf, name, note)
        click.echo(f"{name:<12} {tables.location(ctx.conf, name)}")


def _run_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--run-id and --as-of-date."""
    fn = click.option("--as-of-date", type=_DATE,
                      help="Last day of history to use (default: newest sales date).")(fn)
    return click.option("--run-id", help="Run id (default: a new one; reuse it to redo a run).")(fn)


def _verb_command(name: str, doc: str, written: str) -> Callable[..., Any]:
    """A command that runs one verb of the step graph with --run-id and --as-of-date."""

    @cli.command(name, help=doc)
    @_run_options
    @common_options
    def command(run_id, as_of_date, **options) -> None:
        run = _execute(name, options, run_id, as_of_date)[0]
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
@_run_options
@click.option("--models", help=_MODELS_HELP)
@common_options
def forecast_cmd(run_id, as_of_date, models, **options) -> None:
    """Profile, route and forecast every series; write forecasts."""
    run = _execute("forecast", options, run_id, as_of_date, models=_models(models))[0]
    click.echo(f"run {run.run_id}: forecasts written (as of {run.as_of_date})")


@cli.command("plan")
@click.option("--run-id", help="Run id of the plan (default: a new one).")
@click.option("--forecast-run-id", help="Plan from this forecast run (default: the latest).")
@click.option("--as-of-version", type=click.IntRange(0),
              help="Read the forecasts table as of this Delta version.")
@common_options
def plan_cmd(run_id, forecast_run_id, as_of_version, **options) -> None:
    """Turn forecasts into a replenishment plan; write plans."""
    run, state = _execute("plan", options, run_id, None, forecast_run_id=forecast_run_id,
                          forecasts_version=as_of_version)
    click.echo(state["plans"])
    click.echo(f"run {run.run_id}: plans written (as of {run.as_of_date})")


@cli.command("run")
@_run_options
@click.option("--models", help=_MODELS_HELP)
@click.option("--backtest/--no-backtest", default=None,
              help="Run the backtest and selection first (default: conf backtest.in_run).")
@common_options
def run_cmd(run_id, as_of_date, models, backtest, **options) -> None:
    """Ingest, check data quality, profile, (backtest,) forecast and plan in one run id."""
    ctx = _context(options)
    in_run = ctx.settings.backtest.in_run if backtest is None else backtest
    run, state = _execute("run", ctx, run_id, as_of_date,
                          skip=() if in_run else ("backtest",), models=_models(models))
    from restock.reporting.summary import traps_text

    run.notes += [c.message for c in state["checks"] if c.check == "unavailable_share"]
    if not ctx.quiet:  # --quiet: only the final line
        for note in [*run.notes, state["plans"], traps_text(ctx.spark, ctx.conf, run.run_id)]:
            click.echo(note)
    click.echo(f"run {run.run_id} succeeded (as of {run.as_of_date})")


@cli.command("demo")
@click.option("--series", type=click.IntRange(1), default=500, show_default=True)
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
@click.option("--as-of-date", type=_DATE,
              help="End of the replayed period (default: the forecast run's as-of date).")
@click.option("--fit-at-cutoff/--no-fit-at-cutoff", default=True, show_default=True,
              help="Without --forecast-run-id: first profile, backtest and forecast at the "
                   "start of the replayed period, so none of it is seen.")
@common_options
def simulate_cmd(run_id, forecast_run_id, as_of_date, fit_at_cutoff, **options) -> None:
    """Replay the policy on held-out demand; write simulation and simulation_summary.

    The last simulation.holdout_days days before the as-of date are replayed day by day:
    each review refits the series' model on the days before it, recomputes the policy and
    orders; restock's three safety-stock methods run next to two baselines.
    """
    from restock.reporting import summary as report

    ctx = _context(options)
    if fit_at_cutoff and not forecast_run_id:
        from restock.app import steps

        forecast_run_id, end = steps.fit_before_holdout(
            ctx.spark, ctx.settings, as_of_date.date() if as_of_date else None)
        as_of_date = dt.datetime.combine(end, dt.time())
    run, state = _execute("simulate", ctx, run_id, as_of_date,
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

    ctx = _context(options)
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

    ctx = _context(options)
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

    ctx = _context(options)
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

    ctx = _context(options)
    click.echo(report.show_text(ctx.spark, ctx.conf, table, run_id, as_of_version, limit))


@cli.command("summary")
@click.option("--run-id", help="Run to summarise (default: the latest plan run).")
@common_options
def summary_cmd(run_id, **options) -> None:
    """Run id, row counts, table paths, accuracy and the ten largest recommended orders."""
    from restock.reporting import summary as report

    ctx = _context(options)
    click.echo(report.summary_text(ctx.spark, ctx.settings, run_id))


@cli.command("report")
@click.option("--run-id", help="Run to report (default: the latest plan run).")
@click.option("--out", type=click.Path(dir_okay=False), default="report.html",
              show_default=True, help="Where to write the HTML file.")
@common_options
def report_cmd(run_id, out, **options) -> None:
    """Write a self-contained HTML report: forecasts, accuracy, the plan, the simulation."""
    from restock.reporting.html import write_report

    ctx = _context(options)
    click.echo(f"report written to {write_report(ctx.spark, ctx.settings, run_id, out).resolve()}")


@cli.command("ingest")
@click.argument("table", type=click.Choice(sorted(INPUTS)))
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet", "delta"]),
              help="File format (default: from the file name; a folder with _delta_log is delta).")
@click.option("--mapping", multiple=True, metavar="COLUMN=FILE_COLUMN",
              help="Read a contract column from a differently named file column, "
                   "e.g. --mapping sku_id=item_code.")
@click.option("--as-of-date", type=_DATE,
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

    ctx = _context(options)
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

    ctx = _context(options)
    for name, path in write_templates(ctx.spark, ctx.conf, out).items():
        click.echo(f"{name:<12} {path}  (then: restock ingest {name} {path})")


@cli.command("quality")
@_run_options
@common_options
def quality_cmd(run_id, as_of_date, **options) -> None:
    """Validate sales and write the data_quality report (warn / fail thresholds in conf)."""
    run, state = _execute("quality", options, run_id, as_of_date)
    for c in state["checks"]:
        click.echo(f"{c.severity:<5} {c.check:<20} {c.value:>10.4g}  {c.message}")
    click.echo(f"run {run.run_id}: data_quality written (as of {run.as_of_date})")


def _execute(verb: str, options: dict[str, Any] | Context, run_id: str | None,
             as_of: dt.datetime | None, skip: tuple[str, ...] = (), **step_options: Any):
    """Build the context (settings checked before Spark), then run the verb's steps."""
    ctx = options if isinstance(options, Context) else _context(options)
    from restock.app import steps

    run = ctx.run(run_id, as_of)
    as_of_day = as_of.date() if as_of else None
    state = steps.execute(verb, run, skip, reference_date=steps.reference_date(as_of_day),
                          **step_options)
    return run, state


def _models(flag: str | None) -> str | tuple[str, ...] | None:
    """The --models flag checked like conf forecast.models; None: the conf's."""
    from restock.forecasting.forecast import models_of

    return None if flag is None else models_of(flag)


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
