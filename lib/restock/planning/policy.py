"""Replenishment policy: safety stock, reorder point, EOQ, order quantity, costs and flags.

Pure numpy/pandas/scipy (no Spark): the formula functions take scalars or arrays, and
`PolicySettings` holds the conf `policy` section; `planner.plan_batch` applies these
formulas to one row per series.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from restock.errors import ConfigError

Num = Any  # a float, or a numpy array of floats (lists are accepted as input)
_TAIL_DAYS = 7  # beyond the horizon, demand continues at the mean of the last 7 forecast days


def _arrays(*values: Num) -> tuple[np.ndarray, ...]:
    """The arguments as float arrays."""
    return tuple(np.asarray(v, dtype=float) for v in values)


def _out(values: np.ndarray) -> Num:
    """A 0-d result as a Python float, anything else as the array."""
    values = np.asarray(values, dtype=float)
    return values.item() if values.ndim == 0 else values


def z_score(csl: Num) -> Num:
    """Safety factor `z = Φ⁻¹(CSL)` of a cycle service level (standard normal quantile)."""
    return _out(norm.ppf(*_arrays(csl)))


def eoq(annual_demand: Num, order_cost: Num, holding_cost_per_unit_year: Num) -> Num:
    """Economic order quantity `Q* = sqrt(2·D·K / h)` (D per year, K per order, h per unit
    and year); NaN where h ≤ 0."""
    d, k, h = _arrays(annual_demand, order_cost, holding_cost_per_unit_year)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _out(np.where(h > 0, np.sqrt(2.0 * d * k / h), np.nan))


def eoq_total_cost(order_qty: Num, annual_demand: Num, order_cost: Num, holding: Num) -> Num:
    """Relevant annual cost of lot size Q: `K·D/Q + h·Q/2` (equals `sqrt(2·D·K·h)` at Q*)."""
    q, d, k, h = _arrays(order_qty, annual_demand, order_cost, holding)
    return _out(k * d / q + h * q / 2.0)


def total_cost(
    average_inventory: Num, holding: Num, orders: Num, order_cost: Num, short: Num, shortage: Num
) -> Num:
    """Total cost `h·average inventory + K·orders + p·units short` over one period."""
    inv, h, n, k, units, p = _arrays(
        average_inventory, holding, orders, order_cost, short, shortage
    )
    return _out(h * inv + k * n + p * units)


def safety_stock_normal(
    z: Num, sigma_daily: Num, days: Num, mean_daily: Num = 0.0, lead_time_std_days: Num = 0.0
) -> Num:
    """Safety stock under normal demand: `SS = z·sqrt(days·σ_d² + d̄²·σ_L²)`.

    With `lead_time_std_days` 0 this is `z·σ_d·sqrt(days)`; `days` is the protection
    interval (L, or L + R under periodic review).
    """
    z, s, t, d, sl = _arrays(z, sigma_daily, days, mean_daily, lead_time_std_days)
    return _out(z * np.sqrt(t * s**2 + d**2 * sl**2))


def newsvendor_quantity(mu: Num, sigma: Num, p: Num, h: Num) -> Num:
    """Single-period quantity `μ + σ·Φ⁻¹(p / (p + h))` (critical ratio; p underage, h overage)."""
    mu, sigma, p, h = _arrays(mu, sigma, p, h)
    return _out(mu + sigma * norm.ppf(p / (p + h)))


def loss_function_g(z: Num) -> Num:
    """Standard normal loss `G(z) = φ(z) − z·(1 − Φ(z))` (expected shortage per unit σ)."""
    (z,) = _arrays(z)
    return _out(norm.pdf(z) - z * norm.sf(z))


def expected_fill_rate(sigma_protection: Num, z: Num, order_qty: Num) -> Num:
    """Fill rate `β = 1 − σ·G(z)/Q`, capped to [0, 1]; NaN where Q ≤ 0.

    σ is the demand σ over the protection interval, Q the quantity replenished per cycle.
    """
    sigma, q = _arrays(sigma_protection, order_qty)
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = 1.0 - sigma * loss_function_g(z) / q
    return _out(np.where(q > 0, np.clip(beta, 0.0, 1.0), np.nan))


def fill_rate(available: Num, demand: Num) -> Num:
    """Measured fill rate `min(available / demand, 1)`, floored at 0; 1 where demand ≤ 0."""
    a, d = _arrays(available, demand)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _out(np.where(d > 0, np.clip(a / d, 0.0, 1.0), 1.0))


def demand_over(yhat: Sequence[float] | np.ndarray, days: Num) -> Num:
    """Forecast demand summed over a fractional number of days.

    4.5 days = days 1–4 plus half of day 5. Beyond the horizon the forecast continues at
    the mean of the last 7 forecast days (fewer when the horizon is shorter).

    Args:
        yhat: daily forecasts of steps 1..h; 2-D for several series, one row each, NaN-padded
            at the end when horizons differ. A row without values gives NaN.
        days: number of days (scalar, or one per row); NaN or negative gives NaN.
    """
    y = np.atleast_2d(np.asarray(yhat, dtype=float))
    d = np.broadcast_to(np.asarray(days, dtype=float), (y.shape[0],))
    ok = np.isfinite(d) & (d >= 0)
    d = np.where(ok, d, 0.0)
    lengths = np.isfinite(y).sum(axis=1)
    cum = np.zeros((y.shape[0], y.shape[1] + 1))
    np.cumsum(np.where(np.isfinite(y), y, 0.0), axis=1, out=cum[:, 1:])
    rows = np.arange(y.shape[0])
    tail = np.minimum(lengths, _TAIL_DAYS)
    with np.errstate(divide="ignore", invalid="ignore"):
        tail_mean = (cum[rows, lengths] - cum[rows, lengths - tail]) / tail

    def first(k: np.ndarray) -> np.ndarray:  # sum over days 1..k (whole k)
        return cum[rows, np.minimum(k, lengths)] + np.maximum(k - lengths, 0) * tail_mean

    whole = np.floor(d).astype(int)
    total = first(whole) + (d - whole) * (first(whole + 1) - first(whole))
    total = np.where(ok & (lengths > 0), total, np.nan)
    return total.item() if np.ndim(yhat) == 1 and np.ndim(days) == 0 else total


def round_order(qty: Num, moq: Num, pack_size: Num) -> Num:
    """Apply the minimum order quantity, then round up to a whole number of packs.

    qty ≤ 0 orders nothing (0); a null or 0 MOQ or pack size imposes nothing. A relative
    slack of 1e-9 pack keeps float noise (24.0000000001 in packs of 12) from adding a pack.
    """
    q, moq, pack = _arrays(qty, moq, pack_size)
    packed = rounded_up(q, np.nan_to_num(moq), np.nan_to_num(pack))
    return _out(np.where(np.isnan(q), np.nan, packed))


def rounded_up(qty: np.ndarray, moq: np.ndarray, pack: np.ndarray) -> np.ndarray:
    """`round_order`'s rule on arrays whose MOQ and pack are already numbers (0 = none),
    for loops that round many times with the same MOQ and pack (a NaN qty orders 0)."""
    lifted = np.maximum(qty, moq)
    with np.errstate(divide="ignore", invalid="ignore"):
        packed = np.where(pack > 0, np.ceil(lifted / pack - 1e-9) * pack, lifted)
    return np.where(qty > 0, packed, 0.0)


def error_blocks(cum_errors: Iterable[Sequence[float]], days: float,
                 period_days: float = 1.0) -> np.ndarray:
    """Pooled backtest error sums over P = max(1, days rounded half up) consecutive days.

    Each window is a list whose element k−1 is the sum of (actual − forecast) over steps
    1..k after a backtest cutoff. Every block of P consecutive days of every window is a
    sample (block sum = cum[s+P−1] − cum[s−1]); windows shorter than P or holding
    non-finite values add nothing. Steps of a grain above D are periods of `period_days`
    days: a period's error is spread evenly over its days, as the plan spreads its forecast
    (`plan.daily_forecasts`), so the cumulative sum is interpolated at whole days.
    """
    span = max(1, int(np.floor(days + 0.5)))
    blocks = []
    for window in cum_errors:
        cum = np.concatenate([[0.0], np.asarray(window, dtype=float)])
        if period_days > 1.0 and np.isfinite(cum).all():
            ends = np.arange(cum.size) * period_days
            cum = np.interp(np.arange(int(round(ends[-1])) + 1), ends, cum)
        if len(cum) > span and np.isfinite(cum).all():
            blocks.append(cum[span:] - cum[:-span])
    return np.concatenate(blocks) if blocks else np.empty(0)


def empirical_safety_stock(
    cum_errors: Iterable[Sequence[float]], days: float, csl: float, min_samples: int = 20,
    period_days: float = 1.0,
) -> tuple[float, int] | None:
    """Safety stock from the pooled backtest errors over the protection interval.

    The `csl` quantile (numpy's linear interpolation) of `error_blocks`, floored at 0.

    Returns:
        (safety stock, sample count), or None with fewer than `min_samples` samples
        (in particular when P exceeds every window's length).
    """
    samples = error_blocks(cum_errors, days, period_days)
    if samples.size == 0 or samples.size < min_samples:
        return None
    return max(0.0, float(np.quantile(samples, csl))), int(samples.size)


def interval_z(levels: Sequence[float]) -> float:
    """`Φ⁻¹(0.5 + W/200)`, W the widest interval level in percent (NaN without levels)."""
    return float(z_score(0.5 + max(levels) / 200.0)) if len(levels) else float("nan")


def first_open(hi: np.ndarray) -> int:
    """The step σ_d is read at: the first whose upper bound is positive (a known closure is
    forecast 0, its interval too), else the first (`plan._forecast_series` in Spark)."""
    positive = np.flatnonzero(np.asarray(hi, dtype=float) > 0)
    return int(positive[0]) if positive.size else 0


def interval_sigma(hi: Num, yhat: Num, levels: Sequence[float]) -> Num:
    """One-step σ_d from the widest interval: `(hi_W − yhat) / Φ⁻¹(0.5 + W/200)`."""
    hi, yhat = _arrays(hi, yhat)
    return _out((hi - yhat) / interval_z(levels))


def order_quantity(
    periodic: bool, position: Num, order_up_to: Num, reorder_point: Num, lot: Num
) -> Num:
    """The unrounded order at inventory position IP (NaN levels order nothing).

    Periodic (R, S): `max(0, S − IP)`. Continuous (s, nQ): when IP ≤ ROP the smallest
    multiple of the lot that lifts IP above the ROP (just up to the ROP when the lot is
    not positive or undefined), else 0. `round_order` then applies MOQ and packs.
    """
    ip, s, rop, lot = _arrays(position, order_up_to, reorder_point, lot)
    with np.errstate(invalid="ignore"):
        if periodic:
            raw = np.where(np.isfinite(s), np.maximum(0.0, s - ip), 0.0)
        else:
            lot_ok = np.isfinite(lot) & (lot > 0)
            gap = rop - ip
            lots = np.floor(gap / np.where(lot_ok, lot, 1.0)) + 1.0
            raw = np.where(np.isfinite(rop) & (ip <= rop), np.where(lot_ok, lots * lot, gap), 0.0)
    return _out(raw)


@dataclass(frozen=True)
class PolicySettings:
    """The conf `policy` section (plus the forecast interval levels), validated."""

    policy_type: str
    service_level_by_abc: dict[str, float]
    safety_stock_method: str
    overstock_days_of_cover: float
    days_per_year: float
    empirical_min_samples: int
    levels: tuple[float, ...] = ()
    service_measure: str = "cycle"
    fill_rate_by_abc: dict[str, float] | None = None
    rounding_aware: bool = True
    period_days: float = 1.0  # days per step of the forecast's grain (its backtest errors)

    @classmethod
    def from_conf(cls, policy: Mapping[str, Any], levels: Iterable[float] = (),
                  period_days: float = 1.0) -> PolicySettings:
        """Build from `conf["policy"]`; `levels` are `conf["forecast"]["levels"]`,
        `period_days` the length of the run's grain (`Grain.period_days`).

        Raises:
            ConfigError: a key is missing or holds a value outside its allowed set.
        """
        keys = ("type", "service_level_by_abc", "safety_stock_method", "overstock_days_of_cover",
                "days_per_year", "empirical_min_samples")
        missing = [k for k in keys if k not in policy]
        if missing:
            raise ConfigError(f"conf section 'policy' lacks {', '.join(missing)}")
        targets = _targets(policy["service_level_by_abc"], "service_level_by_abc")
        fill = _targets(policy.get("fill_rate_by_abc", targets), "fill_rate_by_abc")
        measure = str(policy.get("service_measure", "cycle"))
        _check(measure in ("cycle", "fill_rate"), "service_measure", "cycle or fill_rate")
        _check(policy["type"] in ("periodic", "continuous"), "type", "periodic or continuous")
        _check(policy["safety_stock_method"] in ("auto", "normal", "intervals", "empirical"),
               "safety_stock_method", "auto, normal, intervals or empirical")
        _check(float(policy["overstock_days_of_cover"]) > 0, "overstock_days_of_cover", "> 0")
        _check(float(policy["days_per_year"]) > 0, "days_per_year", "> 0")
        _check(int(policy["empirical_min_samples"]) >= 1, "empirical_min_samples", ">= 1")
        return cls(
            policy_type=str(policy["type"]), service_level_by_abc=targets,
            safety_stock_method=str(policy["safety_stock_method"]),
            overstock_days_of_cover=float(policy["overstock_days_of_cover"]),
            days_per_year=float(policy["days_per_year"]),
            empirical_min_samples=int(policy["empirical_min_samples"]),
            levels=tuple(levels), service_measure=measure, fill_rate_by_abc=fill,
            rounding_aware=bool(policy.get("rounding_aware", True)),
            period_days=float(period_days),
        )

    def service_levels(self, own: Sequence[Any], abc_class: Sequence[Any]) -> np.ndarray:
        """Per series, the target of the service measure (cycle service level, or fill
        rate under `fill_rate`): its own when strictly in (0, 1), else its ABC class's,
        else class C's (null or unknown class)."""
        own = pd.to_numeric(pd.Series(own, dtype=object), errors="coerce").to_numpy(np.float64)
        targets = self.service_level_by_abc
        if self.service_measure == "fill_rate" and self.fill_rate_by_abc:
            targets = self.fill_rate_by_abc
        by_class = pd.Series(abc_class, dtype=object).map(targets).fillna(targets["C"])
        return np.where((own > 0) & (own < 1), own, by_class.to_numpy(np.float64))


def _targets(values: Mapping[str, Any], key: str) -> dict[str, float]:
    """A per-ABC-class target map, checked: class C present, values in (0, 1)."""
    targets = {str(k): float(v) for k, v in dict(values).items()}
    _check("C" in targets and all(0 < v < 1 for v in targets.values()),
           key, "a map with class C, values strictly between 0 and 1")
    return targets


def _check(ok: bool, key: str, expected: str) -> None:
    """Raise a ConfigError naming the policy key unless ok."""
    if not ok:
        raise ConfigError(f"conf policy.{key}: expected {expected}")
