"""Sales validation: rows in = rows accepted + rows quarantined, each with a reason."""

from __future__ import annotations

import datetime as dt

import pytest

from restock.errors import DataQualityError
from restock.quality.rules import (
    QualitySettings,
    accepted,
    daily_sales,
    quarantined,
    report,
    tag_inventory,
    tag_item_params,
    tag_sales,
)

D1, D2 = dt.date(2026, 1, 1), dt.date(2026, 1, 2)
ROWS = [
    ("A", "L", D1, 3.0, 2.0),
    ("A", "L", D1, 3.0, 2.0),  # exact duplicate of the row above
    ("A", "L", D1, 4.0, 2.5),  # a second transaction the same day: adds up
    ("A", "L", D2, -2.0, 2.0),  # a return
    ("A", "L", D2, float("nan"), 2.0),
    ("A", "L", D2, float("inf"), 2.0),
    ("A", "L", D2, None, 2.0),
    (None, "L", D2, 1.0, 2.0),
    ("B", "L", None, 1.0, 2.0),
    ("B", "L", D2, 5.0, 1.0),
]
SCHEMA = "sku_id string, location_id string, date date, quantity double, price double"


def test_every_row_is_accepted_or_quarantined_with_a_reason(spark):
    sales = spark.createDataFrame(ROWS, SCHEMA)
    tagged = tag_sales(sales, QualitySettings("quarantine", 1.0))
    rep = report(tagged)
    assert rep.rows_in == len(ROWS) == rep.rows_accepted + rep.rows_quarantined
    assert rep.rows_accepted == 3
    assert rep.by_reason == {
        "duplicate row": 1,
        "negative quantity (return)": 1,
        "quantity is NaN": 1,
        "quantity is infinite": 1,
        "null quantity": 1,
        "null series key": 1,
        "null date": 1,
    }
    rejected = quarantined(tagged, "sales").toPandas()
    assert len(rejected) == 7 and set(rejected["source_table"]) == {"sales"}
    assert rejected["record"].str.contains('"quantity"').all()
    daily = daily_sales(tagged).toPandas().set_index(["sku_id", "date"])
    assert daily.loc[("A", D1), "quantity"] == pytest.approx(7.0)  # 3 + 4, duplicate dropped
    assert daily.loc[("A", D1), "sales_value"] == pytest.approx(3 * 2.0 + 4 * 2.5)
    assert daily.loc[("B", D2), "quantity"] == pytest.approx(5.0)


def test_negative_quantities_can_be_set_to_zero(spark):
    sales = spark.createDataFrame(ROWS, SCHEMA)
    tagged = tag_sales(sales, QualitySettings("zero", 1.0))
    rep = report(tagged)
    assert rep.negatives_zeroed == 1
    assert "negative quantity (return)" not in rep.by_reason
    assert rep.rows_accepted == 4
    daily = daily_sales(tagged).toPandas().set_index(["sku_id", "date"])
    assert daily.loc[("A", D2), "quantity"] == 0.0


def test_too_many_rejected_rows_fail_with_the_counts(spark):
    rep = report(tag_sales(spark.createDataFrame(ROWS, SCHEMA), QualitySettings("quarantine", 0.1)))
    with pytest.raises(DataQualityError, match=r"7 of 10 rows rejected .*null date: 1"):
        rep.check(QualitySettings("quarantine", 0.1))


PARAMS = "sku_id string, location_id string, lead_time_days double, lead_time_std_days double, " \
    "review_period_days int, unit_cost double, order_cost double, holding_rate double, " \
    "shortage_cost double, moq double, pack_size double, service_level double, lifecycle string"


def _params(sku: str, **changes) -> tuple:
    row = dict(sku_id=sku, location_id="L", lead_time_days=5.0, lead_time_std_days=1.0,
               review_period_days=7, unit_cost=2.0, order_cost=50.0, holding_rate=0.2,
               shortage_cost=1.0, moq=0.0, pack_size=1.0, service_level=None,
               lifecycle="active")
    row.update(changes)
    return tuple(row.values())


def test_item_params_rows_with_impossible_values_are_quarantined(spark):
    rows = [
        _params("ok"),
        _params("ok", unit_cost=3.0),  # a second row for the same series
        _params("neg-lead", lead_time_days=-1.0),
        _params("free", unit_cost=0.0),
        _params("level", service_level=1.2),
        _params("pack", pack_size=-6.0),
        _params("stage", lifecycle="retired"),
        _params(None),
    ]
    tagged = tag_item_params(spark.createDataFrame(rows, PARAMS))
    rep = report(tagged)
    assert rep.rows_in == 8 and rep.rows_accepted == 1
    assert rep.by_reason == {
        "duplicate series": 1,
        "lead_time_days missing or negative": 1,
        "unit_cost missing or not positive": 1,
        "service_level outside (0, 1)": 1,
        "negative pack_size": 1,
        "unknown lifecycle": 1,
        "null series key": 1,
    }
    kept = accepted(tagged).toPandas()
    assert list(kept["sku_id"]) == ["ok"] and kept["unit_cost"].iloc[0] == 2.0  # first kept


def test_inventory_rows_with_missing_or_negative_stock_are_quarantined(spark):
    schema = ("sku_id string, location_id string, as_of_date date, on_hand double, "
              "on_order double, backorders double")
    rows = [
        ("A", "L", D1, 5.0, 0.0, 0.0),
        ("A", "L", D1, 6.0, 0.0, 0.0),  # same series and date twice
        ("A", "L", D2, -1.0, 0.0, 0.0),
        ("B", "L", D2, None, 0.0, 0.0),
        ("B", "L", None, 1.0, 0.0, 0.0),
    ]
    tagged = tag_inventory(spark.createDataFrame(rows, schema))
    rep = report(tagged)
    assert rep.rows_accepted == 1 and rep.rows_in == rep.rows_accepted + rep.rows_quarantined
    assert rep.by_reason == {
        "duplicate series and date": 1,
        "on_hand missing or negative": 2,
        "null as_of_date": 1,
    }
    dates = quarantined(tagged, "inventory").toPandas()
    assert set(dates["source_table"]) == {"inventory"} and dates["date"].notna().sum() == 3
