"""The grain: period indexes and ends, detection, days -> periods, and the kernels at W and M."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from restock.errors import ConfigError
from restock.forecasting.backtest import BacktestSettings
from restock.forecasting.forecast import ForecastSettings, forecast_bucket
from restock.grain import Grain, detect
from restock.io.config import load_conf

from builders import routes


def test_weekly_periods_end_on_the_anchor_weekday():
    fri = Grain.parse("W-FRI")
    assert fri.name == "W-FRI" and Grain.parse("W") == Grain("W", 6)
    friday = dt.date(2012, 10, 26)  # a Walmart week end
    k = fri.index_of(friday)
    assert fri.end_of(k) == friday
    # Saturday .. Friday belong to the week ending that Friday, the next Saturday does not
    assert fri.index_of(friday - dt.timedelta(days=6)) == k
    assert fri.index_of(friday + dt.timedelta(days=1)) == k + 1
    assert fri.end_of(k + 1) == dt.date(2012, 11, 2)


def test_months_are_dated_by_their_last_day():
    m = Grain.parse("M")
    k = m.index_of(dt.date(1998, 1, 1))
    assert k == (1998 - 1970) * 12 and m.index_of(dt.date(1998, 1, 31)) == k
    assert m.end_of(k) == dt.date(1998, 1, 31)
    assert m.end_of(k + 1) == dt.date(1998, 2, 28)
    assert m.end_of(m.index_of(dt.date(2000, 2, 10))) == dt.date(2000, 2, 29)


def test_days_become_periods_by_one_rule():
    w, m = Grain.parse("W-SUN"), Grain.parse("M")
    assert w.periods(30) == pytest.approx(30 / 7)  # fractional, not truncated
    assert w.whole_periods(28) == 4 and w.whole_periods(29) == 5
    assert m.whole_periods(28) == 1 and m.periods(365.25) == pytest.approx(12)
    assert (w.season_length(7), m.season_length(7), Grain().season_length(7)) == (52, 12, 7)
    with pytest.raises(ConfigError):
        Grain.parse("W-XYZ")


def test_detection_says_what_it_found():
    fridays = [dt.date(2010, 2, 5) + dt.timedelta(days=7 * i) for i in range(143)]
    grain, message = detect(fridays)
    assert grain == Grain("W", 4)
    assert message.startswith("detected weekly grain W-FRI from 143 distinct dates")
    firsts = [dt.date(1998 + i // 12, 1 + i % 12, 1) for i in range(51)]
    assert detect(firsts)[0] == Grain("M")
    days = [dt.date(2022, 1, 1) + dt.timedelta(days=i) for i in range(30)]
    assert detect(days)[0] == Grain("D")


def _conf(frequency: str) -> dict:
    conf = load_conf("local", environ={})
    conf["data"]["frequency"] = frequency
    return conf


def test_settings_are_in_periods_of_the_grain():
    weekly = ForecastSettings.from_conf(_conf("W-FRI"))
    assert (weekly.horizon_days, weekly.season_length) == (4, 52)  # 28 days, a year
    monthly = BacktestSettings.from_conf(_conf("M"))
    assert (monthly.horizon_days, monthly.step_days, monthly.season_length) == (1, 1, 12)
    assert monthly.min_history_days == pytest.approx((1 + 1 * 2 + 1) * 365.25 / 12)


def _periods(grain: Grain, values: np.ndarray, last: dt.date) -> pd.DataFrame:
    end = grain.index_of(last)
    return pd.DataFrame({"sku_id": "A", "location_id": "L1",
                         "day": np.arange(end - values.size + 1, end + 1), "quantity": values})


@pytest.mark.parametrize("frequency, last, periods", [
    ("W-FRI", dt.date(2012, 10, 26), 156), ("M", dt.date(2002, 3, 31), 51)])
def test_forecast_at_w_and_m_is_in_periods(frequency, last, periods):
    grain = Grain.parse(frequency)
    settings = ForecastSettings.from_conf(_conf(frequency))
    season = settings.season_length
    cycle = 10 + 5 * np.sin(2 * np.pi * np.arange(periods) / season)
    hist = _periods(grain, cycle, last)
    out = forecast_bucket(hist, routes({("A", "L1"): "SeasonalNaive"}), settings=settings,
                          as_of_date=last).sort_values("step")
    assert list(out["step"]) == list(range(1, settings.horizon_days + 1))
    ends = [grain.end_of(grain.index_of(last) + k) for k in out["step"]]
    assert [pd.Timestamp(d).date() for d in out["date"]] == ends
    # SeasonalNaive at the grain's season repeats the value one year (not one week) back
    np.testing.assert_allclose(out["yhat"], cycle[periods - season: periods - season
                                                  + settings.horizon_days])
