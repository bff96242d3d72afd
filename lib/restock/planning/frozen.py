"""Freeze a series' model form for the replay: search once, then refit parameters only.

Every review of the replay refits the series' model. AutoETS and AutoARIMA search their
model space on each fit (some 30 ETS forms; a stepwise ARIMA search); the replay fits
the searched model once on the history before the holdout, reads the chosen form
(`model_["components"]`: ETS error, trend, season and damping; `model_["arma"]`: the
ARIMA orders, with the intercept and drift it kept) and refits that form at every later
review and error window; in a Mean(A+B) each such part is frozen alike. Other models have
no form to search and are left as they are.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np
from statsforecast import models as sf

from restock.forecasting.models import MODELS, combination_parts, combined, min_periods

FROZEN = ("AutoETS", "AutoETSWeekly", "AutoARIMA")


def freeze(guard: Any, y: np.ndarray) -> str | None:
    """Replace the guard's primary AutoETS/AutoARIMA, or such parts of its Mean(A+B), by
    the form chosen on y; the form (e.g. `ETS(ANAN)`, `ARIMA(0,0,0)(0,1,1)[7]`; a
    combination's forms joined by `+`), or None when left alone (no such model, too short
    a history, or a failed search: the guard then falls back as usual)."""
    name, spec = guard.chain[0]
    least = max(min_periods(spec, guard.season_length), 2 * guard.season_length)
    parts = combination_parts(name)
    if y.size < least or not {name, *(parts or ())} & set(FROZEN):
        return None
    if parts is None:
        found = _searched(name, spec.build, guard.season_length, y)
        if found is None:
            return None
        build, form = found
        spec = dataclasses.replace(spec, build=build)
    else:
        specs, forms = [], []
        for part in parts:
            found = _searched(part, MODELS[part].build, guard.season_length, y)
            specs.append((part, dataclasses.replace(MODELS[part], build=found[0])
                          if found else MODELS[part]))
            forms.append(found[1] if found else part)
        if forms == parts:
            return None
        spec = combined(specs)
        form = "+".join(forms)
    guard.chain[0] = (name, spec)
    return form


def _searched(name: str, build: Any, season_length: int, y: np.ndarray) -> tuple | None:
    """(builder of the form, label) an AutoETS/AutoARIMA search picks on y; None for
    another model or a failed search."""
    if name not in FROZEN:
        return None
    searched = build(season_length)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            searched.fit(y=y)
    except Exception:  # noqa: BLE001 - the unfrozen guard handles failures itself
        return None
    return _form(name, searched.model_)


def _form(name: str, fitted: dict[str, Any]) -> tuple[Any, str]:
    """A builder of the fitted form (season length in) and its label."""
    if name.startswith("AutoETS"):
        components = str(fitted["components"])
        model, damped = components[:3], components[3] != "N"
        return (lambda s: sf.AutoETS(season_length=s, model=model, damped=damped),
                f"ETS({components})")
    p, q, big_p, big_q, m, d, big_d = (int(v) for v in fitted["arma"][:7])
    coef = fitted.get("coef", {})
    mean, drift = "intercept" in coef, "drift" in coef

    def build(s: int) -> Any:
        return sf.ARIMA(order=(p, d, q), seasonal_order=(big_p, big_d, big_q),
                        season_length=max(m, 1), include_mean=mean, include_drift=drift)

    return build, f"ARIMA({p},{d},{q})({big_p},{big_d},{big_q})[{m}]"
