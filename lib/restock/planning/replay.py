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

from restock.planning.policy import order_quantity, round_order


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


class Stock:
    """On hand, pipeline and backlog of many independent replays ("lanes"), one day at a time.

    The caller runs each day as `receive`, then (with `position`) decides and `place`s
    orders, then `serve`s the day's demand; `trace` gives one lane's record.
    """

    def __init__(self, on_hand: np.ndarray, days: int, max_lead: int, backorder: bool) -> None:
        lanes = len(on_hand)
        self.on_hand = np.asarray(on_hand, dtype=float).copy()
        self.on_order, self.backlog = np.zeros(lanes), np.zeros(lanes)
        self.due = np.zeros((lanes, days + max_lead + 1))
        self.end = np.zeros((lanes, days))
        self.served, self.short = np.zeros((lanes, days)), np.zeros((lanes, days))
        self.placed: list[tuple[np.ndarray, int, np.ndarray, np.ndarray]] = []
        self.backorder = backorder

    def receive(self, t: int) -> None:
        """Put away the receipts due on day t."""
        self.on_hand += self.due[:, t]
        self.on_order -= self.due[:, t]

    def position(self) -> np.ndarray:
        """Inventory position: on hand + on order − backorders."""
        return self.on_hand + self.on_order - self.backlog

    def place(self, t: int, qty: np.ndarray, lead_days: np.ndarray) -> None:
        """Order qty per lane on day t (0 = none); lead time 0 arrives at once."""
        lanes = np.flatnonzero(qty > 0)
        if not lanes.size:
            return
        arrival = t + lead_days[lanes].astype(int)
        self.placed.append((lanes, t, arrival, qty[lanes]))
        now = arrival == t
        self.on_hand[lanes[now]] += qty[lanes[now]]
        np.add.at(self.due, (lanes[~now], arrival[~now]), qty[lanes[~now]])
        self.on_order[lanes[~now]] += qty[lanes[~now]]

    def serve(self, t: int, demand: np.ndarray) -> None:
        """Fill the backlog first, then serve the day's demand; record the end of day."""
        filled = np.minimum(self.backlog, self.on_hand)
        self.backlog -= filled
        self.on_hand -= filled
        demand = np.maximum(np.asarray(demand, dtype=float), 0.0)
        self.served[:, t] = np.minimum(demand, self.on_hand)
        self.short[:, t] = demand - self.served[:, t]
        self.on_hand -= self.served[:, t]
        if self.backorder:
            self.backlog += self.short[:, t]
        self.end[:, t] = self.on_hand

    def trace(self, lane: int) -> Trace:
        """What happened in one lane."""
        rows = [(t, arrival[k], qty[k]) for lanes, t, arrival, qty in self.placed
                for k in np.flatnonzero(lanes == lane)]
        orders = np.array(rows, dtype=float).reshape(-1, 3)
        return Trace(self.end[lane], self.served[lane], self.short[lane],
                     orders[:, 0].astype(int), orders[:, 1].astype(int), orders[:, 2])


def replay(
    demand: np.ndarray,
    lead_days: np.ndarray,
    rules: Rules,
    start_on_hand: float,
    backorder: bool = False,
) -> Trace:
    """Replay fixed order rules against daily demand (one lane of `Stock`).

    Args:
        demand: the day's demand, one value per day (negative counts as 0).
        lead_days: whole days an order placed that day takes to arrive (0 = same day).
        rules: the order rules.
        start_on_hand: stock on hand before the first day, nothing on order.
        backorder: unmet demand waits for the next receipts (else it is lost).
    """
    days = len(demand)
    lead_days = np.asarray(lead_days, dtype=int)
    stock = Stock(np.array([start_on_hand]), days, int(np.max(lead_days, initial=0)), backorder)
    periodic = rules.order_up_to is not None
    nan = np.full(days, np.nan)
    up_to = rules.order_up_to if periodic else nan
    rop = nan if periodic else rules.reorder_point
    lot = nan if periodic else rules.lot
    for t in range(days):
        stock.receive(t)
        raw = order_quantity(periodic, stock.position(), up_to[t], rop[t], lot[t])
        qty = np.atleast_1d(round_order(raw, rules.moq, rules.pack_size))
        stock.place(t, qty, lead_days[t : t + 1])
        stock.serve(t, demand[t : t + 1])
    return stock.trace(0)


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
