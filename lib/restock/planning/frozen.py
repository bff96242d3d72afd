"""Freeze a series' model form for the replay: search once, then refit parameters only.

Every review of the replay refits the series' model. AutoETS and AutoARIMA search their
model space on each fit (some 30 ETS forms; a stepwise ARIMA search); the replay fits
the searched model once on the history before the holdout, reads the chosen form
(`model_["components"]`: ETS error, trend, season and damping; `model_["arma"]`: the
ARIMA orders, with the intercept and drift it kept) and refits that form at every later
review and error window. Other models have no form to search and are left as they are.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np
from statsforecast import models as sf

from restock.forecasting.models import min_periods

FROZEN = ("AutoETS", "AutoETSWeekly", "AutoARIMA")


def freeze(guard: Any, y: np.ndarray) -> str | None:
    """Replace the guard's primary AutoETS/AutoARIMA by its form chosen on y; the form
    (e.g. `ETS(ANAN)`, `ARIMA(0,0,0)(0,1,1)[7]`), or None when left alone (another
    model, too short a history, or a failed search: the guard then falls back as usual)."""
    name, spec = guard.chain[0]
    least = max(min_periods(spec, guard.season_length), 2 * guard.season_length)
    if name not in FROZEN or y.size < least:
        return None
    searched = spec.build(guard.season_length)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            searched.fit(y=y)
    except Exception:  # noqa: BLE001 - the unfrozen guard handles failures itself
        return None
    build, form = _form(name, searched.model_)
    guard.chain[0] = (name, dataclasses.replace(spec, build=build))
    return form


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
