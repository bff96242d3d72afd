"""`restock ingest` on bad files: each problem's exact quarantine reason or error and exit
code, and the row accounting rows read = accepted + quarantined + exact duplicates."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path

import pytest
from conftest import TEST_SPARK

from restock.app.cli import main
from restock.io import tables
from restock.io.ingest import load_files

AS_OF = dt.date(2026, 6, 30)
SALES = "sku_id,location_id,date,quantity,price,promo"
PARAMS = ("sku_id,location_id,lead_time_days,lead_time_std_days,review_period_days,unit_cost,"
          "order_cost,holding_rate,shortage_cost,moq,pack_size,service_level,lifecycle")
INVENTORY = "sku_id,location_id,as_of_date,on_hand,on_order,backorders"
SPARK_FLAGS = [a for k, v in TEST_SPARK.items() for a in ("--set", f"spark.{k}={v}")]
pytestmark = pytest.mark.smoke  # all of it runs on the Spark 3.5 line too (make test-smoke)


def params(sku: str = "A", **changes: str) -> str:
    """One item_params CSV line: valid unless changed."""
    row = dict(sku_id=sku, location_id="L", lead_time_days="5", lead_time_std_days="1",
               review_period_days="7", unit_cost="2.5", order_cost="30", holding_rate="0.2",
               shortage_cost="1", moq="0", pack_size="6", service_level="", lifecycle="active")
    row.update(changes)
    return ",".join(row.values())


# id, table, CSV lines after the header, conf overrides, expected reasons, accepted, duplicates
CASES = [
    ("text-in-number", "sales", ["A,L,2026-06-01,3,2,false", "A,L,2026-06-02,three,2,false"],
     {}, {"non-numeric quantity": 1}, 1, 0),
    ("bad-date", "sales", ["A,L,2026-06-01,3,2,false", "A,L,06/02/2026,3,2,false"],
     {}, {"unparseable date": 1}, 1, 0),
    ("future-date", "sales", ["A,L,2026-06-30,3,2,false", "A,L,2026-07-01,3,2,false"],
     {}, {"date after the as-of date": 1}, 1, 0),
    ("null-key", "sales", ["A,L,2026-06-01,3,2,false", ",L,2026-06-02,3,2,false",
                           "A,,2026-06-02,3,2,false"],
     {}, {"null series key": 2}, 1, 0),
    ("missing-quantity", "sales", ["A,L,2026-06-01,,2,false", "A,L,2026-06-02,1,2,false"],
     {}, {"null quantity": 1}, 1, 0),
    ("infinite", "sales", ["A,L,2026-06-01,inf,2,false", "A,L,2026-06-02,-Infinity,2,false",
                           "A,L,2026-06-03,1,2,false"],
     {}, {"quantity is infinite": 2}, 1, 0),
    ("nan", "sales", ["A,L,2026-06-01,NaN,2,false", "A,L,2026-06-02,1,2,false"],
     {}, {"quantity is NaN": 1}, 1, 0),
    ("returns-rejected", "sales", ["A,L,2026-06-01,5,2,false", "A,L,2026-06-02,-2,2,false"],
     {"negative_quantity": "quarantine"}, {"negative quantity (return)": 1}, 1, 0),
    ("returns-kept", "sales", ["A,L,2026-06-01,5,2,false", "A,L,2026-06-02,-2,2,false"],
     {}, {}, 2, 0),
    ("bad-boolean", "sales", ["A,L,2026-06-01,5,2,maybe", "A,L,2026-06-02,1,2,yes"],
     {}, {"unparseable promo": 1}, 1, 0),
    ("exact-duplicates", "sales", ["A,L,2026-06-01,5,2,false"] * 3 + ["A,L,2026-06-02,1,2,false"],
     {}, {}, 2, 2),
    ("conflict-kept-last", "item_params", [params(unit_cost="2"), params(unit_cost="3")],
     {"on_conflict": {"item_params": "last"}},
     {"conflicting duplicate of key (kept the last)": 1}, 1, 0),
    ("conflict-quarantined", "item_params", [params(unit_cost="2"), params(unit_cost="3"),
                                             params("B")],
     {"on_conflict": {"item_params": "quarantine"}}, {"conflicting duplicates of key": 2}, 1, 0),
    ("service-level", "item_params", [params(), params("B", service_level="1.5")],
     {}, {"service_level outside (0, 1)": 1}, 1, 0),
    ("negative-lead-time", "item_params", [params(), params("B", lead_time_days="-3")],
     {}, {"lead_time_days missing or negative": 1}, 1, 0),
    ("fractional-int", "item_params", [params(), params("B", review_period_days="7.5")],
     {}, {"non-integer review_period_days": 1}, 1, 0),
    ("infinite-param", "item_params", [params(), params("B", order_cost="inf")],
     {}, {"order_cost is infinite": 1}, 1, 0),
    ("negative-stock", "inventory", ["A,L,2026-06-30,5,0,0", "B,L,2026-06-30,-1,0,0",
                                     "C,L,2026-07-04,1,0,0"],
     {}, {"on_hand missing or negative": 1, "as_of_date after the as-of date": 1}, 1, 0),
    # issue 18: one day of 1e300 was accepted and became an infinite order marked ok
    ("absurd-quantity", "sales", ["A,L,2026-06-01,5,2,false", "A,L,2026-06-02,1e300,2,false",
                                  "A,L,2026-06-03,2e9,2,false", "A,L,2026-06-04,1e9,2,false"],
     {}, {"implausible quantity: above quality.max_quantity 1e+09": 2}, 2, 0),
    ("mixed", "sales", ["A,L,2026-06-01,3,2,false", "A,L,2026-06-01,3,2,false",
                        "A,L,2026-06-02,x,2,false", "A,L,2026/13/45,1,2,false",
                        "A,L,2026-09-01,1,2,false", ",L,2026-06-03,1,2,false",
                        "B,L,2026-06-03,nan,2,false", "B,L,2026-06-04,2,2,false"],
     {"negative_quantity": "quarantine"},
     {"non-numeric quantity": 1, "unparseable date": 1, "date after the as-of date": 1,
      "null series key": 1, "quantity is NaN": 1}, 2, 1),
]
HEADERS = {"sales": SALES, "item_params": PARAMS, "inventory": INVENTORY}


def _conf(wconf: dict, **ingest) -> dict:
    conf = copy.deepcopy(wconf)
    if "negative_quantity" in ingest:  # returns have one rule, quality.negative_quantity
        conf["quality"]["negative_quantity"] = ingest.pop("negative_quantity")
    conf["ingest"].update({"max_quarantine_share": 1.0, **ingest})
    return conf


def _write(folder: Path, table: str, lines: list[str], name: str = "export.csv") -> str:
    path = folder / name
    path.write_text("\n".join([HEADERS[table], *lines]) + "\n")
    return str(path)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_each_bad_row_is_quarantined_with_its_reason(case, spark, wconf, tmp_path):
    _, table, lines, overrides, reasons, accepted, duplicates = case
    conf = _conf(wconf, **overrides)
    path = _write(tmp_path, table, lines)
    result = load_files(spark, conf, table, [path], run_id="i1", as_of_date=AS_OF)
    counts = result.counts
    assert counts.by_reason == reasons
    assert (counts.rows_accepted, counts.rows_duplicate) == (accepted, duplicates)
    assert counts.rows_read == len(lines) == (
        counts.rows_accepted + counts.rows_quarantined + counts.rows_duplicate
    )
    run = tables.read(spark, conf, "runs").where("run_id = 'i1'").toPandas().iloc[0]
    assert run["job"] == f"ingest_{table}" and run["status"] == "succeeded"
    assert (run["rows_in"], run["rows_out"], run["rows_quarantined"], run["rows_duplicate"]) == (
        len(lines), accepted, sum(reasons.values()), duplicates)
    rejected = tables.read(spark, conf, "quarantine").where("run_id = 'i1'").toPandas()
    assert rejected["reason"].value_counts().to_dict() == reasons
    assert set(rejected["source_file"]) <= {path}
    header = HEADERS[table].split(",")
    raw_rows = [{k: v or None for k, v in zip(header, ln.split(","), strict=True)} for ln in lines]
    for record in rejected["record"]:  # the raw values, as the file held them
        assert json.loads(record) in raw_rows
    assert tables.read(spark, conf, table).count() == accepted  # one row per key here


def test_kept_rows_land_in_the_table_with_their_values(spark, wconf, tmp_path):
    conf = _conf(wconf)
    lines = ["A,L,2026-06-01,5,2.0,false", "A,L,2026-06-01,3,4.0,true",  # one day, two sales
             "A,L,2026-06-01,-1,2.0,false",  # a return the same day
             "A,L,2026-06-02,2,2.0,false"]
    load_files(spark, conf, "sales", [_write(tmp_path, "sales", lines)], run_id="i1",
               as_of_date=AS_OF)
    got = tables.read(spark, conf, "sales").toPandas().set_index("date")
    day = got.loc[dt.date(2026, 6, 1)]
    assert day["quantity"] == 7.0  # 5 + 3 - 1
    assert day["price"] == pytest.approx((5 * 2.0 + 3 * 4.0 - 1 * 2.0) / 7)  # weighted by quantity
    assert bool(day["promo"]) is True
    assert got.loc[dt.date(2026, 6, 2), "quantity"] == 2.0


def test_conflicts_keep_the_last_row_in_file_order(spark, wconf, tmp_path):
    conf = _conf(wconf)
    path = _write(tmp_path, "item_params", [params(unit_cost="2"), params(unit_cost="3"),
                                            params(unit_cost="4"), params("B")])
    load_files(spark, conf, "item_params", [path], run_id="i1", as_of_date=AS_OF)
    got = tables.read(spark, conf, "item_params").toPandas().set_index("sku_id")
    assert got.loc["A", "unit_cost"] == 4.0 and len(got) == 2


def test_reingesting_a_file_changes_nothing_and_a_changed_row_is_updated(spark, wconf, tmp_path):
    conf = _conf(wconf)
    lines = ["A,L,2026-06-01,5,2,false", "A,L,2026-06-02,1,2,false", "B,L,2026-06-02,x,2,false"]
    path = _write(tmp_path, "sales", lines)
    first = load_files(spark, conf, "sales", [path], run_id="i1", as_of_date=AS_OF)
    before = tables.read(spark, conf, "sales").toPandas().sort_values("date")
    again = load_files(spark, conf, "sales", [path], run_id="i2", as_of_date=AS_OF)
    after = tables.read(spark, conf, "sales").toPandas().sort_values("date")
    assert first.merged == {"inserted": 2, "updated": 0, "unchanged": 0}
    assert again.merged == {"inserted": 0, "updated": 0, "unchanged": 2}
    assert before.reset_index(drop=True).equals(after.reset_index(drop=True))
    changed = _write(tmp_path, "sales", ["A,L,2026-06-02,4,2,false", "A,L,2026-06-03,1,2,false"],
                     "late.csv")
    third = load_files(spark, conf, "sales", [changed], run_id="i3", as_of_date=AS_OF)
    assert third.merged == {"inserted": 1, "updated": 1, "unchanged": 0}
    history = tables.history(spark, conf, "sales").toPandas()
    assert {"i1", "i3"} <= set(history["userMetadata"])


def test_calendar_and_planned_promotions_load_and_reload_unchanged(spark, wconf, tmp_path):
    # events and promotions may lie after the as-of date (they are planned); a calendar row
    # with no location applies everywhere and must still merge as the same row on reload;
    # the promotions file has no discount column (it is optional)
    conf = _conf(wconf)
    calendar = tmp_path / "calendar.csv"
    calendar.write_text("date,event,event_type,location_id\n"
                        "2026-11-27,Black Friday,shopping_festival,\n"
                        "2026-12-24,Christmas Eve,holiday,L\n"
                        "someday,Oops,holiday,\n")
    promotions = tmp_path / "promotions.csv"
    promotions.write_text("sku_id,location_id,start_date,end_date\n"
                          "A,L,2026-07-10,2026-07-16\nA,L,2026-07-20,2026-07-18\n")
    first = load_files(spark, conf, "calendar", [str(calendar)], run_id="c1", as_of_date=AS_OF)
    again = load_files(spark, conf, "calendar", [str(calendar)], run_id="c2", as_of_date=AS_OF)
    assert first.counts.by_reason == {"unparseable date": 1}
    assert first.merged == {"inserted": 2, "updated": 0, "unchanged": 0}
    assert again.merged == {"inserted": 0, "updated": 0, "unchanged": 2}
    assert tables.read(spark, conf, "calendar").count() == 2
    promo = load_files(spark, conf, "promotions", [str(promotions)], run_id="p1", as_of_date=AS_OF)
    assert promo.counts.by_reason == {"end_date before start_date": 1}
    assert promo.counts.rows_accepted == 1
    row = tables.read(spark, conf, "promotions").first()
    assert row["start_date"] == dt.date(2026, 7, 10) and row["discount"] is None


def test_headers_are_matched_loosely_and_mapped_explicitly(spark, wconf, tmp_path):
    conf = _conf(wconf)
    path = tmp_path / "pos.csv"
    path.write_text("\ufeffItem Code,Location-ID, Date ,Qty\nA,L,2026-06-01,5\n")
    result = load_files(spark, conf, "sales", [str(path)], run_id="i1", as_of_date=AS_OF,
                  mapping={"sku_id": "item_code", "quantity": "qty"})
    assert result.counts.rows_accepted == 1
    row = tables.read(spark, conf, "sales").first()
    assert (row["sku_id"], row["location_id"], row["quantity"]) == ("A", "L", 5.0)


def test_counts_are_this_commits_own_and_zero_when_nothing_was_merged(spark, wconf, tmp_path):
    # issue 18: "accepted 0 ... inserted 10": with nothing accepted there was no MERGE and
    # the 10 came from the table's previous commit
    conf = _conf(wconf)
    first = load_files(spark, conf, "sales", [_write(tmp_path, "sales", [
        f"A,L,2026-06-{d:02d},5,2,false" for d in range(1, 11)])], run_id="i1", as_of_date=AS_OF)
    assert first.merged == {"inserted": 10, "updated": 0, "unchanged": 0}
    bad = _write(tmp_path, "sales", ["A,L,2026-06-01,x,2,false"] * 3, "bad.csv")
    nothing = load_files(spark, conf, "sales", [bad], run_id="i2", as_of_date=AS_OF)
    assert nothing.counts.rows_accepted == 0
    assert nothing.merged == {"inserted": 0, "updated": 0, "unchanged": 0}
    run = tables.read(spark, conf, "runs").where("run_id = 'i2'").first()
    assert "inserted 0, updated 0, unchanged 0" in run["message"]
    assert tables.latest_version(spark, conf, "sales") == 1  # create + one MERGE: no new commit


def test_a_header_with_a_backtick_maps_and_loads(spark, wconf, tmp_path):
    # issue 18: "AnalysisException: Syntax error in attribute name"
    conf = _conf(wconf)
    path = tmp_path / "odd.csv"
    path.write_text("sku_id,location_id,date,qty `units`\nA,L,2026-06-01,5\n")
    result = load_files(spark, conf, "sales", [str(path)], run_id="i1", as_of_date=AS_OF,
                        mapping={"quantity": "qty `units`"})
    assert result.counts.rows_accepted == 1
    assert tables.read(spark, conf, "sales").first()["quantity"] == 5.0


def test_too_many_rejected_rows_load_nothing_but_quarantine_them(spark, wconf, tmp_path):
    conf = _conf(wconf, max_quarantine_share=0.2)
    path = _write(tmp_path, "sales", ["A,L,2026-06-01,x,2,false", "A,L,2026-06-02,1,2,false"])
    assert main(["ingest", "sales", path, "--warehouse", conf["warehouse"], "--as-of-date",
                 "2026-06-30", "--set", "ingest.max_quarantine_share=0.2", *SPARK_FLAGS]) == 1
    assert not tables.exists(spark, conf, "sales")
    assert tables.read(spark, conf, "quarantine").count() == 1
    run = tables.read(spark, conf, "runs").toPandas().iloc[0]
    assert run["status"] == "failed" and "1 of 2 rows rejected (50.0%" in run["message"]


def _cli_error(tmp_path: Path, capsys, *args: str) -> str:
    warehouse = tmp_path / "warehouse"
    code = main(["ingest", *args, "--warehouse", str(warehouse), *SPARK_FLAGS])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith("restock: error: ")
    assert not warehouse.exists()  # nothing written
    return err[0]


def test_missing_required_column_stops_with_exit_code_2(spark, tmp_path, capsys):
    path = tmp_path / "x.csv"
    path.write_text("sku_id,location_id,date,qty\nA,L,2026-06-01,5\n")
    err = _cli_error(tmp_path, capsys, "sales", str(path))
    assert f"{path}: missing required column(s) quantity for table 'sales'" in err
    assert "the file has: sku_id, location_id, date, qty" in err


def test_file_not_found_stops_with_exit_code_2(spark, tmp_path, capsys):
    good = _write(tmp_path, "sales", ["A,L,2026-06-01,5,2,false"])
    err = _cli_error(tmp_path, capsys, "sales", good, str(tmp_path / "nope.csv"))
    assert err.endswith(f"{tmp_path / 'nope.csv'}: file not found")


@pytest.mark.parametrize("text, message", [("", "empty file"),
                                           (SALES + "\n", "empty file (no data rows)")])
def test_empty_files_stop_with_exit_code_2(text, message, spark, tmp_path, capsys):
    path = tmp_path / "empty.csv"
    path.write_text(text)
    assert _cli_error(tmp_path, capsys, "sales", str(path)).endswith(f"{path}: {message}")


def test_unreadable_format_stops_with_exit_code_2(spark, tmp_path, capsys):
    path = Path(_write(tmp_path, "sales", ["A,L,2026-06-01,5,2,false"], "sales.parquet"))
    err = _cli_error(tmp_path, capsys, "sales", str(path))
    assert f"{path}: not a Parquet file" in err
    err = _cli_error(tmp_path, capsys, "sales", str(path.with_suffix(".csv")), "--format", "delta")
    assert "file not found" in err
    err = _cli_error(tmp_path, capsys, "sales", str(path), "--format", "delta")
    assert "cannot read as delta" in err


def test_a_mapping_to_a_column_the_file_lacks_stops_with_exit_code_2(spark, tmp_path, capsys):
    path = _write(tmp_path, "sales", ["A,L,2026-06-01,5,2,false"])
    err = _cli_error(tmp_path, capsys, "sales", path, "--mapping", "quantity=units")
    assert "--mapping quantity=units: the file has no column 'units'" in err


def test_a_column_named_twice_stops_with_exit_code_2(spark, tmp_path, capsys):
    # issue 18: "missing ... quantity (file has ... quantity3, quantity4)"
    path = tmp_path / "twice.csv"
    path.write_text("sku_id,location_id,date,quantity,Quantity\nA,L,2026-06-01,5,6\n")
    err = _cli_error(tmp_path, capsys, "sales", str(path))
    assert err.endswith(f"{path}: column(s) quantity named more than once in the header; "
                        "rename or drop the copies")


def test_a_folder_of_csv_and_other_files_stops_with_exit_code_2(spark, tmp_path, capsys):
    # issue 18: the folder's junk bytes were listed as its columns
    folder = tmp_path / "exports"
    folder.mkdir()
    _write(folder, "sales", ["A,L,2026-06-01,5,2,false"], "day1.csv")
    (folder / "notes.xlsx").write_bytes(b"PK\x03\x04\x00\xff binary")
    (folder / "_SUCCESS").write_text("")  # Spark skips these; so does the check
    err = _cli_error(tmp_path, capsys, "sales", str(folder), "--format", "csv")
    assert err.endswith(f"{folder}: folder read as csv also holds other files (notes.xlsx); "
                        "give the csv files themselves or a folder holding only them")
    (folder / "notes.xlsx").unlink()
    warehouse = tmp_path / "warehouse"
    assert main(["ingest", "sales", str(folder), "--warehouse", str(warehouse),
                 "--as-of-date", "2026-06-30", *SPARK_FLAGS]) == 0  # a folder of CSVs: csv


DATA = Path(__file__).resolve().parent / "data"


def test_a_csv_export_and_a_parquet_file_load_and_run_end_to_end(spark, wconf, tmp_path):
    import pandas as pd

    warehouse = wconf["warehouse"]
    fast = [*SPARK_FLAGS, "--set", "forecast.horizon_days=14",
            "--set", "forecast.interval_windows=2"]
    params_parquet = tmp_path / "item_params.parquet"
    frame = pd.read_csv(DATA / "item_params.csv")  # service_level empty: null, not NaN
    frame.astype({"service_level": "Float64"}).to_parquet(params_parquet)

    def restock(*args: str) -> int:
        return main([*args, "--warehouse", warehouse, *fast])

    assert restock("ingest", "sales", str(DATA / "sales.csv"), "--as-of-date", "2026-06-30") == 0
    assert restock("ingest", "item_params", str(params_parquet)) == 0
    assert restock("ingest", "inventory", str(DATA / "inventory.csv")) == 0
    jobs = tables.read(spark, wconf, "runs").toPandas().set_index("job")
    sales = jobs.loc["ingest_sales"]
    # tests/data/sales.csv: 683 lines, one duplicated, a non-numeric quantity, a future
    # date and a date in another format; the return nets into its day
    assert (sales["rows_in"], sales["rows_quarantined"], sales["rows_duplicate"]) == (683, 3, 1)
    assert sales["rows_in"] == (
        sales["rows_out"] + sales["rows_quarantined"] + sales["rows_duplicate"]
    )
    assert restock("run", "--run-id", "e2e", "--no-backtest") == 0
    plans = tables.read(spark, wconf, "plans").where("run_id = 'e2e'").toPandas()
    assert sorted(plans["sku_id"] + "/" + plans["location_id"]) == [
        "SKU-001/STORE-1", "SKU-001/STORE-2", "SKU-002/STORE-1", "SKU-003/STORE-2"]
    forecasts = tables.read(spark, wconf, "forecasts").where("run_id = 'e2e'").toPandas()
    assert set(forecasts["status"]) <= {"ok", "fallback"} and len(forecasts) == 4 * 14
    report = tables.read(spark, wconf, "data_quality").where("run_id = 'e2e'").toPandas()
    assert set(report["check"]) >= {"missing_day_rate", "duplicate_rate", "freshness_days"}
    assert set(report["severity"]) <= {"ok", "warn"}


def test_quality_report_warns_and_fails_by_thresholds(spark, wconf):
    day = [dt.date(2026, 6, 21) + dt.timedelta(days=i) for i in range(10)]
    rows = [(sku, "L", d, 3.0) for sku in ("A", "B") for d in day if d != day[4]]
    rows.append(("A", "L", day[0], 3.0))  # an exact duplicate
    schema = "sku_id string, location_id string, date date, quantity double"
    tables.write_input(spark.createDataFrame(rows, schema), wconf, "sales", "test")
    code = main(["quality", "--run-id", "q1", "--as-of-date", "2026-06-30",
                 "--warehouse", wconf["warehouse"], *SPARK_FLAGS,
                 "--set", "quality.checks.missing_day_rate.fail=0.05",
                 "--set", "quality.max_quarantine_share=0.5"])
    assert code == 1
    report = tables.read(spark, wconf, "data_quality").where("run_id = 'q1'").toPandas()
    got = report.set_index("check")
    assert got.loc["missing_day_rate", "value"] == pytest.approx(1 / 10)  # 2026-06-25
    assert got.loc["missing_day_rate", "severity"] == "fail"
    assert got.loc["duplicate_rate", "value"] == pytest.approx(1 / 19)  # > fail 0.05 too
    assert got.loc["duplicate_rate", "severity"] == "fail"
    assert got.loc["freshness_days", ["value", "severity"]].tolist() == [0.0, "ok"]
    assert got.loc["short_history_share", ["value", "severity"]].tolist() == [1.0, "warn"]
    # no series is closed or in a gap: no "worst" series named at 0; a missed day names one
    assert got.loc["unavailable_share", "message"].endswith("no series has any such days")
    assert "worst A/L: 1 of 10 days" in got.loc["missing_day_rate", "message"]
    run = tables.read(spark, wconf, "runs").where("run_id = 'q1' AND job = 'quality'").first()
    assert run["status"] == "failed" and "missing_day_rate 0.1 > fail 0.05" in run["message"]
