"""Forecast throughput: the restock Spark forecast step against plain statsforecast.

Generates N series with the generator's default mix, routes them by demand class, then
times in one run, on the same cores:
  (a) restock's forecast step: Delta sales -> routing -> batched applyInPandas (one
      StatsForecast(n_jobs=1) per bucket and model) -> Delta forecasts;
  (b) plain StatsForecast(models=[m], n_jobs=<cores>).forecast per routed model, on the
      same daily data held in pandas, the same models, the same horizon and levels (models
      without native intervals get ConformalIntervals with as many windows as restock's
      empirical intervals use).
  (a0) restock's forecast step weekly-only: calendar.features off (no promotion / event
      regressors, no uplift) and no series routed to the yearly model.
Prints the times, the ratios (a)/(b) and (a)/(a0), series per second per core and peak
driver memory, then the forecast step at 1k, 5k and 20k series.

    python bench/forecast_throughput.py [--series 5000] [--scale 1000,5000,20000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

END_DATE = dt.date(2026, 10, 31)


def _jvm_peak_mb(spark) -> float | None:
    """Peak resident memory of the driver JVM (VmHWM), when /proc shows it."""
    pid = spark.sparkContext._gateway.proc.pid
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def spark_worker(
    series: int, days: int, seed: int, work: Path, export: bool, weekly_only: bool = False
) -> dict:
    """Generate, ingest and profile (untimed), then time restock's forecast step."""
    from restock.app import pipeline
    from restock.dev.generate import generate
    from restock.io import tables
    from restock.io.config import load_conf
    from restock.io.session import build_spark

    conf = load_conf("local")
    conf["warehouse"] = str(work / f"warehouse_{series}{'_weekly' if weekly_only else ''}")
    if weekly_only:
        conf["calendar"].update(features=False, min_yearly_strength=2.0)
    spark = build_spark(conf)
    cores = spark.sparkContext.defaultParallelism
    for name, df in generate(spark, series, days, seed, END_DATE).items():
        tables.write_input(df, conf, name, "bench")
    run = pipeline.Run(spark, conf, f"bench-{series}")
    inputs = pipeline.read_inputs(run, ("sales",), ("item_params",))
    daily = inputs.daily
    profiled = pipeline.profile_step(run, inputs)
    started = time.perf_counter()
    pipeline.forecast_step(run, inputs, profiled, "routed")
    seconds = time.perf_counter() - started
    routes = pipeline.routes_for(run, profiled, "routed")
    mix = dict(routes.groupBy("model").count().collect())
    if export:
        daily.write.mode("overwrite").parquet(str(work / "daily.parquet"))
        routes.write.mode("overwrite").parquet(str(work / "routes.parquet"))
    runs = tables.read(spark, conf, "runs").where(f"run_id = '{run.run_id}'")
    failed = runs.where("job = 'forecast'").first()["failed_series"]
    return {
        "series": series,
        "forecast_series": sum(mix.values()),
        "models": mix,
        "cores": cores,
        "seconds": seconds,
        "failed": failed,
        "driver_python_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "driver_jvm_peak_mb": _jvm_peak_mb(spark),
    }


def plain_worker(work: Path, cores: int, as_of: str) -> dict:
    """Time plain StatsForecast on the exported daily sales and routes."""
    import pandas as pd
    from statsforecast import StatsForecast
    from statsforecast.models import HistoricAverage
    from statsforecast.utils import ConformalIntervals

    from restock.forecasting.forecast import ForecastSettings
    from restock.forecasting.models import MODELS
    from restock.forecasting.panel import build_panel, epoch_day
    from restock.io.config import load_conf

    settings = ForecastSettings.from_conf(load_conf("local"))
    daily = pd.read_parquet(work / "daily.parquet")
    routes = pd.read_parquet(work / "routes.parquet")
    history = daily.assign(day=(pd.to_datetime(daily["date"]) - pd.Timestamp("1970-01-01")).dt.days)
    panel = build_panel(history, epoch_day(dt.date.fromisoformat(as_of)))
    seconds = 0.0
    for name, group in routes.groupby("model"):
        spec = MODELS[name]
        model = spec.build(settings.season_length)
        if not spec.native_intervals:
            model.prediction_intervals = ConformalIntervals(
                h=settings.horizon_days, n_windows=settings.interval_windows
            )
        frame = panel.long(panel.codes_of(group))
        sf = StatsForecast(models=[model], freq=1, n_jobs=cores, fallback_model=HistoricAverage())
        started = time.perf_counter()
        sf.forecast(df=frame, h=settings.horizon_days, level=list(settings.levels))
        seconds += time.perf_counter() - started
    return {"seconds": seconds, "series": len(routes)}


def _child(*args: str) -> dict:
    """Run this script as a worker in a fresh process; return its JSON line."""
    out = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=5000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scale", default="1000,5000,20000",
                        help="series counts for the scaling curve ('' to skip)")
    parser.add_argument("--worker", choices=["spark", "plain"], help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--export", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--weekly-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cores", type=int, default=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "spark":
        print(json.dumps(spark_worker(args.series, args.days, args.seed, Path(args.work),
                                      args.export, args.weekly_only)))
        return
    if args.worker == "plain":
        as_of = END_DATE.isoformat()
        print(json.dumps(plain_worker(Path(args.work), args.cores, as_of)))
        return

    work = Path(tempfile.mkdtemp(prefix="restock-bench-"))
    try:
        common = ["--days", str(args.days), "--seed", str(args.seed), "--work", str(work)]
        print(f"generating and forecasting {args.series} series x {args.days} days ...",
              flush=True)
        ours = _child("--worker", "spark", "--series", str(args.series), "--export", *common)
        cores = ours["cores"]
        plain = _child("--worker", "plain", "--cores", str(cores), "--work", str(work))
        weekly = _child("--worker", "spark", "--series", str(args.series), "--weekly-only",
                        *common)
        ratio = ours["seconds"] / plain["seconds"]
        per_core = ours["forecast_series"] / ours["seconds"] / cores
        print(f"cores: {cores}   series forecast: {ours['forecast_series']} "
              f"(of {args.series}; end-of-life ones are not)   models: {ours['models']}")
        print(f"(a) restock Spark forecast step : {ours['seconds']:8.1f} s "
              f"(failed series: {ours['failed']})")
        print(f"(b) plain StatsForecast n_jobs={cores}: {plain['seconds']:8.1f} s")
        print(f"(a0) restock weekly-only        : {weekly['seconds']:8.1f} s "
              f"(models: {weekly['models']})")
        print(f"ratio (a)/(b)                  : {ratio:8.3f}")
        print(f"ratio (a)/(a0), calendar cost  : {ours['seconds'] / weekly['seconds']:8.3f}")
        print(f"series per second per core     : {per_core:8.2f}")
        print(f"peak driver memory             : python {ours['driver_python_peak_mb']:.0f} MB, "
              f"JVM {ours['driver_jvm_peak_mb'] or float('nan'):.0f} MB")
        points = [int(s) for s in args.scale.split(",") if s.strip()]
        if points:
            print("\nscaling (restock forecast step):")
            print(f"{'series':>8} {'seconds':>9} {'s/1k series':>12} {'py MB':>7} {'JVM MB':>7}")
            results = {}
            for n in points:
                r = ours if n == args.series else _child("--worker", "spark", "--series",
                                                          str(n), *common)
                results[n] = r
                print(f"{n:>8} {r['seconds']:>9.1f} {1000 * r['seconds'] / n:>12.2f} "
                      f"{r['driver_python_peak_mb']:>7.0f} {r['driver_jvm_peak_mb'] or 0:>7.0f}",
                      flush=True)
            if 5000 in results and 20000 in results:
                growth = results[20000]["seconds"] / results[5000]["seconds"]
                print(f"20k / 5k time: {growth:.2f} (linear = 4.00)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
