"""The `runs` table: a row from the start of each job, `abandoned` for jobs that are gone,
and a rerun of a killed run (a real SIGKILL of a `restock run` subprocess)."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import TEST_SPARK

from restock.app.cli import main
from restock.io import runs, tables

LIB = Path(__file__).resolve().parents[1] / "lib"
SMALL = [
    *(arg for key, value in TEST_SPARK.items() for arg in ("--set", f"spark.{key}={value}")),
    "--set", "backtest.horizon_days=14",
    "--set", "forecast.horizon_days=14",
    "--set", "forecast.interval_windows=2",
]


AFTER_INGEST = ("quality", "profile", "forecast", "plan")  # kill in the first job after ingest


def _rows(spark, conf, run_id):
    return tables.read(spark, conf, "runs").where(f"run_id = '{run_id}'").toPandas()


def test_a_job_is_visible_as_running_while_it_works(spark, wconf):
    with runs.recorded(spark, wconf, "v1", "forecast", None) as record:
        live = _rows(spark, wconf, "v1").iloc[0]
        assert live["status"] == "running" and pd.isna(live["finished_at"])
        assert (live["host"], live["pid"]) == (os.uname().nodename, os.getpid())
        assert live["app_id"] == spark.sparkContext.applicationId
        record.rows_out = 3
    done = _rows(spark, wconf, "v1")
    assert len(done) == 1
    assert done.iloc[0]["status"] == "succeeded" and done.iloc[0]["rows_out"] == 3


def test_a_held_row_lands_in_the_next_jobs_commit_and_a_failure_at_once(spark, wconf):
    held: list[runs.RunRecord] = []

    def status(run_id):
        return _rows(spark, wconf, run_id).set_index("job")["status"].to_dict()

    with runs.recorded(spark, wconf, "h1", "profile", None, held):
        pass
    first = tables.latest_version(spark, wconf, "runs")
    assert status("h1") == {"profile": "running"} and [r.job for r in held] == ["profile"]
    with runs.recorded(spark, wconf, "h1", "forecast", None, held):
        assert status("h1") == {"profile": "succeeded", "forecast": "running"}
        assert tables.latest_version(spark, wconf, "runs") == first + 1 and not held
    runs.write_held(spark, wconf, "h1", held)
    assert status("h1") == {"profile": "succeeded", "forecast": "succeeded"}
    assert tables.latest_version(spark, wconf, "runs") == first + 2
    runs.write_held(spark, wconf, "h1", held)  # nothing held: no commit
    assert tables.latest_version(spark, wconf, "runs") == first + 2
    with pytest.raises(ValueError), runs.recorded(spark, wconf, "h1", "plan", None, held):
        raise ValueError("no plan")
    assert status("h1")["plan"] == "failed" and not held


def _running_row(spark, conf, run_id, job, **fields):
    record = runs.RunRecord(job=job, as_of_date=None, config_digest="x", code_version="x",
                            **fields)
    runs.write_record(spark, conf, run_id, record)


def test_rows_of_other_hosts_are_abandoned_by_age_only(spark, wconf):
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    _running_row(spark, wconf, "old", "forecast", started_at=now - dt.timedelta(hours=30),
                 host="elsewhere", pid=1, app_id="app-old")
    _running_row(spark, wconf, "young", "forecast", started_at=now - dt.timedelta(hours=2),
                 host="elsewhere", pid=1, app_id="app-young")
    _running_row(spark, wconf, "alive", "plan", started_at=now,
                 host=os.uname().nodename, pid=os.getpid(), app_id="app-other")
    assert runs.mark_abandoned(spark, wconf, now=now) == [("old", "forecast")]
    status = tables.read(spark, wconf, "runs").toPandas().set_index("run_id")["status"]
    assert status.to_dict() == {"old": "abandoned", "young": "running", "alive": "running"}
    wconf["runs"] = {"abandon_after_hours": 1}
    assert runs.mark_abandoned(spark, wconf, now=now) == [("young", "forecast")]
    # this very process, but a row older than it: the pid was reused, the job is gone
    _running_row(spark, wconf, "reused", "plan", started_at=now - dt.timedelta(days=400),
                 host=os.uname().nodename, pid=os.getpid(), app_id="app-other")
    assert runs.mark_abandoned(spark, wconf, now=now) == [("reused", "plan")]


def _subprocess_run(warehouse: str, run_id: str, log: Path) -> subprocess.Popen:
    """`restock run --quiet` in its own process group (its JVM is a child in that group)."""
    env = {**os.environ, "PYTHONPATH": str(LIB), "RESTOCK_DEBUG": "1"}
    command = [sys.executable, "-m", "restock.app.cli", "run", "--run-id", run_id, "--no-backtest",
               "--warehouse", warehouse, "--master", "local[2]", "--quiet", *SMALL]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=log.open("w"),
                            text=True, start_new_session=True)


def _running_jobs(warehouse: str, run_id: str) -> set[str]:
    """Jobs whose `running` row for the run was committed, read off the Delta log's file
    statistics (plain file reads: no Spark job while the run competes for the cores)."""
    found = set()
    for commit in sorted(Path(warehouse, "runs", "_delta_log").glob("*.json")):
        for line in commit.read_text().splitlines():
            add = json.loads(line).get("add")
            if add and add["partitionValues"].get("run_id") == run_id and add.get("stats"):
                low = json.loads(add["stats"]).get("minValues", {})
                if low.get("status") == "running":
                    found.add(low.get("job"))
    return found


def _wait_for_running(warehouse, run_id, jobs, proc, timeout=1800.0) -> None:
    """Poll until one of `jobs` of the run has committed its `running` row."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended before it could be killed"
        if Path(warehouse, "runs").is_dir() and _running_jobs(warehouse, run_id) & set(jobs):
            return
        time.sleep(0.1)
    pytest.fail(f"no running {jobs} row for run {run_id} within {timeout} s")


def test_a_killed_run_is_abandoned_and_its_rerun_succeeds_without_duplicates(
    spark, wconf, tmp_path
):
    warehouse = wconf["warehouse"]
    assert main(["generate", "--series", "12", "--days", "150", "--warehouse", warehouse,
                 *SMALL]) == 0
    proc = _subprocess_run(warehouse, "k1", tmp_path / "killed.log")
    try:
        _wait_for_running(warehouse, "k1", AFTER_INGEST, proc)
        os.killpg(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    killed = _rows(spark, wconf, "k1").set_index("job")
    job = killed.index[killed["status"] == "running"][0]
    assert killed.loc[job, "pid"] == proc.pid and job in AFTER_INGEST

    assert runs.mark_abandoned(spark, wconf) == [("k1", job)]
    abandoned = _rows(spark, wconf, "k1").set_index("job").loc[job]
    assert abandoned["status"] == "abandoned"
    assert f"pid {proc.pid}" in abandoned["message"]

    rerun = _subprocess_run(warehouse, "k1", tmp_path / "rerun.log")
    out, _ = rerun.communicate(timeout=1200)
    assert rerun.returncode == 0, (tmp_path / "rerun.log").read_text()
    assert out.splitlines() == ["run k1 succeeded (as of 2026-10-31)"]  # --quiet: one line
    assert " restock " not in (tmp_path / "rerun.log").read_text()  # and no progress lines
    final = _rows(spark, wconf, "k1")
    assert final["job"].is_unique and set(final["status"]) == {"succeeded"}
    assert set(final["job"]) == {"ingest", "quality", "profile", "forecast", "plan"}
    forecasts = tables.read(spark, wconf, "forecasts").where("run_id = 'k1'").toPandas()
    assert not forecasts.duplicated(["sku_id", "location_id", "model", "date"]).any()
    assert forecasts.groupby(["sku_id", "location_id"]).ngroups > 0
