"""Accuracy per forecasting strategy on a holdout the strategies never saw.

The last `--horizon` periods (default: `forecast.horizon_days` as periods of the grain) of
every series are held out. Everything else (profile, routing, backtest windows for
selection) uses only the periods before them. Then each strategy forecasts the holdout and
is scored per series: MASE and RMSSE (scaled by the in-sample seasonal-naive MAE / MSE at
the grain's season), pooled WAPE and bias (Σ(forecast − actual) / Σ actual), plus the CPU
seconds it used (a selection's includes its backtest).
restock strategies: seasonal naive, AutoETS only, routing by demand class, `selection` =
the old per-series argmin of the backtest (no combinations), `default` = what `restock run`
does: the model per demand and ABC class from the pooled backtest, Mean(A+B) combinations
among the candidates, a series' own model only on a clear win
(`restock.forecasting.selection`), the yearly model where the yearly gate admits it.
`calendar` is the default with the calendar and the promotions as regressors (what
`restock run` does when those tables exist). Plain statsforecast baselines on the same
holdout and training periods (`bench/baselines.py`): `sf_SeasonalNaive`, `sf_WindowAverage`,
`sf_AutoETS`, `sf_TSB` (0.1, 0.1), `sf_ADIDA`, `sf_MSTL`.
`--dataset rossmann|walmart|carparts` reads a real set of ../shared/data/real through
restock's ingest (`bench/real.py`: the README's mapping, grain detected: daily, weekly
W-FRI, monthly). restock's strategies see its unavailable periods as restock does (closed
days, reporting gaps, pre-launch); the holdout's closed days are given as known closures
(a store's opening calendar); Rossmann's `Promo` is its promotions table (planned ahead).
The plain baselines see zeros where there is no sale, as a plain statsforecast user would
feed them. Closed days and periods without a sales row are not scored. On generated data
every day is scored, the MASE is also given for the series the generator gave a yearly
cycle or promotions, and two oracles are scored (the generator's true mean and median).

    python bench/accuracy.py [--series 200] [--days 1095] [--mix default|calendar]
    python bench/accuracy.py --dataset rossmann|walmart|carparts [--series 300]
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
import real
from baselines import BASELINES, baseline

from restock.dev.demand import MAX_LOCATIONS, MIXES, demand_quantile, series_spec
from restock.dev.generate import generated_days
from restock.forecasting.backtest import BacktestSettings, backtest_bucket
from restock.forecasting.exog import Events, Exog, split_promo
from restock.forecasting.forecast import ForecastSettings, forecast_bucket, regressor_events
from restock.forecasting.metrics import seasonal_naive_scale, seasonal_naive_scale_sq
from restock.forecasting.panel import build_panel
from restock.forecasting.selection import select_frame
from restock.io.config import load_conf
from restock.io.tables import SERIES_KEYS

KEYS = SERIES_KEYS
WEEKLY = ["SeasonalNaive", "AutoETS", "AutoARIMA", "routing", "selection", "default",
          "default_mase", "default_refit", "default_search"]
SELECTING = ("selection", "default", "default_mase", "default_refit", "default_search",
             "calendar")
STRATEGIES = [*WEEKLY, "calendar", *BASELINES]
# default_refit (the backtest refitting every window) is the before of backtest.refit;
# default_search (the forecast searching AutoETS/ARIMA/MSTL forms anew) the before of the
# forecast fitting the backtest's searched form (model_selection.form)
DEFAULT_STRATEGIES = [s for s in STRATEGIES
                      if s not in ("AutoARIMA", "default_refit", "default_search")]


def load_sales(args: argparse.Namespace, spark, conf: dict) -> None:
    """Write the bench's sales (and params) into the temp warehouse."""
    from restock.dev.generate import generate
    from restock.io import tables

    if args.dataset:
        real.load(spark, conf, args.dataset, args.real_dir)
        return
    if not args.csv:  # generated data
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


def closures(history: pd.DataFrame, after: int) -> Events | None:
    """The holdout's closed days (`open` false after period `after`) as known closures:
    calendar events of type `closed` at the location, as a store's opening calendar gives
    them; None when there are none."""
    shut = history[(history["day"] > after) & history["open"].eq(False)]
    if shut.empty:
        return None
    days = shut[["location_id", "day"]].drop_duplicates()
    return Events(day=days["day"].to_numpy(dtype=np.int64),
                  location=days["location_id"].to_numpy(dtype=object),
                  event_type=np.full(len(days), "closed", dtype=object))


def with_closures(events: Events | None, closed: Events | None) -> Events | None:
    """The calendar's events plus known closures."""
    if closed is None or events is None:
        return closed or events
    return Events(day=np.concatenate([events.day, closed.day]),
                  location=np.concatenate([events.location, closed.location]),
                  event_type=np.concatenate([events.event_type, closed.event_type]),
                  promotions=events.promotions)


def prepare(args: argparse.Namespace, work: Path) -> dict:
    """Spark part (untimed): ingest (grain detected), profile at the training cut-off;
    pandas inputs."""
    from pyspark.sql import functions as F

    from restock.app import pipeline
    from restock.forecasting.backtest import candidates_of
    from restock.forecasting.calendar import collect_events, promo_days
    from restock.io.session import build_spark
    from restock.spark.buckets import history_rows
    from restock.spark.routing import routing_expr

    conf = load_conf("local")
    conf["warehouse"] = str(work / "warehouse")
    spark = build_spark(conf)
    load_sales(args, spark, conf)
    run = pipeline.Run(spark, conf, "accuracy")
    inputs = pipeline.read_inputs(run, ("sales",), ("item_params",))
    print("\n".join(run.notes))
    if args.dataset:
        inputs.daily = real.sample(inputs.daily, args.series).persist()
    settings = run.settings  # built again by read_inputs for the detected grain
    grain = settings.forecast.grain
    horizon = args.horizon or settings.forecast.horizon_days
    end = run.as_of_date
    run.as_of_date = grain.end_of(grain.index_of(end) - horizon)
    profiled = pipeline.profile_step(run, inputs)
    weekly = profiled.withColumn("model", routing_expr(settings.routing))
    history = history_rows(inputs.daily, grain).toPandas()
    promo = None
    if inputs.promotions is not None:
        promo = history_rows(promo_days(inputs.promotions, end), grain, promo_days=True).toPandas()
    closed = closures(history, grain.index_of(run.as_of_date))
    events = collect_events(inputs.calendar, inputs.promotions is not None)
    return {
        "history": history,
        "promo": promo,
        "closures": closed,
        "events": with_closures(events, closed),
        "calendar": events is not None,
        "routes": {
            "weekly": weekly.where(F.col("model").isNotNull()).select(*KEYS, "model").toPandas(),
            "calendar": pipeline.routes_for(run, profiled, "routed").toPandas(),
        },
        "candidates": {
            "weekly": candidates_of(profiled, settings.backtest).toPandas(),
            # without calendar.benchmark: a reference for reports, not part of the strategy
            "calendar": candidates_of(profiled, settings.backtest, dataclasses.replace(
                settings.calendar, benchmark=None)).toPandas(),
        },
        "classes": profiled.select(*KEYS, "demand_class", "abc_class").toPandas(),
        "observed_only": bool(args.dataset or args.csv),
        "train_end": run.as_of_date,
        "end": end,
        "horizon": horizon,
        "forecast": dataclasses.replace(settings.forecast, horizon_days=horizon),
        "backtest": settings.backtest,
    }


def run_strategy(name: str, data: dict) -> tuple[str, pd.DataFrame, float]:
    """Forecast the holdout with one strategy; return forecasts and CPU seconds.

    restock's strategies get the known closures; `calendar` also the calendar and the
    promotions (planned, so known for the holdout too); the plain baselines neither."""
    fc: ForecastSettings = data["forecast"]
    grain = fc.grain
    train = data["history"][data["history"]["day"] <= grain.index_of(data["train_end"])]
    started = time.process_time()
    if name in BASELINES:
        return name, baseline(name, train, fc.horizon_days, grain), time.process_time() - started
    aware = name == "calendar"
    events = data["events"] if aware else data["closures"]
    if aware and data["promo"] is not None:
        train = pd.concat([train, data["promo"]], ignore_index=True)
    kind = "calendar" if name in SELECTING else "weekly"
    routes = data["routes"][kind]
    if name in SELECTING:
        bt: BacktestSettings = data["backtest"]
        if name == "selection":  # the per-series argmin, as before class selection
            bt = dataclasses.replace(bt, combination_size=0)
        if name == "default_mase":  # the default, selecting by MASE instead
            bt = dataclasses.replace(bt, metric="mase")
        if name == "default_refit":  # the default, refitting every backtest window
            bt = dataclasses.replace(bt, refit=True)
        ranked = backtest_bucket(train, data["candidates"][kind], settings=bt,
                                 as_of_date=data["train_end"], events=events)
        series = ranked[ranked["scope"] == "series"]
        if name == "selection":
            chosen = series[series["selected"]]
        else:  # with the form the backtest searched, as model_selection carries it
            chosen = select_frame(ranked, data["classes"], bt).merge(
                series[[*KEYS, "model", "form"]], on=[*KEYS, "model"], how="left")
        routes = routes[[*KEYS, "model"]].merge(chosen[[*KEYS, "model", "form"]].rename(
            columns={"model": "selected"}), on=KEYS, how="left")
        routes["model"] = routes["selected"].fillna(routes["model"])
        routes = routes[[*KEYS, "model", "form"]]
        if name == "default_search":
            routes = routes.drop(columns="form")
    elif name != "routing":
        routes = routes[KEYS].assign(model=name)
    out = forecast_bucket(train, routes, settings=fc, as_of_date=data["train_end"],
                          events=events)
    out.attrs["models"] = routes["model"].value_counts().to_dict()
    return name, out, time.process_time() - started


def day_flags(data: dict, panel, horizon: int) -> tuple[set, set]:
    """(series code, epoch day) pairs of the holdout with a promotion / a calendar event
    (other than a closure)."""
    events = regressor_events(data["events"])
    if events is None or data["forecast"].grain.kind != "D":
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


def score(forecasts: pd.DataFrame, data: dict) -> pd.DataFrame:
    """Per series, on the scored holdout periods: MAE, MSE, the MASE and RMSSE scales, sums
    for WAPE and bias, and the error and actual sums on promotion days, calendar-event days
    and plain days. Closed periods are never scored; on real data (and CSV) neither is a
    period without a sales row (not known to be zero), and the in-sample scale is that of
    the series with its unavailable periods filled (no false zeros)."""
    fc: ForecastSettings = data["forecast"]
    history, _ = split_promo(data["history"])
    panel = build_panel(history, fc.grain.index_of(data["end"]))
    observed = data["observed_only"]
    scaled = build_panel(history, panel.end, availability=fc.availability) if observed else panel
    rows_at = pd.MultiIndex.from_frame(history[[*KEYS, "day"]])
    closed_at = pd.MultiIndex.from_frame(
        history.loc[history["open"].eq(False), [*KEYS, "day"]])
    rows = []
    flags = data["flags"]
    for (sku, loc), group in forecasts.dropna(subset=["yhat"]).groupby(KEYS):
        code = panel.codes_of(pd.DataFrame({"sku_id": [sku], "location_id": [loc]}))[0]
        y = panel.series(code)
        group = group.sort_values("step")
        h = len(group)
        actual = y[-h:]
        train = scaled.series(code)[:-h]
        days = np.arange(panel.end - h + 1, panel.end + 1)
        at = pd.MultiIndex.from_arrays([[sku] * h, [loc] * h, days])
        scored = ~at.isin(closed_at) & (at.isin(rows_at) if observed else True)
        errors = (group["yhat"].to_numpy() - actual)[scored]
        actual = actual[scored]
        if not scored.any():
            continue
        masks = [np.array([(code, d) in f for d in days], dtype=bool)[scored] for f in flags]
        plain = ~(masks[0] | masks[1])
        parts = [v for m in (*masks, plain) for v in (errors[m].sum(), actual[m].sum())]
        rows.append((sku, loc, np.mean(np.abs(errors)), np.mean(errors ** 2),
                     seasonal_naive_scale(train, fc.season_length),
                     seasonal_naive_scale_sq(train, fc.season_length),
                     errors.sum(), actual.sum(), np.abs(errors).sum(), *parts))
    return pd.DataFrame(rows, columns=[
        *KEYS, "mae", "mse", "scale", "scale_sq", "sum_error", "sum_actual", "sum_abs_error",
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
                                   "step": np.arange(1, data["horizon"] + 1),
                                   "yhat": yhat[-data["horizon"]:]}))
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


def report(results: list, scored: dict, common: set, subsets: dict, calendar: bool) -> dict:
    """Print one row per strategy; return (MASE, RMSSE, |bias|, CPU) per strategy."""
    extra = "".join(f" {'MASE ' + k[:6]:>12}" for k in subsets)
    days = "".join(f" {k:>7}" for k in ("promo", "event", "plain")) if calendar else ""
    print(f"{'strategy':<16} {'MASE':>7}{extra} {'RMSSE':>7} {'WAPE':>7} {'bias':>7}{days} "
          f"{'CPU s':>8}  models")
    table = {}
    for name, out, cpu in results:
        s = scored[name]
        s = s[[k in common for k in zip(s["sku_id"], s["location_id"], strict=True)]]
        s = s.sort_values(KEYS, ignore_index=True)
        per_series = s["mae"] / s["scale"].where(s["scale"] > 0)
        rmsse = np.sqrt(s["mse"] / s["scale_sq"].where(s["scale_sq"] > 0)).mean()
        bias = _ratio(s["sum_error"], s["sum_actual"])
        table[name] = (per_series.mean(), rmsse, abs(bias), cpu)
        parts = "".join(f" {per_series[m].mean():>12.3f}" for m in subsets.values())
        biases = "".join(f" {_ratio(s[f'{k}_error'], s[f'{k}_actual']):>+7.3f}"
                         for k in ("promo", "event", "plain")) if calendar else ""
        models = out.attrs.get("models", "") if out is not None else ""
        top = ", ".join(f"{m} {c}" for m, c in sorted(models.items(), key=lambda i: -i[1])[:4]
                        ) if models else ""
        print(f"{name:<16} {table[name][0]:>7.3f}{parts} {rmsse:>7.3f} "
              f"{_ratio(s['sum_abs_error'], s['sum_actual']):>7.3f} {bias:>+7.3f}{biases} "
              f"{cpu:>8.1f}  {top}")
    return table


def verdict(table: dict) -> None:
    """The issue-20 targets for the default strategy, where its references were run."""
    if "default" not in table:
        return
    mase, rmsse, bias, cpu = table["default"]
    singles = [n for n in BASELINES if n in table]
    if singles:
        best = min(singles, key=lambda n: table[n][0])
        best_rmsse = min(singles, key=lambda n: table[n][1])
        print(f"default vs best plain statsforecast model: MASE {mase / table[best][0]:.3f} "
              f"({best}), RMSSE {rmsse / table[best_rmsse][1]:.3f} ({best_rmsse}) (target <= 1)")
    naive = table.get("sf_SeasonalNaive") or table.get("SeasonalNaive")
    if naive:
        print(f"default vs seasonal naive: MASE {mase / naive[0]:.3f} (target <= 0.900)")
    if "sf_MSTL" in table:
        print(f"default vs plain MSTL(7, 365): MASE {mase / table['sf_MSTL'][0]:.3f} "
              "(target <= 1.03)")
    print(f"default pooled |bias| {bias:.3f} (target <= 0.05)")
    ets = table.get("sf_AutoETS") or table.get("AutoETS")
    if ets and ets[3] > 0:
        print(f"default CPU vs AutoETS everywhere: {cpu / ets[3]:.2f}x (target <= 2)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=200)
    parser.add_argument("--days", type=int, default=1095)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--horizon", type=int,
                        help="holdout in periods of the grain (default: forecast.horizon_days "
                             "as periods)")
    parser.add_argument("--end-date", type=dt.date.fromisoformat, default=dt.date(2026, 12, 24))
    parser.add_argument("--mix", choices=sorted(MIXES), default="default",
                        help="generated data: the generator's mix of patterns, yearly cycles "
                             "and promotions")
    parser.add_argument("--dataset", choices=sorted(real.DATASETS),
                        help="a real dataset of ../shared/data/real instead of generated data")
    parser.add_argument("--real-dir", type=Path, default=real.REAL,
                        help="the real datasets' folder")
    parser.add_argument("--csv", help="a sales CSV instead of generated data (grain detected)")
    parser.add_argument("--id-cols", default="sku_id,location_id")
    parser.add_argument("--date-col", default="date")
    parser.add_argument("--target-col", default="quantity")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--strategies", default=",".join(DEFAULT_STRATEGIES),
                        help="comma list, from: " + ", ".join(STRATEGIES))
    args = parser.parse_args()
    strategies = [n.strip() for n in args.strategies.split(",") if n.strip()]
    unknown = sorted(set(strategies) - set(STRATEGIES))
    if unknown:
        raise SystemExit(f"--strategies: unknown {', '.join(unknown)}")
    generated = not (args.csv or args.dataset)
    work = Path(tempfile.mkdtemp(prefix="restock-accuracy-"))
    try:
        data = prepare(args, work)
        n = len(strategies)
        with ProcessPoolExecutor(args.workers) as pool:
            results = list(pool.map(run_strategy, strategies, [data] * n))
        grain, horizon = data["forecast"].grain, data["horizon"]
        history, _ = split_promo(data["history"])
        data["flags"] = day_flags(data, build_panel(history, grain.index_of(data["end"])),
                                  horizon)
        scored = {name: score(out, data) for name, out, _ in results}
        common = set.intersection(*(set(zip(s["sku_id"], s["location_id"], strict=True))
                                    for s in scored.values()))
        print(f"{len(common)} series at grain {grain.name}, holdout after {data['train_end']} "
              f".. {data['end']} ({horizon} periods)"
              + (", closed days and periods without a row not scored"
                 if data["observed_only"] else ""))
        subsets = {}
        if generated:
            keys = pd.DataFrame(sorted(common), columns=KEYS)
            subsets = generated_subsets(keys, args)
            for name, q in (("oracle mean", None), ("oracle median", 0.5)):
                scored[name] = score(oracle(keys, args, data, q), data)
                results.append((name, None, 0.0))
        verdict(report(results, scored, common, subsets, data["calendar"]))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
