"""The real data sets of ../shared/data/real/ through restock's own path, scored at their grain.

Each data set is loaded with `restock ingest`'s code (`ingest.load_files` with the README's
column mapping), read back with `pipeline.read_inputs` (grain detection, bucketing to the
grain, closures from the `open` column), profiled on the training part; the last
`forecast.horizon_days` (as periods of the grain) are held out. Strategies forecast the
holdout with `forecast_bucket`, scored on the available periods only (open, with a row):
mean MASE (in-sample seasonal-naive MAE at the grain's season as the scale) and pooled
bias Σ(f − a) / Σ a. `zeros` is the routed strategy fitted as before this change: every
period, closed or missing, a zero (no availability rule). On Rossmann the holdout's closed
days are given as known closures (calendar events of type `closed`), and the mean
forecast on closed days and the open-day bias are printed.

    python bench/datasets.py --dataset rossmann|walmart|carparts [--series 200]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from restock.forecasting.exog import Events
from restock.forecasting.forecast import ForecastSettings, forecast_bucket
from restock.forecasting.metrics import seasonal_naive_scale
from restock.forecasting.panel import build_panel
from restock.grain import Grain, grain_of
from restock.io.config import load_conf
from restock.io.tables import SERIES_KEYS

KEYS = SERIES_KEYS
REAL = Path("/work/shared/data/real")


@dataclass(frozen=True)
class Dataset:
    """Files of one data set and the `--mapping` flags that load them as sales."""

    files: tuple[str, ...]
    mapping: tuple[str, ...]


DATASETS = {
    "rossmann": Dataset(("rossmann/rossmann-sales.csv",),
                        ("sku_id=Store", "location_id=Store", "date=Date", "quantity=Sales",
                         "open=Open", "promo=Promo")),
    "walmart": Dataset(("walmart_weekly/train.csv",),
                       ("sku_id=Dept", "location_id=Store", "date=Date",
                        "quantity=Weekly_Sales")),
    "carparts": Dataset(("carparts_monthly/carparts_long.csv",),
                        ("sku_id=part", "location_id=part", "date=month", "quantity=demand")),
}
STRATEGIES = ("SeasonalNaive", "AutoETS", "AutoTheta", "routed", "zeros")


def load(spark, conf: dict, name: str) -> None:
    """Ingest one data set's files into the sales table (restock ingest's code path)."""
    from restock.io.ingest import load_files
    from restock.io.sources import parse_mapping

    data = DATASETS[name]
    result = load_files(spark, conf, "sales", [str(REAL / f) for f in data.files],
                        run_id="bench_ingest", as_of_date=dt.date(2100, 1, 1),
                        mapping=parse_mapping(data.mapping, "sales"))
    print(result.summary())


def prepare(args: argparse.Namespace, work: Path) -> dict:
    """Spark part (untimed): ingest, read at the grain, sample, profile on the training part."""
    from pyspark.sql import functions as F

    from restock.app import pipeline
    from restock.io.session import build_spark

    conf = load_conf("local")
    conf["warehouse"] = str(work / "warehouse")
    spark = build_spark(conf)
    load(spark, conf, args.dataset)
    run = pipeline.Run(spark, conf, "bench")
    inputs = pipeline.read_inputs(run, ("sales",))
    print("\n".join(run.notes))
    grain = grain_of(conf)
    horizon = ForecastSettings.from_conf(conf).horizon_days
    keep = F.pmod(F.xxhash64(*KEYS), F.lit(1_000_000))
    daily = inputs.daily.withColumn("rank", keep)
    cut = daily.select(*KEYS, "rank").distinct().orderBy("rank").limit(args.series)
    daily = daily.join(cut.select(*KEYS), KEYS).persist()
    inputs.daily = daily
    end = run.as_of_date
    run.as_of_date = grain.end_of(grain.index_of(end) - horizon)
    profiled = pipeline.profile_step(run, inputs)
    routes = pipeline.routes_for(run, profiled, "routed").toPandas()
    is_open = F.coalesce(F.col("open"), F.lit(True)) if "open" in daily.columns else F.lit(True)
    history = daily.select(*KEYS, grain.index_col(F.col("date")).alias("day"), "quantity",
                           is_open.alias("open")).toPandas()
    print(f"{len(routes)} series at grain {grain.name}; holdout {horizon} periods after "
          f"{run.as_of_date} .. {end}; routed models: "
          + ", ".join(f"{m} {n}" for m, n in routes["model"].value_counts().items()))
    return {"history": history, "routes": routes, "conf": conf, "grain": grain,
            "train_end": run.as_of_date, "end": end, "horizon": horizon}


def closures(data: dict) -> Events | None:
    """The holdout's closed days as known closures (daily grain only)."""
    grain, history = data["grain"], data["history"]
    if grain.kind != "D":
        return None
    future = history[(history["day"] > grain.index_of(data["train_end"])) & ~history["open"]]
    days = future[["location_id", "day"]].drop_duplicates()
    return Events(day=days["day"].to_numpy(dtype=np.int64),
                  location=days["location_id"].to_numpy(dtype=object),
                  event_type=np.full(len(days), "closed", dtype=object))


def run_strategy(name: str, data: dict) -> tuple[pd.DataFrame, float]:
    """Forecast the holdout with one strategy; forecasts and CPU seconds."""
    settings = ForecastSettings.from_conf(data["conf"])
    grain: Grain = data["grain"]
    train = data["history"][data["history"]["day"] <= grain.index_of(data["train_end"])]
    routes = data["routes"]
    if name == "zeros":
        settings = dataclasses.replace(settings, availability=None)
        train = train.drop(columns="open")
    elif name != "routed":
        routes = routes[KEYS].assign(model=name)
    started = time.process_time()
    out = forecast_bucket(train, routes, settings=settings, as_of_date=data["train_end"],
                          events=None if name == "zeros" else closures(data))
    return out, time.process_time() - started


def score(forecasts: pd.DataFrame, data: dict) -> dict[str, float]:
    """Mean MASE and pooled bias on the holdout's available periods; on closed periods the
    mean forecast (`closed_yhat`)."""
    grain, season = data["grain"], ForecastSettings.from_conf(data["conf"]).season_length
    history = data["history"]
    end = grain.index_of(data["end"])
    panel = build_panel(history.drop(columns="open"), end)
    filled = build_panel(history, end, availability=ForecastSettings.from_conf(
        data["conf"]).availability)  # in-sample scale without false zeros
    rows_at = pd.MultiIndex.from_frame(history[[*KEYS, "day"]])
    closed_at = pd.MultiIndex.from_frame(history.loc[~history["open"], [*KEYS, "day"]])
    mase, errors, actuals, closed = [], 0.0, 0.0, []
    for (sku, loc), group in forecasts.dropna(subset=["yhat"]).groupby(KEYS):
        code = panel.codes_of(pd.DataFrame({"sku_id": [sku], "location_id": [loc]}))[0]
        y = panel.series(code)
        group = group.sort_values("step")
        h = len(group)
        day = np.arange(panel.end - h + 1, panel.end + 1)
        keys = pd.MultiIndex.from_arrays([[sku] * h, [loc] * h, day])
        shut = keys.isin(closed_at)
        ok = keys.isin(rows_at) & ~shut
        error = group["yhat"].to_numpy() - y[-h:]
        closed.extend(group["yhat"].to_numpy()[shut])
        scale = seasonal_naive_scale(filled.series(code)[:-h], season)
        if ok.any() and scale > 0:
            mase.append(np.mean(np.abs(error[ok])) / scale)
        errors += error[ok].sum()
        actuals += y[-h:][ok].sum()
    return {"mase": float(np.mean(mase)), "bias": errors / actuals if actuals else np.nan,
            "closed_yhat": float(np.mean(closed)) if closed else np.nan}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=sorted(DATASETS), required=True)
    parser.add_argument("--series", type=int, default=200, help="stable hash sample of series")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="restock-datasets-") as tmp:
        data = prepare(args, Path(tmp))
    results = {}
    for name in args.strategies.split(","):
        out, cpu = run_strategy(name, data)
        results[name] = {**score(out, data), "cpu_s": cpu}
    naive = results.get("SeasonalNaive", {}).get("mase", np.nan)
    print(f"\n{args.dataset}: {len(data['routes'])} series, grain {data['grain'].name}")
    print(f"{'strategy':<14}{'MASE':>8}{'vs naive':>10}{'bias':>9}{'closed yhat':>13}{'cpu s':>8}")
    for name, r in results.items():
        gain = 1 - r["mase"] / naive if naive == naive else np.nan
        print(f"{name:<14}{r['mase']:>8.3f}{gain:>+10.1%}{r['bias']:>+9.1%}"
              f"{r['closed_yhat']:>13.1f}{r['cpu_s']:>8.1f}")


if __name__ == "__main__":
    main()
