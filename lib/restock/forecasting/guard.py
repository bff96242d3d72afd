"""The per-series guard: a model with its fallbacks, and empirical intervals where it has none."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from restock.forecasting.exog import multiplier, uplift_factors
from restock.forecasting.forms import fitted_label, with_form
from restock.forecasting.models import ModelSpec, mean_forecast, min_periods, spec_of


class Guarded:
    """One model per series with its fallbacks, as a statsforecast model.

    statsforecast calls `forecast` once per series, in series order. The guard tries the
    primary model, then each fallback, and treats an exception or a non-finite forecast
    as a failure. Models without native intervals get empirical ones: signed errors of
    rolling-origin refits on the series' own history, pooled over windows and steps.
    `outcomes` logs, per call, (model used, status, interval method, error, form): the
    form (`restock.forecasting.forms`) of a primary model fitted once and carried forward.

    `form`: the primary model's searched form (the backtest's); the guard fits that form
    first, and the model's full search only if it fails, before any fallback.

    Exogenous indicators (X for history, X_future for the horizon, see
    `restock.forecasting.exog`) go
    to models that fit regressors, without the columns that never vary in the history (a
    constant regressor makes the fit singular). Other models, with `uplift` 'posthoc', are
    fitted on y divided by the indicators' uplift (`exog.uplift_factors`) and their
    forecast and bounds multiplied by the horizon's uplift; with 'none' X is ignored.
    """

    def __init__(
        self,
        model: str,
        fallbacks: Sequence[str],
        season_length: int,
        interval_windows: int,
        interval_step: int,
        uplift: tuple[str, int, int] = ("none", 0, 0),
        form: str | None = None,
    ) -> None:
        self.alias = model
        self.chain = [(n, spec_of(n)) for n in [model, *[f for f in fallbacks if f != model]]]
        if form:
            self.chain.insert(0, (model, with_form(model, self.chain[0][1], form)))
        self.season_length = season_length
        self.interval_windows = interval_windows
        self.interval_step = interval_step
        self.uplift = uplift  # (mode, min_event_days, baseline_days)
        self.outcomes: list[tuple[str | None, str, str, str | None, str | None]] = []
        self._fitted: dict[str, Any] = {}  # per series, between `fit` and its `forward`s

    uses_exog = False

    def __repr__(self) -> str:
        return self.alias

    def new(self) -> Guarded:
        """A copy sharing the outcome log (statsforecast copies models in some paths)."""
        copy = type(self).__new__(type(self))
        copy.__dict__.update(self.__dict__)
        return copy

    def forecast(
        self,
        y: np.ndarray,
        h: int,
        X: np.ndarray | None = None,
        X_future: np.ndarray | None = None,
        level: Sequence[int] | None = None,
        fitted: bool = False,
    ) -> dict[str, np.ndarray]:
        """Forecast one series with the first model of the chain that succeeds."""
        return self._first_of_chain(y, h, X, X_future, level, None)

    def fit(self, y: np.ndarray, X: np.ndarray | None = None) -> Guarded:
        """statsforecast's cross_validation(refit=False) fits once per series, then calls
        `forward` for every window. The fit itself waits for the first `forward` (which
        fits each model of the chain it reaches); later windows reuse the fitted
        parameters of a model whose registry entry says `forward` (AutoETS: its forward
        runs the filter with the fitted parameters on the longer history) and refit the
        others, which cost little."""
        self._fitted = {}
        return self

    def forward(
        self,
        y: np.ndarray,
        h: int,
        X: np.ndarray | None = None,
        X_future: np.ndarray | None = None,
        level: Sequence[int] | None = None,
        fitted: bool = False,
    ) -> dict[str, np.ndarray]:
        """Forecast one series after `fit`, reusing fitted parameters where it can."""
        return self._first_of_chain(y, h, X, X_future, level, self._fitted)

    def _first_of_chain(
        self, y: np.ndarray, h: int, X: np.ndarray | None, X_future: np.ndarray | None,
        level: Sequence[int] | None, frozen: dict[str, Any] | None,
    ) -> dict[str, np.ndarray]:
        """The first model of the chain that succeeds; its outcome logged."""
        first_error = None
        for name, spec in self.chain:
            try:
                with warnings.catch_warnings():  # a failure is recorded, not warned about
                    warnings.simplefilter("ignore")
                    result, method = self._with_exog(name, spec, y, h, level, X, X_future,
                                                     frozen)
            except Exception as exc:  # noqa: BLE001 - any model failure is contained here
                first_error = first_error or f"{name}: {type(exc).__name__}: {exc}"[:500]
                continue
            primary = name == self.alias
            form = fitted_label(name, frozen) if primary and frozen else None
            self.outcomes.append((name, "ok" if primary else "fallback", method, first_error,
                                  form))
            return result
        self.outcomes.append((None, "failed", "none", first_error, None))
        nan = np.full(h, np.nan)
        return {"mean": nan, **{f"{s}-{lv}": nan for lv in level or () for s in ("lo", "hi")}}

    def _with_exog(
        self, name: str, spec: ModelSpec, y: np.ndarray, h: int, level: Sequence[int] | None,
        X: np.ndarray | None, X_future: np.ndarray | None, frozen: dict[str, Any] | None,
    ) -> tuple[dict[str, np.ndarray], str]:
        """Fit one model with the regressors, the post-hoc uplift, or neither (`frozen`: the
        fitted models `forward` reuses; a model fitted on regressors is always refitted)."""
        if X is None or X_future is None or not X.shape[1] or not spec.calendar:
            return self._one(name, spec, y, h, level, frozen=frozen)
        if spec.exogenous:
            varies = X.min(axis=0) != X.max(axis=0)
            if varies.any():
                return self._one(name, spec, y, h, level, X[:, varies], X_future[:, varies])
            return self._one(name, spec, y, h, level)
        mode, min_event_days, baseline_days = self.uplift
        if mode != "posthoc":
            return self._one(name, spec, y, h, level, frozen=frozen)
        factors = uplift_factors(y, X, min_event_days, baseline_days)
        result, method = self._one(name, spec, y / multiplier(X, factors), h, level,
                                   frozen=frozen)
        ahead = multiplier(X_future, factors)
        return {key: values * ahead for key, values in result.items()}, method

    def _one(
        self, name: str, spec: ModelSpec, y: np.ndarray, h: int, level: Sequence[int] | None,
        X: np.ndarray | None = None, X_future: np.ndarray | None = None,
        frozen: dict[str, Any] | None = None,
    ) -> tuple[dict[str, np.ndarray], str]:
        """Fit one model (or reuse its `frozen` fit); add intervals; refuse short histories
        and non-finite output. A Mean(A+B) fits each part so (a cheap part's empirical
        intervals refit only that part, an MSTL part keeps its native ones and its fitted
        state) and averages them."""
        least = min_periods(spec, self.season_length)
        if y.size < least:
            raise ValueError(f"needs at least {least} periods of history, got {y.size}")
        if spec.parts:
            fits = [self._one(part, part_spec, y, h, level, frozen=frozen)
                    for part, part_spec in spec.parts]
            methods = [method for _, method in fits]
            return (mean_forecast([result for result, _ in fits]),
                    "empirical" if "empirical" in methods else methods[0])
        levels = list(level) if level else None
        native = "native" if level else "none"
        reuse = frozen is not None and spec.forward and X is None and spec.native_intervals
        model = frozen.get(name) if reuse else None
        if model is not None:
            result, method = model.forward(y=y, h=h, level=levels), native
        elif reuse:
            model = spec.build(self.season_length).fit(y=y)
            result, method = model.predict(h=h, level=levels), native
        elif X is not None:
            model = spec.build(self.season_length)
            result = model.forecast(y=y, h=h, X=X, X_future=X_future, level=levels)
            method = native
        elif spec.native_intervals or not level:
            model = spec.build(self.season_length)
            result, method = model.forecast(y=y, h=h, level=levels), native
        else:
            model = spec.build(self.season_length)
            result = model.forecast(y=y, h=h)
            method = self._add_empirical(result, spec, y, h, level)
        if not np.all(np.isfinite(result["mean"])):
            raise FloatingPointError("non-finite forecast")
        if reuse:
            frozen.setdefault(name, model)  # kept only once it forecast: a failure refits
        return result, method

    def _add_empirical(
        self, result: dict[str, np.ndarray], spec: ModelSpec, y: np.ndarray, h: int,
        level: Sequence[int],
    ) -> str:
        """Empirical intervals from rolling-origin refits of the series' own history.

        Multiplicative: quantiles of actual / forecast over every window and step, times
        the forecast (so a zero-demand day maps to a zero lower bound, whatever the
        forecast level). Additive (actual − forecast) when the forecasts were all zero.
        NaN bounds when the history is too short for one window.
        """
        actual, predicted = rolling_windows(
            lambda train: spec.build(self.season_length).forecast(y=train, h=h)["mean"],
            y, h, self.interval_windows, self.interval_step,
        )
        mean = result["mean"]
        positive = predicted > 0
        for lv in level:
            tails = [(1 - lv / 100) / 2, 1 - (1 - lv / 100) / 2]
            if positive.any() and np.all(mean >= 0):
                lo, hi = np.quantile(actual[positive] / predicted[positive], tails)
                bounds = (mean * min(lo, 1.0), mean * max(hi, 1.0))
            elif actual.size:
                lo, hi = np.quantile(actual - predicted, tails)
                bounds = (mean + min(lo, 0.0), mean + max(hi, 0.0))
            else:
                bounds = (np.full(h, np.nan), np.full(h, np.nan))
            # rounded: a bound meant to be exactly 0 must not come out as 1e-17
            result[f"lo-{lv}"], result[f"hi-{lv}"] = (np.round(b, 9) for b in bounds)
        return "empirical" if actual.size else "none"


def outcomes_frame(guard: Guarded, expected: int, what: str) -> pd.DataFrame:
    """The guard's log as a frame (fitted, status, method, error, form), one row per series
    call.

    statsforecast calls the guard once per series in the order it was given them; a count
    that differs means the log cannot be matched back to the series, so it fails loudly
    rather than giving a series another's status.
    """
    if len(guard.outcomes) != expected:
        raise RuntimeError(f"{what}: {len(guard.outcomes)} guard outcomes for {expected} series "
                           "calls; statuses cannot be matched to series")
    return pd.DataFrame(guard.outcomes, columns=["fitted", "status", "method", "error", "form"])


def rolling_windows(
    predict: Callable[[np.ndarray], np.ndarray],
    y: np.ndarray,
    h: int,
    windows: int,
    step: int,
    min_train: int = 14,
) -> tuple[np.ndarray, np.ndarray]:
    """Actuals and forecasts of up to `windows` rolling-origin refits, flattened.

    The last window's test period ends at the end of y; earlier ones step back by `step`.
    Windows that would leave fewer than `min_train` training points are skipped.
    """
    actual, predicted = [], []
    for k in range(windows):
        cutoff = y.size - h - k * step
        if cutoff < min_train:
            break
        actual.append(y[cutoff : cutoff + h])
        predicted.append(predict(y[:cutoff]))
    if not actual:
        return np.empty(0), np.empty(0)
    return np.concatenate(actual), np.concatenate(predicted)
