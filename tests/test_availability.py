"""Unavailable periods (closed, reporting gap, before the first sale): never fitted,
profiled or scored as zeros; known future closures forecast 0; the plan in days at W."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from restock.forecasting.exog import Events
from restock.forecasting.forecast import ForecastSettings, forecast_bucket
from restock.forecasting.panel import Availability, build_panel
from restock.forecasting.profile import ProfileSettings, profile
from restock.grain import EPOCH, Grain
from restock.io.config import load_conf

from builders import routes

RULE = Availability(gap_periods=4, gap_min_coverage=0.7, season_length=7)


def _rows(values: np.ndarray, end: int, **extra) -> pd.DataFrame:
    """One series' rows: NaN = no row (a missing day); extra columns as given."""
    days = np.arange(end - values.size + 1, end + 1)
    keep = ~np.isnan(values)
    frame = pd.DataFrame({"sku_id": "A", "location_id": "L1", "day": days[keep],
                          "quantity": values[keep]})
    for name, column in extra.items():
        frame[name] = np.asarray(column)[keep]
    return frame


def test_closed_days_are_filled_by_the_weekly_profile_not_zero():
    weeks = 8
    y = np.tile([10.0, 12, 14, 16, 18, 20, 30], weeks)
    is_open = np.ones(y.size, bool)
    is_open[[13, 20]] = False  # two closed Saturdays-of-the-cycle (value 30) with 0 sales
    y[~is_open] = 0.0
    panel = build_panel(_rows(y, 1000, open=is_open), 1000, availability=RULE)
    assert not panel.available[13] and panel.available[12]
    np.testing.assert_allclose(panel.series(0)[[13, 20]], 30.0)  # mean of the open ones
    assert panel.series(0).min() >= 10.0  # no zero reaches the model


def test_a_reporting_gap_is_not_zeros_but_short_missing_runs_are():
    y = np.full(70, 5.0)
    y[30:40] = np.nan  # 10 days without a row: a gap (>= 4 periods)
    y[50:52] = np.nan  # 2 days: zero demand
    panel = build_panel(_rows(y, 500), 500, availability=RULE)
    assert not panel.available[30:40].any() and panel.available[50:52].all()
    # filled by the weekday means of the available days (the two zero days pull two to 4.4)
    assert (panel.series(0)[30:40] > 4.3).all()
    np.testing.assert_allclose(panel.series(0)[50:52], 0.0)


def test_a_series_starts_at_its_first_sale():
    y = np.concatenate([np.zeros(40), np.full(30, 4.0)])  # listed with 0 before launch
    panel = build_panel(_rows(y, 300), 300, availability=RULE)
    assert panel.start[0] == 300 - 30 + 1 and panel.series(0).size == 30
    plain = build_panel(_rows(y, 300), 300)
    assert plain.series(0).size == 70


def _launch_cases() -> dict[str, np.ndarray]:
    return {
        # sells one period in four after 3 leading zeros: (3/4)^3 = 0.42, listed all along
        "part": np.tile([0.0, 0, 0, 2], 12),
        # 60 zeros, then a sale every other period (p = 19/39): a launch; the history starts
        # round((1 - p) / p) = 1 period before the first sale
        "item": np.concatenate([np.zeros(60), np.tile([3.0, 0], 20)]),
    }


def test_leading_zeros_are_demand_unless_improbable_under_the_series_rate(spark):
    from restock.forecasting.availability import series_availability
    from restock.grain import DataSettings

    end = 20_000
    frames = [_rows(y, end).assign(sku_id=name) for name, y in _launch_cases().items()]
    history = pd.concat(frames, ignore_index=True)
    panel = build_panel(history, end, availability=RULE)
    first_row = history.groupby("sku_id")["day"].min()
    after_first_row = panel.start - first_row[panel.keys["sku_id"]].to_numpy()
    assert dict(zip(panel.keys["sku_id"], after_first_row.tolist(), strict=True)) == {
        "item": 59, "part": 0}
    dates = history.assign(date=[EPOCH + dt.timedelta(days=int(d)) for d in history["day"]],
                           open=True)
    conf = load_conf("local", environ={})
    spark_rows = series_availability(
        _sales(spark, dates.drop(columns="day")), EPOCH + dt.timedelta(days=end), Grain(),
        DataSettings.from_conf(conf)).select("sku_id", "start").collect()
    assert {r["sku_id"]: r["start"] for r in spark_rows} == dict(
        zip(panel.keys["sku_id"], panel.start.tolist(), strict=True))


def test_forecasts_on_known_future_closures_are_zero():
    settings = dataclasses.replace(ForecastSettings.from_conf(load_conf("local", environ={})),
                                   horizon_days=7, availability=RULE)
    as_of = dt.date(2026, 6, 30)
    end = (as_of - EPOCH).days
    closed_day = end + 3
    events = Events(day=np.array([closed_day]), location=np.array(["L1"], dtype=object),
                    event_type=np.array(["closed"], dtype=object))
    out = forecast_bucket(_rows(np.full(60, 8.0), end), routes({("A", "L1"): "SeasonalNaive"}),
                          settings=settings, as_of_date=as_of, events=events)
    on_closed = out["step"] == 3
    assert (out.loc[on_closed, ["yhat", "lo_80", "hi_95"]] == 0).all(axis=None)
    np.testing.assert_allclose(out.loc[~on_closed, "yhat"], 8.0)


def test_a_weekday_closed_in_each_of_the_last_weeks_is_forecast_zero_ahead():
    # data.weekly_closure_weeks 8: A was closed on each of its last 8 weekday-k days (a
    # store shut on Sundays); B on 7 of them (the eighth was open): B's weekday k stays open
    settings = dataclasses.replace(ForecastSettings.from_conf(load_conf("local", environ={})),
                                   horizon_days=14)
    assert settings.availability.weekly_closure_weeks == 8
    as_of = dt.date(2026, 6, 30)
    end = (as_of - EPOCH).days
    days = np.arange(end - 69, end + 1)
    shut = days % 7 == (end + 2) % 7
    a = _rows(np.where(shut, 0.0, 8.0), end, open=~shut)
    b_open = ~shut
    b_open[np.flatnonzero(shut)[-3]] = True  # one of the last 8 weekday-k days was open
    b = _rows(np.where(b_open, 8.0, 0.0), end, open=b_open).assign(sku_id="B")
    out = forecast_bucket(pd.concat([a, b], ignore_index=True),
                          routes({("A", "L1"): "SeasonalNaive", ("B", "L1"): "SeasonalNaive"}),
                          settings=settings, as_of_date=as_of)
    ahead = out.assign(day=(pd.to_datetime(out["date"]) - pd.Timestamp(EPOCH)).dt.days)
    on_k = ahead["day"] % 7 == (end + 2) % 7
    a_rows, b_rows = ahead["sku_id"] == "A", ahead["sku_id"] == "B"
    assert (on_k & a_rows).sum() == 2
    assert (ahead.loc[on_k & a_rows, ["yhat", "lo_80", "hi_95"]] == 0).all(axis=None)
    np.testing.assert_allclose(ahead.loc[~on_k & a_rows, "yhat"], 8.0)
    np.testing.assert_allclose(ahead.loc[b_rows, "yhat"], 8.0)
    off = dataclasses.replace(settings, availability=dataclasses.replace(
        settings.availability, weekly_closure_weeks=0))
    plain = forecast_bucket(a, routes({("A", "L1"): "SeasonalNaive"}), settings=off,
                            as_of_date=as_of)
    np.testing.assert_allclose(plain["yhat"], 8.0)  # off: the closed weekday is forecast


def _sales(spark, frame: pd.DataFrame):
    return spark.createDataFrame(frame).selectExpr(
        "sku_id", "location_id", "cast(date as date) date", "quantity",
        "cast(null as double) sales_value", "open")


def test_profile_counts_only_available_periods(spark):
    as_of = dt.date(2026, 6, 30)
    days = pd.date_range(end=as_of, periods=100, freq="D")
    quantity = np.where(np.arange(100) % 2 == 0, 6.0, 0.0)  # demand every other day
    quantity[:20] = 0.0  # listed before the first sale
    is_open = np.ones(100, bool)
    is_open[60:66] = False
    quantity[60:66] = 0.0
    frame = pd.DataFrame({"sku_id": "A", "location_id": "L1", "date": days.date,
                          "quantity": quantity, "open": is_open})
    frame = frame.drop(index=range(70, 80))  # 10 days without rows: a reporting gap
    conf = load_conf("local", environ={})
    conf["data"].update(profile_window_days=0, gap_min_days=7)
    row = profile(_sales(spark, frame), None, as_of, ProfileSettings.from_conf(conf)).first()
    # 20 leading zeros are improbable at the rate after the first sale (p = 31/63): a launch,
    # the history starts round((1 - p) / p) = 1 day before the first sale
    available = 81 - 6 - 10  # start .. as-of, less closed and gap days
    assert row["history_days"] == available
    # the yearly gate's span: closed days are calendar time a yearly model sees, a gap is not
    assert row["span_days"] == 81 - 10
    sold = int((quantity[20:] > 0).sum() - (quantity[70:80] > 0).sum())
    assert row["zero_share"] == pytest.approx(1 - sold / available)


def test_a_weekly_forecast_is_planned_in_days(spark):
    from restock.planning.plan import daily_forecasts

    as_of = dt.date(2012, 10, 26)
    grain = Grain.parse("W-FRI")
    ends = [grain.end_of(grain.index_of(as_of) + k) for k in (1, 2)]
    weekly = spark.createDataFrame(pd.DataFrame({
        "sku_id": "A", "location_id": "L1", "model": "M", "step": [1, 2], "date": ends,
        "yhat": [70.0, 140.0], "lo_80": [56.0, 112.0], "hi_80": [84.0, 168.0],
        "status": "ok"})).selectExpr("sku_id", "location_id", "model", "cast(step as int) step",
                                     "cast(date as date) date", "yhat", "lo_80", "hi_80",
                                     "status")
    daily = daily_forecasts(weekly, (80,), as_of).orderBy("step").toPandas()
    assert list(daily["step"]) == list(range(1, 15))
    np.testing.assert_allclose(daily["yhat"], [10.0] * 7 + [20.0] * 7)
    np.testing.assert_allclose(daily["hi_80"][:7], 10.0 + 14.0 / np.sqrt(7))


def _dated(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows with a `day` index as rows with a `date`."""
    return frame.assign(date=[EPOCH + dt.timedelta(days=int(d)) for d in frame["day"]],
                        open=True).drop(columns="day")


def test_stock_outs_from_inventory_history_are_unavailable_not_zero_demand(spark):
    from restock.forecasting.availability import series_availability, with_stockouts
    from restock.grain import DataSettings
    from restock.quality.data_quality import availability_checks
    from restock.spark.buckets import history_rows

    end = 20_000
    y = np.full(70, 5.0)
    y[40:50] = 0.0  # out of stock: nothing on hand, nothing sold
    y[45:50] = np.nan  # ... and no sales rows on five of those days
    y[60] = 3.0  # sold out that day: on_hand 0 at the snapshot, but demand was seen
    daily = _sales(spark, _dated(_rows(y, end)))
    days = np.arange(end - 69, end + 1)
    on_hand = np.where(np.isin(np.arange(70), [*range(40, 50), 60]), 0.0, 20.0)
    inventory = spark.createDataFrame(pd.DataFrame({
        "sku_id": "A", "location_id": "L1", "on_hand": on_hand,
        "as_of_date": [EPOCH + dt.timedelta(days=int(d)) for d in days]}))
    marked = with_stockouts(daily, inventory, Grain()).persist()
    assert marked.count() == 70  # the five stock-out days without a row got one
    out = sorted(r["date"] for r in marked.where("not in_stock").collect())
    assert out == [EPOCH + dt.timedelta(days=int(d)) for d in days[40:50]]

    as_of = EPOCH + dt.timedelta(days=end)
    counts = series_availability(marked, as_of, Grain(),
                                 DataSettings.from_conf(load_conf("local", environ={})))
    row = counts.first()
    assert (row["stockout_periods"], row["available_periods"]) == (10, 60)
    message = availability_checks(counts, Grain(), 1)[2][2][2]
    assert "0 closed, 10 out of stock, 0 in reporting gaps" in message
    assert "worst A/L1: 10 of 70 days" in message

    panel = build_panel(history_rows(marked, Grain()).toPandas(), end, availability=RULE)
    assert not panel.available[40:50].any() and panel.available[60]
    assert (panel.series(0)[40:50] > 4.5).all()  # filled, not zeros
    assert panel.series(0)[60] == 3.0
    marked.unpersist()


def test_a_declared_launch_date_starts_the_history_in_panel_and_spark_alike(spark):
    from restock.forecasting.availability import series_availability, with_launch
    from restock.grain import DataSettings
    from restock.spark.buckets import history_rows

    end = 20_000
    # "new": 30 zeros, launched (declared) on its 21st day, first sale 5 days later; the
    # evidence rule alone would keep more of the zeros (or all). "old": 60 leading zeros
    # the evidence rule calls pre-launch, declared launched before its first row: all demand.
    new = np.concatenate([np.zeros(30), np.tile([4.0, 0], 20)])
    new[20:25] = 0.0
    old = np.concatenate([np.zeros(60), np.tile([3.0, 0], 20)])
    history = pd.concat([_rows(new, end).assign(sku_id="new"),
                         _rows(old, end).assign(sku_id="old")], ignore_index=True)
    launch = {"new": end - new.size + 1 + 20, "old": end - 500}
    params = spark.createDataFrame(pd.DataFrame({
        "sku_id": list(launch), "location_id": "L1",
        "launch_date": [EPOCH + dt.timedelta(days=d) for d in launch.values()]}))
    daily = with_launch(_sales(spark, _dated(history)), params)
    panel = build_panel(history_rows(daily, Grain()).toPandas(), end, availability=RULE)
    starts = dict(zip(panel.keys["sku_id"], panel.start.tolist(), strict=True))
    assert starts == {"new": launch["new"], "old": end - old.size + 1}
    rows = series_availability(daily, EPOCH + dt.timedelta(days=end), Grain(),
                               DataSettings.from_conf(load_conf("local", environ={}))).collect()
    assert {r["sku_id"]: r["start"] for r in rows} == starts
    assert {r["sku_id"]: r["prelaunch_periods"] for r in rows} == {"new": 20, "old": 0}
