"""Freeze a series' model form for the replay: search once, then refit parameters only.

Every review of the replay refits the series' model. AutoETS and AutoARIMA search their
model space on each fit (some 30 ETS forms; a stepwise ARIMA search), and so does MSTL's
trend AutoETS; the replay fits the series' model once on the history before the holdout,
reads the chosen form (`restock.forecasting.forms`) and refits that form at every later
review and error window; in a Mean(A+B) each such part is frozen alike. Other models have
no form to search and are left as they are.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from restock.forecasting.forms import searched, with_form
from restock.forecasting.models import min_periods


def freeze(guard: Any, y: np.ndarray) -> str | None:
    """Replace the guard's primary model by the form chosen on y (AutoETS, AutoARIMA and
    MSTL, or such parts of a Mean(A+B)); the form (e.g. `ETS(ANAN)`,
    `ARIMA(0,0,0)(0,1,1)[7]`, `ETS(AANN)+WindowAverage`), or None when left alone (no such
    model, too short a history, or a failed search: the guard then falls back as usual)."""
    name, spec = guard.chain[0]
    least = max(min_periods(spec, guard.season_length), 2 * guard.season_length)
    if y.size < least:
        return None
    form = searched(name, spec, guard.season_length, y)
    if form is not None:
        guard.chain[0] = (name, with_form(name, spec, form))
    return form
