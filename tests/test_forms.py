"""Searched model forms: read once from a fit, carried by the backtest, fitted by the forecast."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from statsforecast.models import AutoETS

from restock.forecasting.backtest import BacktestSettings, backtest_bucket
from restock.forecasting.forecast import ForecastSettings, forecast_bucket
from restock.forecasting.forms import searched, with_form
from restock.forecasting.guard import Guarded
from restock.forecasting.models import spec_of
from restock.io.config import load_conf

from builders import AS_OF, history, poisson, routes, weekly


def _yearly(days: int) -> np.ndarray:
    t = np.arange(days)
    return weekly(days) * (1 + 0.4 * np.sin(2 * np.pi * t / 365)) + poisson(3, days, 5)


@pytest.mark.parametrize(("name", "days", "label"), [
    ("AutoETS", 210, r"ETS\([AMN]{3}[DN]\)"),
    ("AutoARIMA", 210, r"ARIMA\(\d,\d,\d\)\(\d,\d,\d\)\[7\]( intercept)?( drift)?"),
    ("MSTL", 800, r"MSTL\[ETS\([AMN]{3}[DN]\)\]"),
    ("Mean(AutoETS+WindowAverage)", 210, r"ETS\([AMN]{3}[DN]\)\+WindowAverage"),
])
def test_a_searched_form_forecasts_what_the_search_forecasts(name, days, label):
    y = _yearly(days)
    spec = spec_of(name)
    form = searched(name, spec, 7, y)
    assert form is not None and pd.Series([form]).str.fullmatch(label).all(), form
    fixed = Guarded(name, (), 7, 3, 7, form=form).forecast(y=y, h=14, level=[80])
    search = Guarded(name, (), 7, 3, 7).forecast(y=y, h=14, level=[80])
    for key in ("mean", "lo-80", "hi-80"):
        np.testing.assert_allclose(fixed[key], search[key], rtol=1e-6, atol=1e-6)


def test_a_model_without_a_form_has_none_and_a_wrong_label_is_refused():
    y = poisson(8, 120, 3)
    assert searched("Mean(TSB+WindowAverage)", spec_of("Mean(TSB+WindowAverage)"), 7, y) is None
    assert searched("WindowAverage", spec_of("WindowAverage"), 7, y) is None
    with pytest.raises(ValueError, match="'ARIMA\\(1,0,0\\)\\(0,0,0\\)\\[7\\]' is not a form of"):
        with_form("AutoETS", spec_of("AutoETS"), "ARIMA(1,0,0)(0,0,0)[7]")
    with pytest.raises(ValueError, match="does not match the parts of Mean"):
        with_form("Mean(AutoETS+TSB)", spec_of("Mean(AutoETS+TSB)"), "ETS(ANNN)")


def test_a_form_that_no_longer_fits_falls_back_to_the_search_not_to_a_fallback():
    y = poisson(8, 120, 3)
    y[-3:] = 0.0  # a multiplicative form cannot fit zeros
    guard = Guarded("AutoETS", ("WindowAverage",), 7, 3, 7, form="ETS(MNMN)")
    got = guard.forecast(y=y, h=7, level=[80])
    (fitted, status, method, error, _), = guard.outcomes
    assert (fitted, status, method) == ("AutoETS", "ok", "native")
    assert error.startswith("AutoETS: ValueError")  # the form's failure, kept
    np.testing.assert_allclose(got["mean"], AutoETS(season_length=7).forecast(y=y, h=7)["mean"])


def test_the_backtest_carries_the_form_fitted_at_the_first_cutoff():
    base = BacktestSettings.from_conf(load_conf("local", environ={}))
    settings = dataclasses.replace(base, windows=3, step_days=7, horizon_days=14, benchmarks=(),
                                   combination_size=2, metric="mase", refit=False)
    y = weekly(210) + poisson(3, 210, 11)
    candidates = routes({("S", "L"): ["AutoETS", "WindowAverage"]})
    out = backtest_bucket(history({("S", "L"): y}), candidates, settings=settings,
                          as_of_date=AS_OF)
    first_cutoff = y.size - 14 - 7 * 2
    ets = f"ETS({AutoETS(season_length=7).fit(y=y[:first_cutoff]).model_['components']})"
    for scope in ("window", "series"):
        forms = out[out["scope"] == scope].groupby("model")["form"].agg(set).to_dict()
        assert forms == {"AutoETS": {ets}, "WindowAverage": {None},
                         "Mean(AutoETS+WindowAverage)": {f"{ets}+WindowAverage"}}
    refitted = backtest_bucket(history({("S", "L"): y}), candidates, as_of_date=AS_OF,
                               settings=dataclasses.replace(settings, refit=True))
    assert refitted["form"].isna().all()  # a model refitted per window has no single form


def test_the_forecast_fits_each_series_routed_form():
    settings = ForecastSettings.from_conf(load_conf("local", environ={}))
    series = {("A", "L"): weekly(210) + poisson(3, 210, 1),
              ("B", "L"): weekly(210) * 2 + poisson(5, 210, 2)}
    # A: simple exponential smoothing, which no search picks on a strong weekly cycle
    routed = routes(dict.fromkeys(series, "AutoETS")).assign(form=["ETS(ANNN)", None])
    out = forecast_bucket(history(series), routed, settings=settings, as_of_date=AS_OF)
    h = settings.horizon_days
    searched_ = {sku: AutoETS(season_length=7).forecast(y=series[(sku, "L")], h=h)["mean"]
                 for sku in ("A", "B")}
    simple = AutoETS(season_length=7, model="ANN", damped=False)
    expected = {"A": simple.forecast(y=series[("A", "L")], h=h)["mean"], "B": searched_["B"]}
    assert not np.allclose(expected["A"], searched_["A"], rtol=1e-2)
    for sku, want in expected.items():
        got = out[out["sku_id"] == sku].sort_values("step")
        assert set(got["status"]) == {"ok"} and set(got["model"]) == {"AutoETS"}
        np.testing.assert_allclose(got["yhat"], np.clip(want, 0, None), rtol=1e-6)
