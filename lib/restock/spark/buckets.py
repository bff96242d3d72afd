"""The bucket engine: many series per pandas-UDF call, co-grouping history with per-series rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING

import pandas as pd

from restock.grain import Grain

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame


def bucket_of(buckets: int) -> Column:
    """Spark expression: the bucket of a series, a stable hash of its key."""
    from pyspark.sql import functions as F

    return F.pmod(F.xxhash64("sku_id", "location_id"), F.lit(buckets)).cast("int")


def history_rows(sales: DataFrame, grain: Grain, promo_days: bool = False) -> DataFrame:
    """The rows a bucket function reads: sku_id, location_id, day (the period index of
    grain), quantity, promo, open and in_stock (sales' own flags, else not promoted, open
    and in stock) and launch (the period index of a declared launch_date, else null); with
    `promo_days`, the rows are promotion days (sku_id, location_id, date): quantity null,
    promo true."""
    from pyspark.sql import functions as F

    def flag(name: str, default: bool) -> Column:
        present = name in sales.columns and not promo_days
        return F.coalesce(F.col(name), F.lit(default)) if present else F.lit(default)

    quantity = F.lit(None) if promo_days else F.col("quantity")
    promo = F.lit(True) if promo_days else flag("promo", False)
    declared = "launch_date" in sales.columns and not promo_days
    launch = grain.index_col(F.col("launch_date")) if declared else F.lit(None)
    return sales.select("sku_id", "location_id", grain.index_col(F.col("date")).alias("day"),
                        quantity.cast("double").alias("quantity"),
                        promo.cast("boolean").alias("promo"),
                        flag("open", True).cast("boolean").alias("open"),
                        flag("in_stock", True).cast("boolean").alias("in_stock"),
                        launch.cast("long").alias("launch"))


def per_bucket(
    sales: DataFrame,
    series_rows: DataFrame,
    fn: Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame],
    schema: str,
    *,
    as_of_date: dt.date,
    buckets: int,
    promo_days: DataFrame | None = None,
    grain: Grain | None = None,
) -> DataFrame:
    """Run fn(history, series_rows) once per bucket of series, co-grouping the two.

    Both sides are hash-partitioned into `buckets` partitions by the same bucket column,
    so the co-group adds no shuffle; history is sku_id, location_id, day (the period
    index of `grain`; None = daily: the epoch day), quantity, promo and open up to
    as_of_date, plus one row with a null quantity per promotion day of
    `promo_days` (sku_id, location_id, date; history and horizon); series_rows is
    sku_id, location_id and the per-series columns fn needs (routes, candidates, replay inputs).
    """
    from pyspark.sql import functions as F

    grain = grain or Grain()

    def by_bucket(df: DataFrame) -> DataFrame:
        return df.withColumn("bucket", bucket_of(buckets)).repartition(buckets, "bucket")

    history = history_rows(sales.where(F.col("date") <= F.lit(as_of_date)), grain)
    if promo_days is not None:
        history = history.unionByName(history_rows(promo_days, grain, promo_days=True))
    return (
        by_bucket(history)
        .groupBy("bucket")
        .cogroup(by_bucket(series_rows).groupBy("bucket"))
        .applyInPandas(fn, schema)
    )
