"""Scale: `restock run --no-backtest` (ingest, quality, profile, forecast, plan) on N
generated series x 365 days, with cheap models for most series and AutoETS for ~5 %.

Prints per-step seconds, series per second per core, the framework's own cost per series
(the same run with a trivial model, Naive, for every series: everything but model
fitting), peak driver memory (Python RSS; JVM heap used and resident size; the JVM's live
heap at each step's end, from the JDK's `jcmd GC.class_histogram`), the output tables'
file counts and sizes, and a sizing line: cores for 1M and 10M series in a 15-minute
window. One process, one Spark session (local[*] of conf/local.yaml).

    python bench/scale.py --series 10000 [--json out.jsonl]

The per-series model mix is the bench's own routing (a stable hash of the series keys),
swapped in for `pipeline.routes_for`; everything else is the pipeline's steps as they are.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

END_DATE = dt.date(2026, 10, 31)
OUTPUTS = ("runs", "quarantine", "data_quality", "series_profile", "forecasts", "plans")
STEPS = ("ingest", "quality", "profile", "forecast", "plan")
WINDOW_SECONDS = 15 * 60


class JvmWatch(threading.Thread):
    """Samples the driver JVM's used heap every second (local mode: executors included)."""

    def __init__(self, spark) -> None:
        super().__init__(daemon=True)
        self.runtime = spark.sparkContext._jvm.java.lang.Runtime.getRuntime()
        self.pid = spark.sparkContext._gateway.proc.pid
        self.peak_heap = 0
        self.live: list[int] = []  # MB after a full GC, per step (`timed_run`)
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(1.0):
            try:
                used = self.runtime.totalMemory() - self.runtime.freeMemory()
            except Exception:  # noqa: BLE001 - the session is stopping
                return
            self.peak_heap = max(self.peak_heap, used)

    def live_mb(self) -> int:
        """The JVM's live heap: the total of `jcmd <pid> GC.class_histogram`, which counts
        the objects left after a full GC at a safepoint. What it holds, not what G1 has yet
        to collect (the sampled peak fills toward spark.driver.memory before it collects).
        `Runtime.gc()` then used - free, used before, read 131 to 416 MB after the steps
        of one 5,000-series run: System.gc is a request the JVM need not serve as a full
        collection."""
        try:
            out = subprocess.run(["jcmd", str(self.pid), "GC.class_histogram"],
                                 capture_output=True, text=True, timeout=120, check=True)
        except (OSError, subprocess.SubprocessError) as exc:
            raise SystemExit(f"bench/scale.py needs the JDK's jcmd: {exc}") from exc
        total = next(line for line in out.stdout.splitlines() if line.startswith("Total"))
        return round(int(total.split()[2]) / 2**20)

    def resident_peak_mb(self) -> float | None:
        """VmHWM of the JVM process."""
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024)
        except OSError:
            return None
        return None


def mixed_routes(cheap: str, etl_share: float, expensive: str = "AutoETS"):
    """A routes_for replacement: `expensive` for a stable etl_share of series, else cheap."""
    from pyspark.sql import functions as F

    from restock.io.tables import SERIES_KEYS

    def routes(run, profiled, models):
        pick = F.pmod(F.xxhash64(*SERIES_KEYS), F.lit(10_000)) < int(etl_share * 10_000)
        model = F.when(pick, F.lit(expensive)).otherwise(F.lit(cheap))
        return profiled.select(*SERIES_KEYS, model.alias("model"))

    return routes


def timed_run(spark, conf, run_id: str, routes, watch: JvmWatch) -> dict[str, float]:
    """The pipeline's steps of `restock run --no-backtest`; seconds per step. Appends the
    JVM's live heap after each step, and after the inputs are unpersisted, to watch.live."""
    from restock.app import pipeline
    from restock.spark.progress import ProgressSettings

    pipeline.routes_for = routes
    run = pipeline.Run(spark, conf, run_id, progress=ProgressSettings.from_conf(conf))
    seconds: dict[str, float] = {}

    def timed(name: str, call):
        t = time.perf_counter()
        result = call()
        seconds[name] = time.perf_counter() - t
        watch.live.append(watch.live_mb())
        return result

    inputs = timed("ingest", lambda: pipeline.read_inputs(
        run, ("sales", "item_params", "inventory")))
    timed("quality", lambda: pipeline.quality_step(run, inputs, END_DATE))
    profiled = timed("profile", lambda: pipeline.profile_step(run, inputs))
    timed("forecast", lambda: pipeline.forecast_step(run, inputs, profiled, "routed"))
    timed("plan", lambda: pipeline.plan_step(run, inputs))
    for df in (inputs.daily, inputs.item_params, inputs.inventory, inputs.calendar,
               inputs.promotions):
        if df is not None:
            df.unpersist()
    watch.live.append(watch.live_mb())
    return seconds


def table_files(spark, conf) -> dict[str, dict[str, float]]:
    """Files and MB of each output table's current version, and on disk (all versions)."""
    from restock.io import tables

    out = {}
    for name in OUTPUTS:
        if not tables.exists(spark, conf, name):
            continue
        path = tables.location(conf, name)
        detail = spark.sql(f"DESCRIBE DETAIL delta.`{path}`").first()
        disk = [p for p in Path(path).rglob("*.parquet")]
        out[name] = {"files": int(detail["numFiles"]), "mb": detail["sizeInBytes"] / 1e6,
                     "files_on_disk": len(disk),
                     "mb_on_disk": sum(p.stat().st_size for p in disk) / 1e6}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--etl-share", type=float, default=0.05, help="AutoETS share")
    parser.add_argument("--cheap", default="SeasonalNaive", help="model of the other series")
    parser.add_argument("--trivial", default="Naive", help="model of the framework-cost run")
    parser.add_argument("--work", help="warehouse folder (default: a temp dir, removed)")
    parser.add_argument("--json", help="append the result as one JSON line to this file")
    args = parser.parse_args()

    from restock.dev.generate import generate
    from restock.io import tables
    from restock.io.config import load_conf
    from restock.io.session import build_spark

    work = Path(args.work or tempfile.mkdtemp(prefix="restock-scale-"))
    conf = load_conf("local")
    conf["warehouse"] = str(work / "warehouse")
    conf["progress"] = {**(conf.get("progress") or {}), "mode": "log", "log_every_seconds": 60}
    spark = build_spark(conf)
    cores = spark.sparkContext.defaultParallelism
    watch = JvmWatch(spark)
    watch.start()
    t = time.perf_counter()
    for name, df in generate(spark, args.series, args.days, args.seed, END_DATE).items():
        tables.write_input(df, conf, name, "bench scale")
    generate_s = time.perf_counter() - t

    trivial = timed_run(spark, conf, "scale-trivial", mixed_routes(args.trivial, 0.0), watch)
    mixed = timed_run(spark, conf, "scale-mix", mixed_routes(args.cheap, args.etl_share), watch)
    watch.halt.set()
    result = summarise(args, cores, generate_s, trivial, mixed, watch, table_files(spark, conf))
    print_result(result)
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps(result) + "\n")
    spark.stop()
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


def summarise(args, cores, generate_s, trivial, mixed, watch, files) -> dict:
    """The numbers the bench prints, as one dict."""
    total = sum(mixed.values())
    core_s_per_series = total * cores / args.series
    return {
        "series": args.series, "days": args.days, "cores": cores,
        "models": f"{args.etl_share:.0%} AutoETS, rest {args.cheap}",
        "generate_s": round(generate_s, 1),
        "steps_s": {k: round(v, 1) for k, v in mixed.items()},
        "trivial_steps_s": {k: round(v, 1) for k, v in trivial.items()},
        "total_s": round(total, 1),
        "series_per_s_per_core": round(args.series / total / cores, 2),
        "forecast_series_per_s_per_core": round(args.series / mixed["forecast"] / cores, 2),
        "framework_ms_per_series": round(sum(trivial.values()) * cores / args.series * 1e3, 2),
        "framework_forecast_ms_per_series":
            round(trivial["forecast"] * cores / args.series * 1e3, 2),
        "driver_python_peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "driver_jvm_heap_peak_mb": round(watch.peak_heap / 2**20),
        "driver_jvm_resident_peak_mb": watch.resident_peak_mb(),
        "driver_jvm_live_max_mb": max(watch.live),
        "driver_jvm_live_end_mb": watch.live[-1],
        "tables": files,
        "cores_1m": round(1e6 * core_s_per_series / WINDOW_SECONDS, 1),
        "cores_10m": round(1e7 * core_s_per_series / WINDOW_SECONDS, 1),
        "load_avg_1m": round(os.getloadavg()[0], 1),
    }


def print_result(r: dict) -> None:
    print(f"\nscale: {r['series']} series x {r['days']} days on {r['cores']} cores "
          f"({r['models']}); generate {r['generate_s']} s; load average {r['load_avg_1m']}")
    print("step seconds:      " + "  ".join(f"{k} {v}" for k, v in r["steps_s"].items())
          + f"  = {r['total_s']} s")
    print("trivial (Naive):   " + "  ".join(f"{k} {v}" for k, v in r["trivial_steps_s"].items()))
    print(f"throughput: {r['series_per_s_per_core']} series/s/core over the whole run, "
          f"{r['forecast_series_per_s_per_core']} in the forecast step")
    print(f"framework cost: {r['framework_ms_per_series']} core-ms per series for the run, "
          f"{r['framework_forecast_ms_per_series']} in the forecast step (trivial model)")
    print(f"driver peak: Python RSS {r['driver_python_peak_mb']} MB, JVM heap used "
          f"{r['driver_jvm_heap_peak_mb']} MB, JVM resident {r['driver_jvm_resident_peak_mb']} MB")
    print(f"JVM live heap after a full GC: at most {r['driver_jvm_live_max_mb']} MB after a "
          f"step, {r['driver_jvm_live_end_mb']} MB once the run's inputs are unpersisted")
    for name, f in r["tables"].items():
        print(f"table {name:<15} {f['files']:>5} files {f['mb']:>9.2f} MB current; "
              f"{f['files_on_disk']:>5} files {f['mb_on_disk']:>9.2f} MB on disk")
    print(f"sizing: 1M series in 15 min need ~{r['cores_1m']} cores, 10M ~{r['cores_10m']} "
          f"cores (at {r['series_per_s_per_core']} series/s/core, linear scaling assumed)")


if __name__ == "__main__":
    main()
