"""A model's searched form: the ETS components, the ARIMA orders, MSTL's trend form.

AutoETS and AutoARIMA search their model space on every fit (some 30 ETS forms, a
stepwise ARIMA search), and so does MSTL's trend AutoETS; the search is most of a fit's
cost. A form, once searched, is a label (`label`) that rebuilds the model with that form
fixed (`with_form`), so that a later fit estimates only its parameters:

- `ETS(AANN)`: error, trend, season and damping (`D` or `N`), the fitted `components`;
- `ARIMA(p,d,q)(P,D,Q)[m]`, with ` intercept` and ` drift` where the fit kept them;
- `MSTL[ETS(AANN)]`: MSTL whose trend AutoETS has that form;
- a Mean(A+B): its parts' labels joined by `+`, a part without a form by its name.

The backtest (`backtest.refit: false`) fits each series' model once, at the first cutoff;
the form it found goes to `model_selection.form`, and the forecast fits that form. The
replay freezes the form it searches at its cut-off alike (`restock.planning.frozen`).
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from statsforecast import models as sf

from restock.forecasting.models import (
    MODELS,
    ModelSpec,
    combination_parts,
    combined,
    mstl_of,
)

FORMED = ("AutoETS", "AutoETSWeekly", "AutoARIMA", "MSTL")
_ETS = re.compile(r"^ETS\((?P<model>[AMN]{3})(?P<damped>[DN])\)$")
_ARIMA = re.compile(r"^ARIMA\((?P<p>\d+),(?P<d>\d+),(?P<q>\d+)\)\((?P<P>\d+),(?P<D>\d+),"
                    r"(?P<Q>\d+)\)\[(?P<m>\d+)\](?P<extras>( intercept)?( drift)?)$")
_MSTL = re.compile(r"^MSTL\[(?P<trend>ETS\([A-Z]{4}\))\]$")


def label(name: str, model: Any) -> str | None:
    """The form of a fitted model of registry entry `name`; None where it has none (not a
    searched model, or not fitted)."""
    if name == "MSTL":
        trend = label("AutoETS", getattr(model, "trend", None))
        return f"MSTL[{trend}]" if trend else None
    fitted = getattr(model, "model_", None)
    if name not in FORMED or not isinstance(fitted, dict):
        return None
    if name.startswith("AutoETS"):
        return f"ETS({fitted['components']})"
    p, q, big_p, big_q, m, d, big_d = (int(v) for v in fitted["arma"][:7])
    extras = "".join(f" {k}" for k in ("intercept", "drift") if k in fitted.get("coef", {}))
    return f"ARIMA({p},{d},{q})({big_p},{big_d},{big_q})[{m}]{extras}"


def fitted_label(name: str, fitted: dict[str, Any]) -> str | None:
    """The form of `name` from the guard's fitted models of one series (keyed by registry
    name; a Mean(A+B)'s parts each under its own); None when no part has one."""
    parts = combination_parts(name)
    if parts is None:
        return label(name, fitted[name]) if name in fitted else None
    return joined(parts, [fitted_label(part, fitted) for part in parts])


def joined(parts: Sequence[str], forms: Sequence[str | None]) -> str | None:
    """A Mean(A+B)'s form from its parts' forms: joined by `+`, a part without one by its
    name; None when no part has one."""
    if not any(forms):
        return None
    return "+".join(form or part for form, part in zip(forms, parts, strict=True))


def with_form(name: str, spec: ModelSpec, form: str) -> ModelSpec:
    """The registry entry `spec` of `name` with its build fixed to `form` (a label of
    `label` / `fitted_label`). Raises ValueError for a label that does not fit the model."""
    parts = combination_parts(name)
    if parts is None:
        return dataclasses.replace(spec, build=_builder(name, form))
    forms = form.split("+")
    if len(forms) != len(parts):
        raise ValueError(f"form '{form}' does not match the parts of {name}")
    return combined([(part, MODELS[part] if found == part else
                      with_form(part, MODELS[part], found))
                     for part, found in zip(parts, forms, strict=True)])


def searched(name: str, spec: ModelSpec, season_length: int, y: np.ndarray) -> str | None:
    """The form a fit of `name` picks on y (a Mean(A+B): its parts'); None for a model
    without a form or a failed search."""
    parts = combination_parts(name)
    if parts is not None:
        return joined(parts, [searched(part, MODELS[part], season_length, y) for part in parts])
    if name not in FORMED:
        return None
    model = spec.build(season_length)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(y=y)
    except Exception:  # noqa: BLE001 - the unformed model handles its failures itself
        return None
    return label(name, model)


def _builder(name: str, form: str) -> Callable[[int], Any]:
    """A build (season length in) of registry model `name` with `form` fixed."""
    if name.startswith("AutoETS") and (ets := _ETS.match(form)):
        model, damped = ets["model"], ets["damped"] == "D"
        return lambda s: sf.AutoETS(season_length=s, model=model, damped=damped)
    if name == "MSTL" and (mstl := _MSTL.match(form)):
        trend = _builder("AutoETS", mstl["trend"])
        return lambda s: mstl_of(s, trend(1))
    if name == "AutoARIMA" and (arima := _ARIMA.match(form)):
        order = tuple(int(arima[k]) for k in ("p", "d", "q"))
        seasonal = tuple(int(arima[k]) for k in ("P", "D", "Q"))
        m, extras = int(arima["m"]), arima["extras"]
        return lambda s: sf.ARIMA(order=order, seasonal_order=seasonal, season_length=max(m, 1),
                                  include_mean="intercept" in extras,
                                  include_drift="drift" in extras)
    raise ValueError(f"form '{form}' is not a form of {name}")
