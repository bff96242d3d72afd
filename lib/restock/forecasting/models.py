"""The model registry: every model restock can fit, its cost and what it needs."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from statsforecast import models as sf

from restock.errors import ConfigError
from restock.forecasting.mstl import MSTL
from restock.forecasting.yearly import YEAR_DAYS, YearlyETS
from restock.grain import Grain


@dataclass(frozen=True)
class ModelSpec:
    """How to build a model, what it costs (rank: ties go to the cheaper), its intervals,
    whether it fits exogenous regressors itself, the fewest years of history it accepts,
    whether it uses the calendar at all (False: no regressors, no uplift; a weekly-only
    reference), and whether its statsforecast `forward` applies fitted parameters to a
    longer history for much less than a fit (the backtest's `refit: false` fits it once)."""

    build: Callable[[int], Any]
    cost_rank: int
    native_intervals: bool
    exogenous: bool = False
    min_years: float = 0.0  # the fewest years of history it accepts
    calendar: bool = True
    forward: bool = False
    parts: tuple[tuple[str, ModelSpec], ...] = ()  # a Mean(A+B)'s models, fitted one by one


# the season at W and M (`Grain.season_length`), which already is the year, and its grain
_GRAIN_OF_SEASON = {Grain.parse(kind).periods_per_year: Grain.parse(kind) for kind in ("W", "M")}
YEARLY_SEASONS = tuple(_GRAIN_OF_SEASON)


def year_periods(season_length: int) -> int:
    """The yearly cycle in periods for a model's season: at D the season is the week and the
    year 365 days; at W and M the season already is the year (52, 12)."""
    return season_length if season_length in YEARLY_SEASONS else YEAR_DAYS


# the moving average's span: 28 days (four weekly cycles at D), and at least 3 periods. At M
# 28 days is one month, and the last month alone is the noisiest mean of all: on the car
# parts (2,674 parts, 12 one-month origins, plain WindowAverage, MASE) a window of 1 month
# scores 1.124, 2 1.069, 3 1.051, 4 1.049, 6 1.048, 12 1.063, 24 1.097, ADIDA 1.058: a
# plateau from 3 to 6 months, whose start is the most recent (least biased, +5.6% against
# +7.4% at 6). The registry's earlier 4 × season was 48 months at M and 208 weeks at W.
# (bench/baselines.py's plain WindowAverage uses the same window.)
MOVING_AVERAGE_DAYS = 28
MIN_AVERAGE_PERIODS = 3


def moving_window(season_length: int) -> int:
    """WindowAverage's window: MOVING_AVERAGE_DAYS in whole periods of the grain the season
    belongs to (the year at W and M, 52 and 12, as in `year_periods`; any other season is
    D's), at least MIN_AVERAGE_PERIODS: 28 days, 4 weeks, 3 months."""
    grain = _GRAIN_OF_SEASON.get(season_length, Grain("D"))
    return grain.whole_periods(MOVING_AVERAGE_DAYS, least=MIN_AVERAGE_PERIODS)


def min_periods(spec: ModelSpec, season_length: int) -> int:
    """The fewest periods of history a model accepts at this season."""
    return math.ceil(spec.min_years * year_periods(season_length))


def mstl_of(season_length: int, trend: Any) -> Any:
    """MSTL with the weekly (season_length) and the yearly cycle at D, the yearly one alone
    at W and M; `trend` fits the rest (R's STL loess jumps, `restock.forecasting.mstl`)."""
    seasons = sorted({season_length, year_periods(season_length)})
    return MSTL(seasons, trend)


MODELS: dict[str, ModelSpec] = {
    "Naive": ModelSpec(lambda s: sf.Naive(), 1, True),
    "HistoricAverage": ModelSpec(lambda s: sf.HistoricAverage(), 1, True),
    "SeasonalNaive": ModelSpec(lambda s: sf.SeasonalNaive(season_length=s), 1, True),
    "WindowAverage": ModelSpec(lambda s: sf.WindowAverage(window_size=moving_window(s)), 1,
                               False),
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
    "AutoETS": ModelSpec(lambda s: sf.AutoETS(season_length=s), 5, True, forward=True),
    # the same, blind to the calendar: the weekly-only reference of the calendar-aware gain
    "AutoETSWeekly": ModelSpec(lambda s: sf.AutoETS(season_length=s), 5, True, calendar=False,
                               forward=True),
    "AutoTheta": ModelSpec(lambda s: sf.AutoTheta(season_length=s), 6, True, forward=True),
    "AutoARIMA": ModelSpec(lambda s: sf.AutoARIMA(season_length=s), 9, True, exogenous=True,
                           forward=True),
    # weekly season and a smooth yearly factor (calendar.yearly_model's default)
    "YearlyETS": ModelSpec(lambda s: YearlyETS(s), 6, True, min_years=2),
    # weekly + yearly seasonality; the trend by non-seasonal AutoETS, or by AutoARIMA with
    # the exogenous regressors (promotions, events)
    # (two whole years: STL estimates a yearly component from less without complaint)
    "MSTL": ModelSpec(lambda s: mstl_of(s, sf.AutoETS(model="ZZN")), 6, True,
                      min_years=2, forward=True),
    "MSTL_ARIMA": ModelSpec(lambda s: mstl_of(s, sf.AutoARIMA()), 8, True, exogenous=True,
                            min_years=2),
}
DEMAND_CLASSES = ("smooth", "erratic", "intermittent", "lumpy", "no_demand")
_COMBINATION = re.compile(r"^Mean\((?P<parts>[A-Za-z_]+(\+[A-Za-z_]+)+)\)$")


def mean_forecast(results: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The mean of several models' forecasts (each clipped at 0), bounds averaged too.

    Averaging the forecasts of a few different models is the most robust answer to noisy
    model selection (the M competitions); averaging their quantiles is Vincentization.
    """
    return {key: np.mean([np.clip(r[key], 0, None) for r in results], axis=0)
            for key in results[0]}


class Combination:
    """A Mean(A+B) as one statsforecast-like model: the `mean_forecast` of its parts."""

    def __init__(self, builds: Sequence[Callable[[int], Any]], season_length: int) -> None:
        self.parts = [build(season_length) for build in builds]

    def forecast(self, y: np.ndarray, h: int, level: Sequence[int] | None = None,
                 **_: Any) -> dict[str, np.ndarray]:
        """Forecast h days with every part; the mean of each output key."""
        return mean_forecast([p.forecast(y=y, h=h, level=list(level) if level else None)
                              for p in self.parts])


def combined(parts: Sequence[tuple[str, ModelSpec]]) -> ModelSpec:
    """The registry entry of the mean of these (name, spec) parts. `Guarded` fits each part
    by its own entry (its intervals, native or empirical; its fitted state carried forward),
    so a Mean(A+B) forecasts what the backtest scored: the mean of its parts' forecasts and
    bounds (`windows.combinations_of`)."""
    specs = [spec for _, spec in parts]
    return ModelSpec(
        lambda s: Combination([sp.build for sp in specs], s),
        cost_rank=10 + sum(sp.cost_rank for sp in specs),
        native_intervals=all(sp.native_intervals for sp in specs),
        min_years=max(sp.min_years for sp in specs),
        calendar=all(sp.calendar for sp in specs),
        parts=tuple(parts),
    )


def combination_name(parts: Sequence[str]) -> str:
    """The registry name of the mean of these models: Mean(A+B), parts sorted."""
    return f"Mean({'+'.join(sorted(parts))})"


def combination_parts(name: str) -> list[str] | None:
    """The models a Mean(A+B) name averages; None for a plain model name."""
    match = _COMBINATION.match(name)
    return match["parts"].split("+") if match else None


def spec_of(name: str) -> ModelSpec:
    """The registry entry of a model or of a Mean(A+B+...) of registry models."""
    parts = combination_parts(name)
    if parts is None:
        return MODELS[name]
    return combined([(p, MODELS[p]) for p in parts])  # KeyError for an unknown part


def check_models(names: Sequence[str], where: str) -> list[str]:
    """Validate model names (or Mean(A+B) of them) against the registry, naming the conf key
    on error."""
    unknown = [n for n in names if any(p not in MODELS for p in combination_parts(n) or [n])]
    if unknown:
        raise ConfigError(
            f"{where}: unknown model(s) {', '.join(unknown)}; known: {', '.join(sorted(MODELS))}"
            " and Mean(A+B+...) of them"
        )
    return list(names)


def cost_rank(name: str) -> int:
    """Relative cost of a model (combinations cost the most)."""
    try:
        return spec_of(name).cost_rank
    except KeyError:
        return 10
