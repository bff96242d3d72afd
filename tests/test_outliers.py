"""Outlier capping (median + k·MAD) and the data-quality verdicts, in pandas/numpy only."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from restock.forecasting.panel import build_panel
from restock.quality.data_quality import judge
from restock.quality.outliers import MAD_TO_SIGMA, OutlierRule, cap

from builders import END, history

RULE = OutlierRule(mad_k=3.0, min_nonzero_days=5)


def test_a_spike_is_capped_at_median_plus_k_mad():
    y = np.array([4, 5, 6, 5, 4, 6, 5, 0, 100], dtype=float)
    capped, n = cap(y, None, RULE)
    # non-zero days 4,5,6,5,4,6,5,100: median 5, |y - 5| = 1,0,1,0,1,1,0,95 -> MAD 1
    bound = 5 + 3.0 * MAD_TO_SIGMA * 1
    assert n == 1 and capped[-1] == pytest.approx(bound)
    assert np.array_equal(capped[:-1], y[:-1]) and y[-1] == 100  # the input is not changed


def test_promotion_days_zeros_and_flat_series_are_left_alone():
    y = np.array([4, 5, 6, 5, 4, 6, 5, 0, 100], dtype=float)
    promo = np.zeros(y.size, dtype=bool)
    promo[-1] = True
    assert cap(y, promo, RULE)[1] == 0
    flat = np.array([3, 3, 3, 3, 3, 3, 9], dtype=float)  # MAD 0: spread unknown
    assert cap(flat, None, RULE)[1] == 0
    short = np.array([1, 2, 100], dtype=float)  # under min_nonzero_days
    assert cap(short, None, RULE)[1] == 0
    assert cap(y, None, OutlierRule(0.0, 0))[1] == 0  # off


def test_the_panel_caps_each_series_and_counts_it():
    spiky = np.array([4, 5, 6, 5, 4, 6, 5, 100], dtype=float)
    frame = history({("A", "L"): spiky, ("B", "L"): spiky})
    frame["promo"] = (frame["sku_id"] == "B") & (frame["quantity"] == 100)
    panel = build_panel(frame, END, outliers=RULE)
    assert list(panel.capped) == [1, 0]
    assert panel.series(0).max() == pytest.approx(5 + 3 * MAD_TO_SIGMA)
    assert panel.series(1).max() == 100
    assert build_panel(frame, END).capped.sum() == 0


def test_checks_warn_and_fail_above_their_thresholds():
    day = dt.date(2026, 6, 30)
    assert judge("freshness_days", 2, (3, None), "x", day).severity == "ok"
    warned = judge("freshness_days", 5, (3, 30), "x", day)
    assert (warned.severity, warned.threshold) == ("warn", 3)
    failed = judge("freshness_days", 31, (3, 30), "x", day)
    assert (failed.severity, failed.threshold) == ("fail", 30)
    assert failed.message == "freshness_days 31 > fail 30: x"
