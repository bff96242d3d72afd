"""Accuracy per forecasting strategy on a holdout the strategies never saw.

The last `--horizon` days of every series are held out (by default 2026-11-27 .. 12-24:
Black Friday and the Christmas run-up). Everything else (profile, routing, backtest windows
for the per-series selection) uses only the days before them. Then each strategy forecasts
the holdout and is scored per series: MASE (scaled by the in-sample seasonal-naive MAE),
pooled WAPE and bias (Σ(forecast − actual) / Σ actual), plus the CPU seconds it used.
Strategies, weekly-only (season 7, no regressors): seasonal naive, AutoETS only, AutoARIMA
only, routing by demand class, per-series selection by backtest (its CPU includes the
backtest); calendar-aware: `calendar` = per-series selection with the yearly model (MSTL)
among the candidates where the yearly component is material and the promotion / event
regressors (post-hoc uplift for models without them). Bias is also reported on the holdout
days with a promotion, with a calendar event, and on plain days; on generated data MASE
is also given for the series the generator gave a yearly cycle or promotions, and two
oracles are scored: the generator's true mean demand and its true median (the forecast no
strategy beats on MAE, so the MASE floor the noise leaves). `--mix calendar` generates
data where every series has a yearly cycle and promotions.

    python bench/accuracy.py [--series 200] [--days 1095] [--mix default|calendar]
    python bench/accuracy.py --csv sales.csv --id-cols store,item --date-col date \\
        --target-col sales
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from restock.dev.generate import MAX_LOCATIONS, MIXES, demand_quantile, generated_days, series_spec
from restock.forecasting.backtest import BacktestSettings, backtest_bucket
from restock.forecasting.exog import Exog, split_promo
from restock.forecasting.forecast import ForecastSettings, forecast_bucket
from restock.forecasting.metrics import seasonal_naive_scale
from restock.forecasting.panel import EPOCH, build_panel, epoch_day
from restock.io.config import load_conf
from restock.io.tables import SERIES_KEYS

KEYS = SERIES_KEYS
WEEKLY = ["SeasonalNaive", "AutoETS", "AutoARIMA", "routing", "selection"]
STRATEGIES = [*WEEKLY, "calendar"]


def load_sales(args: argparse.Namespace, spark, conf: dict) -> None:
    """Write the bench's sales (and params) into the temp warehouse."""
    from restock.dev.generate import generate
    from restock.io import tables

    if not args.csv:
        frames = generate(spark, args.series, args.days, args.seed, args.end_date,
                          mix=MIXES[args.mix])
        for name, df in frames.items():
            tables.write_input(df, conf, name, "bench")
        return
    raw = pd.read_csv(args.csv)
    ids = [c.strip() for c in args.id_cols.split(",")]
    missing = [c for c in (*ids, args.date_col, args.target_col) if c not in raw.columns]
    if missing:
        raise SystemExit(f"{args.csv}: no column(s) {', '.join(missing)}")
    sales = pd.DataFrame({
        "sku_id": raw[ids[0]].astype(str),
        "location_id": raw[ids[1:]].astype(str).agg("/".join, axis=1) if ids[1:] else "all",
        "date": pd.to_datetime(raw[args.date_col]).dt.date,
        "quantity": pd.to_numeric(raw[args.target_col], errors="coerce").astype(float),
    })
    tables.write_input(spark.createDataFrame(sales), conf, "sales", f"bench csv {args.csv}")


def prepare(args: argparse.Namespace, work: Path) -> dict:
    """Spark part (untimed): ingest and profile at the training cut-off; pandas inputs."""
    from pyspark.sql import functions as F

    from restock.app import pipeline
    from restock.forecasting.backtest import candidates_of
    from restock.forecasting.calendar import CalendarSettings, collect_events, promo_days
    from restock.io.session import build_spark
    from restock.spark.routing import RoutingSettings, routing_expr

    conf = load_conf("local")
    conf["warehouse"] = str(work / "warehouse")
    spark = build_spark(conf)
    load_sales(args, spark, conf)
    run = pipeline.Run(spark, conf, "accuracy")
    inputs = pipeline.read_inputs(run, ("sales",), ("item_params",))
    daily = inputs.daily
    end = run.as_of_date
    run.as_of_date = end - dt.timedelta(days=args.horizon)
    profiled = pipeline.profile_step(run, inputs)
    routing = RoutingSettings.from_conf(conf, CalendarSettings.from_conf(conf))
    weekly = profiled.withColumn("model", routing_expr(routing))
    settings = BacktestSettings.from_conf(conf)
    history = daily.select(*KEYS, F.datediff("date", F.lit(EPOCH)).alias("day"), "quantity")
    promo = None
    if inputs.promotions is not None:
        promo = promo_days(inputs.promotions, end).select(
            *KEYS, F.datediff("date", F.lit(EPOCH)).alias("day"),
            F.lit(None).cast("double").alias("quantity"),
        ).toPandas()
    return {
        "history": history.toPandas(),
        "promo": promo,
        "events": collect_events(inputs.calendar, inputs.promotions is not None),
        "routes": {
            "weekly": weekly.where(F.col("model").isNotNull()).select(*KEYS, "model").toPandas(),
            "calendar": pipeline.routes_for(run, profiled, "routed").toPandas(),
        },
        "candidates": {
            "weekly": candidates_of(profiled, settings).toPandas(),
            # without calendar.benchmark: a reference for reports, not part of the strategy
            "calendar": candidates_of(profiled, settings, dataclasses.replace(
                CalendarSettings.from_conf(conf), benchmark=None)).toPandas(),
        },
        "train_end": run.as_of_date,
        "end": end,
        "conf": conf,
    }


def run_strategy(name: str, data: dict, horizon: int) -> tuple[str, pd.DataFrame, float]:
    """Forecast the holdout with one strategy; return forecasts and CPU seconds."""
    conf = data["conf"]
    fc = ForecastSettings.from_conf(conf)
    fc = type(fc)(**{**fc.__dict__, "horizon_days": horizon})
    train = data["history"][data["history"]["day"] <= epoch_day(data["train_end"])]
    aware = name == "calendar"
    events = data["events"] if aware else None
    if aware and data["promo"] is not None:
        train = pd.concat([train, data["promo"]], ignore_index=True)
    kind = "calendar" if aware else "weekly"
    routes = data["routes"][kind]
    started = time.process_time()
    if name in ("selection", "calendar"):
        bt = BacktestSettings.from_conf(conf)
        ranked = backtest_bucket(train, data["candidates"][kind], settings=bt,
                                 as_of_date=data["train_end"], events=events)
        chosen = ranked[(ranked["scope"] == "series") & ranked["selected"]]
        routes = routes.merge(chosen[[*KEYS, "model"]].rename(columns={"model": "selected"}),
                              on=KEYS, how="left")
        routes["model"] = routes["selected"].fillna(routes["model"])
        routes = routes[[*KEYS, "model"]]
    elif name != "routing":
        routes = routes[KEYS].assign(model=name)
    out = forecast_bucket(train, routes, settings=fc, as_of_date=data["train_end"],
                          events=events)
    return name, out, time.process_time() - started


def day_flags(data: dict, panel, horizon: int) -> tuple[set, set]:
    """(series code, epoch day) pairs of the holdout with a promotion / a calendar event."""
    events = data["events"]
    if events is None:
        return set(), set()
    promo = data["promo"] if data["promo"] is not None else pd.DataFrame(columns=[*KEYS, "day"])
    exog = Exog.build(panel, promo, events)
    codes = np.repeat(np.arange(len(panel)), horizon)
    days = np.tile(np.arange(panel.end - horizon + 1, panel.end + 1), len(panel))
    x = exog.indicators(codes, days)
    event = x[[c for c in x.columns if c.startswith("event_")]].sum(axis=1).to_numpy() > 0
    promoted = x["promo"].to_numpy() > 0 if "promo" in x else np.zeros(len(x), dtype=bool)
    pairs = list(zip(codes.tolist(), days.tolist(), strict=True))
    return ({p for p, f in zip(pairs, promoted, strict=True) if f},
            {p for p, f in zip(pairs, event, strict=True) if f})


def score(forecasts: pd.DataFrame, data: dict, season: int) -> pd.DataFrame:
    """Per series: MAE, MASE scale, sums for WAPE and bias on the holdout, and the error and
    actual sums on promotion days, calendar-event days and plain days."""
    history, _ = split_promo(data["history"])
    panel = build_panel(history, epoch_day(data["end"]))
    rows = []
    flags = data["flags"]
    for (sku, loc), group in forecasts.dropna(subset=["yhat"]).groupby(KEYS):
        code = panel.codes_of(pd.DataFrame({"sku_id": [sku], "location_id": [loc]}))[0]
        y = panel.series(code)
        group = group.sort_values("step")
        actual = y[-len(group):]
        train = y[: -len(group)]
        errors = group["yhat"].to_numpy() - actual
        days = range(panel.end - len(group) + 1, panel.end + 1)
        masks = [np.array([(code, d) in f for d in days], dtype=bool) for f in flags]
        plain = ~(masks[0] | masks[1])
        parts = [v for m in (*masks, plain) for v in (errors[m].sum(), actual[m].sum())]
        rows.append((sku, loc, np.mean(np.abs(errors)), seasonal_naive_scale(train, season),
                     errors.sum(), actual.sum(), np.abs(errors).sum(), *parts))
    return pd.DataFrame(rows, columns=[
        *KEYS, "mae", "scale", "sum_error", "sum_actual", "sum_abs_error",
        "promo_error", "promo_actual", "event_error", "event_actual", "plain_error",
        "plain_actual",
    ])


def series_ids(keys: pd.DataFrame, n_series: int) -> np.ndarray:
    """The generator's series ids of sku_id / location_id keys."""
    n_loc = min(MAX_LOCATIONS, n_series)
    return (keys["sku_id"].str[3:].astype(int) * n_loc
            + keys["location_id"].str[3:].astype(int)).to_numpy()


def oracle(keys: pd.DataFrame, args: argparse.Namespace, data: dict,
           q: float | None) -> pd.DataFrame:
    """The generator's true demand distribution over the holdout as a forecast, its mean
    (q None) or its q-quantile: with the median, the MASE no strategy can beat on average
    (generated data only)."""
    days = generated_days(args.days, data["end"])
    parts = []
    for (sku, loc), i in zip(keys[KEYS].itertuples(index=False), series_ids(keys, args.series),
                             strict=True):
        spec = series_spec(args.seed, int(i), MIXES[args.mix])
        yhat = demand_quantile(spec, args.seed, int(i), days, q)
        parts.append(pd.DataFrame({"sku_id": sku, "location_id": loc,
                                   "step": np.arange(1, args.horizon + 1),
                                   "yhat": yhat[-args.horizon:]}))
    return pd.concat(parts, ignore_index=True)


def generated_subsets(keys: pd.DataFrame, args: argparse.Namespace) -> dict[str, np.ndarray]:
    """Masks of the series the generator gave a yearly cycle / promotions (ids from keys)."""
    mix = MIXES[args.mix]
    specs = [series_spec(args.seed, int(i), mix) for i in series_ids(keys, args.series)]
    return {
        "yearly cycle": np.array([s.season_amplitude > 0 for s in specs]),
        "promotions": np.array([s.promos_per_year > 0 for s in specs]),
    }


def _ratio(num: pd.Series, den: pd.Series) -> float:
    """Σ num / Σ den, NaN when the denominator is 0."""
    total = den.sum()
    return num.sum() / total if total else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=200)
    parser.add_argument("--days", type=int, default=1095)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--horizon", type=int, default=28)
    parser.add_argument("--end-date", type=dt.date.fromisoformat, default=dt.date(2026, 12, 24))
    parser.add_argument("--mix", choices=sorted(MIXES), default="default",
                        help="generated data: the generator's mix of patterns, yearly cycles "
                             "and promotions")
    parser.add_argument("--csv", help="daily sales CSV instead of generated data")
    parser.add_argument("--id-cols", default="sku_id,location_id")
    parser.add_argument("--date-col", default="date")
    parser.add_argument("--target-col", default="quantity")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--strategies", default=",".join(STRATEGIES),
                        help="comma list, from: " + ", ".join(STRATEGIES))
    args = parser.parse_args()
    strategies = [n.strip() for n in args.strategies.split(",") if n.strip()]
    unknown = sorted(set(strategies) - set(STRATEGIES))
    if unknown:
        raise SystemExit(f"--strategies: unknown {', '.join(unknown)}")
    work = Path(tempfile.mkdtemp(prefix="restock-accuracy-"))
    try:
        data = prepare(args, work)
        n = len(strategies)
        with ProcessPoolExecutor(args.workers) as pool:
            results = list(pool.map(run_strategy, strategies, [data] * n, [args.horizon] * n))
        season = int(data["conf"]["forecast"]["season_length"])
        history, _ = split_promo(data["history"])
        data["flags"] = day_flags(data, build_panel(history, epoch_day(data["end"])),
                                  args.horizon)
        scored = {name: score(out, data, season) for name, out, _ in results}
        common = set.intersection(*(set(zip(s["sku_id"], s["location_id"], strict=True))
                                    for s in scored.values()))
        print(f"{len(common)} series, holdout {data['train_end'] + dt.timedelta(days=1)} .. "
              f"{data['end']} ({args.horizon} days)")
        subsets = {}
        if not args.csv:
            keys = pd.DataFrame(sorted(common), columns=KEYS)
            subsets = generated_subsets(keys, args)
            for name, q in (("oracle mean", None), ("oracle median", 0.5)):
                scored[name] = score(oracle(keys, args, data, q), data, season)
                results.append((name, None, 0.0))
        extra = "".join(f" {'MASE ' + k[:6]:>12}" for k in subsets)
        print(f"{'strategy':<14} {'MASE':>7}{extra} {'WAPE':>7} {'bias':>7} {'promo':>7} "
              f"{'event':>7} {'plain':>7} {'CPU s':>8}")
        table = {}
        for name, _, cpu in results:
            s = scored[name]
            s = s[[k in common for k in zip(s["sku_id"], s["location_id"], strict=True)]]
            s = s.sort_values(KEYS, ignore_index=True)
            per_series = s["mae"] / s["scale"].where(s["scale"] > 0)
            table[name] = mase = per_series.mean()
            parts = "".join(f" {per_series[m].mean():>12.3f}" for m in subsets.values())
            biases = [_ratio(s[f"{k}_error"], s[f"{k}_actual"]) for k in ("promo", "event",
                                                                         "plain")]
            print(f"{name:<14} {mase:>7.3f}{parts} "
                  f"{_ratio(s['sum_abs_error'], s['sum_actual']):>7.3f} "
                  f"{_ratio(s['sum_error'], s['sum_actual']):>+7.3f} "
                  + " ".join(f"{b:>+7.3f}" for b in biases) + f" {cpu:>8.1f}")
        singles = [table[n] for n in ("SeasonalNaive", "AutoETS", "AutoARIMA") if n in table]
        if "selection" in table and singles:
            print(f"selection vs best single model: {table['selection'] / min(singles):.3f} "
                  "(target <= 1)")
        if {"selection", "SeasonalNaive"} <= set(table):
            print(f"selection vs seasonal naive: {table['selection'] / table['SeasonalNaive']:.3f}"
                  " (target <= 0.900)")
        for other, target in (("AutoETS", " (target <= 0.750)"), ("selection", "")):
            if {"calendar", other} <= set(table):
                print(f"calendar-aware vs weekly-only {other}: "
                      f"{table['calendar'] / table[other]:.3f}{target}")
        if {"oracle median", "AutoETS"} <= set(table):
            print("oracle median vs weekly-only AutoETS: "
                  f"{table['oracle median'] / table['AutoETS']:.3f} (the lowest ratio the "
                  "noise in this data allows)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
