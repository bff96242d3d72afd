"""Policy math and `plan_batch` on small pandas frames (no Spark).

Reference values come from /work/shared/REQUIREMENTS.md ("Formulas") unless the working is
shown next to the assertion. z values: Φ⁻¹(0.95) = 1.644854, Φ⁻¹(0.98) = 2.053749,
Φ⁻¹(0.70) = 0.524401, Φ⁻¹(0.90) = 1.281552.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from restock.errors import ConfigError
from restock.io.config import load_conf
from restock.planning.planner import PLAN_FIELDS, PLAN_INPUT_FIELDS, plan_batch
from restock.planning.policy import (
    PolicySettings,
    demand_over,
    empirical_safety_stock,
    eoq,
    eoq_total_cost,
    expected_fill_rate,
    fill_rate,
    loss_function_g,
    newsvendor_quantity,
    round_order,
    safety_stock_normal,
    total_cost,
    z_score,
)

Z95 = 1.6448536
G95 = 0.0208930  # φ(1.644854) − 1.644854·0.05 = 0.1031356 − 0.0822427
RAMP = [10.0 * k for k in range(1, 15)]  # 10, 20, ..., 140


# ---- formulas --------------------------------------------------------------------------


def test_eoq_and_its_cost_match_the_requirements():
    # REQUIREMENTS: D=1000, K=50, h=2 -> Q* = sqrt(2·1000·50/2) = 223.607; cost sqrt(2DKh) = 447.214
    q = eoq(1000, 50, 2)
    assert q == pytest.approx(223.607, abs=1e-3)
    assert eoq_total_cost(q, 1000, 50, 2) == pytest.approx(447.214, abs=1e-3)
    assert np.isnan(eoq(1000, 50, 0))


def test_safety_stock_and_reorder_point_match_the_requirements():
    # REQUIREMENTS: d̄ 100/day, σ_d 20, L 4, CSL 95% -> SS = 1.644854·20·2 = 65.794, ROP 465.794
    z = z_score(0.95)
    ss = safety_stock_normal(z, 20, 4)
    assert ss == pytest.approx(65.794, abs=1e-3)
    assert 100 * 4 + ss == pytest.approx(465.794, abs=1e-3)
    # σ_L = 1 day: SS = 1.644854·sqrt(4·400 + 100²·1) = 1.644854·107.703 = 177.156
    ss_lt = safety_stock_normal(z, 20, 4, mean_daily=100, lead_time_std_days=1)
    assert ss_lt == pytest.approx(177.156, abs=1e-3)
    assert 100 * 4 + ss_lt == pytest.approx(577.156, abs=1e-3)


def test_newsvendor_total_cost_and_fill_rate_match_the_requirements():
    # REQUIREMENTS: p=4, h=1, μ=100, σ=20 -> 100 + 20·Φ⁻¹(0.8) = 100 + 20·0.841621 = 116.832
    assert newsvendor_quantity(100, 20, 4, 1) == pytest.approx(116.832, abs=1e-3)
    # REQUIREMENTS: 1000 average units · 1 + 1 order · 100 + 0 short · 200 = 1100 (not 1200)
    assert total_cost(1000, 1, 1, 100, 0, 200) == pytest.approx(1100.0)
    # REQUIREMENTS: 500 available against 1000 demand -> 0.5; capped at 1
    assert fill_rate(500, 1000) == pytest.approx(0.5)
    assert fill_rate(1500, 1000) == 1.0
    assert fill_rate(0, 0) == 1.0


def test_loss_function_and_expected_fill_rate():
    # G(z) = φ(z) − z(1 − Φ(z)): G(0) = φ(0) = 0.398942; G(1.644854) = 0.020893
    assert loss_function_g(0.0) == pytest.approx(0.398942, abs=1e-6)
    assert loss_function_g(Z95) == pytest.approx(G95, abs=1e-6)
    # β = 1 − 40·0.020893/1000 = 0.999164; capped at 0 when σG(z) > Q; undefined for Q = 0
    assert expected_fill_rate(40, Z95, 1000) == pytest.approx(0.999164, abs=1e-6)
    assert expected_fill_rate(1000, 0.0, 10) == 0.0
    assert np.isnan(expected_fill_rate(40, Z95, 0))


def test_demand_over_fractional_days_and_beyond_the_horizon():
    y = [10, 20, 30, 40, 50, 60, 70, 80]
    assert demand_over(y, 4.5) == pytest.approx(125.0)  # 10+20+30+40 + 0.5·50
    assert demand_over(y, 0.5) == pytest.approx(5.0)  # half of day 1
    # 10 days: all 8 (360) + 2 days at the mean of the last 7 ((20+…+80)/7 = 50) = 460
    assert demand_over(y, 10) == pytest.approx(460.0)
    assert demand_over(y, 9.5) == pytest.approx(435.0)  # 360 + 1.5·50
    # horizon of 3 (< 7): tail mean over all 3 = 2; 5 days = 1+2+3 + 2·2 = 10
    assert demand_over([1, 2, 3], 5) == pytest.approx(10.0)


def test_demand_over_rows_of_different_horizons():
    rows = np.array([[1, 2, 3, 4], [5, 5, np.nan, np.nan], [np.nan] * 4])
    got = demand_over(rows, [2.5, 3.0, 1.0])
    # row 0: 1+2+0.5·3 = 4.5; row 1: 5+5 + 1 day at tail mean 5 = 15; row 2: no forecast
    assert got[:2] == pytest.approx([4.5, 15.0])
    assert np.isnan(got[2])


def test_round_order_applies_moq_then_pack():
    assert round_order(5, 10, 4) == 12.0  # MOQ lifts to 10, packs of 4 -> 12
    assert round_order(25, 10, 12) == 36.0  # 25 -> 3 packs of 12
    assert round_order(24, 0, 12) == 24.0  # already a whole number of packs
    assert round_order(7.3, None, 0) == 7.3  # no MOQ, no pack
    assert round_order(7.3, np.nan, np.nan) == 7.3
    assert round_order(0, 10, 12) == 0.0  # nothing needed: no MOQ order
    assert round_order(-3, 10, 12) == 0.0
    assert list(round_order([1, 13], [0, 0], [12, 12])) == [12.0, 24.0]


def test_empirical_safety_stock_by_hand():
    # daily errors (1, 2, −1, 4) and (−1, −1, 2, 1) as cumulative windows
    windows = [[1, 3, 2, 6], [-1, -2, 0, 1]]
    # P = 2: blocks 1+2, 2−1, −1+4 = 3, 1, 3 and −1−1, −1+2, 2+1 = −2, 1, 3
    # sorted −2, 1, 1, 3, 3, 3: median at position 2.5 -> (1 + 3)/2 = 2
    assert empirical_safety_stock(windows, 2, 0.5, min_samples=6) == (2.0, 6)
    assert empirical_safety_stock(windows, 2.4, 0.5, min_samples=6) == (2.0, 6)  # rounds to 2
    # 10% quantile at position 0.5 -> −0.5, floored at 0
    assert empirical_safety_stock(windows, 2, 0.1, min_samples=6) == (0.0, 6)
    # P = 3 (2.5 rounds half up): blocks 2, 5 and 0, 2 -> sorted 0, 2, 2, 5; 90% at 2.7 -> 4.1
    ss, n = empirical_safety_stock(windows, 2.5, 0.9, min_samples=4)
    assert (ss, n) == (pytest.approx(4.1), 4)
    assert empirical_safety_stock(windows, 2, 0.5, min_samples=7) is None  # too few samples
    assert empirical_safety_stock(windows, 5, 0.5, min_samples=1) is None  # P > window length


def test_error_blocks_of_weekly_errors_are_sums_over_days():
    from restock.planning.policy import error_blocks

    # weekly errors 7, 14 (1 and 2 a day): P = 14 days spans both weeks, P = 7 one week or
    # the second half of the first and the first of the second (3.5 + 7 = 10.5)
    weekly = [[7.0, 21.0]]
    assert error_blocks(weekly, 14, period_days=7.0).tolist() == [21.0]
    blocks = error_blocks(weekly, 7, period_days=7.0)
    assert blocks.size == 8 and blocks[0] == 7.0 and blocks[-1] == 14.0
    assert blocks[4] == pytest.approx(4 * 2 + 3 * 1)
    # the daily rule unchanged: a 2-step window is 2 days
    assert error_blocks(weekly, 14).size == 0


def test_settings_from_conf_and_bad_values():
    settings = _settings()
    assert settings.empirical_min_samples == 20  # conf/base.yaml
    assert settings.levels == (80, 95)
    bad = dict(load_conf("local", environ={})["policy"], type="weekly")
    with pytest.raises(ConfigError, match="policy.type"):
        PolicySettings.from_conf(bad)
    with pytest.raises(ConfigError, match="empirical_min_samples"):
        PolicySettings.from_conf({"type": "periodic"})


# ---- plan_batch --------------------------------------------------------------------------


def _settings(**changes) -> PolicySettings:
    conf = load_conf("local", environ={})
    settings = PolicySettings.from_conf(conf["policy"], levels=conf["forecast"]["levels"])
    return dataclasses.replace(settings, **changes)


def _row(**changes) -> dict:
    """The REQUIREMENTS example: d̄ 100, σ_d 20, L 4, CSL 0.95; R 0; IP 300 + 50 − 10 = 340."""
    row = dict(
        sku_id="S1", location_id="L1", model="AutoETS", lifecycle="active", abc_class=None,
        demand_class="smooth", yhat=np.full(14, 100.0), sigma_daily=20.0, demand_std_daily=None,
        cum_errors=None,
        lead_time_days=4.0, lead_time_std_days=0.0, review_period_days=0, unit_cost=10.0,
        order_cost=50.0, holding_rate=0.365, shortage_cost=5.0, moq=0.0, pack_size=0.0,
        service_level=0.95, on_hand=300.0, on_order=50.0, backorders=10.0, has_params=True,
        has_inventory=True,
    )
    return {**row, **changes}


def _plan(*rows: dict, **changes) -> pd.DataFrame:
    pdf = pd.DataFrame(list(rows), columns=[name for name, _ in PLAN_INPUT_FIELDS])
    return plan_batch(pdf, _settings(**changes))


NO_PARAMS = dict.fromkeys(
    ["lead_time_days", "lead_time_std_days", "review_period_days", "unit_cost", "order_cost",
     "holding_rate", "shortage_cost", "moq", "pack_size", "service_level"]
)


def test_periodic_requirements_example():
    got = _plan(_row()).iloc[0]
    assert got["status"] == "ok" and got["sigma_method"] == "intervals"
    assert got["protection_days"] == 4.0 and got["lead_time_demand"] == pytest.approx(400.0)
    assert got["safety_stock"] == pytest.approx(65.794, abs=1e-3)
    assert got["reorder_point"] == pytest.approx(465.794, abs=1e-3)
    assert got["order_up_to"] == pytest.approx(465.794, abs=1e-3)
    assert got["inventory_position"] == 340.0
    assert got["order_qty"] == pytest.approx(125.794, abs=1e-3)  # 465.794 − 340
    assert got["order_value"] == pytest.approx(1257.94, abs=1e-2)  # · unit cost 10
    # EOQ: D = 100·365 = 36500, h = 0.365·10 = 3.65 -> sqrt(2·36500·50/3.65) = 1000
    assert got["eoq"] == pytest.approx(1000.0)
    assert got["days_of_cover"] == pytest.approx(3.0)  # 300 on hand / 100 a day
    assert got["stockout_risk"]  # IP 340 < lead-time demand 400 (NA would raise)
    # periodic cycle Q = d̄·max(R, 1) = 100: holding 3.65·(50 + 65.794) = 422.649,
    # ordering 50·365 = 18250, shortage 5·(σ_P 40·G 0.020893)·365 = 1525.186
    assert got["holding_cost_annual"] == pytest.approx(422.649, abs=1e-3)
    assert got["ordering_cost_annual"] == pytest.approx(18250.0)
    assert got["shortage_cost_annual"] == pytest.approx(1525.186, abs=1e-2)
    assert got["total_cost_annual"] == pytest.approx(422.649 + 18250 + 1525.186, abs=1e-2)
    assert got["expected_fill_rate"] == pytest.approx(1 - 40 * G95 / 100, abs=1e-6)


def test_lead_time_variability_moq_and_pack():
    got = _plan(_row(lead_time_std_days=1.0, moq=700.0, pack_size=40.0)).iloc[0]
    assert got["safety_stock"] == pytest.approx(177.156, abs=1e-3)  # REQUIREMENTS, σ_L = 1
    assert got["order_qty_raw"] == pytest.approx(577.156 - 340, abs=1e-3)  # 237.156
    assert got["order_qty"] == 720.0  # MOQ 700, then 18 packs of 40
    got = _plan(_row(moq=100.0, pack_size=40.0)).iloc[0]
    assert got["order_qty"] == 160.0  # raw 125.794 ≥ MOQ 100 -> 4 packs of 40


def test_periodic_review_over_a_fractional_protection_interval():
    row = _row(yhat=np.array(RAMP), sigma_daily=5.0, lead_time_days=4.5, review_period_days=3,
               service_level=None, abc_class="A", on_hand=100.0, on_order=20.0, backorders=0.0)
    got = _plan(row).iloc[0]
    assert got["service_level"] == 0.98  # class A target
    assert got["protection_days"] == 7.5
    assert got["lead_time_demand"] == pytest.approx(125.0)  # 10+20+30+40 + 0.5·50
    assert got["protection_demand"] == pytest.approx(320.0)  # 10+…+70 = 280, + 0.5·80
    assert got["mean_daily_demand"] == pytest.approx(320 / 7.5)
    # SS(L+R) = 2.053749·5·sqrt(7.5) = 28.1221; SS(L) = 2.053749·5·sqrt(4.5) = 21.7833
    assert got["safety_stock"] == pytest.approx(28.1221, abs=1e-4)
    assert got["reorder_point"] == pytest.approx(125 + 21.7833, abs=1e-4)
    assert got["order_up_to"] == pytest.approx(348.1221, abs=1e-4)
    assert got["order_qty"] == pytest.approx(348.1221 - 120, abs=1e-4)
    assert not got["horizon_short"]


def test_continuous_review_orders_whole_eoq_lots():
    plans = _plan(_row(), _row(on_hand=500.0, on_order=0.0, backorders=0.0),
                  _row(on_hand=0.0, on_order=0.0, backorders=600.0),
                  _row(holding_rate=0.0), policy_type="continuous")
    # ROP 465.794, EOQ 1000 (see above)
    assert list(plans["order_qty"]) == pytest.approx([
        1000.0,  # IP 340 ≤ ROP: one lot lifts it to 1340
        0.0,  # IP 500 > ROP
        2000.0,  # IP −600: (465.794 + 600)/1000 = 1.07 -> 2 lots
        125.794,  # no EOQ (h = 0): order up to the ROP, 465.794 − 340
    ], abs=1e-3)
    got = plans.iloc[0]
    assert got["order_up_to"] == pytest.approx(465.794, abs=1e-3)  # protection interval = L
    # cycle Q = EOQ 1000: holding 3.65·(500 + 65.794) = 2065.149; ordering 50·36.5 = 1825;
    # shortage 5·40·0.020893·36.5 = 152.519; fill rate 1 − 40·0.020893/1000 = 0.999164
    assert got["holding_cost_annual"] == pytest.approx(2065.149, abs=1e-3)
    assert got["ordering_cost_annual"] == pytest.approx(1825.0)
    assert got["shortage_cost_annual"] == pytest.approx(152.519, abs=1e-3)
    assert got["expected_fill_rate"] == pytest.approx(0.999164, abs=1e-6)
    assert pd.isna(plans.iloc[3]["eoq"]) and pd.isna(plans.iloc[3]["ordering_cost_annual"])


# Daily errors (1, 0, 2, −1, 3, 0) and (0, 2, 2, 0, −2, 4), as cumulative windows.
WINDOWS = [np.array([1.0, 1, 3, 2, 5, 5]), np.array([0.0, 2, 4, 4, 2, 6])]
EMPIRICAL = dict(yhat=np.full(6, 10.0), sigma_daily=3.0, cum_errors=WINDOWS, lead_time_days=2.0,
                 review_period_days=1, service_level=0.7)


def test_safety_stock_method_empirical_normal_and_poisson():
    # P = 3: blocks 3, 1, 4, 2 and 4, 4, 0, 2 -> sorted 0,1,2,2,3,4,4,4; 70% at 4.9 -> 3.9
    # L = 2: blocks 1,2,1,2,3 and 2,4,2,−2,2 -> sorted −2,1,1,2,2,2,2,2,3,4; 70% at 6.3 -> 2
    emp = _plan(_row(**EMPIRICAL), empirical_min_samples=8).iloc[0]
    assert emp["sigma_method"] == "empirical"
    assert emp["safety_stock"] == pytest.approx(3.9)
    assert emp["reorder_point"] == pytest.approx(20 + 2.0)
    assert emp["order_up_to"] == pytest.approx(30 + 3.9)
    # auto with too few samples (8 < 20) falls back to intervals: 0.524401·3·sqrt(3) = 2.724865
    auto = _plan(_row(**EMPIRICAL)).iloc[0]
    assert auto["sigma_method"] == "intervals"
    assert auto["safety_stock"] == pytest.approx(2.724865, abs=1e-6)
    # "empirical" uses any sample; with σ_L 0.5: sqrt(3.9² + (0.524401·10·0.5)²) = 4.699457
    forced = _plan(_row(**EMPIRICAL, lead_time_std_days=0.5), safety_stock_method="empirical")
    assert forced.iloc[0]["safety_stock"] == pytest.approx(4.699457, abs=1e-6)
    # ROP: 20 + sqrt(2² + 2.622003²) = 20 + 3.297711
    assert forced.iloc[0]["reorder_point"] == pytest.approx(23.297711, abs=1e-6)
    # normal: σ_d = std of daily demand (6): 0.524401·6·sqrt(3) = 5.449730; no std: Poisson
    normal = _plan(_row(**EMPIRICAL, demand_std_daily=6.0), _row(**EMPIRICAL, sku_id="S2"),
                   safety_stock_method="normal", empirical_min_samples=1)
    assert list(normal["sigma_method"]) == ["normal", "poisson"]
    assert normal.iloc[0]["safety_stock"] == pytest.approx(5.449730, abs=1e-6)
    assert normal.iloc[0]["sigma_daily"] == 6.0
    # intervals: σ_d from the intervals even with a demand std present
    intervals = _plan(_row(**EMPIRICAL, demand_std_daily=6.0), safety_stock_method="intervals")
    assert intervals.iloc[0]["safety_stock"] == pytest.approx(2.724865, abs=1e-6)
    # no σ: Poisson σ_d = sqrt(16) = 4; SS = 1.644854·4·sqrt(4) = 13.158829
    poisson = _plan(_row(yhat=np.full(14, 16.0), sigma_daily=None)).iloc[0]
    assert poisson["sigma_method"] == "poisson" and poisson["sigma_daily"] == 4.0
    assert poisson["safety_stock"] == pytest.approx(13.158829, abs=1e-6)


def test_new_items_take_the_largest_safety_stock():
    # same inputs: empirical 3.9, intervals 2.724865, normal 5.449730 -> a new item takes normal
    rows = [_row(**EMPIRICAL, demand_std_daily=6.0, sku_id=sku, lifecycle=life)
            for sku, life in (("old", "active"), ("new", "new"))]
    plans = _plan(*rows, empirical_min_samples=8).set_index("sku_id")
    assert plans.loc["old", "sigma_method"] == "empirical"
    assert plans.loc["old", "safety_stock"] == pytest.approx(3.9)
    assert plans.loc["new", "sigma_method"] == "normal"
    assert plans.loc["new", "safety_stock"] == pytest.approx(5.449730, abs=1e-6)


def test_purchase_cost_is_reported_outside_the_total():
    got = _plan(_row()).iloc[0]
    assert got["purchase_cost_annual"] == pytest.approx(10.0 * 100 * 365)
    assert got["total_cost_annual"] == pytest.approx(
        got["holding_cost_annual"] + got["ordering_cost_annual"] + got["shortage_cost_annual"])


def test_statuses():
    plans = _plan(
        _row(sku_id="eol", lifecycle="end_of_life"),
        _row(sku_id="nofc", yhat=None),
        _row(sku_id="noparams", has_params=False, **NO_PARAMS),
        _row(sku_id="noinv", has_inventory=False, on_hand=None, on_order=None, backorders=None),
        _row(sku_id="failed", yhat=np.array([np.nan] * 3)),
    ).set_index("sku_id")
    assert list(plans["status"]) == [
        "end_of_life", "no_forecast", "no_item_params", "no_inventory", "no_forecast"
    ]
    assert list(plans["order_qty"]) == [0.0, 0.0, 0.0, pytest.approx(465.794, abs=1e-3), 0.0]
    assert plans.loc["eol", "excess_qty"] == 340.0 and plans.loc["eol", "overstock"]
    assert pd.isna(plans.loc["eol", "total_cost_annual"])
    assert pd.isna(plans.loc["nofc", "lead_time_demand"])
    assert pd.isna(plans.loc["nofc", "sigma_method"])
    assert plans.loc["noparams", "inventory_position"] == 340.0
    assert pd.isna(plans.loc["noparams", "reorder_point"])
    assert pd.isna(plans.loc["noparams", "holding_cost_annual"])
    assert plans.loc["noparams", "service_level"] == 0.9  # no class, no item level: class C
    assert plans.loc["noinv", "inventory_position"] == 0.0
    assert plans.loc["noinv", "total_cost_annual"] == pytest.approx(20197.835, abs=1e-3)


def test_service_level_choice():
    plans = _plan(_row(service_level=0.99, abc_class="C"), _row(service_level=None, abc_class="B"),
                  _row(service_level=1.0, abc_class="A"), _row(service_level=None, abc_class="X"))
    assert list(plans["service_level"]) == [0.99, 0.95, 0.98, 0.9]


def test_overstock_zero_demand_and_short_horizon():
    plans = _plan(
        _row(on_hand=13000.0, on_order=0.0, backorders=0.0),  # 130 days of cover > 120
        _row(yhat=np.zeros(14)),
        _row(yhat=np.array([1.0, 2, 3]), lead_time_days=4.0, review_period_days=1),
        _row(yhat=np.full(14, -5.0)),  # a negative forecast is no demand
    )
    assert plans.loc[0, "days_of_cover"] == pytest.approx(130.0)
    assert plans.loc[0, "excess_qty"] == pytest.approx(1000.0)  # 13000 − 120·100
    assert plans.loc[0, "overstock"] and plans.loc[0, "order_qty"] == 0.0
    assert pd.isna(plans.loc[1, "days_of_cover"])  # no demand: null, not inf or NaN
    assert plans.loc[1, "excess_qty"] == 340.0 and pd.isna(plans.loc[1, "expected_fill_rate"])
    # 5 days over a 3-day horizon: 1+2+3 + 2·mean(1,2,3) = 10
    assert plans.loc[2, "horizon_short"] and plans.loc[2, "protection_demand"] == 10.0
    assert plans.loc[3, "lead_time_demand"] == 0.0 and plans.loc[3, "excess_qty"] == 340.0


def test_output_schema_has_nulls_never_nan():
    plans = _plan(_row(), _row(yhat=None), _row(has_params=False, **NO_PARAMS),
                  _row(yhat=np.zeros(14), sigma_daily=None))
    assert list(plans.columns) == [name for name, _ in PLAN_FIELDS]
    for name, kind in PLAN_FIELDS:
        if kind == "double":
            values = plans[name].to_numpy(dtype=float, na_value=0.0)
            assert not np.isnan(values).any(), name
    assert (plans["order_qty"] >= 0).all()
    assert plan_batch(pd.DataFrame(columns=[n for n, _ in PLAN_INPUT_FIELDS]), _settings()).empty


def test_the_service_level_target_is_the_items_own_else_its_class_else_c():
    policy = PolicySettings.from_conf(load_conf("local", environ={})["policy"])
    own = [0.97, 1.0, None, np.nan, 0.0, None]
    abc = ["A", "A", "B", None, "C", "X"]
    np.testing.assert_allclose(policy.service_levels(own, abc),
                               [0.97, 0.98, 0.95, 0.90, 0.90, 0.90])


def test_fill_rate_target_by_the_loss_function_matches_the_requirements():
    # β 0.98, R 7, d̄ 100, σ_d 20, L 4: Q 700, σ_P 66.332, G(z) 0.21106, z 0.458, SS 30.38
    row = _row(review_period_days=7, service_level=0.98, on_hand=300.0, on_order=50.0,
               backorders=10.0)
    got = _plan(row, service_measure="fill_rate").iloc[0]
    sigma_p = 20.0 * np.sqrt(11.0)
    assert sigma_p == pytest.approx(66.332, abs=1e-3)
    assert loss_function_g(got["z"]) == pytest.approx(0.02 * 700 / sigma_p, abs=1e-9)
    assert 0.02 * 700 / sigma_p == pytest.approx(0.21106, abs=1e-5)
    assert got["z"] == pytest.approx(0.458, abs=1e-3)
    assert got["safety_stock"] == pytest.approx(30.38, abs=1e-2)
    assert got["order_up_to"] == pytest.approx(1130.38, abs=1e-2)
    # the same item under a 98% cycle service level holds far more
    cycle = _plan(row).iloc[0]
    assert cycle["safety_stock"] == pytest.approx(2.053749 * sigma_p, abs=1e-3)


def test_fill_rate_targets_come_from_their_own_class_map():
    settings = _settings(service_measure="fill_rate", fill_rate_by_abc={"A": 0.99, "C": 0.9})
    assert list(settings.service_levels([None, None, 0.97], ["A", "B", "A"])) == [0.99, 0.9, 0.97]
    conf = load_conf("local", environ={})
    bad = {**conf["policy"], "service_measure": "type3"}
    with pytest.raises(ConfigError, match="service_measure"):
        PolicySettings.from_conf(bad)


def test_rounding_overshoot_of_packs_is_uniform_and_the_target_still_holds():
    from scipy.stats import norm

    from restock.planning.service import normal_safety_stock, overshoot

    # review demand 1000 ± 30 in packs of 50: the overshoot is uniform on [0, 50)
    excess = overshoot(np.array([1000.0, 1000.0]), np.array([30.0, 30.0]),
                       np.array([0.0, 0.0]), np.array([50.0, 0.0]))
    assert excess[0].mean() == pytest.approx(25.0, abs=2.5)
    assert excess[0].min() >= 0 and excess[0].max() < 50
    assert (excess[1] == 0).all()  # no MOQ, no pack: no overshoot
    # a 95% target on N(0, 40): 65.79 without rounding; with it, mean Φ((SS + E)/σ) = 0.95
    sigma = np.array([40.0, 40.0])
    ss = normal_safety_stock(sigma, excess, "cycle", np.array([0.95, 0.95]), np.zeros(2))
    assert ss[1] == pytest.approx(1.6448536 * 40, abs=1e-5)
    assert ss[0] < ss[1] - 15
    assert norm.cdf((ss[0] + excess[0]) / 40.0).mean() == pytest.approx(0.95, abs=1e-9)


def test_a_large_moq_lowers_the_order_up_to_level_of_a_periodic_plan():
    row = _row(review_period_days=7, moq=2000.0, pack_size=0.0)
    aware, plain = _plan(row).iloc[0], _plan(row, rounding_aware=False).iloc[0]
    assert plain["safety_stock"] == pytest.approx(1.644854 * 20 * np.sqrt(11), abs=1e-3)
    # orders of 2000 against 700 a week: the position after a review sits anywhere in
    # [S, S + 1300]; little or no safety stock is needed on top
    assert aware["order_up_to"] < plain["order_up_to"] - 50
    assert aware["order_qty"] == 2000.0 and aware["z"] < plain["z"]
