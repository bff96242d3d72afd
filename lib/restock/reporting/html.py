"""`restock report`: one self-contained HTML page of a run (charts inline as PNG data URIs).

Sections: run summary, forecast plots of sampled series, backtest accuracy, the plan,
and the simulation. A section whose tables do not exist for the run says so in one line.
The page references nothing outside itself: no scripts, style sheets, fonts or links.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from restock.io import tables
from restock.reporting import charts
from restock.reporting import queries as report_data
from restock.reporting.queries import KEYS, ReportRun, ReportSettings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from restock.app.settings import Settings

SECTIONS = (
    ("summary", "Run summary"),
    ("forecasts", "Forecasts"),
    ("accuracy", "Accuracy"),
    ("plan", "The plan"),
    ("simulation", "Simulation"),
)
_CSS = """
body { font-family: sans-serif; margin: 1.5em auto; max-width: 1100px; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 2px solid #1f77b4; padding-bottom: 0.2em;
margin-top: 2em; } h3 { margin-top: 1.4em; }
nav a { margin-right: 1em; } .note { color: #666; font-size: 0.9em; }
.missing { color: #8a5a00; background: #fff6e0; padding: 0.5em; border-radius: 4px; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f0f4f8; } td.t { text-align: left; }
img { max-width: 100%; display: block; margin: 0.6em 0; } .wide { overflow-x: auto; }
"""


def write_report(
    spark: SparkSession, tree: Settings, run_id: str | None, out: str | Path
) -> Path:
    """Build the report of a run (default: the latest plan run) and write it to `out`.

    Returns the written path.
    """
    run = report_data.resolve_run(spark, tree.conf, run_id)
    page = render(spark, tree, run)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def render(spark: SparkSession, tree: Settings, run: ReportRun) -> str:
    """The whole page as a string."""
    conf, settings = tree.conf, tree.report
    parts = _Parts(spark, conf, run)
    bodies = {
        "summary": _summary(run, parts, settings),
        "forecasts": _forecasts(spark, tree, run, parts),
        "accuracy": _accuracy(tree.backtest.metric, run, parts),
        "plan": _traps(spark, conf, run) + _plan(parts, settings, run),
        "simulation": _simulation(spark, conf, run),
    }
    nav = " ".join(f'<a href="#{key}">{title}</a>' for key, title in SECTIONS)
    sections = "\n".join(
        f'<section id="{key}"><h2>{title}</h2>\n{bodies[key]}</section>'
        for key, title in SECTIONS
    )
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>restock report — run {_e(run.run_id)}</title><style>{_CSS}</style></head>"
        f"<body><h1>restock report</h1><p class=\"note\">run <b>{_e(run.run_id)}</b>, "
        f"as of {_e(run.as_of_date)}, generated {stamp}</p><nav>{nav}</nav>\n{sections}\n"
        "</body></html>\n"
    )


class _Parts:
    """The run's rows of each output table (lazy DataFrames; None when absent)."""

    def __init__(self, spark: SparkSession, conf: Mapping[str, Any], run: ReportRun) -> None:
        from pyspark.sql import functions as F

        def rows(name: str, run_id: str) -> DataFrame | None:
            return report_data.run_rows(spark, conf, name, run_id)

        source = run.forecast_run_id
        self.plans = rows("plans", run.run_id)
        self.forecasts = rows("forecasts", source)
        self.profile = rows("series_profile", source)
        if self.profile is None:
            self.profile = rows("series_profile", run.run_id)
        self.metrics = rows("backtest_metrics", source)
        self.selection = rows("model_selection", source)
        self.series_metrics = (
            self.metrics.where(F.col("scope") == "series") if self.metrics is not None else None
        )
        self.item_params = (
            tables.read(spark, conf, "item_params")
            if tables.exists(spark, conf, "item_params") else None
        )


def _summary(run: ReportRun, parts: _Parts, settings: ReportSettings) -> str:
    """Run id, as-of date, jobs and timings, series by class, forecast status."""
    jobs = run.jobs
    failed = jobs.loc[jobs["status"] != "succeeded", "job"].tolist()
    out = [
        f"<p>Run <b>{_e(run.run_id)}</b> as of <b>{_e(run.as_of_date)}</b>; "
        f"{len(jobs)} job(s), total {jobs['seconds'].fillna(0).sum():,.0f} s"
        + (f"; <b>not succeeded: {_e(', '.join(failed))}</b>" if failed else "") + ".",
    ]
    if run.forecast_run_id != run.run_id:
        out.append(f" Forecasts, profile and backtest come from run "
                   f"<b>{_e(run.forecast_run_id)}</b>.")
    out.append("</p>")
    shown = jobs.drop(columns=["as_of_date"]).assign(
        started_at=jobs["started_at"].astype(str).str.slice(0, 19)
    )
    out += ["<h3>Jobs and timings</h3>", _table(shown), _img(charts.duration_chart(jobs),
                                                             "seconds per job")]
    if parts.profile is not None:
        out += ["<h3>Series by demand class and ABC class</h3>",
                _table(report_data.class_counts(parts.profile), index=True)]
    else:
        out.append(_missing("no series_profile rows for this run"))
    if parts.forecasts is not None:
        status, failed_rows = report_data.forecast_status(parts.forecasts, settings.list_rows)
        out += ["<h3>Forecast status (series × model)</h3>", _table(status)]
        if not failed_rows.empty:
            out += [f"<p>Failed series (first {len(failed_rows)}):</p>", _table(failed_rows)]
        else:
            out.append("<p>No failed series.</p>")
    return "\n".join(out)


def _forecasts(spark: SparkSession, tree: Settings, run: ReportRun, parts: _Parts) -> str:
    """One chart per sampled series: the last months of sales, forecast and intervals."""
    if parts.forecasts is None or parts.profile is None or run.as_of_date is None:
        return _missing(f"no forecasts for run {run.forecast_run_id}")
    settings, metric = tree.report, tree.backtest.metric
    sample = report_data.sample_series(
        parts.profile, parts.forecasts, parts.series_metrics, metric, settings
    )
    if sample.empty:
        return _missing("no series to plot (no class-A series and no backtest)")
    history, future = report_data.sample_rows(
        spark, tree.conf, sample, parts.forecasts, run.as_of_date, settings.history_days,
        tree.quality,
    )
    plan_models = _plan_models(parts.plans, sample)
    levels = sorted(int(c[3:]) for c in future.columns if c.startswith("lo_"))
    out = [f"<p class=\"note\">Daily sales over the last {settings.history_days} days "
           f"(accepted rows), the forecast and its {', '.join(map(str, levels))}% intervals. "
           f"Shown: the {settings.top_a_series} largest A items by sales value"
           + ("" if parts.series_metrics is None else
              f" and the {settings.worst_series} with the worst backtest {metric.upper()}")
           + ".</p>"]
    for row in sample.itertuples():
        mine = future[(future["sku_id"] == row.sku_id) & (future["location_id"] == row.location_id)]
        model = plan_models.get((row.sku_id, row.location_id)) or (
            mine["model"].min() if len(mine) else None)
        mine = mine[mine["model"] == model]
        past = history[(history["sku_id"] == row.sku_id)
                       & (history["location_id"] == row.location_id)]
        score = "" if pd.isna(row.score) else f", {metric.upper()} {row.score:.2f}"
        title = (f"{row.sku_id} @ {row.location_id} — {model} — class {row.abc_class}, "
                 f"{row.demand_class} ({row.reason}{score})")
        out.append(_img(charts.forecast_chart(past, mine, levels, title, run.as_of_date), title))
    return "\n".join(out)


def _plan_models(plans: DataFrame | None, sample: pd.DataFrame) -> dict[tuple[str, str], str]:
    """The model each sampled series' plan used (only the sample's rows are collected)."""
    if plans is None or sample.empty:
        return {}
    from pyspark.sql import functions as F

    wanted = plans.sparkSession.createDataFrame(sample[KEYS], "sku_id string, location_id string")
    rows = plans.join(F.broadcast(wanted), KEYS, "left_semi").select(*KEYS, "model").collect()
    return {(r["sku_id"], r["location_id"]): r["model"] for r in rows}


def _accuracy(metric: str, run: ReportRun, parts: _Parts) -> str:
    """Metric distribution by class, model share, and skill against seasonal naive."""
    if parts.metrics is None:
        return _missing(f"backtest not run for run {run.forecast_run_id}: no accuracy figures")
    out = []
    stats = report_data.metric_quantiles(parts.series_metrics, metric)
    if not stats.empty:
        title = f"backtest {metric.upper()} of the selected model per series, by demand class"
        out += [f"<h3>{metric.upper()} by demand class</h3>",
                _img(charts.box_chart(stats, metric, title), title),
                _table(stats.rename(columns={"label": "demand class"}))]
    if parts.selection is not None and parts.profile is not None:
        share = report_data.model_share(parts.selection, parts.profile)
        if not share.empty:
            title = "models chosen by the backtest, share of series per demand class"
            out += ["<h3>Model share</h3>",
                    _img(charts.share_chart(share, title, "share of series"), title)]
    overall = report_data.accuracy_table(parts.metrics, "overall")
    by_class = report_data.accuracy_table(parts.metrics, "demand_class")
    out += ["<h3>Against seasonal naive</h3>", _skill(overall, by_class),
            "<h3>Every model, all series</h3>", _table(overall),
            "<h3>By demand class</h3>", _table(by_class)]
    return "\n".join(out)


def _skill(overall: pd.DataFrame, by_class: pd.DataFrame) -> str:
    """Chart and sentence comparing the selected models' MASE with seasonal naive's."""
    both = pd.concat([overall.assign(demand_class="all"), by_class], ignore_index=True)
    wide = both[both["model"].isin(["selected", "SeasonalNaive"])].pivot_table(
        index="demand_class", columns="model", values="mase")
    if not {"selected", "SeasonalNaive"} <= set(wide.columns):
        return _missing("seasonal naive was not backtested (conf backtest.benchmarks)")
    wide = wide[["selected", "SeasonalNaive"]].dropna()
    gain = 1 - wide.loc["all", "selected"] / wide.loc["all", "SeasonalNaive"] \
        if "all" in wide.index and wide.loc["all", "SeasonalNaive"] > 0 else None
    title = "mean MASE: selected models vs seasonal naive (lower is better)"
    chart = charts.grouped_bars(wide, title, "demand class", "mean MASE (ratio)")
    line = "" if gain is None else (
        f"<p>Selected models: MASE {wide.loc['all', 'selected']:.3f} against seasonal naive "
        f"{wide.loc['all', 'SeasonalNaive']:.3f}: "
        f"<b>{abs(gain):.1%} {'better' if gain >= 0 else 'worse'}</b>.</p>")
    return line + _img(chart, title)


def _plan(parts: _Parts, settings: ReportSettings, run: ReportRun) -> str:
    """Orders by ABC class, top orders, stockout-risk and overstock lists, days of cover."""
    if parts.plans is None:
        return _missing(f"no plan for run {run.run_id}")
    n = settings.list_rows
    by_abc = report_data.order_totals(parts.plans, "abc_class")
    title = "recommended order value by ABC class"
    chart = charts.grouped_bars(by_abc.set_index("abc_class")[["order_value"]]
                                .rename(columns={"order_value": "order value"}),
                                title, "ABC class", "order value (currency units)")
    risky_count, risky = report_data.stockout_list(parts.plans, n)
    over_count, over = report_data.overstock_list(parts.plans, parts.item_params, n)
    cover = report_data.cover_histogram(parts.plans)
    cover_title = "series by days of cover (on hand ÷ mean daily forecast demand)"
    return "\n".join([
        f"<p>{int(by_abc['orders'].sum())} orders worth "
        f"{by_abc['order_value'].sum():,.2f} across {int(by_abc['series'].sum())} series; "
        f"{risky_count} at stockout risk, {over_count} overstocked.</p>",
        "<h3>Recommended orders by ABC class</h3>", _img(chart, title), _table(by_abc),
        "<h3>Series without a computed order (by status and reason)</h3>",
        _table(report_data.unplanned(parts.plans)),
        f"<h3>Top {n} orders by value</h3>", _table(report_data.top_orders(parts.plans, n)),
        f"<h3>Stockout risk ({risky_count} series; first {len(risky)})</h3>",
        "<p class=\"note\">Inventory position below the forecast lead-time demand; "
        "shortfall = lead-time demand − inventory position (units).</p>", _table(risky),
        f"<h3>Overstock and excess ({over_count} series; first {len(over)})</h3>",
        "<p class=\"note\">Excess = inventory position above the overstock cover "
        "(conf policy.overstock_days_of_cover), or all of it for end-of-life items; "
        "value = excess × unit cost. Candidates for markdown or clearance.</p>", _table(over),
        "<h3>Days of cover</h3>",
        _img(charts.stacked_bars(cover, cover_title, "days of cover", "series"), cover_title),
    ])


def _traps(spark: SparkSession, conf: Mapping[str, Any], run: ReportRun) -> str:
    """The planning traps (`summary.planning_traps`) as a table; '' without a plan."""
    from restock.reporting.summary import planning_traps

    found = planning_traps(spark, conf, run.run_id)
    if not found:
        return ""
    frame = pd.DataFrame(found, columns=["trap", "series", "what it means"])
    return "<h3>Planning traps</h3>" + _table(frame)


def _simulation(spark: SparkSession, conf: Mapping[str, Any], run: ReportRun) -> str:
    """Achieved fill rate and service level against targets, turnover, cost vs baselines."""
    found = report_data.simulation_summary(spark, conf, run.run_id, run.forecast_run_id)
    if found is None:
        return _missing(f"simulation not run for run {run.run_id} "
                        f"(nor for its forecasts, run {run.forecast_run_id})")
    sim_run_id, sim = found
    sim = sim.assign(policy=sim["strategy"] + " / " + sim["ss_method"])
    by_abc = sim[sim["group_type"] == "abc_class"]
    fill = by_abc.pivot_table(index="group", columns="policy", values="fill_rate")
    target = by_abc.pivot_table(index="group", columns="policy", values="target_service_level")
    fill_title = "achieved fill rate by ABC class (ticks: service-level target)"
    overall = sim[sim["group_type"] == "overall"].set_index("policy")
    costs = overall[["holding_cost", "ordering_cost", "shortage_cost"]].rename(
        columns=lambda c: c.replace("_cost", ""))
    cost_title = "simulated cost over the replay, all series (purchase cost excluded)"
    columns = ["policy", "group", "series", "target_service_level", "fill_rate",
               "cycle_service_level", "stockout_days", "avg_inventory", "inventory_turnover",
               "orders_placed", "holding_cost", "ordering_cost", "shortage_cost",
               "purchase_cost", "total_cost"]
    out = [f"<p>Simulation run <b>{_e(sim_run_id)}</b>: the policy replayed day by day on "
           "held-out demand, next to the baselines.</p>", _simulation_overall(overall)]
    if not fill.empty:
        out.append(_img(charts.grouped_bars(fill, fill_title, "ABC class", "fill rate",
                                            targets=target, percent=True), fill_title))
    if not costs.empty:
        out.append(_img(charts.stacked_bars(costs, cost_title, "strategy / safety stock",
                                            "cost (currency units)"), cost_title))
    out += ["<h3>All figures</h3>", _table(sim.sort_values(["group_type", "group", "policy"])
                                           [[c for c in columns if c in sim.columns]])]
    return "\n".join(out)


def _simulation_overall(overall: pd.DataFrame) -> str:
    """All-series figures per policy, with the policy-relevant cost against naive's.

    relevant cost = holding + ordering + shortage (purchase cost is about the same under
    every policy); vs naive = relevant cost / the `naive` strategy's relevant cost − 1.
    """
    if overall.empty:
        return ""
    frame = overall.reset_index()
    frame["relevant_cost"] = frame[["holding_cost", "ordering_cost", "shortage_cost"]].sum(axis=1)
    frame = frame[["policy", "target_service_level", "fill_rate", "cycle_service_level",
                   "stockout_days", "inventory_turnover", "relevant_cost", "strategy"]]
    naive = frame.loc[frame["strategy"] == "naive", "relevant_cost"]
    if len(naive) and naive.iloc[0] > 0:
        frame["relevant_cost_vs_naive"] = frame["relevant_cost"] / naive.iloc[0] - 1
    return "<h3>All series</h3>" + _table(frame.drop(columns="strategy"))


def _table(frame: pd.DataFrame, index: bool = False) -> str:
    """A frame as an HTML table: text escaped and left-aligned, numbers right-aligned.

    Whole-number columns print as integers; other numeric columns with one format per
    column: 3 decimals when every value is below 10 in size, else 1 decimal.
    """
    if frame.empty:
        return "<p class=\"note\">(none)</p>"
    shown = (frame.reset_index() if index else frame).convert_dtypes()
    head = "".join(f"<th>{_e(c)}</th>" for c in shown.columns)
    columns = [_cells(shown[c]) for c in shown.columns]
    body = "".join("<tr>" + "".join(row) + "</tr>" for row in zip(*columns, strict=True))
    return (f'<div class="wide"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody>'
            "</table></div>")


def _cells(column: pd.Series) -> list[str]:
    """The <td> cells of one column."""
    if pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column):
        return [f'<td class="t">{"" if pd.isna(v) else _e(v)}</td>' for v in column]
    if pd.api.types.is_integer_dtype(column):
        text = ["" if pd.isna(v) else f"{int(v):,}" for v in column]
    else:
        small = column.abs().max(skipna=True)
        digits = 3 if pd.isna(small) or small < 10 else 1
        text = ["" if pd.isna(v) else f"{v:,.{digits}f}" for v in column]
    return [f"<td>{t}</td>" for t in text]


def _img(data: bytes, alt: str) -> str:
    """An inline PNG."""
    encoded = base64.b64encode(data).decode("ascii")
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{encoded}">'


def _missing(text: str) -> str:
    """The one-line note of a section that has nothing to show."""
    return f'<p class="missing">{_e(text)}.</p>'


def _e(value: object) -> str:
    """HTML-escaped text."""
    return html.escape(str(value))
