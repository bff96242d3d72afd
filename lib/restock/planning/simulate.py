"""Policy simulator: what the plan would have achieved on demand it had not seen.

For every series the last `holdout_days` days before the as-of date are held out. On each
review day of that period (periodic review) or every `refit_days` (continuous review) the
series' model is refitted on the history before that day, the policy is recomputed, and
`replay.replay` moves the stock day by day: orders arrive after the item's lead time
(sampled when `lead_time_std_days` > 0), demand is served from stock, the rest is lost or
backordered. The same demand and the same sampled lead times drive every strategy:

- `restock` with each safety-stock method: `normal` (σ_d = std of daily demand over the
  trailing `profile.demand_std_days`), `intervals` (σ_d from the forecast's widest
  interval at step 1), `empirical` (quantile of the model's own rolling-origin errors over
  the protection interval, from windows that end before the holdout);
- `naive`: `Q = max(0, D − IP)`, D the same forecast over the protection interval, no
  safety stock;
- `moving_average`: order up to `P·m + z·s·sqrt(P)`, m and s the mean and std of the last
  `moving_average_days` days (no model).

Per-series work runs in `simulate_bucket` inside a co-grouped pandas UDF; the Spark side
only joins inputs and aggregates.
"""

from __future__ import annotations

import datetime as dt
import math
import zlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from restock.errors import ConfigError
from restock.forecasting.forecast import ForecastSettings
from restock.forecasting.panel import build_panel, epoch_day
from restock.forecasting.profile import ProfileSettings
from restock.io.config import section
from restock.io.tables import SERIES_KEYS
from restock.planning.plan import lifecycle, with_profile
from restock.planning.policy import (
    PolicySettings,
    demand_over,
    empirical_safety_stock,
    eoq,
    safety_stock_normal,
    z_score,
)
from restock.planning.replay import Rules, Trace, cycle_windows, replay
from restock.spark.buckets import per_bucket

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

METHODS = ("normal", "intervals", "empirical")
BASELINES = ("naive", "moving_average")
SIM_SCHEMA = (
    "sku_id string, location_id string, abc_class string, demand_class string, "
    "lifecycle string, model string, strategy string, ss_method string, ss_used string, "
    "policy_type string, target_service_level double, lead_time_days double, "
    "review_period_days int, days int, demand double, served double, short double, "
    "fill_rate double, cycles int, cycles_ok int, cycle_service_level double, "
    "stockout_days int, avg_inventory double, avg_inventory_value double, turnover double, "
    "orders_placed int, ordered_qty double, holding_cost double, ordering_cost double, "
    "shortage_cost double, purchase_cost double, relevant_cost double, total_cost double, "
    "status string, error string"
)
_COLUMNS = [f.split()[0] for f in SIM_SCHEMA.split(", ")]
SERIES_INPUT = (
    "model", "abc_class", "demand_class", "lifecycle", "lead_time_days", "lead_time_std_days",
    "review_period_days", "unit_cost", "order_cost", "holding_rate", "shortage_cost", "moq",
    "pack_size", "service_level", "has_params",
)


@dataclass(frozen=True)
class SimulationSettings:
    """Conf `simulation`, with the policy and forecast settings it replays."""

    holdout_days: int
    unmet_demand: str
    moving_average_days: int
    refit_days: int
    error_windows: int
    error_step_days: int
    min_train_days: int
    seed: int
    sample_share: float
    sigma_window_days: int
    policy: PolicySettings
    forecast: ForecastSettings

    @classmethod
    def from_conf(cls, conf: Mapping[str, Any]) -> SimulationSettings:
        """Read and check conf `simulation` (plus `policy` and `forecast`)."""
        s = section(conf, "simulation")
        policy = PolicySettings.from_conf(conf["policy"], levels=conf["forecast"]["levels"])
        settings = cls(
            holdout_days=int(s["holdout_days"]), unmet_demand=str(s["unmet_demand"]),
            moving_average_days=int(s["moving_average_days"]), refit_days=int(s["refit_days"]),
            error_windows=int(s["error_windows"]), error_step_days=int(s["error_step_days"]),
            min_train_days=int(s["min_train_days"]), seed=int(s["seed"]),
            sample_share=float(s.get("sample_share", 1.0)),
            sigma_window_days=ProfileSettings.from_conf(conf).demand_std_days, policy=policy,
            forecast=ForecastSettings.from_conf(conf),
        )
        if not 0 < settings.sample_share <= 1:
            raise ConfigError("simulation.sample_share: expected a share in (0, 1]")
        if settings.unmet_demand not in ("lost", "backorder"):
            raise ConfigError("simulation.unmet_demand: expected lost or backorder")
        for key in ("holdout_days", "moving_average_days", "refit_days", "error_step_days",
                    "min_train_days"):
            if getattr(settings, key) < 1:
                raise ConfigError(f"simulation.{key}: expected >= 1")
        return settings


@dataclass(frozen=True)
class Item:
    """One series' planning inputs (nulls already resolved)."""

    key: str
    model: str
    lifecycle: str
    service_level: float
    lead_time_days: float
    lead_time_std_days: float
    review_period_days: int
    unit_cost: float
    order_cost: float
    holding_rate: float
    shortage_cost: float
    moq: float
    pack_size: float


def simulate_series(y: np.ndarray, item: Item, s: SimulationSettings) -> list[dict[str, Any]]:
    """Replay every strategy on the last `holdout_days` of y (one dense daily series).

    Returns one metrics row per strategy and safety-stock method (see SIM_SCHEMA).
    """
    periodic = s.policy.policy_type == "periodic"
    days = min(s.holdout_days, y.size)
    t0 = y.size - days
    if t0 < s.min_train_days:
        return [{"status": "short_history", "error": f"{t0} days before the holdout"}]
    review = max(1, int(item.review_period_days)) if periodic else 0
    lead = max(0.0, item.lead_time_days)
    protection = lead + review
    step = review if periodic else s.refit_days
    decisions = np.arange(t0, y.size, step)
    rng = np.random.default_rng([s.seed, zlib.crc32(item.key.encode())])
    noise = rng.standard_normal(days) * max(0.0, item.lead_time_std_days)
    lead_days = np.maximum(0, np.rint(lead + noise)).astype(int)
    levels = _levels(y, decisions, item, protection, s)
    results = []
    for strategy, method in [*(("restock", m) for m in METHODS), *((b, "none") for b in BASELINES)]:
        plan = levels[(strategy, method)]
        rules = _rules(plan, decisions - t0, days, periodic, item)
        start = plan["start"][0]
        path = replay(y[t0:], lead_days, rules, start, s.unmet_demand == "backorder")
        cycles, ok = cycle_windows(
            path, decisions - t0 if periodic else None, int(round(lead)), review, days
        )
        used = Counter(plan["used"]).most_common(1)[0][0]
        results.append({"strategy": strategy, "ss_method": method, "ss_used": used,
                        **_metrics(path, y[t0:], cycles, ok, item, days), "status": "ok"})
    return results


def _levels(
    y: np.ndarray, decisions: np.ndarray, item: Item, protection: float, s: SimulationSettings
) -> dict[tuple[str, str], dict[str, list]]:
    """Per strategy, the policy levels at each decision day: order-up-to (S), reorder
    point, lot, the starting stock, and the safety-stock method used."""
    h = max(s.forecast.horizon_days, math.ceil(protection) + 1)
    csl = item.service_level
    z = float(z_score(csl))
    lead, lead_std = max(0.0, item.lead_time_days), max(0.0, item.lead_time_std_days)
    guard = s.forecast.guard(item.model)
    errors = _error_windows(guard, y[: decisions[0]], h, s)
    widest = max(s.forecast.levels)
    z_widest = float(z_score(0.5 + widest / 200.0))
    out: dict[tuple[str, str], dict[str, list]] = {}

    def add(key: tuple[str, str], ss_p: float, ss_l: float, d_p: float, d_l: float,
            mean: float, used: str) -> None:
        lot = float(eoq(mean * s.policy.days_per_year, item.order_cost,
                        item.holding_rate * item.unit_cost))
        level = out.setdefault(key, {"S": [], "rop": [], "lot": [], "start": [], "used": []})
        level["S"].append(d_p + ss_p)
        level["rop"].append(d_l + ss_l)
        level["lot"].append(lot)
        start = d_p + ss_p if s.policy.policy_type == "periodic" else (
            d_l + ss_l + (lot if np.isfinite(lot) else 0.0))
        level["start"].append(start)
        level["used"].append(used)

    for t in decisions:
        train = y[:t] if not s.forecast.max_train_days else y[:t][-s.forecast.max_train_days:]
        fc = guard.forecast(y=train, h=h, level=list(s.forecast.levels))
        yhat = np.maximum(fc["mean"], 0.0)
        sigma_interval = (fc[f"hi-{widest}"][0] - fc["mean"][0]) / z_widest
        recent = y[max(0, t - s.sigma_window_days) : t]
        sigma_normal = float(recent.std()) if recent.size else math.nan
        d_p, d_l = demand_over(yhat, protection), demand_over(yhat, lead)
        mean = demand_over(yhat, max(protection, 1.0)) / max(protection, 1.0)
        sigmas = {"normal": sigma_normal, "intervals": sigma_interval}
        stocks = {
            m: safety_stocks(m, z, csl, (protection, lead), mean, lead_std, sigmas, errors,
                             s.policy.empirical_min_samples)
            for m in METHODS
        }
        if item.lifecycle == "new":  # conservative: the largest safety stock of any method
            widest_ss = max(stocks.values(), key=lambda v: v[0])
            stocks = {m: (widest_ss[0], widest_ss[1], "conservative") for m in stocks}
        for m, (ss_p, ss_l, used) in stocks.items():
            add(("restock", m), ss_p, ss_l, d_p, d_l, mean, used)
        add(("naive", "none"), 0.0, 0.0, d_p, d_l, mean, "none")
        window = y[max(0, t - s.moving_average_days) : t]
        m_avg, m_std = (float(window.mean()), float(window.std())) if window.size else (0.0, 0.0)
        add(("moving_average", "none"), z * m_std * math.sqrt(protection),
            z * m_std * math.sqrt(lead), m_avg * protection, m_avg * lead, m_avg, "normal")
    return out


def safety_stocks(
    method: str,
    z: float,
    csl: float,
    days: tuple[float, float],
    mean: float,
    lead_std: float,
    sigmas: Mapping[str, float],
    errors: list[np.ndarray],
    min_samples: int,
) -> tuple[float, float, str]:
    """Safety stock over the protection interval and over the lead time by one method.

    normal / intervals: `z·sqrt(days·σ_d² + d̄²·σ_L²)` with that method's σ_d. empirical:
    `sqrt(SS_emp² + (z·d̄·σ_L)²)`, SS_emp the CSL quantile of the pooled error sums over
    the days. A method without its input falls back: empirical → intervals → normal →
    Poisson (σ_d = sqrt(d̄)). Returns (SS over P, SS over L, method used).
    """
    order = {"empirical": METHODS[::-1], "intervals": METHODS[1::-1], "normal": METHODS[:1]}
    for m in order[method]:
        if m == "empirical":
            found = [empirical_safety_stock(errors, d, csl, min_samples) for d in days]
            if all(f is not None for f in found):
                term = z * mean * lead_std
                return math.hypot(found[0][0], term), math.hypot(found[1][0], term), m
            continue
        sigma = sigmas.get(m, math.nan)
        if np.isfinite(sigma) and sigma >= 0:
            return (*_normal(z, sigma, days, mean, lead_std), m)
    return (*_normal(z, math.sqrt(max(mean, 0.0)), days, mean, lead_std), "poisson")


def _normal(z: float, sigma: float, days: tuple[float, float], mean: float, lead_std: float
            ) -> tuple[float, float]:
    """Normal safety stock over each of the given day counts."""
    return tuple(float(safety_stock_normal(z, sigma, d, mean, lead_std)) for d in days)


def _error_windows(guard: Any, y: np.ndarray, h: int, s: SimulationSettings) -> list[np.ndarray]:
    """Cumulative errors (actual − forecast, forecasts clipped at 0) of rolling-origin
    refits whose test periods end before the holdout: one array of length h per window."""
    windows = []
    for k in range(s.error_windows):
        cutoff = y.size - h - k * s.error_step_days
        if cutoff < s.min_train_days:
            break
        predicted = np.maximum(guard.forecast(y=y[:cutoff], h=h)["mean"], 0.0)
        windows.append(np.cumsum(y[cutoff : cutoff + h] - predicted))
    return windows


def _rules(plan: dict[str, list], offsets: np.ndarray, days: int, periodic: bool,
           item: Item) -> Rules:
    """Order rules per replay day from the levels set on decision days."""
    if periodic:
        target = np.full(days, np.nan)
        target[offsets] = plan["S"]
        return Rules(target, moq=item.moq, pack_size=item.pack_size)
    index = np.searchsorted(offsets, np.arange(days), side="right") - 1
    return Rules(None, np.asarray(plan["rop"])[index], np.asarray(plan["lot"])[index],
                 moq=item.moq, pack_size=item.pack_size)


def _metrics(path: Trace, demand: np.ndarray, cycles: int, ok: int, item: Item,
             days: int) -> dict[str, Any]:
    """Service, inventory and cost figures of one replay.

    Fill rate = served from stock / demand (1 without demand). Turnover = annualized
    units sold / average end-of-day stock. Holding = holding rate · unit cost / 365 per
    unit-day on hand; ordering = order cost per order; shortage = shortage cost per unit
    short; purchase = unit cost of the units sold (stock left at the end is charged as
    holding, not as if consumed). relevant = holding + ordering + shortage; total adds
    purchase.
    """
    total_demand, served = float(np.maximum(demand, 0).sum()), float(path.served.sum())
    avg_inventory = float(path.on_hand.mean())
    costs = {
        "holding_cost": item.holding_rate * item.unit_cost / 365.0 * float(path.on_hand.sum()),
        "ordering_cost": item.order_cost * len(path.order_qty),
        "shortage_cost": item.shortage_cost * float(path.short.sum()),
    }
    relevant = sum(costs.values())
    purchase = item.unit_cost * served
    return {
        "days": days, "demand": total_demand, "served": served, "short": float(path.short.sum()),
        "fill_rate": served / total_demand if total_demand > 0 else 1.0,
        "cycles": cycles, "cycles_ok": ok,
        "cycle_service_level": ok / cycles if cycles else None,
        "stockout_days": int((path.short > 0).sum()),
        "avg_inventory": avg_inventory, "avg_inventory_value": avg_inventory * item.unit_cost,
        "turnover": served * 365.0 / days / avg_inventory if avg_inventory > 0 else None,
        "orders_placed": len(path.order_qty), "ordered_qty": float(path.order_qty.sum()),
        **costs, "purchase_cost": purchase, "relevant_cost": relevant,
        "total_cost": relevant + purchase,
    }


def simulate_bucket(
    history: pd.DataFrame, series: pd.DataFrame, *, settings: SimulationSettings,
    as_of_date: dt.date,
) -> pd.DataFrame:
    """Simulate every series of one bucket (`series`: one row per series, SERIES_INPUT).

    A series without item params, at end of life, or whose replay raises gets one row
    with that status (and the error), never a dead task.
    """
    if history.empty or series.empty:
        return pd.DataFrame(columns=_COLUMNS)
    panel = build_panel(history, epoch_day(as_of_date))
    codes = panel.codes_of(series)
    rows = []
    for code, rec in zip(codes, series.to_dict("records"), strict=True):
        base = {k: rec.get(k) for k in ("sku_id", "location_id", "abc_class", "demand_class",
                                        "lifecycle", "model", "lead_time_days",
                                        "review_period_days")}
        base["policy_type"] = settings.policy.policy_type
        base["target_service_level"] = float(settings.policy.service_levels(
            [rec.get("service_level")], [rec.get("abc_class")])[0])
        if not rec.get("has_params"):
            rows.append({**base, "status": "no_item_params"})
            continue
        if rec.get("lifecycle") == "end_of_life" or code < 0:
            rows.append({**base, "status": "end_of_life" if code >= 0 else "no_sales"})
            continue
        try:
            item = _item(rec, base["target_service_level"])
            found = simulate_series(panel.series(code), item, settings)
        except Exception as exc:  # noqa: BLE001 - one series' failure is a row, not a dead job
            found = [{"status": "failed", "error": f"{type(exc).__name__}: {exc}"[:500]}]
        rows.extend({**base, **r} for r in found)
    return _typed(pd.DataFrame(rows).reindex(columns=_COLUMNS))


def _typed(out: pd.DataFrame) -> pd.DataFrame:
    """Columns in SIM_SCHEMA's types: float64 (NaN for null), nullable Int32, object strings."""
    for field in SIM_SCHEMA.split(", "):
        name, kind = field.split()
        if kind == "double":
            out[name] = pd.to_numeric(out[name], errors="coerce").astype("float64")
        elif kind == "int":
            out[name] = pd.to_numeric(out[name], errors="coerce").round().astype("Int32")
        else:
            out[name] = out[name].astype(object).where(out[name].notna(), None)
    return out


def _item(rec: Mapping[str, Any], csl: float) -> Item:
    """Planning inputs of one series; a null MOQ, pack, cost or lead-time std counts as 0."""

    def num(name: str) -> float:
        value = rec.get(name)
        return 0.0 if value is None or not np.isfinite(value) else float(value)

    return Item(
        key=f"{rec['sku_id']}\x1f{rec['location_id']}", model=str(rec["model"]),
        lifecycle=str(rec.get("lifecycle") or "active"), service_level=csl,
        lead_time_days=num("lead_time_days"), lead_time_std_days=num("lead_time_std_days"),
        review_period_days=int(num("review_period_days")), unit_cost=num("unit_cost"),
        order_cost=num("order_cost"), holding_rate=num("holding_rate"),
        shortage_cost=num("shortage_cost"), moq=num("moq"), pack_size=num("pack_size"),
    )


def simulate(
    daily: DataFrame, series: DataFrame, *, settings: SimulationSettings, as_of_date: dt.date,
    buckets: int,
) -> DataFrame:
    """Per series and strategy metrics (SIM_SCHEMA), computed per bucket of series."""
    fn = partial(simulate_bucket, settings=settings, as_of_date=as_of_date)
    return per_bucket(daily, series, fn, SIM_SCHEMA, as_of_date=as_of_date, buckets=buckets)


def series_inputs(
    forecasts: DataFrame, item_params: DataFrame, profile: DataFrame | None
) -> DataFrame:
    """One row per forecast series: its model (the first in sorted order), item params
    (`has_params` false without them), ABC and demand class, and lifecycle."""
    from pyspark.sql import functions as F

    models = forecasts.groupBy(*SERIES_KEYS).agg(F.min("model").alias("model"))
    params = item_params.select(
        *SERIES_KEYS, *[c for c in SERIES_INPUT[4:-1]],
        F.col("lifecycle").alias("params_lifecycle"), F.lit(True).alias("has_params"),
    )
    rows = with_profile(models.join(params, SERIES_KEYS, "left"), profile)
    return rows.withColumn("lifecycle", lifecycle()).withColumn(
        "has_params", F.coalesce("has_params", F.lit(False))
    ).select(*SERIES_KEYS, *SERIES_INPUT)


def summary_table(sim: DataFrame) -> DataFrame:
    """`simulation_summary`: per strategy and method, by ABC class and overall.

    Fill rate = Σ served / Σ demand; cycle service level = Σ cycles without stockout /
    Σ cycles; target = mean target of the series; stockout days = mean per series;
    average inventory and costs are sums; turnover = annualized cost of goods sold /
    average inventory value.
    """
    from pyspark.sql import functions as F

    ok = sim.where(F.col("status") == "ok").withColumn(
        "cogs_year", F.col("purchase_cost") * 365.0 / F.col("days")
    )
    figures = [  # try_divide: null, not an ANSI divide error, when a sum is 0
        F.count(F.lit(1)).alias("series"),
        F.avg("target_service_level").alias("target_service_level"),
        F.try_divide(F.sum("served"), F.sum("demand")).alias("fill_rate"),
        F.try_divide(F.sum("cycles_ok"), F.sum("cycles")).alias("cycle_service_level"),
        F.sum("cycles").cast("long").alias("cycles"),
        F.avg("stockout_days").alias("stockout_days"),
        F.sum("avg_inventory").alias("avg_inventory"),
        F.try_divide(F.sum("cogs_year"), F.sum("avg_inventory_value")).alias("inventory_turnover"),
        F.sum("orders_placed").cast("long").alias("orders_placed"),
        F.sum("demand").alias("demand"),
        *[F.sum(c).alias(c) for c in ("holding_cost", "ordering_cost", "shortage_cost",
                                      "purchase_cost", "relevant_cost", "total_cost")],
    ]
    by_class = ok.withColumn("group", F.coalesce("abc_class", F.lit("unclassified"))).groupBy(
        "strategy", "ss_method", "group").agg(*figures).withColumn("group_type", F.lit("abc_class"))
    overall = ok.groupBy("strategy", "ss_method").agg(*figures).withColumn(
        "group", F.lit("all")).withColumn("group_type", F.lit("overall"))
    columns = ["strategy", "ss_method", "group_type", "group", "series", "target_service_level",
               "fill_rate", "cycle_service_level", "cycles", "stockout_days", "avg_inventory",
               "inventory_turnover", "orders_placed", "demand", "holding_cost", "ordering_cost",
               "shortage_cost", "purchase_cost", "relevant_cost", "total_cost"]
    return by_class.select(*columns).unionByName(overall.select(*columns))
