"""Synthetic demand: series specs, demand patterns and their true quantiles (dev tool).

What one generated series is (`SeriesSpec`), how its daily demand is drawn, and the
generator's own parameters the accuracy bench scores as oracles (`demand_quantile`). The
tables around it are assembled in `restock.dev.generate`, whose docstring describes the mix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from restock.io.tables import INPUTS

MAX_LOCATIONS = 10
PATTERNS = ("smooth", "erratic", "intermittent", "lumpy", "new", "end_of_life")
PATTERN_SHARES = (0.30, 0.15, 0.30, 0.15, 0.05, 0.05)
_SPEC, _SALES, _PARAMS, _INVENTORY, _BAD_ROWS, _PROMOS = range(6)  # random sub-streams
FUTURE_DAYS = 56  # planned promotions and calendar events reach this far past the end date
_EPOCH = np.datetime64("1970-01-01", "D")
_WEEKLY = np.array([0.90, 0.85, 0.88, 0.95, 1.10, 1.30, 1.02])  # Monday..Sunday, mean 1
# Per pattern: level range (mean daily units for volume patterns, mean units per demand day
# otherwise), occurrence probability range, lognormal size sigma range.
_SHAPES = {
    "smooth": ((8.0, 80.0), (1.0, 1.0), (0.0, 0.0)),
    "erratic": ((2.0, 20.0), (0.85, 1.0), (0.9, 1.3)),
    "intermittent": ((1.1, 2.5), (0.1, 0.6), (0.0, 0.0)),
    "lumpy": ((2.0, 15.0), (0.05, 0.4), (1.0, 1.5)),
    "new": ((3.0, 40.0), (1.0, 1.0), (0.0, 0.0)),
    "end_of_life": ((3.0, 40.0), (1.0, 1.0), (0.0, 0.0)),
}


@dataclass(frozen=True)
class Mix:
    """The shares series_spec draws with: demand patterns (in `PATTERNS` order), series with
    a yearly cycle, series with promotions."""

    pattern_shares: tuple[float, ...] = PATTERN_SHARES
    yearly_share: float = 0.4
    promo_share: float = 0.3


MIXES = {
    "default": Mix(),
    # every series has a yearly cycle and promotions, and enough volume for them to show:
    # smooth and erratic patterns only (the calendar-aware benchmark's data)
    "calendar": Mix(pattern_shares=(0.6, 0.4, 0.0, 0.0, 0.0, 0.0), yearly_share=1.0,
                    promo_share=1.0),
}


@dataclass(frozen=True)
class SeriesSpec:
    """The per-series parameters all three tables derive from (drawn from stream `_SPEC`)."""

    pattern: str
    level: float  # mean daily units (volume patterns) or mean units per demand day
    occurrence: float  # probability of a demand day (1 for volume patterns)
    size_sigma: float  # lognormal sigma of erratic / lumpy sizes
    dispersion: float  # negative binomial shape of volume patterns
    weekly_strength: float
    season_amplitude: float
    season_phase: float
    trend_per_year: float
    promos_per_year: float  # 0: the item has no promotions
    promo_uplift: float
    promo_discount: float
    unit_cost: float
    list_price: float
    lifecycle_days: int  # new: days of history; end_of_life: days without sales at the end
    decay_days: int
    declared_eol: bool
    holiday_uplift: float
    festival_uplift: float

    @property
    def mean_daily(self) -> float:
        """Expected daily demand in the item's active phase."""
        if self.pattern in ("smooth", "new", "end_of_life"):
            return self.level
        if self.pattern == "intermittent":
            return self.occurrence * self.level
        return self.occurrence * self.level * math.exp(self.size_sigma**2 / 2)


def series_spec(seed: int, series_id: int, mix: Mix = MIXES["default"]) -> SeriesSpec:
    """Draw the parameters of one series; they depend only on seed, series id and mix.

    Args:
        seed: the data set's seed.
        series_id: the series number, 0 .. n_series - 1.
        mix: the shares of patterns, yearly cycles and promotions.

    Returns:
        The series' demand pattern, price, cost and lifecycle parameters.
    """
    rng = np.random.default_rng([seed, series_id, _SPEC])
    pattern = str(rng.choice(PATTERNS, p=mix.pattern_shares))
    level, occurrence, size_sigma = _demand_shape(rng, pattern)
    unit_cost = float(np.clip(rng.lognormal(np.log(12.0), 1.1), 0.5, 500.0))
    has_promo = rng.random() < mix.promo_share
    declared_eol = pattern == "end_of_life" and rng.random() < 0.8
    lifecycle_days = 0  # new: days of history; end_of_life: days without sales at the end
    if pattern in ("new", "end_of_life"):
        low, high = (10, 90) if pattern == "new" else (60 if declared_eol else 150, 301)
        lifecycle_days = int(rng.integers(low, high))
    return SeriesSpec(
        pattern=pattern,
        level=level,
        occurrence=occurrence,
        size_sigma=size_sigma,
        dispersion=float(rng.uniform(10.0, 50.0)),
        weekly_strength=float(rng.uniform(0.3, 1.0)),
        season_amplitude=float(rng.uniform(0.1, 0.5)) if rng.random() < mix.yearly_share else 0.0,
        season_phase=float(rng.uniform(0.0, 2 * np.pi)),
        trend_per_year=float(rng.uniform(-0.3, 0.3)) if pattern == "smooth" else 0.0,
        promos_per_year=float(rng.uniform(2.0, 6.0)) if has_promo else 0.0,
        promo_uplift=float(rng.uniform(1.5, 3.0)),
        promo_discount=float(rng.uniform(0.1, 0.4)),
        unit_cost=round(unit_cost, 2),
        list_price=round(unit_cost * float(rng.uniform(1.3, 2.5)), 2),
        lifecycle_days=lifecycle_days,
        decay_days=int(rng.integers(30, 121)),
        declared_eol=bool(declared_eol),
        holiday_uplift=float(rng.uniform(1.2, 1.8)),
        festival_uplift=float(rng.uniform(1.5, 3.0)),
    )


def _demand_shape(rng: np.random.Generator, pattern: str) -> tuple[float, float, float]:
    """Level (log-uniform), occurrence probability and size sigma of a demand pattern."""
    (low, high), occurrence, size_sigma = _SHAPES[pattern]
    level = np.exp(rng.uniform(np.log(low), np.log(high)))
    return float(level), float(rng.uniform(*occurrence)), float(rng.uniform(*size_sigma))


def series_sales(
    spec: SeriesSpec, seed: int, series_id: int, day_numbers: np.ndarray
) -> dict[str, np.ndarray]:
    """Daily sales of one series on the days given as days since 1970-01-01.

    Returns:
        Arrays `day`, `quantity`, `promo`, `price` for the days with quantity > 0.
    """
    rng = np.random.default_rng([seed, series_id, _SALES])
    starts, ends = promo_windows(spec, seed, series_id, day_numbers[0], day_numbers[-1])
    promo = _covered(day_numbers, starts, ends)
    factor = _demand_factor(spec, day_numbers, promo)
    quantity = _quantities(rng, spec, factor)
    noise = rng.normal(0.0, 0.02, len(day_numbers))
    price = np.where(promo, 1.0 - spec.promo_discount, 1.0 + noise) * spec.list_price
    sold = quantity > 0
    return {
        "day": day_numbers[sold],
        "quantity": quantity[sold],
        "promo": promo[sold],
        "price": np.round(price[sold], 2),
    }


def demand_quantile(
    spec: SeriesSpec, seed: int, series_id: int, day_numbers: np.ndarray, q: float | None
) -> np.ndarray:
    """The true distribution of the series' daily demand, as the benchmarks' oracle: its mean
    (q None) or its q-quantile per day (the median is the forecast no model can beat on
    MAE). day_numbers must be the generated days (the promotions and lifecycle depend on
    the span); erratic sizes are taken before the rounding to whole units.
    """
    from scipy import stats

    starts, ends = promo_windows(spec, seed, series_id, day_numbers[0], day_numbers[-1])
    factor = _demand_factor(spec, day_numbers, _covered(day_numbers, starts, ends))
    if q is None and spec.pattern not in ("intermittent", "lumpy"):
        return spec.mean_daily * factor  # the factor scales the volume (or the sizes)
    if spec.pattern not in ("intermittent", "lumpy", "erratic"):  # negative binomial
        mean, shape = spec.level * factor, spec.dispersion
        return np.where(mean > 0, stats.nbinom.ppf(q, shape, shape / (shape + mean)), 0.0)
    sigma = spec.size_sigma
    if spec.pattern == "erratic":
        p_day = np.where(factor > 0, spec.occurrence, 0.0)
        scale = spec.level * factor
    else:
        p_day = np.minimum(1.0, spec.occurrence * factor)
        scale = np.full(factor.shape, spec.level)
    lumpy = float(spec.pattern == "lumpy")  # lumpy sizes are 1 + a rounded lognormal
    if q is None:  # sparse patterns: the factor scales the chance of a demand day
        if spec.pattern == "intermittent":  # sizes 1 + Poisson(level - 1)
            return p_day * spec.level
        return p_day * (1.0 + spec.level * math.exp(sigma**2 / 2))
    # P(Y <= m) = 1 - p_day + p_day * P(size <= m): zero below, else a size quantile
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.clip((q - (1.0 - p_day)) / p_day, 1e-9, 1.0 - 1e-9)
    if spec.pattern == "intermittent":
        size = 1.0 + stats.poisson.ppf(a, spec.level - 1.0)
    else:
        size = np.maximum(1.0, lumpy + np.rint(scale * np.exp(sigma * stats.norm.ppf(a))))
    return np.where(q > 1.0 - p_day, size, 0.0)


def promo_windows(
    spec: SeriesSpec, seed: int, series_id: int, first_day: int, last_day: int
) -> tuple[np.ndarray, np.ndarray]:
    """Promotion windows (first and last epoch day, inclusive) of one series (stream `_PROMOS`).

    Poisson(promos_per_year × span / 365) windows of 3-10 days start uniformly over
    first_day .. last_day + FUTURE_DAYS; the ones starting after last_day are planned.
    """
    rng = np.random.default_rng([seed, series_id, _PROMOS])
    span = int(last_day + FUTURE_DAYS - first_day + 1)
    n_windows = rng.poisson(spec.promos_per_year * span / 365.0)
    starts = first_day + np.sort(rng.integers(0, span, n_windows))
    return starts, starts + rng.integers(2, 10, n_windows)


def _covered(day_numbers: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Whether each day falls inside one of the [start, end] windows."""
    edges = np.zeros(len(day_numbers) + 1, dtype=np.int64)
    first = day_numbers[0]
    np.add.at(edges, np.clip(starts - first, 0, len(day_numbers)), 1)
    np.add.at(edges, np.clip(ends + 1 - first, 0, len(day_numbers)), -1)
    return np.cumsum(edges[:-1]) > 0


def calendar_events(first_day: int, last_day: int) -> pd.DataFrame:
    """The global events between two epoch days: date, location_id (null), event, event_type."""
    days = pd.date_range(_EPOCH + first_day, _EPOCH + last_day, freq="D")
    month, day = days.month.to_numpy(), days.day.to_numpy()
    thanksgiving = (month == 11) & (days.dayofweek.to_numpy() == 3) & (day >= 22) & (day <= 28)
    rules = [
        ("New Year", "holiday", (month == 1) & (day == 1)),
        ("Christmas", "holiday", (month == 12) & (day >= 18) & (day <= 24)),
        ("Double 11", "shopping_festival", (month == 11) & (day == 11)),
        ("Black Friday", "shopping_festival", np.roll(thanksgiving, 1)),
    ]
    frames = [
        pd.DataFrame({"date": days[mask].date, "event": name, "event_type": kind})
        for name, kind, mask in rules
    ]
    out = pd.concat(frames, ignore_index=True).sort_values("date", ignore_index=True)
    out["location_id"] = None
    return out[list({**INPUTS["calendar"]["required"], **INPUTS["calendar"]["optional"]})]


def _event_uplift(spec: SeriesSpec, day_numbers: np.ndarray) -> np.ndarray:
    """The series' multiplier on each day from the global calendar events."""
    events = calendar_events(int(day_numbers[0]), int(day_numbers[-1]))
    day = (events["date"].to_numpy(dtype="datetime64[D]") - _EPOCH).astype(np.int64)
    uplift = {"holiday": spec.holiday_uplift, "shopping_festival": spec.festival_uplift}
    factor = np.ones(len(day_numbers))
    factor[day - day_numbers[0]] = events["event_type"].map(uplift).to_numpy(dtype=float)
    return factor


def _demand_factor(spec: SeriesSpec, day_numbers: np.ndarray, promo: np.ndarray) -> np.ndarray:
    """Multiplicative daily profile: weekday, season, trend, promotion and lifecycle."""
    end = day_numbers[-1]
    weekday = (day_numbers + 3) % 7  # 1970-01-01 was a Thursday
    factor = _WEEKLY[weekday] ** spec.weekly_strength
    season = np.sin(2 * np.pi * day_numbers / 365.25 + spec.season_phase)
    factor *= 1 + spec.season_amplitude * season
    factor *= np.exp(spec.trend_per_year * (day_numbers - end) / 365.0)
    factor *= np.where(promo, spec.promo_uplift, 1.0)
    factor *= _event_uplift(spec, day_numbers)
    days_before_end = end - day_numbers
    if spec.pattern == "new":
        age = spec.lifecycle_days - 1 - days_before_end
        factor *= np.where(age >= 0, 1 - np.exp(-(age + 1) / 10.0), 0.0)
    elif spec.pattern == "end_of_life":
        into_decay = spec.lifecycle_days + spec.decay_days - days_before_end
        decay = np.exp(-3.0 * np.clip(into_decay, 0, None) / spec.decay_days)
        factor *= np.where(days_before_end < spec.lifecycle_days, 0.0, decay)
    return factor


def _quantities(rng: np.random.Generator, spec: SeriesSpec, factor: np.ndarray) -> np.ndarray:
    """Whole daily units; the factor scales occurrence (sparse patterns) or volume."""
    n_days = len(factor)
    if spec.pattern in ("intermittent", "lumpy"):
        occurs = rng.random(n_days) < np.minimum(1.0, spec.occurrence * factor)
        if spec.pattern == "intermittent":  # 1 + Poisson: CV2 of sizes stays below 0.25
            sizes = 1.0 + rng.poisson(spec.level - 1.0, n_days)
        else:
            sizes = 1.0 + np.rint(rng.lognormal(np.log(spec.level), spec.size_sigma, n_days))
        return np.where(occurs, sizes, 0.0)
    if spec.pattern == "erratic":
        occurs = rng.random(n_days) < spec.occurrence
        sizes = rng.lognormal(np.log(spec.level), spec.size_sigma, n_days) * factor
        return np.where(occurs & (factor > 0), np.maximum(1.0, np.rint(sizes)), 0.0)
    mean = spec.level * factor
    shape = spec.dispersion
    return rng.negative_binomial(shape, shape / (shape + mean)).astype(np.float64)
