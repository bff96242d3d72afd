"""Accuracy per forecasting strategy on a holdout the strategies never saw.

The last `--horizon` days of every series are held out. Everything else (profile, routing,
backtest windows for the per-series selection) uses only the days before them. Then each
strategy forecasts the holdout and is scored per series: MASE (scaled by the in-sample
seasonal-naive MAE), pooled WAPE and bias (Σ(forecast − actual) / Σ actual), plus the CPU
seconds it used. Strategies: seasonal naive, AutoETS only, AutoARIMA only, routing by demand
class, and per-series selection by backtest (its CPU includes the backtest).

    python bench/accuracy.py [--series 200] [--days 730]
    python bench/accuracy.py --csv sales.csv --id-cols store,item --date-col date \\
        --target-col sales
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from restock.backtest import BacktestSettings, backtest_bucket
from restock.config import load_conf
from restock.forecast import ForecastSettings, forecast_bucket
from restock.metrics import seasonal_naive_scale
from restock.panel import EPOCH, build_panel, epoch_day
from restock.tables import SERIES_KEYS

END_DATE = dt.date(2026, 10, 31)
KEYS = SERIES_KEYS


def load_sales(args: argparse.Namespace, spark, conf: dict) -> None:
    """Write the bench's sales (and params) into the temp warehouse."""
    from restock import tables
    from restock.generate import generate

    if not args.csv:
        for name, df in generate(spark, args.series, args.days, args.seed, END_DATE).items():
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

    from restock import pipeline
    from restock.backtest import candidates_of
    from restock.session import build_spark

    conf = load_conf("local")
    conf["warehouse"] = str(work / "warehouse")
    spark = build_spark(conf)
    load_sales(args, spark, conf)
    run = pipeline.Run(spark, conf, "accuracy")
    inputs = pipeline.ingest(run, ("sales",), ("item_params",))
    daily = inputs.daily
    end = run.as_of_date
    run.as_of_date = end - dt.timedelta(days=args.horizon)
    profiled = pipeline.profile_step(run, inputs)
    routed = pipeline.routes_for(run, profiled, "routed")
    settings = BacktestSettings.from_conf(conf)
    history = daily.select(*KEYS, F.datediff("date", F.lit(EPOCH)).alias("day"), "quantity")
    return {
        "history": history.toPandas(),
        "routes": routed.toPandas(),
        "candidates": candidates_of(profiled, settings).toPandas(),
        "classes": profiled.select(*KEYS, "demand_class").toPandas(),
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
    routes = data["routes"]
    started = time.process_time()
    if name == "selection":
        bt = BacktestSettings.from_conf(conf)
        ranked = backtest_bucket(train, data["candidates"], settings=bt,
                                 as_of_date=data["train_end"])
        chosen = ranked[(ranked["scope"] == "series") & ranked["selected"]]
        routes = routes.merge(chosen[[*KEYS, "model"]].rename(columns={"model": "selected"}),
                              on=KEYS, how="left")
        routes["model"] = routes["selected"].fillna(routes["model"])
        routes = routes[[*KEYS, "model"]]
    elif name != "routing":
        routes = routes[KEYS].assign(model=name)
    out = forecast_bucket(train, routes, settings=fc, as_of_date=data["train_end"])
    return name, out, time.process_time() - started


def score(forecasts: pd.DataFrame, data: dict, season: int) -> pd.DataFrame:
    """Per series: MAE, MASE scale, sums for WAPE and bias on the holdout."""
    panel = build_panel(data["history"], epoch_day(data["end"]))
    rows = []
    for (sku, loc), group in forecasts.dropna(subset=["yhat"]).groupby(KEYS):
        code = panel.codes_of(pd.DataFrame({"sku_id": [sku], "location_id": [loc]}))[0]
        y = panel.series(code)
        group = group.sort_values("step")
        actual = y[-len(group):]
        train = y[: -len(group)]
        errors = group["yhat"].to_numpy() - actual
        rows.append((sku, loc, np.mean(np.abs(errors)), seasonal_naive_scale(train, season),
                     errors.sum(), actual.sum(), np.abs(errors).sum()))
    return pd.DataFrame(rows, columns=[*KEYS, "mae", "scale", "sum_error", "sum_actual",
                                       "sum_abs_error"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=200)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--horizon", type=int, default=28)
    parser.add_argument("--csv", help="daily sales CSV instead of generated data")
    parser.add_argument("--id-cols", default="sku_id,location_id")
    parser.add_argument("--date-col", default="date")
    parser.add_argument("--target-col", default="quantity")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="restock-accuracy-"))
    try:
        data = prepare(args, work)
        strategies = ["SeasonalNaive", "AutoETS", "AutoARIMA", "routing", "selection"]
        with ProcessPoolExecutor(args.workers) as pool:
            results = list(pool.map(run_strategy, strategies, [data] * 5, [args.horizon] * 5))
        season = int(data["conf"]["forecast"]["season_length"])
        scored = {name: score(out, data, season) for name, out, _ in results}
        common = set.intersection(*(set(zip(s["sku_id"], s["location_id"], strict=True))
                                    for s in scored.values()))
        print(f"{len(common)} series, holdout {data['train_end'] + dt.timedelta(days=1)} .. "
              f"{data['end']} ({args.horizon} days)")
        print(f"{'strategy':<14} {'MASE':>7} {'WAPE':>7} {'bias':>7} {'CPU s':>8}")
        table = {}
        for name, _, cpu in results:
            s = scored[name]
            s = s[[k in common for k in zip(s["sku_id"], s["location_id"], strict=True)]]
            mase = (s["mae"] / s["scale"].where(s["scale"] > 0)).mean()
            wape = s["sum_abs_error"].sum() / s["sum_actual"].sum()
            bias = s["sum_error"].sum() / s["sum_actual"].sum()
            table[name] = mase
            print(f"{name:<14} {mase:>7.3f} {wape:>7.3f} {bias:>+7.3f} {cpu:>8.1f}")
        best_single = min(table[n] for n in ("SeasonalNaive", "AutoETS", "AutoARIMA"))
        print(f"selection vs best single model: {table['selection'] / best_single:.3f} "
              f"(target <= 1); vs seasonal naive: {table['selection'] / table['SeasonalNaive']:.3f}"
              f" (target <= 0.900)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
