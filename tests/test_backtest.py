"""Rolling-origin backtests: no leakage, selection, and the Spark path."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from restock.errors import ConfigError
from restock.forecasting.backtest import (
    BacktestSettings,
    backtest,
    backtest_bucket,
    selection_table,
)
from restock.forecasting.models import check_models, cost_rank, spec_of
from restock.forecasting.selection import select, select_frame
from restock.io.config import load_conf

from builders import AS_OF, history, poisson, routes, sales_rows, weekly


@pytest.fixture(scope="module")
def settings() -> BacktestSettings:
    # windows end at day n (last), n − 7, n − 14; horizon 14; no benchmark models
    base = BacktestSettings.from_conf(load_conf("local", environ={}))
    return dataclasses.replace(base, windows=3, step_days=7, horizon_days=14, benchmarks=(),
                               combination_size=0, metric="mase")


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


def test_without_refit_autoets_is_fitted_at_the_first_cutoff_and_carried_forward(settings):
    # backtest.refit false: the first window is an ordinary fit; the later ones apply that
    # fit's parameters to the longer history (statsforecast forward), so they equal a
    # manual fit + forward and not a refit; a cheap model refits every window as before
    from statsforecast.models import AutoETS

    y = weekly(210) + poisson(3, 210, 11)
    y[150:] += 25.0  # a level shift after the first cutoff: a refit adapts differently
    pair = ({("S", "L"): y}, routes({("S", "L"): ["AutoETS", "WindowAverage"]}))

    def windows(refit: bool) -> pd.DataFrame:
        out = backtest_bucket(history(pair[0]), pair[1], as_of_date=AS_OF,
                              settings=dataclasses.replace(settings, refit=refit))
        return out[out["scope"] == "window"].sort_values(["model", "cutoff"])

    carried, refitted = windows(False), windows(True)
    ets = _forecasts(carried[carried["model"] == "AutoETS"], y)
    cutoffs = [y.size - 14 - 7 * k for k in (2, 1, 0)]  # the windows' training lengths
    fit = AutoETS(season_length=7).fit(y=y[: cutoffs[0]])
    expected = [fit.predict(h=14)["mean"], *(fit.forward(y=y[:c], h=14)["mean"]
                                            for c in cutoffs[1:])]
    for got, want in zip((ets[c] for c in sorted(ets)), expected, strict=True):
        np.testing.assert_allclose(got, np.clip(want, 0, None), rtol=1e-6, atol=1e-6)
    again = _forecasts(refitted[refitted["model"] == "AutoETS"], y)
    last = max(again)
    assert not np.allclose(again[last], ets[last], rtol=1e-3)  # the refit differs: it refits
    cheap = [f[f["model"] == "WindowAverage"]["cum_error"].map(list).tolist()
             for f in (carried, refitted)]
    assert cheap[0] == cheap[1]


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


def test_a_combination_is_scored_from_its_parts_forecasts(settings):
    # Mean(HistoricAverage+Naive) per window = the mean of its parts' window forecasts
    y = poisson(8, 150, 5)
    out = backtest_bucket(
        history({("S", "L"): y}), routes({("S", "L"): ["HistoricAverage", "Naive"]}),
        settings=dataclasses.replace(settings, combination_size=2), as_of_date=AS_OF,
    )
    windows = out[out["scope"] == "window"]
    assert set(windows["model"]) == {"HistoricAverage", "Naive", "Mean(HistoricAverage+Naive)"}
    parts = [_forecasts(windows[windows["model"] == m], y) for m in ("HistoricAverage", "Naive")]
    mean = _forecasts(windows[windows["model"] == "Mean(HistoricAverage+Naive)"], y)
    for cutoff, forecast in mean.items():
        assert forecast == pytest.approx((parts[0][cutoff] + parts[1][cutoff]) / 2)
    ranked = out[out["scope"] == "series"].set_index("model")
    assert ranked.loc["Mean(HistoricAverage+Naive)", "rank"] >= 1


def test_the_registry_forecasts_a_combination_as_the_mean_of_its_parts():
    y = poisson(8, 100, 2)
    spec = spec_of("Mean(HistoricAverage+Naive)")
    got = spec.build(7).forecast(y=y, h=5, level=[80])
    assert got["mean"] == pytest.approx(np.full(5, (y.mean() + y[-1]) / 2))
    assert spec.native_intervals and spec.cost_rank > cost_rank("Naive")
    assert check_models(["Mean(AutoETS+TSB)"], "x") == ["Mean(AutoETS+TSB)"]
    with pytest.raises(ConfigError, match="Mean\\(Nope\\+TSB\\)"):
        check_models(["Mean(Nope+TSB)"], "backtest.candidates.smooth")


def test_a_combination_forecasts_the_mean_of_its_parts_own_forecasts_and_bounds():
    # the backtest scores Mean(A+B)'s bounds as the mean of its parts' bounds; the forecast
    # step fits each part by its own entry (AutoETS's native intervals, WindowAverage's
    # empirical ones from refits of WindowAverage alone), not the whole mean per window
    from restock.forecasting.guard import Guarded

    def guard(name):
        return Guarded(name, [], 7, interval_windows=3, interval_step=7)

    y = poisson(8, 120, 3)
    combo = guard("Mean(AutoETS+WindowAverage)")
    got = combo.forecast(y=y, h=7, level=[80])
    parts = [guard(p).forecast(y=y, h=7, level=[80]) for p in ("AutoETS", "WindowAverage")]
    for key in ("mean", "lo-80", "hi-80"):
        assert got[key] == pytest.approx(np.mean([np.clip(p[key], 0, None) for p in parts],
                                                 axis=0))
    assert combo.outcomes == [("Mean(AutoETS+WindowAverage)", "ok", "empirical", None, None)]


def test_the_moving_average_spans_recent_periods_at_every_grain():
    # 28 days at D; at W and M (season = the year) 28 days in periods, at least 3 months,
    # not 4 seasons (48 months at M)
    y = np.arange(1.0, 61.0)
    for season, window in ((7, 28), (52, 4), (12, 3)):
        got = spec_of("WindowAverage").build(season).forecast(y=y, h=2)["mean"]
        assert got == pytest.approx(np.full(2, y[-window:].mean())), season


def _class_case(settings):
    """40 flat series where HistoricAverage wins pooled; one trending series (a level that
    doubles every window) where Naive wins every window by far."""
    series = {(f"F{i}", "L"): poisson(20, 150, 100 + i) for i in range(40)}
    series[("T", "L")] = np.linspace(1, 400, 150) + poisson(1, 150, 9)
    out = backtest_bucket(history(series),
                          routes(dict.fromkeys(series, ["HistoricAverage", "Naive"])),
                          settings=settings, as_of_date=AS_OF)
    classes = pd.DataFrame({"sku_id": [k[0] for k in series], "location_id": "L",
                            "demand_class": "smooth", "abc_class": "A"})
    return out, classes


def test_selection_by_class_keeps_the_class_model_but_for_clear_wins(settings):
    out, classes = _class_case(settings)
    own = out[(out["scope"] == "series") & out["selected"]].set_index("sku_id")["model"]
    settings = dataclasses.replace(settings, override_margin=0.1)
    chosen = select_frame(out, classes, settings).set_index("sku_id")["model"]
    assert chosen.drop("T").eq("HistoricAverage").all()
    assert chosen["T"] == "Naive"  # beats the class's model by far in every window
    # some flat series' own argmin was Naive by chance: class selection overrules it
    assert own.drop("T").eq("Naive").any()
    strict = select_frame(out, classes, dataclasses.replace(settings, override_margin=0.99))
    assert strict.set_index("sku_id")["model"].eq("HistoricAverage").all()


def test_a_small_abc_class_takes_its_demand_class_choice(settings):
    settings = dataclasses.replace(settings, override_margin=0.1)
    out, classes = _class_case(settings)
    classes.loc[classes["sku_id"].isin(["F0", "F1", "T"]), "abc_class"] = "C"
    chosen = select_frame(out, classes, dataclasses.replace(settings, class_min_series=5))
    # class C has 3 series (< 5): it gets smooth's pooled choice, and T still wins its own
    assert chosen.set_index("sku_id").loc[["F0", "F1"], "model"].eq("HistoricAverage").all()


def test_spark_selection_equals_pandas(spark, settings):
    settings = dataclasses.replace(settings, override_margin=0.1)
    out, classes = _class_case(settings)
    expected = select_frame(out, classes, settings).sort_values("sku_id", ignore_index=True)
    results = spark.createDataFrame(out.drop(columns=["cum_error"]))
    got = select(results, spark.createDataFrame(classes), settings, buckets=3)
    got = got.where("scope = 'series' and selected").select("sku_id", "location_id", "model")
    got = got.toPandas().sort_values("sku_id", ignore_index=True)
    pd.testing.assert_frame_equal(got, expected[["sku_id", "location_id", "model"]])
    chosen = selection_table(select(results, spark.createDataFrame(classes), settings, 3),
                             "mase").toPandas().set_index("sku_id")
    assert chosen.loc["F0", "model"] == "HistoricAverage"
    assert chosen.loc["F0", "runner_up"] == "Naive"
