"""`restock init-params`: item_params and inventory templates with every series of sales.

A user without an ERP export starts from these files: one row per series of the sales
table, with the stated defaults (`DEFAULTS`); edit them, then `restock ingest`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from restock.io import tables

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# item_params defaults: one week's lead time, known exactly; weekly review; unit cost 1 (ABC
# then ranks by quantity); 25 % holding per year; no MOQ, packs of 1; the ABC class's
# service level (null); active.
DEFAULTS: dict[str, Any] = {
    "lead_time_days": 7.0, "lead_time_std_days": 0.0, "review_period_days": 7,
    "unit_cost": 1.0, "order_cost": 0.0, "holding_rate": 0.25, "shortage_cost": 0.0,
    "moq": 0.0, "pack_size": 1.0, "service_level": None, "lifecycle": "active",
}


def write_templates(spark: SparkSession, conf: Mapping[str, Any], out: str) -> dict[str, str]:
    """Write `item_params.csv` and `inventory.csv` (folders of one CSV part each) under out.

    Inventory rows are dated at the newest sales date with on hand, on order and
    backorders 0 (the plan then orders the whole need). Returns {table: path}.
    """
    from pyspark.sql import functions as F

    sales = tables.read(spark, conf, "sales")
    newest = sales.agg(F.max("date")).first()[0]
    series = sales.select(*tables.SERIES_KEYS).distinct()
    contract = tables.INPUTS["item_params"]["required"]
    params = series.select(*tables.SERIES_KEYS, *[
        F.lit(DEFAULTS[c]).cast(contract[c]).alias(c) for c in contract
        if c not in tables.SERIES_KEYS])
    inventory = series.select(*tables.SERIES_KEYS, F.lit(newest).alias("as_of_date"),
                              *[F.lit(0.0).alias(c) for c in ("on_hand", "on_order", "backorders")])
    written = {}
    for name, frame in (("item_params", params), ("inventory", inventory)):
        path = str(Path(out) / f"{name}.csv")
        frame.orderBy(*tables.SERIES_KEYS).coalesce(1).write.mode("overwrite").option(
            "header", True).csv(path)
        written[name] = path
    return written
