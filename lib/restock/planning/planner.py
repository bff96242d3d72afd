"""The per-series planner: one input row per series in, one plan row out (pandas only).

`plan.build_plan` runs it (through `bounds.checked_plan`) inside Spark `mapInPandas`;
the formulas live in `policy`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from restock.planning.policy import (
    PolicySettings,
    demand_over,
    empirical_safety_stock,
    eoq,
    error_blocks,
    expected_fill_rate,
    loss_function_g,
    order_quantity,
    round_order,
    safety_stock_normal,
    z_score,
)
from restock.planning.service import (
    OVERSHOOT_POINTS,
    empirical_safety_stock_for,
    normal_safety_stock,
    overshoot,
)


def _fields(ddl: str) -> tuple[tuple[str, str], ...]:
    """(name, type) pairs of a flat DDL schema (types hold no commas)."""
    return tuple(tuple(f.strip().split(" ", 1)) for f in ddl.split(","))  # type: ignore[misc]


PLAN_INPUT_SCHEMA = (
    "sku_id string, location_id string, model string, lifecycle string, abc_class string, "
    "demand_class string, yhat array<double>, sigma_daily double, demand_std_daily double, "
    "cum_errors array<array<double>>, lead_time_days double, lead_time_std_days double, "
    "review_period_days int, unit_cost double, order_cost double, holding_rate double, "
    "shortage_cost double, moq double, pack_size double, service_level double, "
    "on_hand double, on_order double, backorders double, has_params boolean, "
    "has_inventory boolean"
)
PLAN_INPUT_FIELDS = _fields(PLAN_INPUT_SCHEMA)

PLAN_SCHEMA = (
    "sku_id string, location_id string, model string, status string, lifecycle string, "
    "abc_class string, demand_class string, policy_type string, service_level double, "
    "z double, lead_time_days double, review_period_days int, protection_days double, "
    "mean_daily_demand double, sigma_daily double, sigma_method string, "
    "lead_time_demand double, protection_demand double, safety_stock double, "
    "reorder_point double, order_up_to double, eoq double, on_hand double, on_order double, "
    "backorders double, inventory_position double, order_qty_raw double, order_qty double, "
    "order_value double, days_of_cover double, stockout_risk boolean, overstock boolean, "
    "excess_qty double, expected_fill_rate double, holding_cost_annual double, "
    "ordering_cost_annual double, shortage_cost_annual double, total_cost_annual double, "
    "purchase_cost_annual double, horizon_short boolean"
)
PLAN_FIELDS = _fields(PLAN_SCHEMA)
_ORDERING = ("ok", "no_inventory")
_CHAINS = {  # safety-stock method → the methods tried, in order (poisson always works)
    "auto": ("empirical", "intervals", "normal", "poisson"),
    "empirical": ("empirical", "intervals", "normal", "poisson"),
    "intervals": ("intervals", "normal", "poisson"),
    "normal": ("normal", "poisson"),
}  # statuses whose rows get an order and a cost estimate
_PANDAS_TYPES = {"double": "Float64", "int": "Int32", "boolean": "boolean"}


def plan_batch(pdf: pd.DataFrame, settings: PolicySettings) -> pd.DataFrame:
    """Plan a batch of series: one input row per series (PLAN_INPUT_SCHEMA) in, one plan out.

    Status: `end_of_life` (no order; excess = max(0, IP)), else `no_item_params` (no
    order, no costs), else `no_forecast` (no order), else `no_inventory` (planned with
    on hand, on order and backorders 0), else `ok`. Service level: the item's (when
    strictly between 0 and 1), else the ABC class target, else class C's.

    Periodic (R, S): protection P = L + R, order `max(0, S − IP)`. Continuous (s, nQ):
    P = L; when IP ≤ ROP order the smallest multiple of the EOQ that lifts IP above the
    ROP (up to the ROP when the EOQ is undefined). Then MOQ and pack rounding.

    Safety stock by the configured method with fallbacks (see `_safety_stock`); new items
    take the largest. `safety_stock` covers P; the ROP uses the safety stock over L.

    Annual cost model (ordering statuses only), Q the quantity per replenishment cycle:
    EOQ (continuous) or d̄·max(R, 1) (periodic: one order per review), D = d̄·days per
    year, h = holding rate·unit cost, σ_P the protection-interval σ (SS/z when empirical):
    holding `h·max(0, Q/2 + SS)`, ordering `K·D/Q`, shortage `p·σ_P·G(z)·D/Q`; expected
    fill rate `1 − σ_P·G(z)/Q`. Purchase cost `c·D` is reported apart, outside the total
    (it does not depend on the policy).

    Negative forecasts count as 0. Missing values are nulls (pandas NA), never NaN.
    """
    v: dict[str, Any] = {c: _text(pdf[c]) for c in ("sku_id", "location_id", "model",
                                                   "lifecycle", "abc_class", "demand_class")}
    matrix = _forecast_matrix(pdf["yhat"])
    v["status"] = _status(pdf, v["lifecycle"], np.isfinite(matrix).any(axis=1))
    v["policy_type"] = np.full(len(pdf), settings.policy_type, dtype=object)
    _targets(pdf, v, settings)
    _inventory(pdf, v)
    _demand(matrix, v)
    _lot(pdf, v, settings)
    _safety_stock(pdf, v, settings)
    _meet_target(pdf, v, settings)
    _orders(pdf, v, settings)
    _alerts(v, settings)
    _costs(pdf, v, settings)
    return pd.DataFrame(
        {name: _column(v[name], kind) for name, kind in PLAN_FIELDS}, index=range(len(pdf))
    )


def _missing(value: Any) -> bool:
    """Whether a cell is null (None, NaN or NA) rather than a value or a list."""
    return value is None or (np.ndim(value) == 0 and bool(pd.isna(value)))


def _text(series: pd.Series) -> np.ndarray:
    """A string column as an object array with None for nulls."""
    return np.array([None if _missing(x) else str(x) for x in series], dtype=object)


def _num(series: pd.Series, fill: float = np.nan) -> np.ndarray:
    """A numeric column as float64, nulls replaced by `fill`."""
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return np.where(np.isnan(values), fill, values)


def _flag(series: pd.Series) -> np.ndarray:
    """A boolean column with nulls as False."""
    return np.array([False if _missing(x) else bool(x) for x in series], dtype=bool)


def _maybe(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Booleans with None where not valid."""
    return np.where(valid, np.asarray(values, dtype=bool), None)


def _column(values: Any, kind: str) -> Any:
    """One output column in a nullable pandas dtype (NaN becomes NA)."""
    if kind in _PANDAS_TYPES and kind != "boolean":
        return pd.array(np.asarray(values, dtype=float), dtype=_PANDAS_TYPES[kind])
    return pd.array(np.asarray(values, dtype=object), dtype=_PANDAS_TYPES.get(kind, object))


def _forecast_matrix(yhat: pd.Series) -> np.ndarray:
    """Forecasts as a NaN-padded matrix, negative forecasts as 0; rows with no, empty or
    non-finite forecasts all NaN."""
    rows = [np.empty(0) if _missing(x) else np.asarray(x, dtype=float) for x in yhat]
    matrix = np.full((len(rows), max((r.size for r in rows), default=0)), np.nan)
    for i, row in enumerate(rows):
        if row.size and np.isfinite(row).all():
            matrix[i, : row.size] = np.maximum(row, 0.0)
    return matrix


def _status(pdf: pd.DataFrame, lifecycle: np.ndarray, has_forecast: np.ndarray) -> np.ndarray:
    """Plan status per row, first match wins."""
    conditions = [
        lifecycle == "end_of_life",
        ~_flag(pdf["has_params"]),
        ~has_forecast,
        ~_flag(pdf["has_inventory"]),
    ]
    names = ["end_of_life", "no_item_params", "no_forecast", "no_inventory"]
    return np.select(conditions, names, "ok").astype(object)


def _targets(pdf: pd.DataFrame, v: dict[str, Any], settings: PolicySettings) -> None:
    """Service level, z, lead time, review period and protection interval."""
    v["service_level"] = settings.service_levels(_num(pdf["service_level"]), pdf["abc_class"])
    v["z"] = z_score(v["service_level"])
    v["lead_time_days"] = _num(pdf["lead_time_days"])
    v["review_period_days"] = _num(pdf["review_period_days"])
    review = np.nan_to_num(v["review_period_days"])
    periodic = settings.policy_type == "periodic"
    v["protection_days"] = v["lead_time_days"] + (review if periodic else 0.0)
    v["review_days"] = review


def _inventory(pdf: pd.DataFrame, v: dict[str, Any]) -> None:
    """On hand, on order and backorders (null counts as 0) and the inventory position."""
    for name in ("on_hand", "on_order", "backorders"):
        v[name] = _num(pdf[name], fill=0.0)
    v["inventory_position"] = v["on_hand"] + v["on_order"] - v["backorders"]


def _demand(matrix: np.ndarray, v: dict[str, Any]) -> None:
    """Forecast demand over L and P, the mean daily demand over P, and the horizon check."""
    protection = v["protection_days"]
    mean_days = np.maximum(protection, 1.0)
    v["lead_time_demand"] = demand_over(matrix, v["lead_time_days"])
    v["protection_demand"] = demand_over(matrix, protection)
    v["mean_daily_demand"] = demand_over(matrix, mean_days) / mean_days
    planned = np.isfinite(v["protection_demand"])
    v["horizon_short"] = _maybe(protection > np.isfinite(matrix).sum(axis=1), planned)


def _safety_stock(pdf: pd.DataFrame, v: dict[str, Any], settings: PolicySettings) -> None:
    """Safety stock over L and over P, the σ_d used and its method, and σ over P.

    Methods, each `z·sqrt(days·σ_d² + d̄²·σ_L²)` unless empirical:
    - `normal`: σ_d = std of daily demand over the trailing window (`demand_std_daily`);
    - `intervals`: σ_d from the forecast's widest interval at step 1 (`sigma_daily` in);
    - `empirical`: `sqrt(SS_emp² + (z·d̄·σ_L)²)`, SS_emp the CSL quantile of pooled
      backtest errors over the days (`auto` needs `empirical_min_samples` samples);
    - `poisson`: σ_d = sqrt(d̄), the last resort.
    A row without its method's input falls back along empirical → intervals → normal →
    poisson (`auto` starts at empirical). New items take the largest safety stock of
    every method available to them (the conservative choice for short histories).
    """
    z, mean, lead, protection = (
        v[k] for k in ("z", "mean_daily_demand", "lead_time_days", "protection_days")
    )
    lead_std = _num(pdf["lead_time_std_days"], fill=0.0)
    found: dict[str, tuple[np.ndarray, ...]] = {}  # method -> (usable, SS_L, SS_P, σ_d, σ_P)
    sigmas = {"normal": _num(pdf["demand_std_daily"]), "intervals": _num(pdf["sigma_daily"]),
              "poisson": np.sqrt(np.maximum(mean, 0.0))}
    for name, sigma in sigmas.items():
        usable = (sigma >= 0) & np.isfinite(sigma)
        found[name] = (
            usable, safety_stock_normal(z, sigma, lead, mean, lead_std),
            safety_stock_normal(z, sigma, protection, mean, lead_std), sigma,
            safety_stock_normal(1.0, sigma, protection, mean, lead_std),
        )
    least = settings.empirical_min_samples if settings.safety_stock_method == "auto" else 1
    ss_lead, ss_protection = _empirical(pdf["cum_errors"], v, least, settings.period_days)
    term = z * mean * lead_std
    with np.errstate(divide="ignore", invalid="ignore"):
        equivalent = np.where(z > 0, np.hypot(ss_protection, term) / z, np.nan)
    found["empirical"] = (
        np.isfinite(ss_lead) & np.isfinite(ss_protection), np.hypot(ss_lead, term),
        np.hypot(ss_protection, term), np.full(len(pdf), np.nan), equivalent,
    )
    chain = _CHAINS[settings.safety_stock_method]
    usable = [found[m][0] for m in chain]
    method = np.select(usable, chain, "poisson").astype(object)
    new = np.asarray(v["lifecycle"] == "new", dtype=bool)
    if new.any():  # the method with the largest SS over P among those usable
        every = _CHAINS["auto"]
        ss_p = np.column_stack([np.where(found[m][0], found[m][2], -np.inf) for m in every])
        widest = np.asarray(every, dtype=object)[np.argmax(ss_p, axis=1)]
        method = np.where(new, widest, method)
    for out, position in (("ss_lead", 1), ("safety_stock", 2), ("sigma_daily", 3),
                          ("sigma_protection", 4)):
        v[out] = np.select([method == m for m in found], [found[m][position] for m in found],
                           np.nan)
    v["sigma_method"] = np.where(np.isfinite(v["protection_demand"]), method, None)


def _empirical(cum_errors: pd.Series, v: dict[str, Any], least: int,
               period_days: float) -> tuple[np.ndarray, ...]:
    """Empirical safety stock over L and over P per row (NaN where not available); the
    errors' steps are periods of `period_days` days (`policy.error_blocks`)."""
    found = np.full((2, len(cum_errors)), np.nan)
    for i, windows in enumerate(cum_errors):
        if _missing(windows) or not np.isfinite(v["protection_demand"][i]):
            continue
        for row, days in enumerate((v["lead_time_days"][i], v["protection_days"][i])):
            result = empirical_safety_stock(windows, days, v["service_level"][i], least,
                                            period_days)
            if result is not None:
                found[row, i] = result[0]
    return found[0], found[1]


def _lot(pdf: pd.DataFrame, v: dict[str, Any], settings: PolicySettings) -> None:
    """Holding cost per unit and year, annual demand, EOQ, and the quantity per cycle Q
    (the EOQ under continuous review, d̄·max(R, 1) under periodic: one order per review)."""
    v["holding_cost_unit_year"] = _num(pdf["holding_rate"]) * _num(pdf["unit_cost"])
    v["annual_demand"] = v["mean_daily_demand"] * settings.days_per_year
    v["eoq"] = eoq(v["annual_demand"], _num(pdf["order_cost"]), v["holding_cost_unit_year"])
    periodic = settings.policy_type == "periodic"
    v["cycle_qty"] = (v["mean_daily_demand"] * np.maximum(v["review_days"], 1.0) if periodic
                      else v["eoq"])


def _meet_target(pdf: pd.DataFrame, v: dict[str, Any], settings: PolicySettings) -> None:
    """Safety stock that meets the target after rounding, or for a fill-rate target.

    Periodic review with a review period and an MOQ or pack (`rounding_aware`): the
    overshoot E of the rounded orders (`service.overshoot`) counts as stock the target
    needs no safety stock for. Fill rate: the expected shortage per cycle equals
    `(1 − β)·Q`. The empirical method works on its error samples, the others on
    N(0, σ_P); the lead-time variability term of the empirical method is added back, the
    ROP's safety stock scaled alike, and z becomes the effective `SS / σ_P`.
    """
    moq, pack = _num(pdf["moq"], fill=0.0), _num(pdf["pack_size"], fill=0.0)
    rounds = (settings.rounding_aware & (settings.policy_type == "periodic")
              & (v["review_days"] >= 1) & ((moq > 0) | (pack > 0)))
    todo = np.isfinite(v["safety_stock"]) & np.isfinite(v["sigma_protection"]) & (
        rounds | (settings.service_measure == "fill_rate"))
    rows = np.flatnonzero(todo)
    if not rows.size:
        return
    sigma_p, mean = v["sigma_protection"][rows], v["mean_daily_demand"][rows]
    review = np.maximum(v["review_days"][rows], 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        review_std = sigma_p * np.sqrt(review / np.maximum(v["protection_days"][rows], 1e-9))
    excess = np.zeros((rows.size, OVERSHOOT_POINTS))
    both = rounds[rows]
    if both.any():
        excess[both] = overshoot((mean * review)[both], review_std[both], moq[rows][both],
                                 pack[rows][both])
    measure, target, qty = settings.service_measure, v["service_level"][rows], v["cycle_qty"][rows]
    found = normal_safety_stock(sigma_p, excess, measure, target, qty)
    lead_std = _num(pdf["lead_time_std_days"], fill=0.0)
    for k, i in enumerate(rows):
        if v["sigma_method"][i] == "empirical":
            samples = error_blocks(pdf["cum_errors"].iloc[i], v["protection_days"][i],
                                   settings.period_days)
            own = empirical_safety_stock_for(samples, excess[k], measure, target[k], qty[k])
            term = v["z"][i] * mean[k] * lead_std[i]
            found[k] = own + np.hypot(max(own, 0.0), term) - max(own, 0.0)
    # the rounding credit never takes S below the lead-time demand: an order-up-to level
    # under it (an MOQ far above the review's demand gave S < 0) would never trigger an
    # order again under lost sales, whatever the average excess says
    floor = v["lead_time_demand"][rows] - v["protection_demand"][rows]
    found = np.where(rounds[rows] & np.isfinite(floor), np.maximum(found, floor), found)
    old = v["safety_stock"][rows]
    with np.errstate(divide="ignore", invalid="ignore"):
        v["ss_lead"][rows] = np.where(old > 0, v["ss_lead"][rows] * found / old, found)
        v["z"][rows] = np.where(sigma_p > 0, found / sigma_p, v["z"][rows])
    v["safety_stock"][rows] = found


def _orders(pdf: pd.DataFrame, v: dict[str, Any], settings: PolicySettings) -> None:
    """Reorder point, order-up-to level, and the raw and rounded order quantity."""
    v["reorder_point"] = v["lead_time_demand"] + v["ss_lead"]
    v["order_up_to"] = v["protection_demand"] + v["safety_stock"]
    raw = order_quantity(settings.policy_type == "periodic", v["inventory_position"],
                         v["order_up_to"], v["reorder_point"], v["eoq"])
    ordering = np.isin(v["status"], _ORDERING)
    v["order_qty_raw"] = np.where(ordering, raw, 0.0)
    v["order_qty"] = round_order(v["order_qty_raw"], _num(pdf["moq"]), _num(pdf["pack_size"]))
    v["order_value"] = np.where(v["order_qty"] > 0, v["order_qty"] * _num(pdf["unit_cost"]), 0.0)


def _alerts(v: dict[str, Any], settings: PolicySettings) -> None:
    """Days of cover, stockout risk, excess quantity and the overstock flag."""
    mean, position = v["mean_daily_demand"], v["inventory_position"]
    with np.errstate(divide="ignore", invalid="ignore"):
        v["days_of_cover"] = np.where(mean > 0, v["on_hand"] / mean, np.nan)
    lead_demand = v["lead_time_demand"]
    v["stockout_risk"] = _maybe(position - lead_demand < 0, np.isfinite(lead_demand))
    cover = position - settings.overstock_days_of_cover * mean
    eol = v["status"] == "end_of_life"
    v["excess_qty"] = np.maximum(0.0, np.where(eol, position, cover))
    v["overstock"] = _maybe(v["excess_qty"] > 0, np.isfinite(v["excess_qty"]))


def _costs(pdf: pd.DataFrame, v: dict[str, Any], settings: PolicySettings) -> None:
    """Expected fill rate; annual holding, ordering and shortage cost, their total, and the
    purchase cost of the annual demand (reported apart: no policy changes it)."""
    z, cycle_qty = v["z"], v["cycle_qty"]
    annual = v["annual_demand"]
    with np.errstate(divide="ignore", invalid="ignore"):
        cycles = np.where(annual > 0, annual / cycle_qty, np.where(annual == 0, 0.0, np.nan))
    shortage_per_cycle = v["sigma_protection"] * loss_function_g(z)
    costs = {
        "holding_cost_annual": v["holding_cost_unit_year"]
        * np.maximum(0.0, cycle_qty / 2.0 + v["safety_stock"]),
        "ordering_cost_annual": _num(pdf["order_cost"]) * cycles,
        "shortage_cost_annual": _num(pdf["shortage_cost"]) * shortage_per_cycle * cycles,
    }
    costs["total_cost_annual"] = sum(costs.values())
    costs["purchase_cost_annual"] = _num(pdf["unit_cost"]) * annual
    costs["expected_fill_rate"] = expected_fill_rate(v["sigma_protection"], z, cycle_qty)
    ordering = np.isin(v["status"], _ORDERING)
    for name, values in costs.items():
        v[name] = np.where(ordering, values, np.nan)
