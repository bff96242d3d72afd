"""The bucket engine: many series per pandas-UDF call, co-grouping history with per-series rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING

import pandas as pd

from restock.forecasting.panel import EPOCH

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame


def bucket_of(buckets: int) -> Column:
    """Spark expression: the bucket of a series, a stable hash of its key."""
    from pyspark.sql import functions as F

    return F.pmod(F.xxhash64("sku_id", "location_id"), F.lit(buckets)).cast("int")


def per_bucket(
    sales: DataFrame,
    series_rows: DataFrame,
    fn: Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame],
    schema: str,
    *,
    as_of_date: dt.date,
    buckets: int,
    promo_days: DataFrame | None = None,
) -> DataFrame:
    """Run fn(history, series_rows) once per bucket of series, co-grouping the two.

    Both sides are hash-partitioned into `buckets` partitions by the same bucket column,
    so the co-group adds no shuffle; history is sku_id, location_id, day (epoch day),
    quantity up to as_of_date, plus one row with a null quantity per promotion day of
    `promo_days` (sku_id, location_id, date; history and horizon); series_rows is
    sku_id, location_id and the per-series columns fn needs (routes, candidates, replay inputs).
    """
    from pyspark.sql import functions as F

    def by_bucket(df: DataFrame) -> DataFrame:
        return df.withColumn("bucket", bucket_of(buckets)).repartition(buckets, "bucket")

    def epoch(df: DataFrame, quantity: Column, promo: Column) -> DataFrame:
        day = F.datediff("date", F.lit(EPOCH)).alias("day")
        return df.select("sku_id", "location_id", day, quantity.cast("double").alias("quantity"),
                         promo.cast("boolean").alias("promo"))

    flag = F.coalesce(F.col("promo"), F.lit(False)) if "promo" in sales.columns else F.lit(False)
    history = epoch(sales.where(F.col("date") <= F.lit(as_of_date)), F.col("quantity"), flag)
    if promo_days is not None:
        history = history.unionByName(epoch(promo_days, F.lit(None), F.lit(True)))
    return (
        by_bucket(history)
        .groupBy("bucket")
        .cogroup(by_bucket(series_rows).groupBy("bucket"))
        .applyInPandas(fn, schema)
    )
