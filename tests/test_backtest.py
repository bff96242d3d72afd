"""Rolling-origin backtests: no leakage, selection, and the Spark path."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from restock.forecasting.backtest import (
    BacktestSettings,
    backtest,
    backtest_bucket,
    selection_table,
)
from restock.io.config import load_conf

from builders import AS_OF, history, poisson, routes, sales_rows, weekly


@pytest.fixture(scope="module")
def settings() -> BacktestSettings:
    # windows end at day n (last), n − 7, n − 14; horizon 14; no benchmark models
    base = BacktestSettings.from_conf(load_conf("local", environ={}))
    return dataclasses.replace(base, windows=3, step_days=7, horizon_days=14, benchmarks=())


def _forecasts(windows: pd.DataFrame, actual: np.ndarray) -> dict:
    """Rebuild each window's forecasts from its cumulative errors: ŷ = y − Δcum_error."""
    out = {}
    for row in windows.itertuples():
        errors = np.diff(np.concatenate([[0.0], row.cum_error]))
        start = (pd.Timestamp(row.cutoff).date() - AS_OF).days + actual.size  # test start
        out[pd.Timestamp(row.cutoff).date()] = actual[start : start + len(errors)] - errors
    return out


def test_no_window_sees_data_after_its_cutoff(settings):
    # flat demand of 10; a spike of 10,000 after the second cutoff: the first two
    # windows must forecast ~10, the last one (trained past the spike) must not
    n = 200
    y = np.full(n, 10.0)
    spike_at = n - 14 - 2  # inside the last window's training, after the others' cutoffs
    y[spike_at] = 10_000.0
    out = backtest_bucket(
        history({("S", "L"): y}), routes({("S", "L"): ["HistoricAverage", "AutoETS"]}),
        settings=settings, as_of_date=AS_OF,
    )
    windows = out[(out["scope"] == "window") & (out["model"] == "HistoricAverage")]
    assert len(windows) == 3
    by_cutoff = _forecasts(windows.sort_values("cutoff"), y)
    first, second, last = (by_cutoff[c] for c in sorted(by_cutoff))
    assert first == pytest.approx(np.full(14, 10.0))
    assert second == pytest.approx(np.full(14, 10.0))
    assert (last > 50).all()  # the spike is in its history: the test can tell
    ets = out[(out["scope"] == "window") & (out["model"] == "AutoETS")].sort_values("cutoff")
    early = _forecasts(ets.iloc[:2], y)
    assert all(np.all(np.abs(f - 10) < 0.5) for f in early.values())


def test_selection_picks_the_model_the_series_favours(settings):
    series = {
        ("seasonal", "L"): weekly(210) + poisson(1, 210, 7),  # strong weekly cycle
        ("flat", "L"): poisson(20, 210, 3),  # noise around a level: an average wins
    }
    candidates = ["HistoricAverage", "SeasonalNaive", "WindowAverage"]
    out = backtest_bucket(
        history(series), routes(dict.fromkeys(series, candidates)),
        settings=settings, as_of_date=AS_OF,
    )
    ranked = out[out["scope"] == "series"]
    chosen = dict(zip(ranked.loc[ranked["selected"], "sku_id"],
                      ranked.loc[ranked["selected"], "model"], strict=True))
    assert chosen["seasonal"] == "SeasonalNaive"
    assert chosen["flat"] in ("HistoricAverage", "WindowAverage")
    seasonal = ranked[ranked["sku_id"] == "seasonal"].set_index("model")
    assert seasonal.loc["SeasonalNaive", "mase"] < 0.5 * seasonal.loc["HistoricAverage", "mase"]
    assert seasonal.loc["HistoricAverage", "rank"] > 1
    # the selected model's windows are the ones flagged for the residual store
    flagged = out[(out["scope"] == "window") & out["selected"]]
    assert set(zip(flagged["sku_id"], flagged["model"], strict=True)) == set(chosen.items())
    assert flagged.groupby("sku_id").size().eq(3).all()


def test_a_benchmark_is_scored_but_never_selected(settings):
    # SeasonalNaive is by far the best on a weekly cycle, but as a benchmark it only reports
    series = {("seasonal", "L"): weekly(210) + poisson(1, 210, 7)}
    out = backtest_bucket(
        history(series), routes(dict.fromkeys(series, ["HistoricAverage", "SeasonalNaive"])),
        settings=dataclasses.replace(settings, benchmarks=("SeasonalNaive",)),
        as_of_date=AS_OF,
    )
    ranked = out[out["scope"] == "series"].set_index("model")
    assert ranked.loc["SeasonalNaive", "mase"] < ranked.loc["HistoricAverage", "mase"]
    assert pd.isna(ranked.loc["SeasonalNaive", "rank"])
    assert not ranked.loc["SeasonalNaive", "selected"]
    assert ranked.loc["HistoricAverage", "selected"]


def test_ties_go_to_the_cheaper_model(settings):
    # constant demand: Naive and CrostonOptimized both forecast 5 exactly (MAE 0, and the
    # MASE scale is 0, so MASE is undefined): Naive (cost 1) beats Croston (cost 2)
    out = backtest_bucket(
        history({("C", "L"): np.full(120, 5.0)}),
        routes({("C", "L"): ["CrostonOptimized", "Naive"]}),
        settings=settings, as_of_date=AS_OF,
    )
    ranked = out[out["scope"] == "series"].set_index("model")
    assert ranked.loc["Naive", "mae"] == pytest.approx(0.0)
    assert ranked.loc["CrostonOptimized", "mae"] == pytest.approx(0.0)
    assert ranked.loc["Naive", "rank"] == 1 and ranked.loc["CrostonOptimized", "rank"] == 2


def test_a_failing_candidate_is_not_ranked(settings):
    # 11 days, windows of 3 days stepping 3: the first window trains on 5 days, where
    # AutoETS raises ("tiny datasets"); HistoricAverage works everywhere
    tiny = dataclasses.replace(settings, horizon_days=3, windows=2, step_days=3)
    out = backtest_bucket(
        history({("F", "L"): np.array([3.0, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5])}),
        routes({("F", "L"): ["AutoETS", "HistoricAverage"]}),
        settings=tiny, as_of_date=AS_OF,
    )
    ranked = out[out["scope"] == "series"].set_index("model")
    assert ranked.loc["AutoETS", "status"] == "failed"
    assert "tiny datasets" in ranked.loc["AutoETS", "error"]
    assert pd.isna(ranked.loc["AutoETS", "rank"]) and pd.isna(ranked.loc["AutoETS", "mase"])
    assert ranked.loc["HistoricAverage", "selected"]


def test_spark_backtest_equals_pandas_and_selects(spark, settings):
    many = {(f"S{i}", "L1"): poisson(2 + i, 150, 40 + i) for i in range(6)}
    plan = {key: ["HistoricAverage", "SeasonalNaive"] for key in many}
    expected = backtest_bucket(history(many), routes(plan), settings=settings, as_of_date=AS_OF)
    sales = spark.createDataFrame(sales_rows(many)).repartition(3)
    candidates = spark.createDataFrame(routes(plan)).repartition(2)
    results = backtest(sales, candidates, as_of_date=AS_OF, settings=settings, buckets=3)
    got = results.toPandas()
    keys = ["scope", "sku_id", "model", "cutoff"]
    cols = ["mae", "mase", "wape", "rank", "selected"]
    left = got.sort_values(keys).reset_index(drop=True)[cols]
    right = expected.sort_values(keys).reset_index(drop=True)[cols]
    pd.testing.assert_frame_equal(left, right, check_dtype=False)
    chosen = selection_table(results, "mase").toPandas()
    assert len(chosen) == 6 and chosen["runner_up"].notna().all()
    assert (chosen["score"] <= chosen["runner_up_score"]).all()
