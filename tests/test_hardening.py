"""Issue 18, as a hostile user would try it: absurd values never reach a plan as `ok`,
series without inventory order nothing unless conf says so, concurrent writers both land,
and bad files stop with one line (the rest of the ingest matrix is in test_ingest.py)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import TEST_SPARK

from restock.app.cli import Context, main
from restock.io import tables
from restock.io.config import load_conf
from restock.planning.bounds import QUANTITIES, REQUIRED, PlanSettings, checked_plan, counts_line
from restock.planning.planner import PLAN_FIELDS, PLAN_INPUT_FIELDS
from restock.planning.policy import PolicySettings

HERE = Path(__file__).resolve().parent
SPARK_FLAGS = [a for k, v in TEST_SPARK.items() for a in ("--set", f"spark.{k}={v}")]
SKIP = PlanSettings("skip", 1e9)
DOUBLES = [name for name, kind in PLAN_FIELDS if kind == "double"]


def _policy(**changes) -> PolicySettings:
    conf = load_conf("local", environ={})
    settings = PolicySettings.from_conf(conf["policy"], levels=conf["forecast"]["levels"])
    return dataclasses.replace(settings, **changes)


def _row(**changes) -> dict:
    """A plain series: 10 a day, σ_d 2, L 4, R 7, 30 on hand."""
    row = dict(
        sku_id="S", location_id="L", model="AutoETS", lifecycle="active", abc_class="A",
        demand_class="smooth", yhat=np.full(28, 10.0), sigma_daily=2.0, demand_std_daily=2.0,
        cum_errors=None, lead_time_days=4.0, lead_time_std_days=1.0, review_period_days=7,
        unit_cost=2.0, order_cost=30.0, holding_rate=0.2, shortage_cost=1.0, moq=0.0,
        pack_size=0.0, service_level=None, on_hand=30.0, on_order=0.0, backorders=0.0,
        has_params=True, has_inventory=True,
    )
    return {**row, **changes}


def _frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=[name for name, _ in PLAN_INPUT_FIELDS])


def _plan(rows: list[dict], plan: PlanSettings = SKIP, **policy) -> pd.DataFrame:
    """checked_plan with every RuntimeWarning an error (numpy overflow must not warn)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        return checked_plan(_frame(rows), _policy(**policy), plan)


def _floats(out: pd.DataFrame, name: str) -> np.ndarray:
    return out[name].to_numpy(dtype=float, na_value=np.nan)


# ---- 1. plausibility bounds in the planner ------------------------------------------------


def test_the_issues_absurd_forecast_is_implausible_with_no_order_and_no_inf():
    # issue 18: a day of 1e300 among 5s was forecast at 1.1e288 and planned `ok` with an
    # infinite safety stock, order, value and cost (numpy: "overflow encountered in square")
    out = _plan([_row(sku_id="absurd", yhat=np.full(28, 1.1e288), sigma_daily=1e290),
                 _row(sku_id="plain")]).set_index("sku_id")
    assert out.loc["absurd", "status"] == "implausible"
    assert out.loc["absurd", "status_reason"].startswith("implausible: ")
    assert (out.loc["absurd", "order_qty"], out.loc["absurd", "order_value"]) == (0.0, 0.0)
    assert not np.isinf(out.loc["absurd", DOUBLES].to_numpy(dtype=float, na_value=np.nan)).any()
    assert out.loc["plain", "status"] == "ok" and out.loc["plain", "order_qty"] > 0
    assert pd.isna(out.loc["plain", "status_reason"])


def test_a_quantity_above_the_plan_bound_is_implausible():
    out = _plan([_row(yhat=np.full(28, 1e6))], PlanSettings("skip", 1e6))
    assert out.loc[0, "status"] == "implausible"
    assert "above plan.max_quantity 1e+06" in out.loc[0, "status_reason"]
    assert _plan([_row(yhat=np.full(28, 1e6))]).loc[0, "status"] == "ok"  # under 1e9


EXTREMES = [0.0, -1.0, 1e-300, 0.5, 1.0, 7.0, 1e6, 1e154, 1e200, 1e300, 1.7e308, np.nan,
            np.inf, -np.inf, None]


def _random_row(rng: np.random.Generator, i: int) -> dict:
    """A series with every number drawn from EXTREMES (or a plain value)."""
    def pick(plain: float) -> float | None:
        return plain if rng.random() < 0.4 else EXTREMES[rng.integers(len(EXTREMES))]

    size = int(rng.integers(0, 40))
    yhat = None if rng.random() < 0.05 else np.array([pick(10.0) for _ in range(size)],
                                                      dtype=float)
    numbers = {k: pick(v) for k, v in _row().items() if isinstance(v, float)}
    lifecycle = ["active", "new", "end_of_life", None][rng.integers(4)]
    windows = None if rng.random() < 0.5 else [
        [pick(1.0) for _ in range(size)] for _ in range(int(rng.integers(1, 4)))]
    return _row(sku_id=f"S{i}", yhat=yhat, lifecycle=lifecycle, cum_errors=windows,
                review_period_days=int(rng.choice([0, 1, 7, 10**6])),
                has_inventory=bool(rng.random() < 0.8), **numbers)


@pytest.mark.parametrize("seed", range(6))
def test_no_extreme_input_reaches_the_plan_as_ok_with_a_non_finite_or_huge_figure(seed):
    # a seeded sweep, no hypothesis: 200 series per batch, periodic and continuous review,
    # each safety-stock method; a row either has finite, bounded figures or is not `ok`
    rng = np.random.default_rng(seed)
    rows = [_random_row(rng, i) for i in range(200)]
    kind = ("periodic", "continuous")[seed % 2]
    method = ("auto", "normal", "intervals", "empirical")[seed % 4]
    for plan in (SKIP, PlanSettings("zero", 1e9)):
        out = _plan(rows, plan, policy_type=kind, safety_stock_method=method,
                    empirical_min_samples=1)
        ordering = out["status"].isin(plan.ordering()).to_numpy()
        for name in REQUIRED:
            assert np.isfinite(_floats(out, name)[ordering]).all(), name
        for name in QUANTITIES:
            assert (_floats(out, name)[ordering] <= plan.max_quantity).all(), name
        for name in DOUBLES:
            assert not np.isinf(_floats(out, name)).any(), name
        ordered = _floats(out, "order_qty") > 0
        assert not (ordered & ~ordering).any()  # only ordering statuses order
        assert set(out["status"]) <= {"ok", "no_inventory", "no_item_params", "no_forecast",
                                      "end_of_life", "implausible"}
        assert out["status_reason"].notna().to_numpy()[~(out["status"] == "ok")].all()
        assert (out["status"] == "implausible").any()  # the sweep does reach the bounds


# ---- 5. series without inventory --------------------------------------------------------


def test_a_series_without_inventory_orders_nothing_unless_conf_says_zero():
    # issue 18: a series without an inventory row was planned with IP 0 and ordered its MOQ
    no_inventory = _row(sku_id="noinv", has_inventory=False, on_hand=None, moq=100_000.0)
    skipped = _plan([no_inventory, _row()]).set_index("sku_id")
    assert skipped.loc["noinv", "status"] == "no_inventory"
    assert (skipped.loc["noinv", "order_qty"], skipped.loc["noinv", "order_value"]) == (0, 0)
    assert pd.isna(skipped.loc["noinv", "total_cost_annual"])
    assert "plan.missing_inventory: skip" in skipped.loc["noinv", "status_reason"]
    zero = _plan([no_inventory], PlanSettings("zero", 1e9)).iloc[0]
    assert zero["order_qty"] == 100_000.0  # IP 0: the MOQ, as before, when asked for
    assert "plan.missing_inventory: zero" in zero["status_reason"]


def test_the_plan_counts_line_names_planned_and_skipped_series():
    by_status = {"ok": 7, "no_inventory": 2, "no_item_params": 1, "implausible": 1}
    assert counts_line(by_status, SKIP) == (
        "plan: 7 series planned; 4 without an order: implausible 1, no_inventory 2, "
        "no_item_params 1")
    assert counts_line(by_status, PlanSettings("zero", 1e9)) == (
        "plan: 9 series planned (2 without inventory, as if they held no stock); 2 without "
        "an order: implausible 1, no_item_params 1")


def test_plan_settings_reject_unknown_rules():
    from restock.errors import ConfigError

    with pytest.raises(ConfigError, match="plan.missing_inventory must be one of"):
        PlanSettings.from_conf({"plan": {"missing_inventory": "guess"}})
    assert PlanSettings.from_conf(load_conf("local", environ={})) == SKIP


# ---- 1. plausibility bounds on sales: quarantine and the data-quality report ----------------


def test_absurd_sales_are_quarantined_and_counted_by_the_quality_report(spark, wconf):
    # 29 days of 5 and one absurd day: MAD is 0, so the outlier rule leaves the series
    # alone; 1e300 is above quality.max_quantity, 40 000 is 8000x the series' 90% quantile
    import datetime as dt

    days = [dt.date(2026, 6, 1) + dt.timedelta(days=i) for i in range(30)]
    rows = [("A", "L", d, 5.0) for d in days[:-1]] + [("A", "L", days[-1], 1e300)]
    rows += [("B", "L", d, 5.0) for d in days[:-1]] + [("B", "L", days[-1], 40_000.0)]
    rows += [("C", "L", d, 5.0 + (i % 7) * 20) for i, d in enumerate(days)]  # real peaks kept
    schema = "sku_id string, location_id string, date date, quantity double"
    tables.write_input(spark.createDataFrame(rows, schema), wconf, "sales", "test")
    code = main(["quality", "--run-id", "q1", "--as-of-date", "2026-06-30",
                 "--warehouse", wconf["warehouse"], *SPARK_FLAGS,
                 "--set", "quality.max_quarantine_share=0.5"])
    assert code == 1  # implausible_share 2/90 > fail 0.01
    quarantine = tables.read(spark, wconf, "quarantine").where("run_id = 'q1'").toPandas()
    assert quarantine.set_index("sku_id")["reason"].to_dict() == {
        "A": "implausible quantity: above quality.max_quantity 1e+09",
        "B": "implausible quantity: above quality.max_relative_quantity 100 x the series' "
             "90% quantile",
    }
    report = tables.read(spark, wconf, "data_quality").where("run_id = 'q1'").toPandas()
    got = report.set_index("check").loc["implausible_share"]
    assert (got["value"], got["severity"]) == (pytest.approx(2 / 90), "fail")


# ---- 6. messages and paths ----------------------------------------------------------------


def test_a_relative_warehouse_resolves_against_the_current_directory(tmp_path, monkeypatch):
    # issue 18: `--warehouse wh` landed under the install folder
    monkeypatch.chdir(tmp_path)
    ctx = Context("local", None, "rel/wh", None, ())
    assert ctx.conf["warehouse"] == str(tmp_path / "rel" / "wh")
    assert tables.location(ctx.conf, "sales") == str(tmp_path / "rel" / "wh" / "sales")
    assert Context("local", None, "s3a://b/wh", None, ()).conf["warehouse"] == "s3a://b/wh"


def test_a_section_set_to_a_scalar_says_so_in_one_line(tmp_path, capsys):
    code = main(["quality", "--set", "quality=5", "--warehouse", str(tmp_path / "wh")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "quality" in err[0] and "5" in err[0] and "is missing" not in err[0]


# ---- 3. concurrent writers ----------------------------------------------------------------


class ConcurrentAppendException(Exception):
    """Named like delta-spark's, as the retry matches conflicts by name."""


def test_a_write_that_keeps_losing_retries_then_fails_with_one_line():
    from restock.errors import ConcurrentWriteError
    from restock.io.writes import with_retries

    conf = {"writes": {"conflict_retries": 2, "backoff_seconds": 0}}
    calls = []

    def losing() -> None:
        calls.append(1)
        raise ConcurrentAppendException(
            'Files were added to the root of the table by a concurrent update.\n'
            'Conflicting commit: {"timestamp":1,"operation":"MERGE","readVersion":3}')

    with pytest.raises(ConcurrentWriteError) as caught:
        with_retries(losing, conf, "sales", "ingest run r1 (MERGE)")
    assert len(calls) == 3  # the first try and two retries
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("table 'sales': ingest run r1 (MERGE) lost to a concurrent MERGE "
                              "(ConcurrentAppendException) 3 times")
    assert "Run the command again" in message
    outcomes = iter([ConcurrentAppendException("x"), None])

    def wins_second() -> str:
        error = next(outcomes)
        if error:
            raise error
        return "done"

    assert with_retries(wins_second, conf, "sales", "x") == "done"
    with pytest.raises(ZeroDivisionError):  # anything else is not retried
        with_retries(lambda: 1 / 0, conf, "sales", "x")


# ---- 3. concurrent writers, in two real processes ------------------------------------------


def _barrier(folder: Path, phase: str, me: int, timeout_s: float = 600) -> None:
    """Wait until both writers reached this phase."""
    (folder / f"{phase}.{me}").touch()
    deadline = time.monotonic() + timeout_s
    while not (folder / f"{phase}.{1 - me}").exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"writer {1 - me} never reached {phase}")
        time.sleep(0.05)


def _writer(me: int, folder: Path) -> None:
    """One of two concurrent writers: ingest into an empty warehouse, ingest into the
    existing table, then `restock run` on a warehouse without output tables."""
    flags = [*SPARK_FLAGS, "--master", "local[1]"]
    ingest = folder / "ingest_wh"
    for phase in ("empty", "existing"):
        _barrier(folder, phase, me)
        code = main(["ingest", "sales", str(folder / f"{phase}{me}.csv"), "--warehouse",
                     str(ingest), "--as-of-date", "2026-06-30", "--run-id", f"{phase}{me}",
                     *flags])
        print(json.dumps({"phase": phase, "code": code}), flush=True)
    _barrier(folder, "run", me)
    code = main(["run", "--warehouse", str(folder / "run_wh"), "--run-id", f"run{me}",
                 "--no-backtest", "--models", "HistoricAverage", "--set",
                 "forecast.horizon_days=7", "--set", "forecast.interval_windows=1", *flags])
    print(json.dumps({"phase": "run", "code": code}), flush=True)


def _sales_file(path: Path, sku: str, days: int) -> None:
    lines = [f"{sku},L,2026-06-{d:02d},{d}" for d in range(1, days + 1)]
    path.write_text("sku_id,location_id,date,quantity\n" + "\n".join(lines) + "\n")


def test_two_writers_at_once_both_land_with_true_counts(spark, base_conf, tmp_path):
    # issue 18: the second of two `restock run` died with ProtocolChangedException; of two
    # `restock ingest sales` one died with a bare Py4JJavaError (empty warehouse) or a
    # ConcurrentAppendException and 165 lines of Java trace (existing table)
    sizes = {"empty0": 5, "empty1": 7, "existing0": 11, "existing1": 13}
    for name, days in sizes.items():
        _sales_file(tmp_path / f"{name}.csv", name.upper(), days)
    run_wh = str(tmp_path / "run_wh")
    assert main(["generate", "--series", "3", "--days", "120", "--warehouse", run_wh,
                 *SPARK_FLAGS]) == 0
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent / "lib"), str(HERE)])}
    logs = [(tmp_path / f"writer{me}.out", tmp_path / f"writer{me}.err") for me in (0, 1)]
    procs = [subprocess.Popen([sys.executable, __file__, str(me), str(tmp_path)], env=env,
                              stdout=out.open("w"), stderr=err.open("w"))
             for me, (out, err) in enumerate(logs)]
    for proc in procs:
        proc.wait(timeout=3600)  # two JVMs next to the test's: minutes on a busy machine
    for (out_log, err_log), proc in zip(logs, procs, strict=True):
        out, err = out_log.read_text(), err_log.read_text()
        codes = {r["phase"]: r["code"] for r in map(json.loads, _json_lines(out))}
        assert proc.returncode == 0 and codes == {"empty": 0, "existing": 0, "run": 0}, err
        assert "Traceback" not in err and "\tat org.apache" not in err, err
        assert "restock: error" not in err, err
    conf = {**base_conf, "warehouse": str(tmp_path / "ingest_wh")}
    sales = tables.read(spark, conf, "sales").groupBy("sku_id").count().toPandas()
    assert dict(zip(sales["sku_id"], sales["count"], strict=True)) == {
        n.upper(): d for n, d in sizes.items()}
    runs = tables.read(spark, conf, "runs").toPandas().set_index("run_id")
    for name, days in sizes.items():  # each ingest counts its own MERGE, not the other's
        assert runs.loc[name, "status"] == "succeeded"
        assert f"inserted {days}, updated 0, unchanged 0" in runs.loc[name, "message"]
    conf["warehouse"] = run_wh
    plans = tables.read(spark, conf, "plans").groupBy("run_id").count().toPandas()
    assert dict(zip(plans["run_id"], plans["count"], strict=True)) == {"run0": 3, "run1": 3}
    done = tables.read(spark, conf, "runs").where("job = 'plan'").toPandas()
    assert sorted(done["run_id"]) == ["run0", "run1"] and set(done["status"]) == {"succeeded"}


def _json_lines(out: str) -> list[str]:
    return [ln for ln in out.splitlines() if ln.startswith('{"phase"')]


if __name__ == "__main__":
    _writer(int(sys.argv[1]), Path(sys.argv[2]))
