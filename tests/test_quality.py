"""Sales validation: rows in = rows accepted + rows quarantined, each with a reason."""

from __future__ import annotations

import datetime as dt

import pytest

from restock.errors import DataQualityError
from restock.quality import QualitySettings, daily_sales, quarantined, report, tag_sales

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
