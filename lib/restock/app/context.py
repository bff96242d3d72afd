"""What every command shares: its options (declared once), its Context (the settings tree
checked before Spark starts, the session built on first use) and the run of a verb."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

DATE = click.DateTime(formats=["%Y-%m-%d"])


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
        from restock.app.run import Run
        from restock.io import runs, tables

        run_id = tables.check_run_id(run_id) if run_id else runs.new_run_id()
        from restock.spark.progress import ProgressSettings

        return Run(self.spark, self.conf, run_id, as_of.date() if as_of else None,
                   settings=self.settings,
                   progress=ProgressSettings.from_conf(self.conf, self.quiet))


def context_of(options: dict[str, Any]) -> Context:
    """Pop the common options out of a command's kwargs and build its Context."""
    names = ("env", "conf_dir", "warehouse", "master", "overrides", "frequency", "quiet")
    return Context(*(options.pop(k) for k in names))


def run_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--run-id and --as-of-date."""
    fn = click.option("--as-of-date", type=DATE,
                      help="Last day of history to use (default: newest sales date).")(fn)
    return click.option("--run-id", help="Run id (default: a new one; reuse it to redo a run).")(fn)


def execute(verb: str, options: dict[str, Any] | Context, run_id: str | None,
             as_of: dt.datetime | None, skip: tuple[str, ...] = (), **step_options: Any):
    """Build the context (settings checked before Spark), then run the verb's steps."""
    ctx = options if isinstance(options, Context) else context_of(options)
    from restock.app import steps

    run = ctx.run(run_id, as_of)
    as_of_day = as_of.date() if as_of else None
    state = steps.execute(verb, run, skip, reference_date=steps.reference_date(as_of_day),
                          **step_options)
    return run, state


def models_flag(flag: str | None) -> str | tuple[str, ...] | None:
    """The --models flag checked like conf forecast.models; None: the conf's."""
    from restock.forecasting.forecast import models_of

    return None if flag is None else models_of(flag)
