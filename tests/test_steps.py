"""The step graph: every verb is a declared list of steps whose needs are made before them."""

from __future__ import annotations

import pytest

from restock.app import steps
from restock.errors import RestockError


@pytest.mark.parametrize("verb", sorted(steps.VERBS))
def test_every_verb_is_wired(verb):
    spec = steps.VERBS[verb]
    steps._check_wiring(verb, spec, [steps.STEPS[s] for s in spec.steps])


def test_run_is_the_other_verbs_in_one_run_id():
    run = steps.VERBS["run"].steps
    for verb in ("quality", "profile", "backtest", "forecast", "plan"):
        assert set(steps.VERBS[verb].steps) <= set(run)
    assert run.index("profile") < run.index("backtest") < run.index("forecast") < \
        run.index("plan")


def test_a_step_whose_needs_no_earlier_step_makes_is_refused_before_anything_runs():
    spec = steps.Verb(("sales",), (), ("forecast",))
    with pytest.raises(RestockError, match="step 'forecast' needs profiled"):
        steps._check_wiring("broken", spec, [steps.STEPS["forecast"]])
    with pytest.raises(RestockError, match="needs inputs"):
        steps._check_wiring("no-inputs", steps.Verb((), (), ("profile",)),
                            [steps.STEPS["profile"]])


def test_the_as_of_date_is_resolved_once_then_frozen():
    import datetime as dt

    from restock.app.run import Run
    from restock.io.config import load_conf

    run = Run(None, load_conf("local", environ={}), "r1")  # no step runs: no session needed
    first = dt.date(2026, 6, 30)
    assert run.fix_as_of(first) == first and run.fix_as_of(first) == first
    with pytest.raises(RestockError, match="as-of date 2026-06-30 already fixed"):
        run.fix_as_of(dt.date(2026, 7, 1))
