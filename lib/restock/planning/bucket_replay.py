"""The replay of one bucket of series: the planner itself decides every review.

Every series runs five lanes (restock with each safety-stock method, and the two
baselines) over the same held-out demand and the same sampled lead times. On each
decision day the series' model forecasts from the days before it (`simulation.refit`
false: the first decision fits it, later ones carry a `forward` model's fitted parameters
over the longer history and refit the others, as the backtest's `refit: false`; true:
every decision refits), and `plan_batch` plans every series of the bucket with a
decision that day at once, one call per method, from the replayed inventory position:
the order is the plan's. Between decisions the levels hold (continuous review orders
whenever IP ≤ ROP, by the same `order_quantity`). The baselines: `naive` orders up to
the forecast over P with no safety stock; `moving_average` is the planner fed a flat
forecast at the mean of the last `moving_average_days` days and σ_d their std (normal
method).

The model fits what the forecast fits (`History.fit`: periods of the run's grain, the
unavailable ones filled); the inventory runs on days (`History.demand`). At W and M a
decision sees the periods that ended before its day, and the forecast of each period is
spread evenly over its days, as `restock plan` spreads it; known closures are forecast 0.
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from restock.forecasting.guard import rolling_windows
from restock.grain import EPOCH, Grain
from restock.planning.frozen import freeze
from restock.planning.planner import PLAN_INPUT_FIELDS, plan_batch
from restock.planning.policy import first_open, interval_sigma, order_quantity, round_order
from restock.planning.replay import Stock, Trace, cycle_windows

if TYPE_CHECKING:
    from restock.planning.simulate import SimulationSettings

METHODS = ("normal", "intervals", "empirical")
LANES = (*(("restock", m) for m in METHODS), ("naive", "none"), ("moving_average", "none"))
_ROW_FIELDS = [name for name, _ in PLAN_INPUT_FIELDS]


@dataclasses.dataclass(frozen=True)
class History:
    """One series as the replay sees it: what its model fits, in periods of the grain (the
    forecast's panel: unavailable periods filled), and the daily demand replayed (sales).

    `fit[k]` is period `start + k`; the days run from the first day of period `start` to the
    last day of the last period. At W and M a period's demand is spread evenly over its
    days (the plan spreads its forecast alike, `plan.daily_forecasts`). `closed` days are
    known closures: no demand, forecast 0.
    """

    fit: np.ndarray
    demand: np.ndarray
    closed: np.ndarray
    grain: Grain = Grain()
    start: int = 0

    @classmethod
    def daily(cls, y: np.ndarray) -> History:
        """A plain daily series, fitted and replayed as it is."""
        y = np.asarray(y, dtype=float)
        return cls(fit=y, demand=y, closed=np.zeros(y.size, dtype=bool))

    @classmethod
    def of_periods(cls, fit: np.ndarray, demand: np.ndarray, closed: np.ndarray, grain: Grain,
                   start: int) -> History:
        """From per-period values of the periods start .. start + len(fit) − 1 (`demand`
        is already 0 where `closed`)."""
        length = np.diff(period_ends(grain, start, len(fit) + 1, first=-1))
        return cls(fit=np.asarray(fit, dtype=float),
                   demand=np.repeat(np.asarray(demand, dtype=float) / length, length),
                   closed=np.repeat(np.asarray(closed, dtype=bool), length),
                   grain=grain, start=start)


def period_ends(grain: Grain, start: int, count: int, first: int = 0) -> np.ndarray:
    """Day offsets of the last days of `count` periods from period start + first on; day 0
    is the first day of period `start` (so the last day of the period before is −1)."""
    index = start + first + np.arange(count)
    if grain.kind == "D":
        return index - start
    epoch = np.datetime64(EPOCH, "D")
    origin = (grain.ends(np.array([start - 1]))[0] - epoch).astype(np.int64)
    return (grain.ends(index) - epoch).astype(np.int64) - origin - 1


@dataclasses.dataclass
class Series:
    """One series of the bucket: its history, plan inputs and replay schedule."""

    rec: dict[str, Any]  # PLAN_INPUT fields known before the replay (item params, classes)
    t0: int  # first replayed day (index into y)
    horizon: int  # days the plan sees
    decisions: np.ndarray  # replay-day offsets of the decisions
    lead_days: np.ndarray  # sampled lead time of an order placed on each replay day
    guard: Any
    history: History
    ends: np.ndarray  # day offsets of the last days of history.fit's periods
    periods: int  # periods each forecast covers (the horizon, the period under way, spare)
    errors: list[np.ndarray] = dataclasses.field(default_factory=list)

    @property
    def y(self) -> np.ndarray:
        """The daily demand (`History.demand`)."""
        return self.history.demand


def prepare(y: np.ndarray | History, rec: Mapping[str, Any], s: SimulationSettings) -> Series:
    """The schedule of one series (a plain daily array, or its `History`): decision days,
    sampled lead times, error windows (in periods of the grain)."""
    history = y if isinstance(y, History) else History.daily(y)
    y = history.demand
    grain = history.grain
    periodic = s.policy.policy_type == "periodic"
    days = min(s.holdout_days, y.size)
    lead = max(0.0, _num(rec.get("lead_time_days")))
    review = max(1, int(_num(rec.get("review_period_days")))) if periodic else 0
    step = review if periodic else s.refit_days
    key = f"{rec['sku_id']}\x1f{rec['location_id']}"
    rng = np.random.default_rng([s.seed, zlib.crc32(key.encode())])
    noise = rng.standard_normal(days) * max(0.0, _num(rec.get("lead_time_std_days")))
    horizon = max(math.ceil(s.forecast.horizon_days * grain.period_days),
                  math.ceil(lead + review) + 1)
    periods = horizon if grain.kind == "D" else grain.whole_periods(horizon) + 2
    series = Series(
        rec=dict(rec), t0=y.size - days, horizon=horizon,
        decisions=np.arange(0, days, step),
        lead_days=np.maximum(0, np.rint(lead + noise)).astype(int),
        guard=s.forecast.guard(str(rec["model"])), history=history,
        ends=period_ends(grain, history.start, history.fit.size), periods=periods,
    )
    if s.freeze_model_form:
        freeze(series.guard, _train(series, 0, s))
    before = history.fit[: _done(series, 0)]
    actual, predicted = rolling_windows(
        lambda past: np.maximum(series.guard.forecast(y=past, h=periods)["mean"], 0.0),
        before, periods, s.error_windows, grain.whole_periods(s.error_step_days),
        grain.whole_periods(s.min_train_days),
    )
    series.errors = list(np.cumsum((actual - predicted).reshape(-1, periods), axis=1))
    series.guard.fit(before)  # `refit: false`: the first review fits, later ones forward
    return series


def replay_bucket(bucket: list[Series], s: SimulationSettings) -> tuple[list, dict]:
    """Replay every lane of every series; per series its lanes' metrics rows, and the
    first decision day's plan inputs and plans per method (`{method: (inputs, plans)}`)."""
    days = bucket[0].y.size - bucket[0].t0
    n, width = len(bucket), len(LANES)
    stock = Stock(np.zeros(n * width), days,
                  max(int(b.lead_days.max(initial=0)) for b in bucket),
                  s.unmet_demand == "backorder")
    levels = {k: np.full(n * width, np.nan) for k in ("S", "rop", "lot", "mean")}
    used: list[list[str]] = [[] for _ in range(n * width)]
    demand = np.repeat(np.stack([b.y[b.t0 :] for b in bucket]), width, axis=0)
    lead = np.repeat(np.stack([b.lead_days for b in bucket]), width, axis=0)
    first: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = {}
    periodic = s.policy.policy_type == "periodic"
    for t in range(days):
        stock.receive(t)
        due = [i for i, b in enumerate(bucket) if t in b.decisions]
        if due:
            fits = [_fit(bucket[i], t, s) for i in due]
            if t == 0:  # start each lane where a review finds it in steady state
                _decide(bucket, due, fits, stock, levels, used, s)
                stock.on_hand = _start(levels, periodic, bucket, width)
            planned = _decide(bucket, due, fits, stock, levels, used, s)
            first = first or planned
        raw = order_quantity(periodic, stock.position(), levels["S"], levels["rop"], levels["lot"])
        if periodic:  # orders only on review days
            raw = np.where(np.repeat([t in b.decisions for b in bucket], width), raw, 0.0)
        moq, pack = (np.repeat([_num(b.rec.get(k)) for b in bucket], width)
                     for k in ("moq", "pack_size"))
        stock.place(t, np.asarray(round_order(raw, moq, pack)), lead[:, t])
        stock.serve(t, demand[:, t])
    return [_results(bucket[i], i, stock, used, s) for i in range(n)], first


def _decide(bucket: list[Series], due: list[int], fits: list[dict[str, Any]], stock: Stock,
            levels: dict[str, np.ndarray], used: list[list[str]], s: SimulationSettings
            ) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """Plan the due series (their fits given) per method and set their lanes' levels."""
    width = len(LANES)
    position = {"on_hand": stock.on_hand, "on_order": stock.on_order,
                "backorders": stock.backlog}
    planned = {}
    for j, (strategy, method) in enumerate(LANES):
        if strategy == "naive":
            continue
        lanes = np.array(due) * width + j
        rows = [_plan_row(bucket[i], fit, strategy, s) for i, fit in zip(due, fits, strict=True)]
        inputs = pd.DataFrame(rows, columns=_ROW_FIELDS)
        for name, values in position.items():
            inputs[name] = values[lanes]
        settings = dataclasses.replace(s.policy, safety_stock_method=
                                       method if strategy == "restock" else "normal")
        plans = plan_batch(inputs, settings)
        _set(levels, lanes, plans, "order_up_to", "reorder_point")
        for lane, name in zip(lanes, plans["sigma_method"], strict=True):
            used[lane].append("none" if strategy != "restock" else str(name))
        if strategy == "restock":
            planned[method] = (inputs, plans)
            if method == "normal":  # the naive lane: the same forecast, no safety stock
                naive = np.array(due) * width + LANES.index(("naive", "none"))
                _set(levels, naive, plans, "protection_demand", "lead_time_demand")
                for lane in naive:
                    used[lane].append("none")
    return planned


def _set(levels: dict[str, np.ndarray], lanes: np.ndarray, plans: pd.DataFrame,
         up_to: str, reorder: str) -> None:
    """Copy a plan's levels (as float, NA as NaN) into the lanes."""
    for key, column in (("S", up_to), ("rop", reorder), ("lot", "eoq"),
                        ("mean", "mean_daily_demand")):
        levels[key][lanes] = plans[column].to_numpy(dtype=float, na_value=np.nan)


def _start(levels: dict[str, np.ndarray], periodic: bool, bucket: list[Series],
           width: int) -> np.ndarray:
    """Stock on hand before the first day: S less the plan's mean demand over one review
    period (periodic), else the reorder point plus one lot; never negative."""
    if periodic:
        review = np.repeat([max(1.0, _num(b.rec.get("review_period_days"))) for b in bucket],
                           width)
        start = levels["S"] - levels["mean"] * review
    else:
        start = levels["rop"] + np.nan_to_num(levels["lot"])
    return np.maximum(0.0, np.nan_to_num(start))


def forecast_at(series: Series, t: int, s: SimulationSettings) -> dict[str, np.ndarray]:
    """The series' forecast of `series.periods` periods at replay day t from the periods
    that ended before it: a refit (`simulation.refit`), else the fit of its first review
    carried forward."""
    predict = series.guard.forecast if s.refit else series.guard.forward
    return predict(y=_train(series, t, s), h=series.periods, level=list(s.forecast.levels))


def daily_forecast(series: Series, t: int, fc: Mapping[str, np.ndarray],
                   levels: tuple[int, ...]) -> dict[str, np.ndarray]:
    """`series.horizon` days of the forecast from replay day t on: each period's mean spread
    evenly over its days, interval half-widths scaled by 1/√days (`plan.daily_forecasts`);
    0 on known closures."""
    history, day = series.history, series.t0 + t
    done = _done(series, t)
    ends = period_ends(history.grain, history.start, series.periods + 1, first=done - 1)
    length = np.diff(ends)
    offset = day - (ends[0] + 1)  # days of the period under way already gone
    mean = np.asarray(fc["mean"], dtype=float)
    out = {"mean": np.repeat(mean / length, length)}
    for lv in levels:
        half = (np.asarray(fc[f"hi-{lv}"], dtype=float) - mean) / np.sqrt(length)
        out[f"hi-{lv}"] = np.repeat(mean / length + half, length)
    closed = history.closed[day : day + series.horizon]
    for name, values in out.items():
        values = values[offset : offset + series.horizon].copy()
        values[: closed.size][closed] = 0.0
        out[name] = values
    return out


def _fit(series: Series, t: int, s: SimulationSettings) -> dict[str, Any]:
    """The forecast at replay day t, from the periods before it, as days; and the trailing
    windows' daily mean and σ (a period's σ as a day's: σ / √days per period)."""
    grain, done = series.history.grain, _done(series, t)
    fc = daily_forecast(series, t, forecast_at(series, t, s), s.forecast.levels)
    fit, root = series.history.fit, math.sqrt(grain.period_days)
    recent = fit[max(0, done - grain.whole_periods(s.sigma_window_days)) : done]
    window = fit[max(0, done - grain.whole_periods(s.moving_average_days)) : done]
    return {"fc": fc, "std": float(recent.std()) / root if recent.size else math.nan,
            "ma": ((float(window.mean()) / grain.period_days, float(window.std()) / root)
                   if window.size else (0.0, 0.0))}


def _done(series: Series, t: int) -> int:
    """Periods of the fitted history that ended before replay day t."""
    return int(np.searchsorted(series.ends, series.t0 + t, side="left"))


def _train(series: Series, t: int, s: SimulationSettings) -> np.ndarray:
    """The periods a fit at replay day t sees (the newest `max_train_days` when set)."""
    history = series.history.fit[: _done(series, t)]
    return history[-s.forecast.max_train_days:] if s.forecast.max_train_days else history


def _plan_row(series: Series, fit: Mapping[str, Any], strategy: str,
              s: SimulationSettings) -> dict[str, Any]:
    """One PLAN_INPUT row for a restock lane (the refitted forecast) or the moving-average
    lane (a flat forecast, σ_d the window's std)."""
    fc = fit["fc"]
    widest = max(s.forecast.levels)
    row = {k: series.rec.get(k) for k in _ROW_FIELDS}
    row.update(has_params=True, has_inventory=True)
    if strategy == "restock":
        at = first_open(fc[f"hi-{widest}"])
        row.update(yhat=np.asarray(fc["mean"], dtype=float), demand_std_daily=fit["std"],
                   sigma_daily=float(interval_sigma(fc[f"hi-{widest}"][at], fc["mean"][at],
                                                    s.forecast.levels)),
                   cum_errors=series.errors or None)
    else:
        mean, std = fit["ma"]
        row.update(yhat=np.full(series.horizon, mean), demand_std_daily=std, sigma_daily=None,
                   cum_errors=None, lifecycle="active")
    return row


def _results(series: Series, i: int, stock: Stock, used: list[list[str]],
             s: SimulationSettings) -> list[dict[str, Any]]:
    """Metrics rows of one series' lanes."""
    periodic = s.policy.policy_type == "periodic"
    days = series.y.size - series.t0
    lead = int(round(max(0.0, _num(series.rec.get("lead_time_days")))))
    review = max(1, int(_num(series.rec.get("review_period_days")))) if periodic else 0
    rows = []
    for j, (strategy, method) in enumerate(LANES):
        lane = i * len(LANES) + j
        path = stock.trace(lane)
        cycles, ok = cycle_windows(path, series.decisions if periodic else None, lead, review,
                                   days)
        rows.append({"strategy": strategy, "ss_method": method,
                     "ss_used": Counter(used[lane]).most_common(1)[0][0],
                     **lane_metrics(path, series.y[series.t0 :], cycles, ok, series.rec, days),
                     "status": "ok"})
    return rows


def lane_metrics(path: Trace, demand: np.ndarray, cycles: int, ok: int,
                 rec: Mapping[str, Any], days: int) -> dict[str, Any]:
    """Service, inventory and cost figures of one replay (a null cost counts as 0).

    Fill rate = served from stock / demand (1 without demand). Turnover = annualized
    units sold / average end-of-day stock. Holding = holding rate · unit cost / 365 per
    unit-day on hand; ordering = order cost per order; shortage = shortage cost per unit
    short; purchase = unit cost of the units sold (stock left at the end is charged as
    holding, not as if consumed). relevant = holding + ordering + shortage; total adds
    purchase.
    """
    unit_cost, order_cost, holding_rate, shortage_cost = (
        _num(rec.get(k)) for k in ("unit_cost", "order_cost", "holding_rate", "shortage_cost"))
    total_demand, served = float(np.maximum(demand, 0).sum()), float(path.served.sum())
    avg_inventory = float(path.on_hand.mean())
    costs = {
        "holding_cost": holding_rate * unit_cost / 365.0 * float(path.on_hand.sum()),
        "ordering_cost": order_cost * len(path.order_qty),
        "shortage_cost": shortage_cost * float(path.short.sum()),
    }
    relevant = sum(costs.values())
    purchase = unit_cost * served
    return {
        "days": days, "demand": total_demand, "served": served, "short": float(path.short.sum()),
        "fill_rate": served / total_demand if total_demand > 0 else 1.0,
        "cycles": cycles, "cycles_ok": ok,
        "cycle_service_level": ok / cycles if cycles else None,
        "stockout_days": int((path.short > 0).sum()),
        "avg_inventory": avg_inventory, "avg_inventory_value": avg_inventory * unit_cost,
        "turnover": served * 365.0 / days / avg_inventory if avg_inventory > 0 else None,
        "orders_placed": len(path.order_qty), "ordered_qty": float(path.order_qty.sum()),
        **costs, "purchase_cost": purchase, "relevant_cost": relevant,
        "total_cost": relevant + purchase,
    }


def _num(value: Any) -> float:
    """A number, or 0 for a null."""
    return 0.0 if value is None or not np.isfinite(value) else float(value)
