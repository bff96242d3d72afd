"""Metric functions against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from restock.forecasting import metrics

# y = [1, 2, 3, 4], forecast 2 every day: errors (y − ŷ) = [−1, 0, 1, 2].
Y = np.array([1.0, 2.0, 3.0, 4.0])
F = np.full(4, 2.0)


def test_point_metrics_by_hand():
    assert metrics.mae(Y, F) == pytest.approx(1.0)  # (1 + 0 + 1 + 2) / 4
    assert metrics.mse(Y, F) == pytest.approx(1.5)  # (1 + 0 + 1 + 4) / 4
    assert metrics.rmse(Y, F) == pytest.approx(np.sqrt(1.5))
    assert metrics.wape(Y, F) == pytest.approx(0.4)  # 4 / 10
    assert metrics.bias(Y, F) == pytest.approx(-0.5)  # (1 + 0 − 1 − 2) / 4
    assert metrics.bias_pct(Y, F) == pytest.approx(-0.2)  # −2 / 10
    # ȳ = 2.5, SST = 2.25 + 0.25 + 0.25 + 2.25 = 5, SSE = 6 → 1 − 6/5
    assert metrics.r2(Y, F) == pytest.approx(-0.2)


def test_mase_on_a_tiny_series():
    train = np.array([1.0, 3.0, 2.0, 4.0, 3.0])
    # season 1: |3−1|, |2−3|, |4−2|, |3−4| = 2, 1, 2, 1 → scale 1.5 → MASE = 1.0 / 1.5
    assert metrics.seasonal_naive_scale(train, 1) == pytest.approx(1.5)
    assert metrics.mase(Y, F, metrics.seasonal_naive_scale(train, 1)) == pytest.approx(2 / 3)
    # season 2: |2−1|, |4−3|, |3−2| = 1, 1, 1 → scale 1 → MASE = MAE = 1.0
    assert metrics.mase(Y, F, metrics.seasonal_naive_scale(train, 2)) == pytest.approx(1.0)


def test_undefined_metrics_are_nan_not_inf():
    zeros = np.zeros(4)
    assert np.isnan(metrics.wape(zeros, F))
    assert np.isnan(metrics.bias_pct(zeros, F))
    assert np.isnan(metrics.r2(np.full(4, 3.0), F))  # constant actuals: SST = 0
    assert np.isnan(metrics.mase(Y, F, 0.0))
    assert np.isnan(metrics.seasonal_naive_scale(np.array([1.0, 2.0]), 7))


def test_coverage_and_pinball_by_hand():
    lo, hi = np.array([0.0, 2.0, 2.0, 5.0]), np.array([2.0, 3.0, 4.0, 6.0])
    assert metrics.coverage(Y, lo, hi) == pytest.approx(0.75)  # 4 is outside [5, 6]
    # tau 0.9, q = 2: y − q = [−1, 0, 1, 2] → max(0.9d, −0.1d) = [0.1, 0, 0.9, 1.8] → 0.7
    assert metrics.pinball(Y, F, 0.9) == pytest.approx(0.7)
    # 80% interval [1, 3]: lower (tau 0.1) [0, .1, .2, .3] → 0.15; upper (tau 0.9)
    # y − 3 = [−2, −1, 0, 1] → [.2, .1, 0, .9] → 0.3; mean of both = 0.225
    assert metrics.interval_pinball(Y, np.ones(4), np.full(4, 3.0), 80) == pytest.approx(0.225)
    assert np.isnan(metrics.coverage(Y, np.full(4, np.nan), hi))


def test_window_metrics_work_row_wise():
    y = np.vstack([Y, Y * 2])
    yhat = np.vstack([F, F * 2])
    out = metrics.window_metrics(y, yhat, np.array([1.5, 3.0]), {80: (y - 1, y + 1)})
    assert out["mae"] == pytest.approx([1.0, 2.0])
    assert out["mase"] == pytest.approx([2 / 3, 2 / 3])
    assert out["coverage_80"] == pytest.approx([1.0, 1.0])
    assert out["sum_actual"] == pytest.approx([10.0, 20.0])


def test_rmsse_on_a_tiny_series():
    train = np.array([1.0, 3.0, 2.0, 4.0, 3.0])
    # season 1: squared diffs 4, 1, 4, 1 → scale² 2.5; MSE of F on Y is 1.5 → sqrt(1.5 / 2.5)
    assert metrics.seasonal_naive_scale_sq(train, 1) == pytest.approx(2.5)
    assert metrics.rmsse(Y, F, 2.5) == pytest.approx(np.sqrt(0.6))
    assert np.isnan(metrics.rmsse(Y, F, 0.0))


def test_rmsse_prefers_the_mean_where_mase_prefers_zero():
    y = np.array([0.0, 0.0, 0.0, 4.0])  # intermittent: the median is 0, the mean 1
    zero, mean = np.zeros(4), np.ones(4)
    assert metrics.mase(y, zero, 1.0) < metrics.mase(y, mean, 1.0)
    assert metrics.rmsse(y, mean, 1.0) < metrics.rmsse(y, zero, 1.0)
