"""What a plan may say: plausibility bounds, series without inventory, and the reason of
every status (conf `plan`).

`checked_plan` wraps the planner kernel (`planner.plan_batch`): numpy overflow on absurd
inputs is judged here rather than warned about, and a series the plan cannot use is never
written with status `ok`:

- a planned figure (forecast demand, safety stock, reorder point, order-up-to level,
  order) that is NaN or infinite, any figure that is infinite, or a quantity above
  `plan.max_quantity` marks the series `implausible`: no order, infinite figures nulled;
- a series without an inventory row (`no_inventory`) orders nothing under
  `plan.missing_inventory: skip` (the default), or is planned as if it held no stock under
  `zero`;
- `status_reason` says why a series has its status.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from restock.errors import ConfigError
from restock.io.config import with_defaults
from restock.planning.planner import PLAN_FIELDS, PLAN_SCHEMA, plan_batch
from restock.planning.policy import PolicySettings

CHECKED_PLAN_SCHEMA = PLAN_SCHEMA + ", status_reason string"
MISSING_INVENTORY = ("skip", "zero")
# figures an ordering series must have, finite, for its order to mean anything
REQUIRED = ("lead_time_demand", "protection_demand", "mean_daily_demand", "safety_stock",
            "reorder_point", "order_up_to", "inventory_position", "order_qty_raw", "order_qty",
            "order_value")
QUANTITIES = ("protection_demand", "safety_stock", "order_up_to", "order_qty")
# item_params days beyond ten years are a unit mix-up (hours, a date), never a lead time
MAX_PLAN_DAYS = 3660
DAY_INPUTS = ("lead_time_days", "review_period_days")
_DOUBLES = tuple(name for name, kind in PLAN_FIELDS if kind == "double")
_NO_ORDER = ("order_qty_raw", "order_qty", "order_value")
_COSTS = ("expected_fill_rate", "holding_cost_annual", "ordering_cost_annual",
          "shortage_cost_annual", "total_cost_annual", "purchase_cost_annual")
_REASONS = {
    "end_of_life": "lifecycle end_of_life: no order",
    "no_item_params": "no item_params row: no order",
    "no_forecast": "no usable forecast: no order",
}


@dataclass(frozen=True)
class PlanSettings:
    """Conf `plan`: the rule for series without inventory and the largest plausible quantity."""

    missing_inventory: str
    max_quantity: float

    @classmethod
    def from_conf(cls, conf: Mapping[str, Any]) -> PlanSettings:
        """Read and check conf `plan`."""
        plan = with_defaults(conf, "plan")
        rule = str(plan["missing_inventory"])
        if rule not in MISSING_INVENTORY:
            raise ConfigError(f"plan.missing_inventory must be one of {MISSING_INVENTORY}, "
                              f"got '{rule}'")
        bound = float(plan["max_quantity"])
        if not (np.isfinite(bound) and bound > 0):
            raise ConfigError(f"plan.max_quantity must be a positive number, got {bound}")
        return cls(rule, bound)

    def ordering(self) -> tuple[str, ...]:
        """Statuses whose series get an order."""
        return ("ok", "no_inventory") if self.missing_inventory == "zero" else ("ok",)


def checked_plan(pdf: pd.DataFrame, policy: PolicySettings, plan: PlanSettings) -> pd.DataFrame:
    """`plan_batch` with the missing-inventory rule, the bounds and `status_reason` applied.

    Returns:
        CHECKED_PLAN_SCHEMA rows: no row with status `ok` (or an order) holds an infinite
        or NaN planned figure or a quantity above `plan.max_quantity`.
    """
    pdf, bad_days = _days_in_range(pdf)
    with np.errstate(over="ignore", invalid="ignore"):  # judged below, never warned
        out = plan_batch(pdf, policy)
    status = out["status"].to_numpy(dtype=object)
    reason = np.array([_REASONS.get(s) for s in status], dtype=object)
    inventory = status == "no_inventory"
    reason[inventory] = (
        "no inventory row: planned with no stock (plan.missing_inventory: zero)"
        if plan.missing_inventory == "zero"
        else "no inventory row: no order (plan.missing_inventory: skip)"
    )
    bad = _implausible(out, np.isin(status, plan.ordering()), plan.max_quantity)
    bad = [days or figures for days, figures in zip(bad_days, bad, strict=True)]
    found = np.array([b is not None for b in bad])
    status = np.where(found, "implausible", status)
    reason = np.where(found, bad, reason)
    silent = ~np.isin(status, plan.ordering())
    out = _cleared(out, silent, found)
    out["status"] = pd.array(status, dtype=object)
    out["status_reason"] = pd.array(reason, dtype=object)
    return out


def checked_batches(
    batches: Iterable[pd.DataFrame], policy: PolicySettings, plan: PlanSettings
) -> Iterator[pd.DataFrame]:
    """`mapInPandas` adapter of `checked_plan`."""
    for pdf in batches:
        yield checked_plan(pdf, policy, plan)


def _days_in_range(pdf: pd.DataFrame) -> tuple[pd.DataFrame, list[str | None]]:
    """Lead times and review periods above MAX_PLAN_DAYS blanked (the kernel counts days
    in integers), with the reason per row."""
    reasons: list[str | None] = [None] * len(pdf)
    pdf = pdf.copy()
    for name in DAY_INPUTS:
        days = pd.to_numeric(pdf[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        over = np.abs(days) > MAX_PLAN_DAYS
        for i in np.flatnonzero(over):
            reasons[i] = reasons[i] or f"implausible: {name} above {MAX_PLAN_DAYS} days"
        if over.any():
            pdf[name] = pdf[name].astype(object).where(~over, None)
    return pdf, reasons


def _implausible(out: pd.DataFrame, ordering: np.ndarray, bound: float) -> list[str | None]:
    """Per row the first reason its figures cannot be used, else None."""
    reasons: list[str | None] = [None] * len(out)
    checks = [(name, ordering & ~np.isfinite(_values(out, name)), "is not finite")
              for name in REQUIRED]
    checks += [(name, np.isinf(_values(out, name)), "is infinite") for name in _DOUBLES]
    checks += [(name, ordering & (_values(out, name) > bound), f"above plan.max_quantity {bound:g}")
               for name in QUANTITIES]
    for name, hit, what in checks:
        for i in np.flatnonzero(hit):
            reasons[i] = reasons[i] or f"implausible: {name} {what}"
    return reasons


def _cleared(out: pd.DataFrame, silent: np.ndarray, implausible: np.ndarray) -> pd.DataFrame:
    """No order and no cost for series that do not order; no infinite figure anywhere."""
    out = out.copy()
    for name in _DOUBLES:
        values = _values(out, name)
        if name in _NO_ORDER:
            values = np.where(silent, 0.0, values)
        elif name in _COSTS:
            values = np.where(silent, np.nan, values)
        values = np.where(np.isinf(values) | (implausible & ~np.isfinite(values)), np.nan, values)
        out[name] = pd.array(values, dtype="Float64")
    return out


def _values(out: pd.DataFrame, name: str) -> np.ndarray:
    """A Float64 plan column as float64 with NaN for nulls."""
    return out[name].to_numpy(dtype=float, na_value=np.nan)


def counts_line(by_status: Mapping[str, int], plan: PlanSettings) -> str:
    """One line: series planned (with an order computed) and not, by status."""
    planned = {s: n for s, n in by_status.items() if s in plan.ordering()}
    skipped = {s: n for s, n in sorted(by_status.items()) if s not in plan.ordering() and n}
    line = f"plan: {sum(planned.values())} series planned"
    if planned.get("no_inventory"):
        line += f" ({planned['no_inventory']} without inventory, as if they held no stock)"
    if skipped:
        line += f"; {sum(skipped.values())} without an order: " + ", ".join(
            f"{s} {n}" for s, n in skipped.items())
    return line
