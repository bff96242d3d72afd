"""Exogenous inputs of one bucket of series (pandas only): promotion and calendar-event
indicators for history and horizon, and the post-hoc uplift of models without regressors."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from restock.forecasting.panel import Panel

_KEY = 1_000_000  # promo key = series code × _KEY + epoch day (epoch days stay below 10⁶)


@dataclass(frozen=True)
class Events:
    """Calendar events and whether promotions are known: what every bucket needs (picklable).

    `day` (epoch days), `location` (None = every location) and `event_type` are parallel.
    """

    day: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    location: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))
    event_type: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))
    promotions: bool = False

    @property
    def types(self) -> list[str]:
        """Event types in sorted order."""
        return sorted(set(self.event_type.tolist()))

    @property
    def columns(self) -> list[str]:
        """Feature column names: `promo` (with promotions), then `event_<type>`."""
        return (["promo"] if self.promotions else []) + [f"event_{t}" for t in self.types]

    def hits(self, location: np.ndarray, day: np.ndarray, kind: str | None = None) -> np.ndarray:
        """Per (location, epoch day) row: whether an event (of type `kind`; None = any) falls
        on it, at every location or at that one."""
        of_type = self.event_type == kind if kind is not None else np.ones(self.day.size, bool)
        everywhere = pd.isna(self.location)
        hit = np.isin(day, self.day[of_type & everywhere])
        local = of_type & ~everywhere
        if local.any():
            index = pd.MultiIndex.from_arrays([self.location[local], self.day[local]])
            hit |= pd.MultiIndex.from_arrays([location, day]).isin(index)
        return hit


def split_promo(history: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a bucket's rows into sales (quantity set) and promotion days (quantity null)."""
    promo = history["quantity"].isna()
    return history[~promo], history.loc[promo, ["sku_id", "location_id", "day"]]


@dataclass
class Exog:
    """The exogenous indicators of one bucket's series, for history and horizon.

    Built only from the calendar and the promotions table, never from sales: the horizon's
    indicators are known in advance (planned promotions, scheduled events).
    """

    panel: Panel
    events: Events
    promo_keys: np.ndarray

    @classmethod
    def build(cls, panel: Panel, promo: pd.DataFrame, events: Events) -> Exog:
        """Index the bucket's promotion days by series code."""
        codes = panel.codes_of(promo) if len(promo) else np.empty(0, dtype=np.int64)
        known = codes >= 0
        days = promo["day"].to_numpy(dtype=np.int64)[known]
        return cls(panel, events, np.unique(codes[known].astype(np.int64) * _KEY + days))

    def indicators(self, code: np.ndarray, day: np.ndarray) -> pd.DataFrame:
        """0/1 feature columns (`Events.columns`) for rows of (series code, epoch day)."""
        out = {}
        if self.events.promotions:
            out["promo"] = np.isin(code.astype(np.int64) * _KEY + day, self.promo_keys)
        location = self.panel.keys["location_id"].to_numpy(dtype=object)[code]
        for kind in self.events.types:
            out[f"event_{kind}"] = self.events.hits(location, day, kind)
        return pd.DataFrame(out, index=range(len(code))).astype(np.float64)

    def history(self, codes: np.ndarray) -> pd.DataFrame:
        """The panel's long frame for these codes with the indicator columns."""
        long = self.panel.long(codes)
        features = self.indicators(long["unique_id"].to_numpy(), long["ds"].to_numpy())
        return pd.concat([long, features.set_axis(long.index)], axis=1)

    def future(self, codes: np.ndarray, h: int) -> pd.DataFrame:
        """statsforecast's X_df: unique_id, ds (the h days after the panel's end), indicators."""
        codes = np.sort(codes)
        unique_id = np.repeat(codes, h)
        ds = np.tile(np.arange(self.panel.end + 1, self.panel.end + h + 1), len(codes))
        frame = pd.DataFrame({"unique_id": unique_id, "ds": ds})
        return pd.concat([frame, self.indicators(unique_id, ds)], axis=1)


def uplift_factors(
    y: np.ndarray, X: np.ndarray, min_event_days: int, baseline_days: int
) -> np.ndarray:
    """Multiplicative uplift per indicator column, estimated from history.

    For column j, over the days where j is the only active indicator (E_j):
    `u_j = Σ_E y / Σ_E b`, where b is the mean of y over the days without any indicator
    in a centred window of `baseline_days` (so trend and season cancel out). u_j is 1
    with fewer than `min_event_days` such days or a zero baseline; clipped to [0.1, 10].
    """
    active = X > 0
    quiet = ~active.any(axis=1)
    half = baseline_days // 2
    sums = np.concatenate([[0.0], np.cumsum(np.where(quiet, y, 0.0))])
    counts = np.concatenate([[0], np.cumsum(quiet)])
    lo = np.clip(np.arange(y.size) - half, 0, y.size)
    hi = np.clip(np.arange(y.size) + half + 1, 0, y.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        baseline = (sums[hi] - sums[lo]) / (counts[hi] - counts[lo])
    factors = np.ones(X.shape[1])
    alone = active & (active.sum(axis=1, keepdims=True) == 1)
    for j in range(X.shape[1]):
        days = alone[:, j] & np.isfinite(baseline)
        base = baseline[days].sum()
        if days.sum() >= min_event_days and base > 0:
            factors[j] = np.clip(y[days].sum() / base, 0.1, 10.0)
    return factors


def multiplier(X: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Per day: the product of the active indicators' uplifts (1 on plain days)."""
    return np.prod(np.where(X > 0, factors[None, :], 1.0), axis=1)


