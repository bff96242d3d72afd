"""Policy simulator: what the plan would have achieved on demand it had not seen.

For every series the last `holdout_days` days before the as-of date are held out. On each
review day of that period (periodic review) or every `refit_days` (continuous review) the
series' model forecasts from the history before that day (refitted, or its first review's
fit carried forward: `refit`) and the planner itself
(`planner.plan_batch`, every series of the bucket at once) sets the levels and the order
from the replayed inventory position; `replay.Stock` moves the stock day by day: orders
arrive after the item's lead time (sampled when `lead_time_std_days` > 0), demand is
served from stock, the rest is lost or backordered. The same demand and the same sampled
lead times drive every strategy (`bucket_replay`):

- `restock` with each safety-stock method: `normal` (σ_d = std of daily demand over the
  trailing `profile.demand_std_days`), `intervals` (σ_d from the forecast's widest
  interval at step 1), `empirical` (the model's own rolling-origin errors over the
  protection interval, from windows that end before the holdout), each with the
  planner's fallbacks;
- `naive`: `Q = max(0, D − IP)`, D the same forecast over the protection interval, no
  safety stock;
- `moving_average`: the planner fed a flat forecast at the mean m of the last
  `moving_average_days` days, σ_d their std (normal method).

Per-bucket work runs in `simulate_bucket` inside a co-grouped pandas UDF; the Spark side
only joins inputs and aggregates.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from restock.errors import ConfigError
from restock.forecasting.forecast import ForecastSettings
from restock.forecasting.panel import build_panel, open_rows
from restock.forecasting.profile import ProfileSettings
from restock.io.config import section
from restock.io.tables import SERIES_KEYS
from restock.planning.bucket_replay import History, Series, prepare, replay_bucket
from restock.planning.plan import lifecycle, with_profile
from restock.planning.policy import PolicySettings
from restock.spark.buckets import per_bucket

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from restock.forecasting.panel import Panel
    from restock.grain import Grain

BASELINES = ("naive", "moving_average")
SIM_SCHEMA = (
    "sku_id string, location_id string, abc_class string, demand_class string, "
    "lifecycle string, model string, strategy string, ss_method string, ss_used string, "
    "policy_type string, service_measure string, target_service_level double, "
    "lead_time_days double, review_period_days int, days int, demand double, "
    "served double, short double, "
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
    freeze_model_form: bool = True
    refit: bool = False
    series_per_bucket: int = 25

    @classmethod
    def from_conf(
        cls,
        conf: Mapping[str, Any],
        policy: PolicySettings | None = None,
        profile: ProfileSettings | None = None,
        forecast: ForecastSettings | None = None,
    ) -> SimulationSettings:
        """Read and check conf `simulation`; policy, profile and forecast are their sections,
        built once by the settings tree (read from conf when not given)."""
        s = section(conf, "simulation")
        forecast = forecast or ForecastSettings.from_conf(conf)
        policy = policy or PolicySettings.from_conf(conf["policy"], levels=forecast.levels,
                                                    period_days=forecast.grain.period_days)
        profile = profile or ProfileSettings.from_conf(conf)
        settings = cls(
            holdout_days=int(s["holdout_days"]), unmet_demand=str(s["unmet_demand"]),
            moving_average_days=int(s["moving_average_days"]), refit_days=int(s["refit_days"]),
            error_windows=int(s["error_windows"]), error_step_days=int(s["error_step_days"]),
            min_train_days=int(s["min_train_days"]), seed=int(s["seed"]),
            sample_share=float(s.get("sample_share", 1.0)),
            freeze_model_form=bool(s.get("freeze_model_form", True)),
            refit=bool(s.get("refit", False)),
            series_per_bucket=int(s.get("series_per_bucket", 25)),
            sigma_window_days=profile.demand_std_days, policy=policy, forecast=forecast,
        )
        if not 0 < settings.sample_share <= 1:
            raise ConfigError("simulation.sample_share: expected a share in (0, 1]")
        if settings.unmet_demand not in ("lost", "backorder"):
            raise ConfigError("simulation.unmet_demand: expected lost or backorder")
        for key in ("holdout_days", "moving_average_days", "refit_days", "error_step_days",
                    "min_train_days", "series_per_bucket"):
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


ITEM_PARAMS = ("lead_time_days", "lead_time_std_days", "review_period_days", "unit_cost",
               "order_cost", "holding_rate", "shortage_cost", "moq", "pack_size")


def simulate_series(y: np.ndarray, item: Item, s: SimulationSettings) -> list[dict[str, Any]]:
    """Replay every strategy on the last `holdout_days` of y (one dense daily series).

    Returns one metrics row per strategy and safety-stock method (see SIM_SCHEMA).
    """
    rows = simulate_many([y], [item_record(item)], s)
    return rows[0]


def simulate_many(ys: list[np.ndarray | History], recs: list[dict[str, Any]],
                  s: SimulationSettings) -> list[list[dict[str, Any]]]:
    """`simulate_series` for several series at once (their plans batched per review day),
    each a daily array or its `History`; a series with too short a history gets one
    `short_history` row."""
    out: list[list[dict[str, Any]]] = [[] for _ in ys]
    ready: list[tuple[int, Series]] = []
    for i, (y, rec) in enumerate(zip(ys, recs, strict=True)):
        days = (y.demand if isinstance(y, History) else y).size
        t0 = days - min(s.holdout_days, days)
        if t0 < s.min_train_days:
            out[i] = [{"status": "short_history", "error": f"{t0} days before the holdout"}]
        else:
            ready.append((i, prepare(y, rec, s)))
    if ready:
        found, _ = replay_bucket([series for _, series in ready], s)
        for (i, _), rows in zip(ready, found, strict=True):
            out[i] = rows
    return out


def item_record(item: Item) -> dict[str, Any]:
    """An `Item` as the plan-input fields the replay needs."""
    sku, location = item.key.split("\x1f")
    return {"sku_id": sku, "location_id": location, "model": item.model,
            "lifecycle": item.lifecycle, "abc_class": None, "demand_class": None,
            "service_level": item.service_level,
            **{k: getattr(item, k) for k in ITEM_PARAMS}}


def simulate_bucket(
    history: pd.DataFrame, series: pd.DataFrame, *, settings: SimulationSettings,
    as_of_date: dt.date,
) -> pd.DataFrame:
    """Simulate every series of one bucket (`series`: one row per series, SERIES_INPUT).

    A series without item params or at end of life gets one row with that status; when
    the bucket's replay raises, every series in it gets a `failed` row with the error,
    never a dead task.
    """
    if history.empty or series.empty:
        return pd.DataFrame(columns=_COLUMNS)
    grain = settings.forecast.grain
    panel = build_panel(history, grain.index_of(as_of_date),
                        availability=settings.forecast.availability)
    sold = panel.cells(history, history["quantity"].fillna(0.0).to_numpy())
    closed = panel.cells(history, ~open_rows(history)) > 0
    codes = panel.codes_of(series)
    rows, ys, recs, bases = [], [], [], []
    for code, rec in zip(codes, series.to_dict("records"), strict=True):
        base = {k: rec.get(k) for k in ("sku_id", "location_id", "abc_class", "demand_class",
                                        "lifecycle", "model", "lead_time_days",
                                        "review_period_days")}
        base["policy_type"] = settings.policy.policy_type
        base["service_measure"] = settings.policy.service_measure
        base["target_service_level"] = float(settings.policy.service_levels(
            [rec.get("service_level")], [rec.get("abc_class")])[0])
        if not rec.get("has_params"):
            rows.append({**base, "status": "no_item_params"})
        elif rec.get("lifecycle") == "end_of_life" or code < 0:
            rows.append({**base, "status": "end_of_life" if code >= 0 else "no_sales"})
        else:
            ys.append(replayed(panel, sold, closed, code, grain))
            recs.append(rec)
            bases.append(base)
    try:
        found = simulate_many(ys, recs, settings)
    except Exception as exc:  # noqa: BLE001 - a failed replay is rows, not a dead job
        found = [[{"status": "failed", "error": f"{type(exc).__name__}: {exc}"[:500]}]] * len(ys)
    for base, lanes in zip(bases, found, strict=True):
        rows.extend({**base, **r} for r in lanes)
    return _typed(pd.DataFrame(rows).reindex(columns=_COLUMNS))


def replayed(panel: Panel, sold: np.ndarray, closed: np.ndarray, code: int,
             grain: Grain) -> History:
    """One series of the panel as the replay's `History`: the model fits the panel's
    periods (unavailable ones filled); the replayed demand is what was sold (per panel cell,
    `sold`): 0 on closed periods, and 0 in a reporting gap or a stock-out, whose demand
    nobody saw (a filled estimate would replay demand that may not have been there)."""
    part = slice(panel.indptr[code], panel.indptr[code + 1])
    return History.of_periods(panel.series(code), sold[part], closed[part], grain,
                              int(panel.start[code]))


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


def replay_buckets(series: int, settings: SimulationSettings, most: int, cores: int) -> int:
    """Buckets for the replay: about `series_per_bucket` series each, at least one per core
    and at most `most` (the run's bucket count). The replay plans a bucket's series together
    on each review day, so its cost per bucket is nearly fixed (on the demo's series, 40
    series replayed in buckets of 2 took 37 CPU s, in one bucket 13 s); the forecast steps'
    many small buckets would spend most of the replay on that fixed part."""
    wanted = math.ceil(series / settings.series_per_bucket)
    return max(1, min(most, max(cores, wanted)))


def simulate(
    daily: DataFrame, series: DataFrame, *, settings: SimulationSettings, as_of_date: dt.date,
    buckets: int,
) -> DataFrame:
    """Per series and strategy metrics (SIM_SCHEMA), computed per bucket of series."""
    fn = partial(simulate_bucket, settings=settings, as_of_date=as_of_date)
    return per_bucket(daily, series, fn, SIM_SCHEMA, as_of_date=as_of_date, buckets=buckets,
                      grain=settings.forecast.grain)


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
