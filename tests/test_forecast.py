"""The per-bucket forecast function (pandas) and its Spark wrapper."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from restock.forecasting.forecast import ForecastSettings, forecast, forecast_bucket
from restock.forecasting.panel import build_panel, epoch_day
from restock.io.config import load_conf

from builders import AS_OF, history, poisson, routes, sales_rows, weekly


@pytest.fixture(scope="module")
def settings() -> ForecastSettings:
    return ForecastSettings.from_conf(load_conf("local", environ={}))


SERIES = {
    ("A", "L1"): poisson(8, 300, 1),
    ("B", "L1"): poisson(0.3, 300, 2),
    ("C", "L2"): weekly(200),
}
ROUTES = {("A", "L1"): "AutoETS", ("B", "L1"): "CrostonOptimized", ("C", "L2"): "SeasonalNaive"}


def test_calendar_is_completed_with_zeros():
    hist = history({("A", "L1"): np.array([3.0, 0.0, 0.0, 5.0, 0.0])})
    panel = build_panel(hist, epoch_day(AS_OF))
    assert list(panel.series(0)) == [3.0, 0.0, 0.0, 5.0, 0.0]
    assert panel.start[0] == epoch_day(AS_OF) - 4
    trimmed = build_panel(hist, epoch_day(AS_OF), max_days=3)
    assert list(trimmed.series(0)) == [0.0, 5.0, 0.0]


def test_one_row_per_series_model_and_day(settings):
    out = forecast_bucket(history(SERIES), routes(ROUTES), settings=settings, as_of_date=AS_OF)
    h = settings.horizon_days
    assert len(out) == 3 * h
    assert set(out["status"]) == {"ok"}
    first = out[out["sku_id"] == "A"].sort_values("step")
    assert list(first["step"]) == list(range(1, h + 1))
    assert pd.Timestamp(first["date"].iloc[0]).date() == AS_OF + dt.timedelta(days=1)
    assert (out["yhat"] >= 0).all()
    # the weekly pattern comes back exactly from SeasonalNaive, in calendar order
    seasonal = out[out["sku_id"] == "C"].sort_values("step")["yhat"].to_numpy()
    assert seasonal[:7] == pytest.approx(weekly(207)[200:207])


def test_intervals_contain_the_forecast_and_widen_with_level(settings):
    out = forecast_bucket(history(SERIES), routes(ROUTES), settings=settings, as_of_date=AS_OF)
    assert set(out.groupby("sku_id")["interval_method"].first()) == {"native", "empirical"}
    lo80, hi80, lo95, hi95 = (out[c] for c in ("lo_80", "hi_80", "lo_95", "hi_95"))
    assert (lo95 <= lo80 + 1e-9).all() and (lo80 <= out["yhat"] + 1e-9).all()
    assert (out["yhat"] <= hi80 + 1e-9).all() and (hi80 <= hi95 + 1e-9).all()
    smooth = out[out["sku_id"] == "A"]
    assert (smooth["hi_95"] - smooth["lo_95"] > smooth["hi_80"] - smooth["lo_80"]).all()


def test_a_model_that_raises_falls_back_to_the_baseline(settings):
    # AutoETS refuses a 5-day history ("tiny datasets"); SeasonalNaive(7) has no full
    # season to repeat (NaN forecast, refused too); HistoricAverage takes over
    series = {("A", "L1"): poisson(8, 300, 1), ("T", "L1"): np.array([4.0, 5, 6, 5, 4])}
    out = forecast_bucket(
        history(series), routes(dict.fromkeys(series, "AutoETS")),
        settings=settings, as_of_date=AS_OF,
    )
    tiny = out[out["sku_id"] == "T"]
    assert set(tiny["status"]) == {"fallback"}
    assert set(tiny["fitted_model"]) == {"HistoricAverage"}
    assert tiny["yhat"].iloc[0] == pytest.approx(24 / 5)
    assert set(tiny["model"]) == {"AutoETS"}
    assert "tiny datasets" in tiny["error"].iloc[0]
    assert len(tiny) == settings.horizon_days and tiny["yhat"].notna().all()
    assert set(out.loc[out["sku_id"] == "A", "status"]) == {"ok"}


def test_a_series_that_fails_everything_gets_one_failed_row(settings):
    no_fallback = dataclasses.replace(settings, fallback_models=())
    series = {("A", "L1"): poisson(8, 300, 1), ("T", "L1"): np.array([4.0, 5, 6, 5, 4])}
    out = forecast_bucket(
        history(series), routes(dict.fromkeys(series, "AutoETS")),
        settings=no_fallback, as_of_date=AS_OF,
    )
    failed = out[out["sku_id"] == "T"]
    assert len(failed) == 1
    assert failed["status"].iloc[0] == "failed"
    assert pd.isna(failed["yhat"].iloc[0]) and pd.isna(failed["date"].iloc[0])
    assert "tiny datasets" in failed["error"].iloc[0]


def test_several_models_per_series(settings):
    both = {("A", "L1"): ["AutoETS", "HistoricAverage"]}
    out = forecast_bucket(
        history({("A", "L1"): SERIES[("A", "L1")]}), routes(both),
        settings=settings, as_of_date=AS_OF,
    )
    assert sorted(out["model"].unique()) == ["AutoETS", "HistoricAverage"]
    assert len(out) == 2 * settings.horizon_days


def test_spark_path_equals_pandas_path(spark, settings):
    many = {(f"S{i:02d}", f"L{i % 3}"): poisson(1 + i % 5, 120 + 7 * i, 10 + i) for i in range(12)}
    plan = {key: ("AutoETS" if i % 3 else "ADIDA") for i, key in enumerate(many)}
    expected = forecast_bucket(history(many), routes(plan), settings=settings, as_of_date=AS_OF)

    sales = spark.createDataFrame(sales_rows(many)).repartition(4)
    route_df = spark.createDataFrame(routes(plan)).repartition(3)
    result = forecast(sales, route_df, as_of_date=AS_OF, settings=settings, buckets=3)
    assert result.rdd.getNumPartitions() == 3
    got = result.toPandas()

    keys = ["sku_id", "location_id", "model", "step"]
    expected = expected.sort_values(keys).reset_index(drop=True)
    got = got.sort_values(keys).reset_index(drop=True)
    assert (got["as_of_date"] == AS_OF).all()
    pd.testing.assert_frame_equal(
        got[expected.columns].astype({"date": "datetime64[s]", "step": "int32"}),
        expected.astype({"date": "datetime64[s]"}),
        check_dtype=False,
    )


def test_mstl_at_weekly_grain_fits_the_year_alone_from_two_years():
    from restock.grain import Grain

    grain = Grain.parse("W-FRI")
    conf = load_conf("local", environ={})
    conf["data"] = {**conf["data"], "frequency": grain.name}
    settings = dataclasses.replace(ForecastSettings.from_conf(conf), horizon_days=4)
    assert settings.season_length == 52
    weeks = np.arange(120)  # 2.3 years: enough at W (104 weeks), far from 730 periods
    y = 100 + 40 * np.sin(2 * np.pi * weeks / 52)
    end = grain.index_of(dt.date(2026, 6, 26))
    rows = pd.DataFrame({"sku_id": "A", "location_id": "L1", "day": end - 119 + weeks,
                         "quantity": y})
    out = forecast_bucket(rows, routes({("A", "L1"): "MSTL"}), settings=settings,
                          as_of_date=grain.end_of(end))
    assert (out["fitted_model"] == "MSTL").all() and (out["status"] == "ok").all()
    expected = 100 + 40 * np.sin(2 * np.pi * np.arange(120, 124) / 52)
    np.testing.assert_allclose(out.sort_values("step")["yhat"], expected, rtol=0.05)


def test_mstl_is_statsforecasts_decomposition_and_with_rs_jumps_forecasts_alike():
    # every loess at every point: restock's decomposition is statsforecast's mstl exactly;
    # with R's stats::stl jumps (the default) the forecast moves by under an eighth of the
    # noise (sd 8 on a level of 100)
    from statsforecast import models as sf
    from statsforecast.mstl import mstl

    from restock.forecasting.mstl import MSTL, decompose

    t = np.arange(900)
    y = (100 + 20 * np.sin(2 * np.pi * t / 7) + 30 * np.sin(2 * np.pi * t / 365)
         + np.random.default_rng(4).normal(0, 8, t.size))
    reference = mstl(y, [7, 365])
    seasonal, adjusted = decompose(y, [7, 365], jumps=False)
    np.testing.assert_allclose(seasonal[0], reference["seasonal7"], atol=1e-9)
    np.testing.assert_allclose(seasonal[1], reference["seasonal365"], atol=1e-9)
    np.testing.assert_allclose(adjusted, reference["trend"] + reference["remainder"], atol=1e-9)
    plain = sf.MSTL([7, 365], trend_forecaster=sf.AutoETS(model="ZZN")).forecast(
        y=y, h=28, level=[80])
    ours = MSTL([7, 365], sf.AutoETS(model="ZZN")).forecast(y=y, h=28, level=[80])
    assert set(ours) == set(plain)
    assert np.abs(ours["mean"] - plain["mean"]).max() < 1.0  # 0.34 on this series
    assert np.abs(ours["hi-80"] - plain["hi-80"]).max() < 1.0
    fitted = MSTL([7, 365], sf.AutoETS(model="ZZN")).fit(y=y[:-14])
    np.testing.assert_allclose(fitted.predict(h=28, level=[80])["mean"], MSTL(
        [7, 365], sf.AutoETS(model="ZZN")).forecast(y=y[:-14], h=28, level=[80])["mean"])
    carried = fitted.forward(y=y, h=28, level=[80])  # the fitted trend on the longer history
    assert np.abs(carried["mean"] - ours["mean"]).max() < 1.0
