"""One step graph: each verb of the CLI is a declared list of steps with inputs and outputs.

A step reads named values of the run's `State` (`needs`) and adds its own (`makes`); a verb
names the input tables it validates first and its steps in order. `restock run`, `backtest`,
`forecast` … are views of the same graph, so a step is wired once. `execute` checks that
every step's needs are made by an earlier step (or the verb's reading of inputs) before it
starts anything.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from restock.app import pipeline
from restock.app.run import Run
from restock.errors import RestockError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from restock.app.settings import Settings


@dataclass
class State:
    """What the steps of one verb hand on: validated inputs, the profile, options."""

    options: dict[str, Any] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        return self.values[name]


@dataclass(frozen=True)
class Step:
    """One step: its name (the `runs.job`), what it needs, what it makes, its body."""

    name: str
    needs: tuple[str, ...]
    makes: tuple[str, ...]
    body: Callable[[Run, State], dict[str, Any]]


@dataclass(frozen=True)
class Verb:
    """A CLI verb: the input tables it validates (required, optional) and its steps."""

    required: tuple[str, ...]
    optional: tuple[str, ...]
    steps: tuple[str, ...]


def _quality(run: Run, state: State) -> dict[str, Any]:
    found = pipeline.quality_step(run, state["inputs"], state.options["reference_date"])
    return {"checks": found}


def _profile(run: Run, state: State) -> dict[str, Any]:
    """Profile every series (ABC ranks the whole assortment); hand on the series the later
    steps fit: all, or the replay's sample in `restock simulate`'s own cut-off fit."""
    profiled = pipeline.profile_step(run, state["inputs"])
    share = state.options.get("sample_share", 1.0)
    if share < 1.0:
        profiled = pipeline.in_sample(profiled, share)
        run.series = profiled.count()  # the total of the progress lines' series estimate
    return {"profiled": profiled}


def _backtest(run: Run, state: State) -> dict[str, Any]:
    pipeline.backtest_step(run, state["inputs"], state["profiled"])
    return {"selection": True}


def _forecast(run: Run, state: State) -> dict[str, Any]:
    pipeline.forecast_step(run, state["inputs"], state["profiled"], state.options.get("models"))
    return {"forecasts": run.run_id}


def _plan(run: Run, state: State) -> dict[str, Any]:
    summary = pipeline.plan_step(
        run, state.values.get("inputs"), state.options.get("forecast_run_id"),
        state.options.get("forecasts_version"),
    )
    return {"plans": summary}


def _simulate(run: Run, state: State) -> dict[str, Any]:
    summary = pipeline.simulate_step(run, state.options.get("forecast_run_id"),
                                     state.values.get("inputs"))
    return {"simulation_summary": summary}


STEPS: dict[str, Step] = {
    "quality": Step("quality", ("inputs",), ("checks",), _quality),
    "profile": Step("profile", ("inputs",), ("profiled",), _profile),
    "backtest": Step("backtest", ("inputs", "profiled"), ("selection",), _backtest),
    "forecast": Step("forecast", ("inputs", "profiled"), ("forecasts",), _forecast),
    # plan and simulate read the forecasts table (this run's or a given run's), and
    # validate their own inputs when the verb did not
    "plan": Step("plan", (), ("plans",), _plan),
    "simulate": Step("simulate", (), ("simulation_summary",), _simulate),
}

VERBS: dict[str, Verb] = {
    "quality": Verb(("sales",), ("item_params", "inventory"), ("quality",)),
    "profile": Verb(("sales",), ("item_params", "inventory"), ("profile",)),
    "backtest": Verb(("sales",), ("item_params", "inventory"), ("profile", "backtest")),
    "forecast": Verb(("sales",), ("item_params", "inventory"), ("profile", "forecast")),
    "plan": Verb((), (), ("plan",)),
    "run": Verb(("sales", "item_params", "inventory"), (),
                ("quality", "profile", "backtest", "forecast", "plan")),
    "simulate": Verb((), (), ("simulate",)),
    # `restock simulate`'s own fit at the start of the replayed period (fit_before_holdout)
    "fit": Verb(("sales", "item_params", "inventory"), (), ("profile", "backtest", "forecast")),
}


def execute(verb: str, run: Run, skip: Iterable[str] = (), **options: Any) -> State:
    """Run a verb's steps in order on one run; return the state they made.

    Args:
        verb: a key of VERBS.
        run: the run (session, settings, run id, as-of date).
        skip: step names left out (e.g. the backtest of `restock run --no-backtest`).
        **options: what steps read from the command line (models, reference_date, …).
    """
    spec = VERBS[verb]
    steps = [STEPS[name] for name in spec.steps if name not in set(skip)]
    _check_wiring(verb, spec, steps)
    state = State(options=dict(options))
    try:
        if spec.required:
            state.values["inputs"] = pipeline.read_inputs(run, spec.required, spec.optional)
        for step in steps:
            made = step.body(run, state)
            state.values.update(made)
    finally:
        run.write_held()  # the last job's row (its successor's commit would have carried it)
    return state


def _check_wiring(verb: str, spec: Verb, steps: list[Step]) -> None:
    """Every step's needs are made before it (the verb's inputs count as made first)."""
    made = {"inputs"} if spec.required else set()
    for step in steps:
        missing = [n for n in step.needs if n not in made]
        if missing:
            raise RestockError(f"verb '{verb}': step '{step.name}' needs {', '.join(missing)}, "
                               "which no earlier step makes")
        made.update(step.makes)


def fit_before_holdout(
    spark: SparkSession, settings: Settings, as_of_date: dt.date | None
) -> tuple[str, dt.date]:
    """Profile, backtest (model selection) and forecast at `as_of − simulation.holdout_days`
    in a run of their own, so that no step sees the replayed days. The profile covers every
    series (ABC ranks the whole assortment); the backtest and the forecast fit only the
    series the replay samples (`simulation.sample_share`), and the backtest leaves out the
    weekly-only reference (`calendar.benchmark`: it scores no candidate, and only a run's
    summary reports it).

    Both dates are period ends of the sales' grain (detected, or conf's): the as-of date
    is the end of the period holding it, the cut-off the last period end at least
    `holdout_days` before it (a cut-off inside a period would fit a last period without
    its rows).

    Returns:
        That run's id and the replay's as-of date (by default the newest sales date).
    """
    from pyspark.sql import functions as F

    from restock.forecasting.availability import resolve_grain
    from restock.io import runs, tables

    sales = tables.read(spark, settings.conf, "sales")
    grain, _ = resolve_grain(settings.conf, sales)
    if as_of_date is None:
        as_of_date = sales.agg(F.max("date")).first()[0]
    as_of_date = grain.end_of(grain.index_of(as_of_date))
    latest = as_of_date - dt.timedelta(days=settings.simulation.holdout_days)
    period = grain.index_of(latest)
    cutoff = grain.end_of(period if grain.end_of(period) <= latest else period - 1)
    # conf, not the settings tree: a run rebuilds its tree from conf when it fixes the grain
    conf = {**settings.conf, "calendar": {**settings.conf.get("calendar", {}), "benchmark": None}}
    fit = Run(spark, conf, runs.new_run_id(), cutoff)
    execute("fit", fit, sample_share=settings.simulation.sample_share)
    return fit.run_id, as_of_date


def reference_date(as_of: dt.date | None) -> dt.date:
    """The day freshness is measured to: the as-of date given, else today (UTC)."""
    return as_of or dt.datetime.now(dt.timezone.utc).date()
