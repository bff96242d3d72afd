"""One model's rolling-origin fits on a bucket's series, their Mean(A+B) combinations, and
the per-window metric rows they become (the backtest's pandas kernel)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from itertools import combinations
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from restock.forecasting import metrics
from restock.forecasting.exog import Exog
from restock.forecasting.forms import joined
from restock.forecasting.guard import Guarded, outcomes_frame
from restock.forecasting.models import combination_name
from restock.forecasting.panel import Panel
from restock.grain import Grain

if TYPE_CHECKING:
    from restock.forecasting.backtest import BacktestSettings


@dataclass
class Fit:
    """One model's rolling-origin forecasts: rows are code-major, `windows` per code."""

    model: str
    codes: np.ndarray  # sorted series codes
    cutoff: np.ndarray  # per row (epoch day)
    y: np.ndarray  # rows × horizon
    yhat: np.ndarray
    intervals: dict[int, tuple[np.ndarray, np.ndarray]]
    errors: np.ndarray | None  # per row, the guard's error text
    forms: np.ndarray  # per row, the fitted form (`forms.label`) or None

    @property
    def code(self) -> np.ndarray:
        """The series code of each row."""
        return np.repeat(self.codes, self.y.shape[0] // max(self.codes.size, 1))

    def rows_of(self, codes: np.ndarray) -> np.ndarray:
        """Row positions of these (sorted, present) codes, windows in order."""
        w = self.y.shape[0] // max(self.codes.size, 1)
        first = np.searchsorted(self.codes, codes) * w
        return (first[:, None] + np.arange(w)).ravel()


def cross_validate(
    panel: Panel, codes: np.ndarray, model: str, s: BacktestSettings, exog: Exog | None = None
) -> Fit:
    """statsforecast cross_validation for one model on its series (`s.refit` False: each
    series' model is fitted at the first cutoff and carried forward, see `Guarded.fit`)."""
    from statsforecast import StatsForecast

    codes, h, w = np.sort(codes), s.horizon_days, s.windows
    guard = Guarded(
        model, (), s.season_length, s.interval_windows, s.interval_step_days, s.uplift
    )
    cv = StatsForecast(models=[guard], freq=1, n_jobs=1).cross_validation(
        df=panel.long(codes) if exog is None else exog.history(codes),
        h=h, step_size=s.step_days, n_windows=w, level=list(s.levels), refit=s.refit,
    )
    cv = cv.sort_values(["unique_id", "cutoff", "ds"], kind="stable")
    shape = (len(codes) * w, h)
    def column(name: str) -> np.ndarray:  # published forecasts are clipped at 0: so here
        return cv[name].to_numpy().reshape(shape).clip(min=0)

    scored = _scored(panel, cv).reshape(shape)
    def masked(values: np.ndarray) -> np.ndarray:  # unavailable periods: no actual, no error
        return np.where(scored, values, 0.0)

    errors = outcomes_frame(guard, shape[0], f"backtest of {model}")
    return Fit(
        model, codes, cv["cutoff"].to_numpy()[::h], masked(cv["y"].to_numpy().reshape(shape)),
        masked(column(model)),
        {lv: (masked(column(f"{model}-lo-{lv}")), masked(column(f"{model}-hi-{lv}")))
         for lv in s.levels},
        errors["error"].to_numpy(),
        errors["form"].to_numpy(),
    )


def combinations_of(fits: list[Fit], size: int) -> list[Fit]:
    """Mean(A+B...) of every 2 .. `size` fitted models, on the series they share: the mean
    of their (clipped) window forecasts and bounds, as `models.mean_forecast` averages a
    Mean(A+B)'s parts."""
    out = []
    for k in range(2, size + 1):
        for parts in combinations(sorted(fits, key=lambda f: f.model), k):
            codes = reduce(np.intersect1d, [f.codes for f in parts])
            if not codes.size:
                continue
            rows = [f.rows_of(codes) for f in parts]
            def mean(arrays: list[np.ndarray]) -> np.ndarray:
                return np.mean(arrays, axis=0)
            out.append(Fit(
                combination_name([f.model for f in parts]), codes, parts[0].cutoff[rows[0]],
                parts[0].y[rows[0]], mean([f.yhat[r] for f, r in zip(parts, rows, strict=True)]),
                {lv: tuple(mean([f.intervals[lv][i][r] for f, r in zip(parts, rows, strict=True)])
                           for i in (0, 1)) for lv in parts[0].intervals},
                None,
                _joined_forms(parts, rows),
            ))
    return out


def _joined_forms(parts: tuple[Fit, ...], rows: list[np.ndarray]) -> np.ndarray:
    """Per row of a Mean(A+B...): its form from its parts' (`forms.joined`)."""
    names = [f.model for f in parts]
    columns = [f.forms[r] for f, r in zip(parts, rows, strict=True)]
    return np.array([joined(names, found) for found in zip(*columns, strict=True)],
                    dtype=object)


def window_rows(panel: Panel, fit: Fit, scales: dict, grain: Grain) -> pd.DataFrame:
    """One row per series and window of a fit: metrics, status, cumulative errors."""
    code = fit.code
    scale, scale_sq = (np.array([scales[(c, cut)][i] for c, cut in zip(code, fit.cutoff,
                                                                        strict=True)])
                       for i in (0, 1))
    out = pd.DataFrame(metrics.window_metrics(fit.y, fit.yhat, scale, fit.intervals, scale_sq))
    failed = np.isnan(fit.yhat).any(axis=1)
    out.insert(0, "sku_id", panel.keys["sku_id"].to_numpy()[code])
    out.insert(1, "location_id", panel.keys["location_id"].to_numpy()[code])
    out["model"], out["scope"] = fit.model, "window"
    out["cutoff"] = grain.ends(fit.cutoff)
    out["status"] = np.where(failed, "failed", "ok")
    out["error"] = fit.errors
    out["form"] = fit.forms
    out["cum_error"] = list(np.cumsum(fit.y - fit.yhat, axis=1))
    return out


def _scored(panel: Panel, cv: pd.DataFrame) -> np.ndarray:
    """Per cross-validation row: whether its period is available (scored) demand."""
    if panel.available is None:
        return np.ones(len(cv), dtype=bool)
    code = cv["unique_id"].to_numpy(dtype=np.int64)
    return panel.available[panel.indptr[code] + cv["ds"].to_numpy(dtype=np.int64)
                           - panel.start[code]]


def naive_scales(panel: Panel, fits: list[Fit], season: int) -> dict:
    """MASE and RMSSE denominators per (code, cutoff): seasonal-naive in-sample MAE and MSE
    on each window's training days."""
    scales = {}
    for fit in fits:
        for c, cut in zip(fit.code, fit.cutoff, strict=True):
            if (c, cut) not in scales:
                train = panel.series(c)[: int(cut - panel.start[c] + 1)]
                scales[(c, cut)] = (metrics.seasonal_naive_scale(train, season),
                                    metrics.seasonal_naive_scale_sq(train, season))
    return scales
