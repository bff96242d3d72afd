"""Demand classes, ABC, lifecycle (Spark, hand-made series) and routing."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from restock.forecasting.calendar import CalendarSettings
from restock.forecasting.profile import ProfileSettings, profile
from restock.io.config import load_conf
from restock.spark.routing import RoutingSettings, routing_expr

from builders import AS_OF


@pytest.fixture(scope="module")
def conf() -> dict:
    return load_conf("local", environ={})


def _daily(series: dict[str, np.ndarray], price: dict[str, float] | None = None) -> pd.DataFrame:
    """Daily rows ending at AS_OF; zero days left out; sales_value = quantity × price."""
    rows = []
    for sku, values in series.items():
        for i, q in enumerate(values):
            if q:
                day = AS_OF - dt.timedelta(days=len(values) - 1 - i)
                rows.append((sku, "L1", day, float(q), float(q) * (price or {}).get(sku, 1.0)))
    return pd.DataFrame(rows, columns=["sku_id", "location_id", "date", "quantity", "sales_value"])


def test_demand_classes_and_lifecycle_by_hand(spark, conf):
    n = 210
    series = {
        "smooth": np.resize([10.0, 12.0], n),  # ADI 1, CV² = 1/121
        "erratic": np.resize([1.0, 20.0], n),  # ADI 1, CV² = 9.5² / 10.5² = 0.82
        "intermittent": np.resize([2.0, 0, 0], n),  # ADI 210/70 = 3, CV² 0
        "lumpy": np.resize([1.0, 0, 0, 0, 50.0, 0, 0, 0], n),  # ADI 4, CV² = 24.5²/25.5²
        "new": np.full(10, 5.0),  # 10 days of history
        "stopped": np.concatenate([np.full(60, 3.0), np.zeros(150)]),  # last sale 150 days ago
    }
    got = profile(
        spark.createDataFrame(_daily(series)), None, AS_OF, ProfileSettings.from_conf(conf)
    ).toPandas().set_index("sku_id")
    assert got.loc["smooth", "demand_class"] == "smooth"
    assert got.loc["smooth", "cv2"] == pytest.approx(1 / 121)
    assert got.loc["erratic", "demand_class"] == "erratic"
    assert got.loc["erratic", "cv2"] == pytest.approx(9.5**2 / 10.5**2)
    assert got.loc["intermittent", "demand_class"] == "intermittent"
    assert got.loc["intermittent", "adi"] == pytest.approx(3.0)
    assert got.loc["intermittent", "zero_share"] == pytest.approx(2 / 3)
    assert got.loc["lumpy", "demand_class"] == "lumpy"
    assert got.loc["lumpy", "adi"] == pytest.approx(210 / 53)  # 53 sale days in 210
    assert got.loc["new", "history_days"] == 10
    assert got.loc["new", "lifecycle"] == "new"
    assert got.loc["stopped", "lifecycle"] == "end_of_life"
    assert got.loc["stopped", "last_sale_date"] == AS_OF - dt.timedelta(days=150)
    assert got.loc["smooth", "lifecycle"] == "active"


def test_inactivity_is_end_of_life_only_when_improbable_at_the_series_rate(spark, conf):
    as_of = dt.date(2026, 6, 30)
    months = pd.date_range(end=as_of, periods=40, freq="ME").date
    series = {
        # one month in five, last sale 4 months (122 days) ago: 0.8^4 = 0.41, still active
        "part": np.resize([3.0, 0, 0, 0, 0], 40),
        # every month, then 6 silent months: 0.15^6 at p = 34/40, end of life
        "dead": np.concatenate([np.full(34, 5.0), np.zeros(6)]),
    }
    frame = pd.DataFrame([(sku, "L1", day, q, q) for sku, values in series.items()
                          for day, q in zip(months, values, strict=True)],
                         columns=["sku_id", "location_id", "date", "quantity", "sales_value"])
    monthly = {**conf, "data": {**conf["data"], "frequency": "M"}}
    got = profile(spark.createDataFrame(frame), None, as_of, ProfileSettings.from_conf(monthly))
    lifecycle = {r["sku_id"]: r["lifecycle"] for r in got.collect()}
    assert lifecycle == {"part": "active", "dead": "end_of_life"}


def test_declared_end_of_life_wins(spark, conf):
    daily = spark.createDataFrame(_daily({"a": np.full(200, 4.0), "b": np.full(200, 4.0)}))
    params = spark.createDataFrame(
        [("a", "L1", 2.0, "end_of_life"), ("b", "L1", 2.0, "active")],
        "sku_id string, location_id string, unit_cost double, lifecycle string",
    )
    got = profile(daily, params, AS_OF, ProfileSettings.from_conf(conf)).toPandas()
    assert dict(zip(got["sku_id"], got["lifecycle"], strict=True)) == {
        "a": "end_of_life", "b": "active"
    }


def test_abc_the_series_crossing_the_cutoff_is_still_a(spark, conf):
    # values 50, 40, 10 (total 100): cumulative shares before each: 0, 0.5, 0.9
    # → A, A (0.5 < 0.8), B (0.9 < 0.95)
    daily = spark.createDataFrame(_daily(
        {"x": [50.0], "y": [40.0], "z": [10.0]},
    ))
    got = profile(daily, None, AS_OF, ProfileSettings.from_conf(conf)).toPandas()
    assert dict(zip(got["sku_id"], got["abc_class"], strict=True)) == {"x": "A", "y": "A", "z": "B"}


def test_abc_over_several_value_bands_matches_a_plain_cumulative_sum(spark, conf):
    values = {f"s{i:02d}": float((i * 37) % 101 + 1) for i in range(60)}
    daily = spark.createDataFrame(_daily({k: [v] for k, v in values.items()}))
    previous = spark.conf.get("spark.sql.shuffle.partitions")
    spark.conf.set("spark.sql.shuffle.partitions", "7")  # seven value bands
    try:
        got = profile(daily, None, AS_OF, ProfileSettings.from_conf(conf)).toPandas()
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", previous)
    ref = pd.Series(values).sort_values(ascending=False, kind="stable")
    before = (ref.cumsum() - ref) / ref.sum()
    expected = np.where(before < 0.8, "A", np.where(before < 0.95, "B", "C"))
    assert dict(zip(got["sku_id"], got["abc_class"], strict=True)) == dict(
        zip(ref.index, expected, strict=True)
    )


def test_routing_picks_the_configured_model(spark, conf):
    routed = dict(conf, routing=dict(conf["routing"], by_abc={"A": {"smooth": "AutoARIMA"}}))
    routing = RoutingSettings.from_conf(routed, CalendarSettings.from_conf(conf))
    rows = [
        ("smooth-b", "smooth", "B", "active", 400, "AutoETS"),
        ("smooth-a", "smooth", "A", "active", 400, "AutoARIMA"),
        ("erratic", "erratic", "C", "active", 400, "AutoETS"),
        ("intermittent", "intermittent", "C", "active", 400, "TSB"),
        ("lumpy", "lumpy", "C", "active", 400, "TSB"),
        ("short", "intermittent", "C", "new", 10, "HistoricAverage"),
        ("eol", "smooth", "A", "end_of_life", 400, None),
    ]
    df = spark.createDataFrame(
        [r[:5] for r in rows],
        "sku_id string, demand_class string, abc_class string, lifecycle string, "
        "history_days int",
    )
    got = df.withColumn("model", routing_expr(routing)).toPandas()
    assert dict(zip(got["sku_id"], got["model"], strict=True)) == {r[0]: r[5] for r in rows}


def test_routes_carry_the_selected_form_and_read_a_selection_without_one(spark, conf):
    from restock.spark.routing import routes

    routing = RoutingSettings.from_conf(conf, CalendarSettings.from_conf(conf))
    profiled = spark.createDataFrame(
        [(sku, "smooth", "B", "active", 400, 400, None) for sku in ("a", "b")],
        "sku_id string, demand_class string, abc_class string, lifecycle string, "
        "history_days int, span_days int, yearly_strength double",
    ).withColumn("location_id", F.lit("L1"))
    selection = spark.createDataFrame(
        [("a", "L1", "AutoETS", "ETS(ANAN)")],
        "sku_id string, location_id string, model string, form string")

    def routed(chosen) -> dict:
        got = routes(spark, profiled, routing, "auto", chosen).toPandas()
        return {r.sku_id: (r.model, r.form) for r in got.itertuples()}

    fallback = routed(None)["b"][0]  # b: no selection row, the routing's model
    assert routed(selection) == {"a": ("AutoETS", "ETS(ANAN)"), "b": (fallback, None)}
    assert routed(selection.drop("form")) == {"a": ("AutoETS", None), "b": (fallback, None)}
    forced = routes(spark, profiled, routing, ("WindowAverage",), None).toPandas()
    assert set(forced["model"]) == {"WindowAverage"} and forced["form"].isna().all()
