"""Forecast accuracy metrics over the last axis of numpy arrays (one row = one window).

Conventions: error e = actual − forecast; `bias` is the mean of forecast − actual (units
per day, positive = over-forecast); `bias_pct` is Σ(forecast − actual) / Σ actual. A
metric that is undefined (no demand, constant actuals, zero scale) is NaN, never inf.
"""

from __future__ import annotations

import numpy as np


def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, NaN where den is not positive."""
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def mae(y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
    """Mean absolute error."""
    return np.mean(np.abs(y - yhat), axis=-1)


def mse(y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
    """Mean squared error."""
    return np.mean((y - yhat) ** 2, axis=-1)


def rmse(y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
    """Root mean squared error."""
    return np.sqrt(mse(y, yhat))


def seasonal_naive_scale(y_train: np.ndarray, season_length: int) -> float:
    """In-sample MAE of the seasonal naive forecast, MASE's denominator (NaN when undefined)."""
    if y_train.size <= season_length:
        return float("nan")
    return float(np.mean(np.abs(y_train[season_length:] - y_train[:-season_length])))


def seasonal_naive_scale_sq(y_train: np.ndarray, season_length: int) -> float:
    """In-sample MSE of the seasonal naive forecast, RMSSE's denominator (NaN when undefined)."""
    if y_train.size <= season_length:
        return float("nan")
    return float(np.mean((y_train[season_length:] - y_train[:-season_length]) ** 2))


def rmsse(y: np.ndarray, yhat: np.ndarray, scale_sq: np.ndarray | float) -> np.ndarray:
    """Root mean squared scaled error (the M5 scale): sqrt(MSE / in-sample naive MSE).

    Squared errors: the mean forecast minimises it, where MASE rewards the median (on
    intermittent data, a forecast of zero).
    """
    return np.sqrt(ratio(mse(y, yhat), scale_sq))


def mase(y: np.ndarray, yhat: np.ndarray, scale: np.ndarray | float) -> np.ndarray:
    """Mean absolute scaled error (Hyndman & Koehler 2006): MAE / in-sample naive MAE."""
    return ratio(mae(y, yhat), scale)


def wape(y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
    """Weighted absolute percentage error Σ|e| / Σ|y|."""
    return ratio(np.sum(np.abs(y - yhat), axis=-1), np.sum(np.abs(y), axis=-1))


def bias(y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
    """Mean of forecast − actual."""
    return np.mean(yhat - y, axis=-1)


def bias_pct(y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
    """Σ(forecast − actual) / Σ actual."""
    return ratio(np.sum(yhat - y, axis=-1), np.sum(y, axis=-1))


def r2(y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
    """Coefficient of determination 1 − SSE/SST (SST around the window's mean actual)."""
    sst = np.sum((y - np.mean(y, axis=-1, keepdims=True)) ** 2, axis=-1)
    return 1.0 - ratio(np.sum((y - yhat) ** 2, axis=-1), sst)


def coverage(y: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Share of actuals inside [lo, hi]; NaN where the interval is missing."""
    inside = np.mean((y >= lo) & (y <= hi), axis=-1)
    return np.where(np.isnan(lo).any(axis=-1) | np.isnan(hi).any(axis=-1), np.nan, inside)


def pinball(y: np.ndarray, q: np.ndarray, tau: float) -> np.ndarray:
    """Mean quantile (pinball) loss of forecast quantile q at probability tau."""
    diff = y - q
    return np.mean(np.maximum(tau * diff, (tau - 1.0) * diff), axis=-1)


def interval_pinball(y: np.ndarray, lo: np.ndarray, hi: np.ndarray, level: float) -> np.ndarray:
    """Mean pinball loss of a central interval's bounds, the (1 ∓ level/100)/2 quantiles."""
    tau = (1.0 - level / 100.0) / 2.0
    return (pinball(y, lo, tau) + pinball(y, hi, 1.0 - tau)) / 2.0


def window_metrics(
    y: np.ndarray,
    yhat: np.ndarray,
    scale: np.ndarray,
    intervals: dict[int, tuple[np.ndarray, np.ndarray]],
    scale_sq: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Every metric per row of (windows × horizon) arrays, plus sums for pooling.

    `scale` and `scale_sq` are the MASE and RMSSE denominators of each row (RMSSE NaN
    without scale_sq).
    """
    scale_sq = np.full(y.shape[:-1], np.nan) if scale_sq is None else scale_sq
    out = {
        "n": np.full(y.shape[:-1], y.shape[-1]),
        "mae": mae(y, yhat),
        "mse": mse(y, yhat),
        "rmse": rmse(y, yhat),
        "mase": mase(y, yhat, scale),
        "rmsse": rmsse(y, yhat, scale_sq),
        "wape": wape(y, yhat),
        "bias": bias(y, yhat),
        "bias_pct": bias_pct(y, yhat),
        "r2": r2(y, yhat),
        "sum_abs_error": np.sum(np.abs(y - yhat), axis=-1),
        "sum_error": np.sum(yhat - y, axis=-1),
        "sum_actual": np.sum(y, axis=-1),
    }
    for level, (lo, hi) in intervals.items():
        out[f"coverage_{level}"] = coverage(y, lo, hi)
        out[f"pinball_{level}"] = interval_pinball(y, lo, hi, level)
        # the upper bound alone: the quantile (1 + level/100)/2 a service-level policy orders to
        out[f"upper_pinball_{level}"] = pinball(y, hi, (1.0 + level / 100.0) / 2.0)
    return out
