"""`restock maintain`: old runs leave every output table, inputs and the newest succeeded
run stay, files are compacted and vacuumed, time travel within the retention still works."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import TEST_SPARK

from restock.app.cli import main
from restock.io import runs, tables
from restock.io.maintain import RetentionSettings, maintain

NOW = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
# run id -> (days ago it started, status of its forecast job)
RUNS = {"m1": (40, "succeeded"), "m2": (20, "succeeded"), "m3": (10, "failed")}


@pytest.fixture
def warehouse(spark, wconf):
    """An input table and three runs of forecasts (each written as two small files)."""
    sales = spark.createDataFrame([("s1", "l1", dt.date(2026, 1, 1), 1.0)],
                                  "sku_id string, location_id string, date date, quantity double")
    tables.write_input(sales, wconf, "sales", "test")
    for run_id, (days_ago, status) in RUNS.items():
        started = NOW - dt.timedelta(days=days_ago)
        record = runs.RunRecord(job="forecast", as_of_date=None, started_at=started,
                                finished_at=started + dt.timedelta(minutes=5), status=status,
                                config_digest="x", code_version="x")
        runs.write_record(spark, wconf, run_id, record)
        rows = spark.range(40).selectExpr(
            "concat('s', id % 8) AS sku_id", "'l1' AS location_id", "id AS step",
            "cast(id AS double) AS yhat").repartition(2)
        tables.write_run(rows, wconf, "forecasts", run_id)
    return wconf


def _run_ids(spark, conf, name, version=None):
    df = tables.read(spark, conf, name, version=version)
    return sorted(r[0] for r in df.select("run_id").distinct().collect())


def test_dry_run_changes_nothing_and_says_what_it_would_remove(spark, warehouse):
    before = tables.latest_version(spark, warehouse, "forecasts")
    lines = maintain(spark, warehouse, settings=RetentionSettings(168, 1, None), now=NOW)
    assert lines[0].startswith("dry run") and "drop 1 run(s): m1" in lines[0]
    assert {"  keep m2: newest succeeded forecast", "  keep m3: among the newest 1"} <= set(lines)
    assert "forecasts: would remove 40 row(s) of 1 run(s)" in lines
    assert tables.latest_version(spark, warehouse, "forecasts") == before
    assert _run_ids(spark, warehouse, "forecasts") == ["m1", "m2", "m3"]


def test_apply_keeps_the_newest_succeeded_run_and_never_the_inputs(spark, warehouse):
    sales_version = tables.latest_version(spark, warehouse, "sales")
    before = tables.latest_version(spark, warehouse, "forecasts")
    # keep no run by count or age: only the newest succeeded forecast run (m2) survives
    lines = maintain(spark, warehouse, apply=True, settings=RetentionSettings(1, 0, None),
                     now=NOW)
    assert "  keep m2: newest succeeded forecast" in lines
    assert _run_ids(spark, warehouse, "forecasts") == ["m2"]
    assert _run_ids(spark, warehouse, "runs") == ["m2"]
    assert tables.latest_version(spark, warehouse, "sales") == sales_version
    optimized = next(line for line in lines if line.startswith("forecasts: optimize"))
    assert "z-ordered by sku_id, location_id 1 run(s): 2 -> 1 file(s)" in optimized
    # the removed files are younger than the 1 h retention: the old version still reads them
    assert _run_ids(spark, warehouse, "forecasts", version=before) == ["m1", "m2", "m3"]


def test_vacuum_deletes_the_unreferenced_files_and_the_kept_version_still_reads(
    spark, warehouse
):
    maintain(spark, warehouse, apply=True, settings=RetentionSettings(168, 0, 15), now=NOW)
    kept = tables.latest_version(spark, warehouse, "forecasts")
    lines = maintain(spark, warehouse, apply=True, settings=RetentionSettings(0, 0, 15),
                     now=NOW)
    assert "forecasts: optimize nothing to compact: 2 file(s), one per run" in lines
    vacuumed = next(line for line in lines if line.startswith("forecasts: vacuum"))
    assert int(vacuumed.split("removed ")[1].split()[0]) >= 6  # m1's 2, m2+m3's 4 compacted
    assert _run_ids(spark, warehouse, "forecasts", version=kept) == ["m2", "m3"]
    again = maintain(spark, warehouse, settings=RetentionSettings(0, 0, 15), now=NOW)
    assert "forecasts: vacuum would remove 0 file(s) older than 0 h" in again


def test_the_cli_is_a_dry_run_unless_applied(spark, warehouse, capsys):
    common = ["--warehouse", warehouse["warehouse"], "--set", "retention.keep_runs=1",
              *(a for k, v in TEST_SPARK.items() for a in ("--set", f"spark.{k}={v}")),
              "--set", "retention.keep_days=null"]
    assert main(["maintain", *common]) == 0
    assert "dry run" in capsys.readouterr().out
    assert _run_ids(spark, warehouse, "forecasts") == ["m1", "m2", "m3"]
    assert main(["maintain", "--apply", *common]) == 0
    assert "forecasts: removed 40 row(s) of 1 run(s)" in capsys.readouterr().out
    assert _run_ids(spark, warehouse, "forecasts") == ["m2", "m3"]
