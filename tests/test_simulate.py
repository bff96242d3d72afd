"""Policy simulator: the replay mechanics by hand, and whole-series replays with known outcomes."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest

from restock.io.config import load_conf
from restock.planning.replay import Rules, cycle_windows, replay
from restock.planning.simulate import Item, SimulationSettings, replay_buckets, simulate_series


def _settings(**changes) -> SimulationSettings:
    conf = load_conf("local", environ={})
    return dataclasses.replace(SimulationSettings.from_conf(conf), **changes)


def _item(**changes) -> Item:
    base = dict(key="S\x1fL", model="Naive", lifecycle="active", service_level=0.95,
                lead_time_days=0.0, lead_time_std_days=0.0, review_period_days=7,
                unit_cost=2.0, order_cost=5.0, holding_rate=0.365, shortage_cost=3.0, moq=0.0,
                pack_size=0.0)
    return Item(**{**base, **changes})


def _review_targets(days: int, every: int, level: float) -> np.ndarray:
    target = np.full(days, np.nan)
    target[::every] = level
    return target


def test_replay_constant_demand_zero_lead_time_is_the_closed_form_sawtooth():
    # S = d·R = 70, L = 0: each review lifts stock to 70 before the day's demand, so the
    # end-of-day stock in a cycle is 60, 50, ..., 0 and every review after the first orders 70
    days, d = 28, 10.0
    path = replay(np.full(days, d), np.zeros(days, int),
                  Rules(_review_targets(days, 7, 70.0)), start_on_hand=70.0)
    expected = np.tile(70.0 - d * np.arange(1, 8), 4)
    np.testing.assert_allclose(path.on_hand, expected)
    assert path.short.sum() == 0 and path.served.sum() == days * d
    assert list(path.order_days) == [7, 14, 21] and list(path.order_qty) == [70.0] * 3
    assert list(path.due_days) == [7, 14, 21]


def test_replay_lead_time_lost_sales_and_rounding():
    # on hand 5, demand 4/day; review every 2 days to S = 12, lead time 1, packs of 5:
    # day 0: IP 5 -> order 7 -> 10 (packs), due day 1; serve 4 -> 1
    # day 1: receive 10 -> 11; serve 4 -> 7
    # day 2: IP 7 -> order 5 -> 5, due day 3; serve 4 -> 3
    # day 3: receive 5 -> 8; demand 10: serve 8, 2 lost -> 0
    demand = np.array([4.0, 4.0, 4.0, 10.0])
    path = replay(demand, np.ones(4, int), Rules(_review_targets(4, 2, 12.0), pack_size=5.0),
                  start_on_hand=5.0)
    np.testing.assert_allclose(path.on_hand, [1.0, 7.0, 3.0, 0.0])
    np.testing.assert_allclose(path.short, [0, 0, 0, 2.0])
    assert list(path.order_qty) == [10.0, 5.0] and list(path.due_days) == [1, 3]


def test_replay_backorders_are_filled_first_by_the_next_receipt():
    # on hand 3; demand 5, 1, 0; review day 0 to S = 3, day 1 to S = 10; lead time 0
    # day 0: IP 3, no order; serve 3, backlog 2. day 1: IP −2 -> order 12, here at once;
    # the backlog takes 2 first -> 10; serve 1 -> 9. day 2: nothing -> 9
    target = np.array([3.0, 10.0, np.nan])
    path = replay(np.array([5.0, 1.0, 0.0]), np.zeros(3, int), Rules(target), 3.0,
                  backorder=True)
    np.testing.assert_allclose(path.short, [2.0, 0.0, 0.0])
    np.testing.assert_allclose(path.on_hand, [0.0, 9.0, 9.0])
    assert list(path.order_qty) == [12.0]


def test_continuous_review_orders_eoq_lots_when_position_reaches_the_reorder_point():
    # ROP 10, lot 15; start 12; demand 3/day, lead time 2
    # day 0: IP 12 > 10; serve -> 9. day 1: IP 9 ≤ 10 -> 1 lot (15) due day 3; -> 6
    # day 2: IP 21; -> 3. day 3: receive 15 -> 18; IP 18; -> 15. day 4: -> 12. day 5: IP 12 -> 9
    days = 6
    rules = Rules(None, np.full(days, 10.0), np.full(days, 15.0))
    path = replay(np.full(days, 3.0), np.full(days, 2), rules, start_on_hand=12.0)
    np.testing.assert_allclose(path.on_hand, [9, 6, 3, 15, 12, 9])
    assert list(path.order_days) == [1] and list(path.order_qty) == [15.0]


def test_cycle_windows_count_review_cycles_inside_the_replay():
    # reviews 0, 3, 6, 9 with L 1, R 3: windows [1,4) [4,7) [7,10) [10,13) -> last one ends
    # after day 10 and does not count; the stockout from day 5 spoils only the second
    demand = np.array([1.0] * 10)
    demand[5] = 50.0
    path = replay(demand, np.ones(10, int), Rules(_review_targets(10, 3, 6.0)), 6.0)
    assert path.short[5] > 0 and path.short.sum() == path.short[4:7].sum()
    assert cycle_windows(path, np.array([0, 3, 6, 9]), 1, 3, 10) == (3, 2)


def test_simulated_constant_demand_reproduces_the_closed_form_path():
    # constant 10/day, Naive forecasts 10 exactly, every σ is 0 -> S = 70 for every method;
    # L = 0, R = 7 over a 91-day holdout: the replay starts at S − d̄·R = 0, so each of the
    # 13 reviews orders 70 and stock runs 60..0 in every cycle -> mean 30
    y = np.full(400, 10.0)
    settings = _settings(holdout_days=91)
    rows = {(r["strategy"], r["ss_method"]): r for r in simulate_series(y, _item(), settings)}
    for method in ("normal", "intervals", "empirical"):
        row = rows[("restock", method)]
        assert row["avg_inventory"] == pytest.approx(30.0)
        assert row["fill_rate"] == 1.0 and row["stockout_days"] == 0
        assert row["orders_placed"] == 13 and row["ordered_qty"] == pytest.approx(910.0)
        assert (row["cycles"], row["cycles_ok"]) == (13, 13)
        # holding 0.365·2/365 per unit-day · 91 days · 30 units; 13 orders · 5
        assert row["holding_cost"] == pytest.approx(0.002 * 91 * 30)
        assert row["ordering_cost"] == pytest.approx(65.0)
        assert row["purchase_cost"] == pytest.approx(2.0 * 910)
        assert row["turnover"] == pytest.approx(10 * 365 / 30)
    naive = rows[("naive", "none")]
    assert naive["avg_inventory"] == pytest.approx(30.0) and naive["fill_rate"] == 1.0


def test_demand_equal_to_the_forecast_never_stocks_out():
    # a weekly pattern SeasonalNaive forecasts exactly; L 3 with no variability
    pattern = np.array([5.0, 8.0, 10.0, 12.0, 15.0, 20.0, 30.0])
    y = np.tile(pattern, 60)
    item = _item(model="SeasonalNaive", lead_time_days=3.0, review_period_days=7)
    rows = simulate_series(y, item, _settings(holdout_days=91))
    assert len(rows) == 5
    for row in rows:
        assert row["status"] == "ok"
        assert row["stockout_days"] == 0 and row["fill_rate"] == 1.0, row["strategy"]
    got = {(r["strategy"], r["ss_method"]): r for r in rows}
    # the forecast errors and interval widths are 0, so those safety stocks are 0 and the
    # stock runs down to exactly 0 before each arrival, like the naive rule's; the normal
    # method's σ_d (std of the weekly pattern) holds more stock
    lean = got[("naive", "none")]["avg_inventory"]
    assert got[("restock", "intervals")]["avg_inventory"] == pytest.approx(lean)
    assert got[("restock", "empirical")]["avg_inventory"] == pytest.approx(lean)
    assert got[("restock", "normal")]["avg_inventory"] > lean + 10


def test_lead_time_variability_is_sampled_and_costs_service():
    rng = np.random.default_rng(3)
    y = rng.poisson(10.0, 500).astype(float)
    steady = _item(model="HistoricAverage", lead_time_days=5.0, lead_time_std_days=0.0)
    shaky = dataclasses.replace(steady, lead_time_std_days=3.0)
    settings = _settings(holdout_days=182)
    fixed = {(r["strategy"], r["ss_method"]): r for r in simulate_series(y, steady, settings)}
    varied = {(r["strategy"], r["ss_method"]): r for r in simulate_series(y, shaky, settings)}
    # the restock policy protects against the variability (SS grows with σ_L) ...
    assert varied[("restock", "normal")]["avg_inventory"] > fixed[("restock", "normal")][
        "avg_inventory"]
    # ... the naive rule does not, so it loses service
    assert varied[("naive", "none")]["fill_rate"] < fixed[("naive", "none")]["fill_rate"]


def test_short_history_is_reported_not_simulated():
    rows = simulate_series(np.ones(100), _item(), _settings(holdout_days=91))
    assert rows == [{"status": "short_history", "error": "9 days before the holdout"}]


def _weekly_counts(seed: int, mean: float) -> np.ndarray:
    """300 days of Poisson demand plus a fixed weekly profile."""
    rng = np.random.default_rng(seed)
    return rng.poisson(mean, 300) + np.tile([0.0, 1, 2, 3, 4, 6, 9], 43)[:300]


def _searched_form(y: np.ndarray):
    """The ETS form AutoETS's search picks on y, and an AutoETS fixed to that form."""
    from statsforecast.models import AutoETS

    searched = AutoETS(season_length=7).fit(y).model_["components"]
    return searched, AutoETS(season_length=7, model=searched[:3], damped=searched[3] != "N")


def test_the_replay_freezes_the_searched_model_form():
    from restock.planning.frozen import freeze

    y = _weekly_counts(11, 8.0)
    guard = _settings().forecast.guard("AutoETS")
    form = freeze(guard, y[:200])
    searched, fixed = _searched_form(y[:200])
    assert form == f"ETS({searched})"
    # later fits use that form: the same forecast as ETS with the form fixed
    got = guard.forecast(y=y, h=7)["mean"]
    assert got == pytest.approx(fixed.forecast(y=y, h=7)["mean"])
    assert freeze(_settings().forecast.guard("Naive"), y) is None


def test_the_replay_freezes_the_searched_form_of_a_combinations_part():
    # a Mean(AutoETS+WindowAverage) searched its AutoETS part at every review and every
    # empirical-interval window (two thirds of the demo's replay CPU on 5% of its series)
    from statsforecast.models import WindowAverage

    from restock.planning.frozen import freeze

    y = _weekly_counts(11, 8.0)
    guard = _settings().forecast.guard("Mean(AutoETS+WindowAverage)")
    form = freeze(guard, y[:200])
    searched, fixed = _searched_form(y[:200])
    assert form == f"ETS({searched})+WindowAverage"
    parts = [fixed.forecast(y=y, h=7)["mean"], WindowAverage(window_size=28).forecast(
        y=y, h=7)["mean"]]
    assert guard.forecast(y=y, h=7)["mean"] == pytest.approx(np.mean(parts, axis=0))
    assert freeze(_settings().forecast.guard("Mean(TSB+WindowAverage)"), y) is None


@pytest.mark.parametrize("refit", [False, True])
def test_without_refit_a_review_carries_the_first_reviews_fit_forward(refit):
    # simulation.refit false: the first review fits the series' (frozen-form) AutoETS on the
    # days before it; a later review applies those fitted parameters to its longer history
    # (statsforecast forward), as a fit at the first review + forward does by hand; true:
    # every review refits, so after a level shift the two differ
    from statsforecast.models import AutoETS

    from restock.planning.bucket_replay import forecast_at, prepare

    y = _weekly_counts(3, 10.0).astype(float)
    y[-60:] += 30.0  # inside the replayed 91 days: a refit adapts, a carried fit less so
    settings = _settings(refit=refit)
    rec = {"sku_id": "S", "location_id": "L", "model": "AutoETS", "lead_time_days": 3.0,
           "lead_time_std_days": 0.0, "review_period_days": 7}
    series = prepare(y, rec, settings)
    t0, later = series.t0, 35
    first = forecast_at(series, 0, settings)["mean"]
    got = forecast_at(series, later, settings)["mean"]
    components = series.guard.chain[0][1].build(7).model  # the frozen form, e.g. "AAA"
    form = AutoETS(season_length=7, model=components)
    fitted = form.fit(y[:t0])
    assert first == pytest.approx(fitted.predict(series.horizon)["mean"])
    carried = fitted.forward(y=y[: t0 + later], h=series.horizon)["mean"]
    refitted = form.forecast(y=y[: t0 + later], h=series.horizon)["mean"]
    assert not np.allclose(carried, refitted, rtol=1e-3)
    assert got == pytest.approx(refitted if refit else carried)


def test_replay_buckets_hold_about_series_per_bucket_within_cores_and_the_run():
    settings = _settings(series_per_bucket=25)
    assert replay_buckets(241, settings, most=64, cores=2) == 10
    assert replay_buckets(30, settings, most=64, cores=2) == 2  # every core gets a bucket
    assert replay_buckets(1_000_000, settings, most=64, cores=2) == 64
    assert replay_buckets(0, settings, most=64, cores=2) == 2


# ---- the replay at the run's grain, and on closures ---------------------------------------

def _rec(model: str = "HistoricAverage", **changes) -> dict:
    return {"sku_id": "S", "location_id": "L", "model": model, "lead_time_days": 3.0,
            "lead_time_std_days": 0.0, "review_period_days": 7, **changes}


def test_a_weekly_history_is_replayed_in_days_and_forecast_in_spread_periods():
    from restock.grain import Grain
    from restock.planning.bucket_replay import History, daily_forecast, forecast_at, prepare

    grain = Grain.parse("W-SUN")
    start = grain.index_of(dt.date(2024, 1, 7))
    weekly = np.full(60, 70.0)
    history = History.of_periods(weekly, weekly, np.zeros(60, bool), grain, start)
    assert history.demand.size == 420 and np.all(history.demand == 10.0)
    base = _settings(holdout_days=28)
    settings = dataclasses.replace(
        base, policy=dataclasses.replace(base.policy, period_days=7.0),
        forecast=dataclasses.replace(base.forecast, grain=grain, season_length=52,
                                     horizon_days=4, interval_windows=2, interval_step_days=1))
    series = prepare(history, _rec(), settings)
    assert series.horizon == 28 and series.t0 == 420 - 28
    # a decision 3 days into a week sees the weeks before it; its forecast starts that day
    assert forecast_at(series, 3, settings)["mean"][0] == pytest.approx(70.0)
    daily = daily_forecast(series, 3, forecast_at(series, 3, settings), settings.forecast.levels)
    assert daily["mean"].size == 28 and np.allclose(daily["mean"], 10.0)
    rows = {(r["strategy"], r["ss_method"]): r for r in simulate_many_rows(history, settings)}
    restock = rows[("restock", "normal")]
    assert restock["fill_rate"] > 0.99 and restock["demand"] == pytest.approx(280.0)


def simulate_many_rows(history, settings):
    from restock.planning.simulate import simulate_many

    rec = {**_rec(), "lifecycle": "active", "abc_class": "A", "demand_class": "smooth",
           "unit_cost": 2.0, "order_cost": 5.0, "holding_rate": 0.3, "shortage_cost": 3.0,
           "moq": 0.0, "pack_size": 0.0, "service_level": 0.95}
    return simulate_many([history], [rec], settings)[0]


def test_known_closures_are_forecast_zero_and_not_replayed_as_demand():
    from restock.grain import Grain
    from restock.planning.bucket_replay import History, daily_forecast, forecast_at, prepare

    days = 280
    closed = (np.arange(days) % 7) == 6  # every seventh day shut
    fit = np.full(days, 12.0)  # the forecast's panel: closed days filled
    history = History.of_periods(fit, np.where(closed, 0.0, fit), closed, Grain(), 0)
    settings = _settings(holdout_days=28)
    series = prepare(history, _rec(), settings)
    fc = daily_forecast(series, 0, forecast_at(series, 0, settings), settings.forecast.levels)
    shut = closed[series.t0 : series.t0 + series.horizon]
    assert np.all(fc["mean"][shut] == 0.0) and np.allclose(fc["mean"][~shut], 12.0)
    rows = {(r["strategy"], r["ss_method"]): r for r in simulate_many_rows(history, settings)}
    assert rows[("restock", "normal")]["demand"] == pytest.approx(12.0 * 24)  # 4 closed days


def test_the_replay_fits_the_filled_panel_and_replays_what_was_sold():
    import pandas as pd

    from restock.forecasting.panel import Availability, build_panel, open_rows
    from restock.grain import Grain
    from restock.planning.simulate import replayed

    days = np.arange(1000, 1140)
    quantity = np.full(days.size, 6.0)
    is_open = (days % 7) != 3
    quantity[~is_open] = 0.0
    frame = pd.DataFrame({"sku_id": "S", "location_id": "L", "day": days,
                          "quantity": quantity, "open": is_open})
    frame = frame[(frame["day"] < 1060) | (frame["day"] >= 1080)]  # 20 days without rows
    rule = Availability(gap_periods=7, gap_min_coverage=0.7, season_length=7)
    panel = build_panel(frame, 1139, availability=rule)
    sold = panel.cells(frame, frame["quantity"].to_numpy())
    closed = panel.cells(frame, ~open_rows(frame)) > 0
    history = replayed(panel, sold, closed, 0, Grain())
    gap = slice(60, 80)
    assert np.all(history.fit[gap] == 6.0) and np.all(history.demand[gap] == 0.0)
    shut = ~is_open
    shut[gap] = False  # a closed day without a row lies in the gap
    assert np.all(history.closed == shut) and np.all(history.demand[shut] == 0.0)
    assert np.all(history.fit[shut] == 6.0)  # the model sees the weekday's open level
