"""Model registry, the per-series guard (fallbacks, empirical intervals) and class routing."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from statsforecast import models as sf

from restock.errors import ConfigError
from restock.exog import multiplier, uplift_factors

if TYPE_CHECKING:
    from pyspark.sql import Column


@dataclass(frozen=True)
class ModelSpec:
    """How to build a model, what it costs (rank: ties go to the cheaper), its intervals,
    whether it fits exogenous regressors itself, the fewest days it accepts, and whether it
    uses the calendar at all (False: no regressors, no uplift; a weekly-only reference)."""

    build: Callable[[int], Any]
    cost_rank: int
    native_intervals: bool
    exogenous: bool = False
    min_days: int = 0
    calendar: bool = True


YEAR_DAYS = 365


def _mstl(season_length: int, trend: Any) -> Any:
    """MSTL with the weekly (season_length) and the yearly cycle; `trend` fits the rest."""
    return sf.MSTL(season_length=[season_length, YEAR_DAYS], trend_forecaster=trend)


class YearlyETS:
    """AutoETS with the weekly season, fitted on demand divided by a smooth yearly factor.

    The yearly factor is exp of the Fourier part of an OLS fit of log(centred 7-day moving
    average) — the weekly cycle averaged out — on a quadratic trend and `harmonics` sine /
    cosine pairs of period 365.25 days; the trend is left to ETS. A handful of coefficients
    is what 2-3 years of noisy days can pin down: MSTL's yearly component is one value per
    day of the year, the average of as many noisy days as there are years, and its noise
    goes straight into the forecast. Only positions are used (the phase is estimated), so
    no dates are needed; days whose moving average is 0 are left out of the fit. The
    forecast and its bounds are ETS's, times the factor ahead.
    """

    PERIOD = 365.25

    def __init__(self, season_length: int, harmonics: int = 3) -> None:
        self.season_length = season_length
        self.harmonics = harmonics

    def yearly_factor(self, y: np.ndarray, h: int) -> np.ndarray:
        """The yearly factor over the history and the h days after it (mean ≈ 1)."""
        n = y.size
        average = np.convolve(y, np.ones(7) / 7, mode="valid")  # centred on days 3 .. n - 4
        days = np.arange(3, n - 3)
        positive = average > 0
        if positive.sum() < 2 * YEAR_DAYS:
            raise ValueError(f"needs two years of days with demand, got {positive.sum()}")
        design = self._design(days[positive], n)
        beta, *_ = np.linalg.lstsq(design, np.log(average[positive]), rcond=None)
        fourier = self._design(np.arange(n + h), n)[:, 3:]
        return np.exp(fourier @ beta[3:])

    def _design(self, days: np.ndarray, n: int) -> np.ndarray:
        """Columns 1, t, t² (t = day / n), then cos and sin of each harmonic."""
        columns = [np.ones(days.size), days / n, (days / n) ** 2]
        for k in range(1, self.harmonics + 1):
            angle = 2 * np.pi * k * days / self.PERIOD
            columns += [np.cos(angle), np.sin(angle)]
        return np.column_stack(columns)

    def forecast(
        self, y: np.ndarray, h: int, X: Any = None, X_future: Any = None,
        level: Sequence[int] | None = None, fitted: bool = False,
    ) -> dict[str, np.ndarray]:
        """Forecast h days: ETS on the deseasonalised history, times the yearly factor."""
        factor = self.yearly_factor(y, h)
        ets = sf.AutoETS(season_length=self.season_length)
        result = ets.forecast(y=y / factor[: y.size], h=h, level=list(level) if level else None)
        return {key: values * factor[y.size:] for key, values in result.items()}


MODELS: dict[str, ModelSpec] = {
    "Naive": ModelSpec(lambda s: sf.Naive(), 1, True),
    "HistoricAverage": ModelSpec(lambda s: sf.HistoricAverage(), 1, True),
    "SeasonalNaive": ModelSpec(lambda s: sf.SeasonalNaive(season_length=s), 1, True),
    "WindowAverage": ModelSpec(lambda s: sf.WindowAverage(window_size=4 * s), 1, False),
    "SeasonalWindowAverage": ModelSpec(
        lambda s: sf.SeasonalWindowAverage(season_length=s, window_size=4), 2, False
    ),
    "SimpleExponentialSmoothing": ModelSpec(
        lambda s: sf.SimpleExponentialSmoothingOptimized(), 2, False
    ),
    "CrostonOptimized": ModelSpec(lambda s: sf.CrostonOptimized(), 2, False),
    "CrostonSBA": ModelSpec(lambda s: sf.CrostonSBA(), 2, False),
    "ADIDA": ModelSpec(lambda s: sf.ADIDA(), 2, False),
    "IMAPA": ModelSpec(lambda s: sf.IMAPA(), 3, False),
    "TSB": ModelSpec(lambda s: sf.TSB(alpha_d=0.1, alpha_p=0.1), 2, False),
    "AutoETS": ModelSpec(lambda s: sf.AutoETS(season_length=s), 5, True),
    # the same, blind to the calendar: the weekly-only reference of the calendar-aware gain
    "AutoETSWeekly": ModelSpec(lambda s: sf.AutoETS(season_length=s), 5, True, calendar=False),
    "AutoTheta": ModelSpec(lambda s: sf.AutoTheta(season_length=s), 6, True),
    "AutoARIMA": ModelSpec(lambda s: sf.AutoARIMA(season_length=s), 9, True, exogenous=True),
    # weekly season and a smooth yearly factor (calendar.yearly_model's default)
    "YearlyETS": ModelSpec(lambda s: YearlyETS(s), 6, True, min_days=2 * YEAR_DAYS),
    # weekly + yearly seasonality; the trend by non-seasonal AutoETS, or by AutoARIMA with
    # the exogenous regressors (promotions, events)
    # (two whole years: STL estimates a yearly component from less without complaint)
    "MSTL": ModelSpec(lambda s: _mstl(s, sf.AutoETS(model="ZZN")), 6, True,
                      min_days=2 * YEAR_DAYS),
    "MSTL_ARIMA": ModelSpec(lambda s: _mstl(s, sf.AutoARIMA()), 8, True, exogenous=True,
                            min_days=2 * YEAR_DAYS),
}
DEMAND_CLASSES = ("smooth", "erratic", "intermittent", "lumpy", "no_demand")


def check_models(names: Sequence[str], where: str) -> list[str]:
    """Validate model names against the registry, naming the conf key on error."""
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise ConfigError(
            f"{where}: unknown model(s) {', '.join(unknown)}; known: {', '.join(sorted(MODELS))}"
        )
    return list(names)


def cost_rank(name: str) -> int:
    """Relative cost of a model (combinations cost the most)."""
    spec = MODELS.get(name)
    return spec.cost_rank if spec else 10


class Guarded:
    """One model per series with its fallbacks, as a statsforecast model.

    statsforecast calls `forecast` once per series, in series order. The guard tries the
    primary model, then each fallback, and treats an exception or a non-finite forecast
    as a failure. Models without native intervals get empirical ones: signed errors of
    rolling-origin refits on the series' own history, pooled over windows and steps.
    `outcomes` logs, per call, (model used, status, interval method, error).

    Exogenous indicators (X for history, X_future for the horizon, see `restock.exog`) go
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
    ) -> None:
        self.alias = model
        self.chain = [(n, MODELS[n]) for n in [model, *[f for f in fallbacks if f != model]]]
        self.season_length = season_length
        self.interval_windows = interval_windows
        self.interval_step = interval_step
        self.uplift = uplift  # (mode, min_event_days, baseline_days)
        self.outcomes: list[tuple[str | None, str, str, str | None]] = []

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
        first_error = None
        for position, (name, spec) in enumerate(self.chain):
            try:
                with warnings.catch_warnings():  # a failure is recorded, not warned about
                    warnings.simplefilter("ignore")
                    result, method = self._with_exog(name, spec, y, h, level, X, X_future)
            except Exception as exc:  # noqa: BLE001 - any model failure is contained here
                first_error = first_error or f"{name}: {type(exc).__name__}: {exc}"[:500]
                continue
            status = "ok" if position == 0 else "fallback"
            self.outcomes.append((name, status, method, first_error))
            return result
        self.outcomes.append((None, "failed", "none", first_error))
        nan = np.full(h, np.nan)
        return {"mean": nan, **{f"{s}-{lv}": nan for lv in level or () for s in ("lo", "hi")}}

    def _with_exog(
        self, name: str, spec: ModelSpec, y: np.ndarray, h: int, level: Sequence[int] | None,
        X: np.ndarray | None, X_future: np.ndarray | None,
    ) -> tuple[dict[str, np.ndarray], str]:
        """Fit one model with the regressors, the post-hoc uplift, or neither."""
        if X is None or X_future is None or not X.shape[1] or not spec.calendar:
            return self._one(name, spec, y, h, level)
        if spec.exogenous:
            varies = X.min(axis=0) != X.max(axis=0)
            if varies.any():
                return self._one(name, spec, y, h, level, X[:, varies], X_future[:, varies])
            return self._one(name, spec, y, h, level)
        mode, min_event_days, baseline_days = self.uplift
        if mode != "posthoc":
            return self._one(name, spec, y, h, level)
        factors = uplift_factors(y, X, min_event_days, baseline_days)
        result, method = self._one(name, spec, y / multiplier(X, factors), h, level)
        ahead = multiplier(X_future, factors)
        return {key: values * ahead for key, values in result.items()}, method

    def _one(
        self, name: str, spec: ModelSpec, y: np.ndarray, h: int, level: Sequence[int] | None,
        X: np.ndarray | None = None, X_future: np.ndarray | None = None,
    ) -> tuple[dict[str, np.ndarray], str]:
        """Fit one model; add intervals; refuse short histories and non-finite output."""
        if y.size < spec.min_days:
            raise ValueError(f"needs at least {spec.min_days} days of history, got {y.size}")
        model = spec.build(self.season_length)
        if X is not None:
            result = model.forecast(y=y, h=h, X=X, X_future=X_future,
                                    level=list(level) if level else None)
            method = "native" if level else "none"
        elif spec.native_intervals or not level:
            result = model.forecast(y=y, h=h, level=list(level) if level else None)
            method = "native" if level else "none"
        else:
            result = model.forecast(y=y, h=h)
            method = self._add_empirical(result, spec, y, h, level)
        if not np.all(np.isfinite(result["mean"])):
            raise FloatingPointError("non-finite forecast")
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


def routing_expr(routing: Mapping[str, Any], min_history_days: int) -> Column:
    """Spark expression choosing each profiled series' model from conf `routing`.

    End-of-life series get null (nothing to forecast); histories shorter than
    `min_history_days` get the short-history baseline; the rest their demand class's
    model, overridden per ABC class by `routing.by_abc`.
    """
    from pyspark.sql import functions as F

    by_class = routing.get("by_class") or {}
    check_models(list(by_class.values()), "routing.by_class")
    short = check_models([routing["short_history"]], "routing.short_history")[0]
    expr = F.lit(None).cast("string")
    for demand_class, model in by_class.items():
        expr = F.when(F.col("demand_class") == demand_class, F.lit(model)).otherwise(expr)
    for abc, overrides in (routing.get("by_abc") or {}).items():
        check_models(list(overrides.values()), f"routing.by_abc.{abc}")
        for demand_class, model in overrides.items():
            match = (F.col("abc_class") == abc) & (F.col("demand_class") == demand_class)
            expr = F.when(match, F.lit(model)).otherwise(expr)
    expr = F.when(F.col("history_days") < min_history_days, F.lit(short)).otherwise(expr)
    return F.when(F.col("lifecycle") == "end_of_life", F.lit(None)).otherwise(expr)
