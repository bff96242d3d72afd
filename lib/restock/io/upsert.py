"""MERGE of accepted ingest rows into an input table, race-free, with this commit's counts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from restock.io import tables
from restock.io.writes import with_retries

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

NOTHING_MERGED = {"inserted": 0, "updated": 0, "unchanged": 0}

def upsert(
    spark: SparkSession, conf: Mapping[str, Any], table: str, rows: DataFrame, run_id: str
) -> dict[str, int]:
    """MERGE rows into an input table on its key; create the table when there is none.

    Matched rows are updated only when a value differs, so the same file twice gives the
    same table. The commit carries the run id in `userMetadata`. A commit that loses to a
    concurrent writer (another ingest creating or merging into the table) is retried
    (`writes.conflict_retries`): the MERGE is keyed, so a retry gives the same table.

    Returns:
        This MERGE's own metrics (its commit found by run id): inserted, updated,
        unchanged (matched, same values).
    """
    def once() -> None:
        _create_if_missing(spark, conf, table, run_id)
        path = tables.location(conf, table)
        _add_missing_columns(spark, path, rows, table)
        _merge(spark, path, table, rows, run_id)

    with_retries(once, conf, table, f"ingest run {run_id} (MERGE)")
    return merge_metrics(spark, conf, table, run_id)



def merge_metrics(
    spark: SparkSession, conf: Mapping[str, Any], table: str, run_id: str
) -> dict[str, int]:
    """Inserted, updated and unchanged rows of the newest MERGE commit tagged with run_id
    (all 0 when there is none): never another writer's commit."""
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    commit = (
        DeltaTable.forPath(spark, tables.location(conf, table)).history()
        .where((F.col("userMetadata") == run_id) & (F.col("operation") == "MERGE"))
        .orderBy(F.col("version").desc()).select("operationMetrics").first()
    )
    if commit is None:
        return dict(NOTHING_MERGED)
    metrics = commit["operationMetrics"] or {}
    inserted = int(metrics.get("numTargetRowsInserted", 0))
    updated = int(metrics.get("numTargetRowsUpdated", 0))
    return {"inserted": inserted, "updated": updated,
            "unchanged": int(metrics.get("numSourceRows", 0)) - inserted - updated}


def _create_if_missing(
    spark: SparkSession, conf: Mapping[str, Any], table: str, run_id: str
) -> None:
    """Create an empty input table with its contract's columns, unless one is there."""
    if tables.exists(spark, conf, table):
        return
    contract = tables.INPUTS[table]
    schema = ", ".join(f"`{c}` {t}" for c, t in {**contract["required"],
                                                 **contract["optional"]}.items())
    spark.createDataFrame([], schema).write.format("delta").mode("append").option(
        "userMetadata", run_id).save(tables.location(conf, table))


def _merge(spark: SparkSession, path: str, table: str, rows: DataFrame, run_id: str) -> None:
    """One MERGE of rows into the table at path, its commit tagged with run_id."""
    from delta.tables import DeltaTable

    key = tables.INPUTS[table]["key"]
    values = [c for c in rows.columns if c not in key]
    changed = " OR ".join(f"NOT (t.`{c}` <=> s.`{c}`)" for c in values) or "false"
    merge = (
        DeltaTable.forPath(spark, path).alias("t")
        # null-safe: a calendar row's location_id may be null (every location)
        .merge(rows.alias("s"), " AND ".join(f"t.`{c}` <=> s.`{c}`" for c in key))
        .whenMatchedUpdate(condition=changed, set={f"`{c}`": f"s.`{c}`" for c in values})
        .whenNotMatchedInsert(values={f"`{c}`": f"s.`{c}`" for c in rows.columns})
    )
    previous = spark.conf.get("spark.databricks.delta.commitInfo.userMetadata", None)
    spark.conf.set("spark.databricks.delta.commitInfo.userMetadata", run_id)
    try:
        merge.execute()
    finally:
        if previous is None:
            spark.conf.unset("spark.databricks.delta.commitInfo.userMetadata")
        else:
            spark.conf.set("spark.databricks.delta.commitInfo.userMetadata", previous)


def _add_missing_columns(spark: SparkSession, path: str, rows: DataFrame, table: str) -> None:
    """Add contract columns the rows carry but an older table lacks (e.g. `promo`)."""
    from delta.tables import DeltaTable

    have = set(DeltaTable.forPath(spark, path).toDF().columns)
    types = present_types(rows, table)
    new = [f"`{c}` {t}" for c, t in types.items() if c not in have]
    if new:
        spark.sql(f"ALTER TABLE delta.`{path}` ADD COLUMNS ({', '.join(new)})")


def present_types(df: DataFrame, table: str) -> dict[str, str]:
    """Contract columns present in df, with their contract types, in contract order."""
    contract = tables.INPUTS[table]
    return {c: t for c, t in {**contract["required"], **contract["optional"]}.items()
            if c in df.columns}
