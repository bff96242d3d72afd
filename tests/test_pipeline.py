"""End to end on real Delta tables: every table, reruns, time travel, failing series, errors."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from conftest import TEST_SPARK

from restock.app import pipeline
from restock.app.cli import main
from restock.io import tables
from restock.planning.planner import PLAN_SCHEMA

# The CLI reuses the suite's session: keep its test settings (getOrCreate would apply the
# local conf's SQL settings to it). Small and fast: 2 backtest windows of 14 days, h = 14.
FAST = [
    *(arg for key, value in TEST_SPARK.items() for arg in ("--set", f"spark.{key}={value}")),
    "--set", "backtest.windows=2",
    "--set", "backtest.horizon_days=14",
    "--set", "forecast.horizon_days=14",
    "--set", "forecast.interval_windows=2",
]


def restock(warehouse: str, *args: str) -> int:
    """Run the CLI in-process against a warehouse."""
    return main([*args, "--warehouse", warehouse, *FAST])


@pytest.fixture(scope="module")
def warehouse(spark, tmp_path_factory) -> str:
    """Generated data, a simulation `s1` that fits at its cut-off, and one full run `t1`
    (with backtest), shared by this module's tests."""
    path = str(tmp_path_factory.mktemp("pipeline"))
    assert restock(path, "generate", "--series", "16", "--days", "160", "--bad-rows", "0.01") == 0
    # s1 fits at the cut-off in a run of its own (no --forecast-run-id; the report's tests
    # replay a given run's forecasts); before t1, so that t1 is the latest run
    assert restock(path, "simulate", "--run-id", "s1",
                   "--set", "simulation.holdout_days=56",
                   "--set", "simulation.min_train_days=42",
                   "--set", "simulation.sample_share=0.5") == 0
    assert restock(path, "run", "--run-id", "t1", "--backtest") == 0
    return path


def _conf(base_conf: dict, warehouse: str) -> dict:
    return {**base_conf, "warehouse": warehouse}


def _series(rows: pd.DataFrame) -> set[tuple[str, str]]:
    return set(map(tuple, rows[["sku_id", "location_id"]].drop_duplicates().values))


def _run_rows(spark, conf, name: str, run_id: str) -> pd.DataFrame:
    return tables.read(spark, conf, name).where(f"run_id = '{run_id}'").toPandas()


@pytest.mark.smoke
def test_run_writes_every_table_with_its_contract(spark, base_conf, warehouse):
    conf = _conf(base_conf, warehouse)
    for name in tables.OUTPUTS:
        assert tables.exists(spark, conf, name), name
    jobs = _run_rows(spark, conf, "runs", "t1").set_index("job")
    assert set(jobs.index) == {"ingest", "quality", "profile", "backtest", "forecast", "plan"}
    assert set(jobs["status"]) == {"succeeded"}
    input_rows = sum(tables.read(spark, conf, n).count() for n in tables.INPUTS)
    ingest = jobs.loc["ingest"]
    assert ingest["rows_in"] == input_rows == ingest["rows_out"] + ingest["rows_quarantined"]
    assert ingest["rows_quarantined"] > 0  # --bad-rows 0.01
    quarantine = _run_rows(spark, conf, "quarantine", "t1")
    assert len(quarantine) == ingest["rows_quarantined"]
    assert set(quarantine["source_table"]) == {"sales"}
    commits = tables.history(spark, conf, "quarantine").toPandas()
    assert (commits["userMetadata"] == "t1").sum() == 1  # every input's rejected rows at once

    forecasts = _run_rows(spark, conf, "forecasts", "t1")
    wanted = {"sku_id", "location_id", "model", "date", "yhat", "lo_80", "hi_80", "lo_95",
              "hi_95", "run_id", "as_of_date", "status", "interval_method"}
    assert wanted <= set(forecasts.columns)
    ok = forecasts[forecasts["status"] != "failed"]
    assert ok.groupby(["sku_id", "location_id", "model"]).size().eq(14).all()
    assert (ok["yhat"] >= 0).all() and (ok["lo_95"] <= ok["hi_95"]).all()

    plans = _run_rows(spark, conf, "plans", "t1")
    plan_columns = [f.split()[0] for f in PLAN_SCHEMA.split(", ")]
    assert set(plan_columns) <= set(plans.columns)
    assert len(plans) == 16  # every series of item_params
    assert (plans["order_qty"] >= 0).all()
    selection = _run_rows(spark, conf, "model_selection", "t1")
    assert len(selection) > 0 and selection["score"].notna().any()
    # the backtest's searched form of each selected AutoETS / MSTL (or such parts)
    formed = selection["model"].str.contains("AutoETS|MSTL")
    assert formed.any() and selection.loc[formed, "form"].notna().all()
    assert selection.loc[~formed & ~selection["model"].str.contains("ARIMA"), "form"].isna().all()
    metrics = _run_rows(spark, conf, "backtest_metrics", "t1")
    assert {"window", "series", "demand_class", "abc_class", "overall"} <= set(metrics["scope"])
    history = tables.history(spark, conf, "forecasts").toPandas()
    assert "t1" in set(history["userMetadata"])


@pytest.mark.smoke
def test_simulate_replays_every_forecast_series_against_the_baselines(spark, base_conf,
                                                                     warehouse):
    conf = _conf(base_conf, warehouse)
    sim = _run_rows(spark, conf, "simulation", "s1")
    (fit_run,) = set(sim["forecast_run_id"])
    forecast_series = _run_rows(spark, conf, "forecasts", fit_run)[["sku_id", "location_id"]]
    keys = ["sku_id", "location_id"]
    # every series of the forecast run is accounted for: simulated, or a row with its status
    assert set(map(tuple, sim[keys].drop_duplicates().values)) == set(
        map(tuple, forecast_series.drop_duplicates().values))
    ok = sim[sim["status"] == "ok"]
    assert len(ok) > 0 and set(sim["status"]) <= {"ok", "end_of_life", "no_item_params",
                                                  "short_history"}
    assert ok.groupby(keys).size().eq(5).all()  # 3 methods + 2 baselines per series
    assert ok["fill_rate"].between(0, 1).all() and (ok["avg_inventory"] >= 0).all()
    assert (ok["days"] == 56).all()
    assert (ok["total_cost"] - ok["relevant_cost"] - ok["purchase_cost"]).abs().max() < 1e-6
    summary = _run_rows(spark, conf, "simulation_summary", "s1")
    overall = summary[summary["group_type"] == "overall"].set_index(["strategy", "ss_method"])
    assert set(overall.index) == {("restock", "normal"), ("restock", "intervals"),
                                  ("restock", "empirical"), ("naive", "none"),
                                  ("moving_average", "none")}
    assert (overall["series"] == ok[keys].drop_duplicates().shape[0]).all()
    # the same forecasts with a safety stock on top hold more stock than the naive rule
    naive = overall.loc[("naive", "none")]
    for method in ("normal", "intervals", "empirical"):
        assert overall.loc[("restock", method), "avg_inventory"] > naive["avg_inventory"]
    served = ok.groupby(["strategy", "ss_method"])["served"].sum()
    demand = ok.groupby(["strategy", "ss_method"])["demand"].sum()
    assert overall["fill_rate"].to_dict() == pytest.approx((served / demand).to_dict())
    jobs = _run_rows(spark, conf, "runs", "s1").set_index("job")
    assert jobs.loc["simulate", "status"] == "succeeded"
    assert jobs.loc["simulate", "series_count"] == len(forecast_series.drop_duplicates())


def test_simulate_replays_a_weekly_run_in_days_of_its_weeks(spark, base_conf, tmp_path):
    # the daily sales planned weekly (data.aggregate_to W): the replay fits weeks and serves
    # each week's sales spread over its days, so the demand it replays over the last 8 weeks
    # is those weeks' sales (a replay reading week indexes as days replays a comb of nothing)
    path = str(tmp_path)
    assert restock(path, "generate", "--series", "6", "--days", "420") == 0
    assert restock(path, "simulate", "--run-id", "w1", "--set", "data.aggregate_to=W",
                   "--set", "simulation.holdout_days=56",
                   "--set", "simulation.min_train_days=182") == 0
    conf = _conf(base_conf, path)
    sim = _run_rows(spark, conf, "simulation", "w1")
    keys = ["sku_id", "location_id"]
    ok = sim[(sim["status"] == "ok") & (sim["strategy"] == "naive")].set_index(keys)
    assert len(ok) > 0 and (ok["days"] == 56).all()
    sales = tables.read(spark, conf, "sales").toPandas()
    end = pd.Timestamp(sales["date"].max())
    week_end = end + pd.offsets.Week(weekday=6, n=0)  # W = W-SUN: the week ending on/after
    first = week_end - pd.Timedelta(days=55)
    dates = pd.to_datetime(sales["date"])
    last8 = sales[(dates >= first) & (dates <= week_end)].groupby(keys)["quantity"].sum()
    assert ok["demand"].to_dict() == pytest.approx(last8[ok.index].to_dict())


@pytest.mark.smoke
def test_simulate_by_default_fits_at_the_cut_off_in_a_run_of_its_own(spark, base_conf,
                                                                      warehouse):
    # no --forecast-run-id: profile, backtest and forecast first run at as-of − holdout, so
    # no step that chose or fitted the models saw the replayed days
    conf = _conf(base_conf, warehouse)
    sim = _run_rows(spark, conf, "simulation", "s1")
    (fit_run,) = set(sim["forecast_run_id"])
    assert fit_run not in {"t1", "s1"}
    newest = tables.read(spark, conf, "sales").agg({"date": "max"}).first()[0]
    fitted = _run_rows(spark, conf, "forecasts", fit_run)
    assert set(fitted["as_of_date"]) == {newest - dt.timedelta(days=56)}
    jobs = _run_rows(spark, conf, "runs", fit_run).set_index("job")
    assert {"profile", "backtest", "forecast"} <= set(jobs.index)
    assert set(jobs["status"]) == {"succeeded"}
    assert (sim["status"] == "ok").any()
    # the profile ranks every series; the backtest and forecast fit only the replay's
    # sample (sample_share 0.5), the same stable-hash half the replay picks
    profiled = _run_rows(spark, conf, "series_profile", fit_run)[["sku_id", "location_id"]]
    sampled = pipeline.in_sample(spark.createDataFrame(profiled), 0.5).toPandas()
    assert 0 < len(sampled) < len(profiled)
    assert _series(fitted) == _series(sampled) == _series(sim)
    assert _series(_run_rows(spark, conf, "model_selection", fit_run)) == _series(sampled)
    # the weekly-only reference is only a run summary's figure: t1 backtests it, the fit not
    reference = "AutoETSWeekly"
    assert reference in set(_run_rows(spark, conf, "backtest_metrics", "t1")["model"])
    assert reference not in set(_run_rows(spark, conf, "backtest_metrics", fit_run)["model"])


@pytest.mark.smoke
def test_summary_reports_the_calendar_aware_gain_against_the_weekly_only_reference(
    spark, base_conf, warehouse, capsys
):
    conf = _conf(base_conf, warehouse)
    series = _run_rows(spark, conf, "backtest_metrics", "t1")
    series = series[(series["scope"] == "series") & (series["status"] == "ok")]
    profile = _run_rows(spark, conf, "series_profile", "t1")
    keys = ["sku_id", "location_id"]
    weekly = series[series["model"] == "AutoETSWeekly"]
    classes = weekly[keys].merge(profile[[*keys, "demand_class"]], on=keys)["demand_class"]
    assert len(weekly) > 0 and set(classes) <= {"smooth", "erratic"}
    assert not weekly["selected"].any()  # a reference, never chosen
    selected = series[series["selected"]].set_index(keys)["mase"]
    both = weekly.set_index(keys)["mase"].to_frame("weekly").join(selected.rename("selected"),
                                                                  how="inner").dropna()
    capsys.readouterr()
    assert restock(warehouse, "summary", "--run-id", "t1") == 0
    out = capsys.readouterr().out
    assert (f"calendar-aware: on the {len(both)} series backtested against the weekly-only "
            f"reference (AutoETSWeekly: no promotions, events or yearly cycle), selected MASE "
            f"{both['selected'].mean():.3f} against {both['weekly'].mean():.3f}") in out


def test_rerun_with_the_same_run_id_replaces_rather_than_duplicates(spark, base_conf, warehouse):
    conf = _conf(base_conf, warehouse)
    before = {n: len(_run_rows(spark, conf, n, "t1")) for n in ("forecasts", "plans", "runs")}
    version = tables.latest_version(spark, conf, "forecasts")
    assert restock(warehouse, "run", "--run-id", "t1", "--no-backtest") == 0
    after = {n: len(_run_rows(spark, conf, n, "t1")) for n in ("forecasts", "plans", "runs")}
    assert after == before
    assert tables.latest_version(spark, conf, "forecasts") == version + 1
    keys = ["sku_id", "location_id", "model", "step"]
    assert not _run_rows(spark, conf, "forecasts", "t1").duplicated(keys).any()


def test_as_of_version_reads_the_older_table(spark, base_conf, warehouse):
    conf = _conf(base_conf, warehouse)
    version = tables.latest_version(spark, conf, "forecasts")
    older = tables.read(spark, conf, "forecasts", version=version).count()
    assert restock(warehouse, "forecast", "--run-id", "t2", "--models", "HistoricAverage") == 0
    assert tables.read(spark, conf, "forecasts").count() > older
    assert tables.read(spark, conf, "forecasts", version=version).count() == older
    # a plan from the old version cannot see run t2: it plans from the latest run there, t1
    assert restock(warehouse, "plan", "--run-id", "p-old", "--as-of-version", str(version)) == 0
    plan = _run_rows(spark, conf, "plans", "p-old")
    assert set(plan["forecast_run_id"]) == {"t1"}
    assert restock(warehouse, "plan", "--run-id", "p-new") == 0
    assert set(_run_rows(spark, conf, "plans", "p-new")["forecast_run_id"]) == {"t2"}


def _tiny_inputs(spark, conf) -> None:
    """Three series; T has 5 days of history (AutoETS refuses it)."""
    as_of = dt.date(2026, 6, 30)
    rows = [("A", "L", as_of - dt.timedelta(days=i), float(5 + i % 3)) for i in range(120)]
    rows += [("B", "L", as_of - dt.timedelta(days=i), float(2 + i % 5)) for i in range(120)]
    tiny = [3.0, 5.0, 4.0, 6.0, 2.0]
    rows += [("T", "L", as_of - dt.timedelta(days=i), q) for i, q in enumerate(tiny)]
    schema = "sku_id string, location_id string, date date, quantity double"
    tables.write_input(spark.createDataFrame(rows, schema), conf, "sales", "test")


def test_a_failing_series_does_not_stop_the_run(spark, base_conf, tmp_path):
    conf = _conf(base_conf, str(tmp_path))
    _tiny_inputs(spark, conf)
    strict = ["--models", "AutoETS", "--set", "forecast.fallback_models=[]"]
    assert restock(str(tmp_path), "forecast", "--run-id", "f1", *strict,
                   "--set", "forecast.max_failed_share=0.5") == 0
    rows = _run_rows(spark, conf, "forecasts", "f1")
    failed = rows[rows["status"] == "failed"]
    assert list(failed["sku_id"]) == ["T"] and "tiny datasets" in failed["error"].iloc[0]
    assert set(rows.loc[rows["sku_id"] != "T", "status"]) == {"ok"}
    version = tables.latest_version(spark, conf, "forecasts")
    # above the allowed failed share the job fails, names the series, writes nothing
    assert restock(str(tmp_path), "forecast", "--run-id", "f2", *strict,
                   "--set", "forecast.max_failed_share=0.1") == 1
    assert tables.latest_version(spark, conf, "forecasts") == version
    jobs = _run_rows(spark, conf, "runs", "f2").set_index("job")
    assert jobs.loc["forecast", "status"] == "failed"
    assert "T/L (AutoETS" in jobs.loc["forecast", "message"]


@pytest.mark.smoke
def test_missing_table_and_bad_flags_give_one_line_errors(spark, tmp_path, capsys):
    assert restock(str(tmp_path / "empty"), "forecast") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "table 'sales' not found" in err[0]
    assert main(["forecast", "--no-such-flag"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No such option '--no-such-flag'" in err[0]
    assert main(["generate", "--series", "0"]) == 2
    assert "--series" in capsys.readouterr().err
    assert restock(str(tmp_path), "show", "nonsense") == 1
    assert "unknown table 'nonsense'" in capsys.readouterr().err
    assert restock(str(tmp_path), "plan", "--run-id", "bad id") == 1
    assert "bad run id" in capsys.readouterr().err
