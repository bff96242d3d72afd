"""The full run under spark-submit on a real Spark standalone cluster: a master and two
workers, each its own JVM, started from the installed pyspark on free loopback ports.

Executors run the packed environment (`make package`), the Delta jars travel with --jars;
the event log proves that tasks ran on both workers.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import pytest
from conftest import TEST_SPARK

from restock.app.cli import main
from restock.dev import standalone
from restock.io import tables

ROOT = Path(__file__).resolve().parents[1]
SERIES = 24
HORIZON = 14
# sized for 2 one-core executors and 24 series (conf/cluster.yaml's are for a real cluster)
SMALL = [
    "--set", "spark.sql.shuffle.partitions=4",
    "--set", "spark.databricks.delta.snapshotPartitions=2",
    "--set", "forecast.buckets=4",
    "--set", "backtest.windows=2",
    "--set", f"backtest.horizon_days={HORIZON}",
    "--set", f"forecast.horizon_days={HORIZON}",
    "--set", "forecast.interval_windows=2",
]


def _free_ports(count: int) -> list[int]:
    """Distinct free loopback ports, so parallel test runs cannot clash."""
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(standalone.free_port())
    return sorted(ports)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A fresh package, then a master and two workers; stopped by pid even on failure."""
    built = subprocess.run(["make", "package"], cwd=ROOT, capture_output=True, text=True)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    master, master_ui, *worker_uis = _free_ports(4)
    cluster = standalone.Cluster(tmp_path_factory.mktemp("cluster"), master, master_ui,
                                 tuple(worker_uis), worker_cores=1, worker_memory="2g")
    try:
        standalone.up(cluster, timeout_s=240)
        yield cluster
    finally:
        standalone.down(cluster)


@pytest.fixture(scope="module")
def submitted(cluster, spark, tmp_path_factory):
    """Generated data (test session), then `restock run` spark-submitted to the cluster."""
    warehouse = str(tmp_path_factory.mktemp("cluster_warehouse"))
    events = tmp_path_factory.mktemp("events")
    test_settings = [a for k, v in TEST_SPARK.items() for a in ("--set", f"spark.{k}={v}")]
    assert main(["generate", "--series", str(SERIES), "--days", "120",
                 "--warehouse", warehouse, *test_settings]) == 0
    argv = standalone.submit_command(
        cluster.master_url, "run", ["--warehouse", warehouse, "--run-id", "c1", *SMALL],
        # one plain JSON file on both lines (Spark 4 rolls and zstd-compresses by default)
        spark_conf=["spark.eventLog.enabled=true", f"spark.eventLog.dir={events}",
                    "spark.eventLog.rolling.enabled=false", "spark.eventLog.compress=false"],
    )
    result = subprocess.run(argv, env=standalone.submit_env(), capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "run c1 succeeded" in result.stdout
    return warehouse, events


def _rows(spark, warehouse: str, name: str):
    conf = {"warehouse": warehouse, "tables": {}}
    return tables.read(spark, conf, name).where("run_id = 'c1'").toPandas()


@pytest.mark.cluster
def test_run_on_the_cluster_writes_forecasts_and_plans(spark, submitted):
    warehouse, _ = submitted
    forecasts = _rows(spark, warehouse, "forecasts")
    assert forecasts.groupby(["sku_id", "location_id"]).ngroups == SERIES
    assert set(forecasts["status"]) <= {"ok", "fallback"}
    per_series = forecasts.groupby(["sku_id", "location_id", "model"]).size()
    assert (per_series == HORIZON).all()
    assert forecasts["yhat"].notna().all()
    plans = _rows(spark, warehouse, "plans")
    assert len(plans) == SERIES
    assert (plans["order_qty"] >= 0).all() and plans["reorder_point"].notna().all()
    jobs = _rows(spark, warehouse, "runs").set_index("job")
    assert set(jobs["status"]) == {"succeeded"}


@pytest.mark.cluster
def test_tasks_ran_on_both_workers(cluster, submitted):
    _, events = submitted
    (log,) = Path(events).iterdir()
    records = [json.loads(line) for line in log.read_text().splitlines()]
    worker_of = {  # executor id -> the web UI port of the worker that launched it
        r["Executor ID"]: urlparse(r["Executor Info"]["Log Urls"]["stdout"]).port
        for r in records if r["Event"] == "SparkListenerExecutorAdded"
    }
    tasks = [r["Task Info"]["Executor ID"] for r in records
             if r["Event"] == "SparkListenerTaskEnd"]
    assert set(worker_of.values()) == set(cluster.worker_ui_ports)
    # per worker, not per executor: on a loaded machine an executor can miss its heartbeat
    # and be replaced on the same worker after the last task (CI: executor 0 timed out after
    # 177 s, executor 2 took its place and ran nothing)
    per_worker = [worker_of[e] for e in tasks]
    assert min(per_worker.count(port) for port in cluster.worker_ui_ports) > 10
    settings = next(r for r in records if r["Event"] == "SparkListenerEnvironmentUpdate")
    assert settings["Spark Properties"]["spark.pyspark.python"] == "./environment/bin/python"


@pytest.mark.cluster
def test_cluster_up_again_keeps_the_running_processes(cluster):
    pids = {name: int(cluster.pid_file(name).read_text())
            for name in ("master", "worker-1", "worker-2")}
    state = standalone.up(cluster)
    assert state["url"] == cluster.master_url
    assert len([w for w in state["workers"] if w["state"] == "ALIVE"]) == 2
    assert {n: int(cluster.pid_file(n).read_text()) for n in pids} == pids


def test_cluster_down_leaves_a_process_that_is_not_its_own(tmp_path):
    # a pid file naming a live process that is no Spark master (say, a reused pid)
    other = subprocess.Popen(["sleep", "60"])
    try:
        cluster = standalone.Cluster(tmp_path)
        cluster.pid_file("master").write_text(f"{other.pid}\n")
        assert standalone.down(cluster) == []
        assert other.poll() is None
        assert not cluster.pid_file("master").exists()
    finally:
        other.kill()
        other.wait()
