"""Inventory replay: one series, day by day, under given order rules (numpy only).

`replay` is the mechanics of the simulator and knows nothing about forecasts: the caller
gives, per day, the order-up-to level (periodic review) or the reorder point and lot
(continuous review), and the lead time an order placed that day would take.

A day runs in this order:
1. receipts due today are put away;
2. the policy looks at the inventory position IP = on hand + on order − backorders and
   may order; an order with lead time 0 arrives at once;
3. with backorders, stock first fills the backlog;
4. the day's demand is served from stock; what cannot be served is lost or backordered;
5. the end-of-day on-hand stock is recorded (holding cost is charged on it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from restock.planning.policy import round_order


@dataclass(frozen=True)
class Rules:
    """Order rules per day of the replay (arrays of the replay's length).

    Periodic review (R, S): `order_up_to` holds S on review days and NaN on the others;
    on a review day the order is `max(0, S − IP)`. Continuous review (s, nQ): when
    `order_up_to` is None, every day with IP ≤ `reorder_point` orders the smallest
    multiple of `lot` that lifts IP above the reorder point (just up to it when the lot is
    not positive). Either way the quantity is then raised to the MOQ and rounded up to
    whole packs.
    """

    order_up_to: np.ndarray | None
    reorder_point: np.ndarray | None = None
    lot: np.ndarray | None = None
    moq: float = 0.0
    pack_size: float = 0.0


@dataclass(frozen=True)
class Trace:
    """What happened each day, plus the orders placed (day placed, day due, quantity)."""

    on_hand: np.ndarray  # end of day, after demand
    served: np.ndarray  # demand met from stock on the day it occurred
    short: np.ndarray  # demand not met that day (lost, or added to the backlog)
    order_days: np.ndarray
    due_days: np.ndarray
    order_qty: np.ndarray


def replay(
    demand: np.ndarray,
    lead_days: np.ndarray,
    rules: Rules,
    start_on_hand: float,
    backorder: bool = False,
) -> Trace:
    """Replay the order rules against daily demand.

    Args:
        demand: the day's demand, one value per day (negative counts as 0).
        lead_days: whole days an order placed that day takes to arrive (0 = same day).
        rules: the order rules.
        start_on_hand: stock on hand before the first day, nothing on order.
        backorder: unmet demand waits for the next receipts (else it is lost).
    """
    days = len(demand)
    demand = np.maximum(np.asarray(demand, dtype=float), 0.0)
    on_hand_end, served, short = np.zeros(days), np.zeros(days), np.zeros(days)
    due = np.zeros(days + int(np.max(lead_days, initial=0)) + 1)
    placed: list[tuple[int, int, float]] = []
    on_hand, on_order, backlog = float(start_on_hand), 0.0, 0.0
    for t in range(days):
        on_hand, on_order = on_hand + due[t], on_order - due[t]
        qty = _order(rules, t, on_hand + on_order - backlog)
        if qty > 0:
            arrival = t + int(lead_days[t])
            placed.append((t, arrival, qty))
            if arrival == t:
                on_hand += qty
            else:
                due[arrival] += qty
                on_order += qty
        if backlog > 0:
            filled = min(backlog, on_hand)
            backlog, on_hand = backlog - filled, on_hand - filled
        served[t] = min(demand[t], on_hand)
        short[t] = demand[t] - served[t]
        on_hand -= served[t]
        if backorder:
            backlog += short[t]
        on_hand_end[t] = on_hand
    orders = np.array(placed, dtype=float).reshape(-1, 3)
    return Trace(on_hand_end, served, short, orders[:, 0].astype(int), orders[:, 1].astype(int),
                orders[:, 2])


def _order(rules: Rules, t: int, position: float) -> float:
    """The rounded order quantity of day t at inventory position `position`."""
    if rules.order_up_to is not None:
        target = rules.order_up_to[t]
        raw = max(0.0, target - position) if np.isfinite(target) else 0.0
    else:
        rop, lot = rules.reorder_point[t], rules.lot[t]
        if not np.isfinite(rop) or position > rop:
            return 0.0
        gap = rop - position
        raw = (np.floor(gap / lot) + 1.0) * lot if np.isfinite(lot) and lot > 0 else gap
    return float(round_order(raw, rules.moq, rules.pack_size)) if raw > 0 else 0.0


def cycle_windows(
    path: Trace, review_days: np.ndarray | None, lead_days: int, review_period: int, days: int
) -> tuple[int, int]:
    """Replenishment cycles that fit in the replay, and those with no stockout day.

    Periodic review: the order placed at review k covers the days from its nominal
    arrival (review day + L) to the next arrival (+ R). Continuous review: a cycle runs
    from one order's arrival to the next's. A cycle counts only when it ends inside the
    replay.
    """
    if review_days is not None:
        starts = np.asarray(review_days, dtype=int) + lead_days
        ends = starts + review_period
    else:
        arrivals = np.sort(path.due_days)
        starts, ends = arrivals[:-1], arrivals[1:]
    keep = (ends <= days) & (ends > starts)
    stockout = path.short > 0
    ok = sum(not stockout[s:e].any() for s, e in zip(starts[keep], ends[keep], strict=True))
    return int(keep.sum()), int(ok)
