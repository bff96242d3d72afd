"""Does the plan deliver its service level? The policy simulator on the generated default mix.

Profile, backtest and model selection run at the cut-off `END − holdout`, so nothing about
the replayed period (not even which model a series gets) is known to the policy. Then
`restock simulate` replays the last `--holdout` days: each review refits the model on the
days before it and recomputes the policy, for restock's three safety-stock methods and
two baselines (the naive `Q = max(0, D − IP)` and a moving-average order-up-to rule).

The replay runs once per service measure (`policy.service_measure` cycle, then
fill_rate), with MOQ and pack rounding on unless `--no-rounding`. Prints, per measure,
ABC class and overall: target and achieved service (cycle service level, or fill rate)
and the gap in points, fill rate, turnover and cost; then the checks:
- achieved service within ±2 points of the target per ABC class and overall (per method);
- restock reaches at least a baseline's fill rate at lower relevant cost (holding +
  ordering + shortage), or a higher fill rate at equal cost.

    python bench/policy.py [--series 400] [--days 730] [--holdout 91] [--unmet lost]
                           [--measures cycle fill_rate]
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd

from restock.io.config import load_conf

END_DATE = dt.date(2026, 10, 31)
COLUMNS = ["measure", "group", "strategy", "ss_method", "series", "target_service_level",
           "achieved", "gap_pts", "cycle_service_level", "fill_rate", "inventory_turnover",
           "stockout_days", "relevant_cost", "total_cost"]
TOLERANCE_PTS = 2.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=400)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--holdout", type=int, default=91)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--unmet", choices=("lost", "backorder"), default="lost")
    parser.add_argument("--policy", choices=("periodic", "continuous"), default="periodic")
    parser.add_argument("--measures", nargs="+", choices=("cycle", "fill_rate"),
                        default=["cycle", "fill_rate"])
    parser.add_argument("--no-rounding", action="store_true",
                        help="set every MOQ and pack size to 0 (isolates the rounding's effect)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="restock-policy-bench-"))
    try:
        summary, timings = run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(summary, timings, args)


def run(args: argparse.Namespace, work: Path) -> tuple[pd.DataFrame, dict[str, float]]:
    """Generate, fit at the cut-off, simulate the held-out days; the summary and timings."""
    from pyspark.sql import functions as F

    from restock.app import pipeline
    from restock.dev.generate import generate
    from restock.io import tables
    from restock.io.session import build_spark

    conf = load_conf("local")
    conf["warehouse"] = str(work / "warehouse")
    conf["simulation"]["holdout_days"] = args.holdout
    conf["simulation"]["unmet_demand"] = args.unmet
    conf["policy"]["type"] = args.policy
    spark = build_spark(conf)
    for name, df in generate(spark, args.series, args.days, args.seed, END_DATE).items():
        if name == "item_params" and args.no_rounding:
            df = df.withColumn("moq", F.lit(0.0)).withColumn("pack_size", F.lit(0.0))
        tables.write_input(df, conf, name, "bench policy")
    timings = {}
    cutoff = END_DATE - dt.timedelta(days=args.holdout)
    started = time.perf_counter()
    fit = pipeline.Run(spark, conf, "fit", cutoff)
    inputs = pipeline.read_inputs(fit, ("sales", "item_params", "inventory"))
    profiled = pipeline.profile_step(fit, inputs)
    pipeline.backtest_step(fit, inputs, profiled)
    pipeline.forecast_step(fit, inputs, profiled, "auto")
    timings["profile + backtest + forecast at the cut-off (s)"] = time.perf_counter() - started
    summaries = []
    for measure in args.measures:
        conf["policy"]["service_measure"] = measure
        started = time.perf_counter()
        sim = pipeline.Run(spark, conf, f"simulate-{measure}", END_DATE)
        summaries.append(pipeline.simulate_step(sim, "fit").toPandas().assign(measure=measure))
        timings[f"simulate {measure} (s)"] = time.perf_counter() - started
    summary = pd.concat(summaries, ignore_index=True)
    rows = tables.read(spark, conf, "simulation").where(f"run_id = 'simulate-{measure}'")
    timings["series simulated"] = rows.where("status = 'ok'").select(
        "sku_id", "location_id").distinct().count()
    timings["fits per series"] = 3 + -(-args.holdout // 7)  # error windows + weekly reviews
    spark.stop()
    return summary, timings


def report(summary: pd.DataFrame, timings: dict[str, float], args: argparse.Namespace) -> None:
    """Print the table and the two checks."""
    achieved = summary["cycle_service_level"].where(summary["measure"] == "cycle",
                                                    summary["fill_rate"])
    summary = summary.assign(
        achieved=achieved, gap_pts=(achieved - summary["target_service_level"]) * 100,
        order=summary["group_type"].map({"abc_class": 0, "overall": 1}),
    ).sort_values(["measure", "order", "group", "strategy", "ss_method"])
    pd.set_option("display.width", 200)
    print(f"\npolicy simulation: {args.series} series x {args.days} days, last {args.holdout} "
          f"days replayed, {args.policy} review, unmet demand {args.unmet}"
          + (", MOQ and pack size set to 0" if args.no_rounding else ""))
    for name, value in timings.items():
        print(f"  {name}: {value:,.1f}" if isinstance(value, float) else f"  {name}: {value}")
    print(summary[COLUMNS].round(3).to_string(index=False))

    print(f"\ncheck 1: achieved service within ±{TOLERANCE_PTS:g} points of the target, "
          "per ABC class and overall")
    restock = summary[summary["strategy"] == "restock"]
    for (measure, group, method), row in restock.set_index(
            ["measure", "group", "ss_method"]).iterrows():
        verdict = "ok" if abs(row["gap_pts"]) <= TOLERANCE_PTS else "MISSED"
        print(f"  {measure:<9} {group:>4} {method:<10} target {row['target_service_level']:.3f}"
              f" achieved {row['achieved']:.3f} ({row['gap_pts']:+.1f} pts) {verdict}")

    print("\ncheck 2: restock against the baselines (overall, first measure)")
    first = summary[summary["measure"] == args.measures[0]]
    overall = first[first["group_type"] == "overall"].set_index(["strategy", "ss_method"])
    for method in ("normal", "intervals", "empirical"):
        ours = overall.loc[("restock", method)]
        for baseline in ("naive", "moving_average"):
            base = overall.loc[(baseline, "none")]
            fill, cost = ours["fill_rate"] - base["fill_rate"], ours["relevant_cost"] / base[
                "relevant_cost"]
            better = (fill >= 0 and cost < 1) or (fill > 0 and cost <= 1.01)
            print(f"  restock/{method:<10} vs {baseline:<15} fill {fill * 100:+.2f} pts, "
                  f"relevant cost x{cost:.3f}, total cost x"
                  f"{ours['total_cost'] / base['total_cost']:.3f} -> "
                  f"{'better' if better else 'NOT better'}")


if __name__ == "__main__":
    main()
