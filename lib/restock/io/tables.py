"""Table names, contracts, and Delta reads and writes with run-id versioning."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from restock.errors import (
    ArgumentError,
    ConfigError,
    RunNotFoundError,
    SchemaError,
    TableNotFoundError,
)
from restock.io import casts
from restock.io.writes import with_retries
from restock.paths import resolve

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# Input contracts: required columns and their types, optional ones, and the key of a row
# (`restock ingest` upserts on it).
INPUTS: dict[str, dict[str, Any]] = {
    "sales": {
        "required": {
            "sku_id": "string",
            "location_id": "string",
            "date": "date",
            "quantity": "double",
        },
        # open: false = the location was closed that day (not a day of zero demand)
        "optional": {"promo": "boolean", "price": "double", "open": "boolean"},
        "key": ["sku_id", "location_id", "date"],
    },
    "inventory": {
        "required": {
            "sku_id": "string",
            "location_id": "string",
            "as_of_date": "date",
            "on_hand": "double",
            "on_order": "double",
            "backorders": "double",
        },
        "optional": {},
        "key": ["sku_id", "location_id", "as_of_date"],
    },
    "item_params": {
        "required": {
            "sku_id": "string",
            "location_id": "string",
            "lead_time_days": "double",
            "lead_time_std_days": "double",
            "review_period_days": "int",
            "unit_cost": "double",
            "order_cost": "double",
            "holding_rate": "double",
            "shortage_cost": "double",
            "moq": "double",
            "pack_size": "double",
            "service_level": "double",
            "lifecycle": "string",
        },
        # launch_date: demand history starts at it (the zeros before are not demand)
        "optional": {"launch_date": "date"},
        "key": ["sku_id", "location_id"],
    },
    # events by day: location_id null = every location
    "calendar": {
        "required": {"date": "date", "event": "string", "event_type": "string"},
        "optional": {"location_id": "string"},
        "key": ["date", "location_id", "event"],
    },
    # promotion windows per series, first and last day inclusive; future rows are planned
    "promotions": {
        "required": {
            "sku_id": "string",
            "location_id": "string",
            "start_date": "date",
            "end_date": "date",
        },
        "optional": {"discount": "double"},
        "key": ["sku_id", "location_id", "start_date", "end_date"],
    },
}

_HOW_TO_CREATE = {
    "sales": "; load it with `restock ingest sales FILE --mapping COLUMN=FILE_COLUMN`",
    **{name: (f"; write a template with every series of sales (`restock init-params --out "
              f"DIR`), edit it, then `restock ingest {name} DIR/{name}.csv`")
       for name in ("item_params", "inventory")},
}

# Outputs: the job that writes each one (its `runs` row tells whether the run succeeded).
OUTPUTS: dict[str, str] = {
    "runs": "any",
    "quarantine": "any",
    "series_profile": "profile",
    "forecasts": "forecast",
    "backtest_metrics": "backtest",
    "backtest_residuals": "backtest",
    "model_selection": "backtest",
    "plans": "plan",
    "simulation": "simulate",
    "simulation_summary": "simulate",
    "data_quality": "quality",
}
SERIES_KEYS = ["sku_id", "location_id"]
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
_NUMERIC = {"double", "float", "int", "bigint", "smallint", "tinyint", "decimal"}


def location(conf: Mapping[str, Any], name: str) -> str:
    """Path or URI of a table: `tables.<name>` from conf, else `<warehouse>/<name>`."""
    override = (conf.get("tables") or {}).get(name)
    if override:
        return resolve(str(override))
    warehouse = conf.get("warehouse")
    if not warehouse:
        raise ConfigError("no warehouse configured: pass --warehouse or set RESTOCK_WAREHOUSE")
    return resolve(str(warehouse)).rstrip("/") + "/" + name


def exists(spark: SparkSession, conf: Mapping[str, Any], name: str) -> bool:
    """Whether a Delta table exists at the table's location."""
    from delta.tables import DeltaTable

    return DeltaTable.isDeltaTable(spark, location(conf, name))


def read(
    spark: SparkSession,
    conf: Mapping[str, Any],
    name: str,
    version: int | None = None,
) -> DataFrame:
    """Read a Delta table (optionally at an older version), checking input contracts.

    Raises:
        TableNotFoundError: nothing at the table's location.
        SchemaError: an input table lacks a required column or holds it with a bad type.
    """
    path = location(conf, name)
    if not exists(spark, conf, name):
        raise TableNotFoundError(f"table '{name}' not found: no Delta table at {path}"
                                 + _HOW_TO_CREATE.get(name, ""))
    reader = spark.read.format("delta")
    if version is not None:
        latest = latest_version(spark, conf, name)
        if not 0 <= version <= latest:
            raise ConfigError(f"table '{name}' has versions 0..{latest}; --as-of-version {version}")
        reader = reader.option("versionAsOf", int(version))
    df = reader.load(path)
    return conform(df, name, path) if name in INPUTS else df


def conform(df: DataFrame, name: str, path: str = "") -> DataFrame:
    """Check an input frame against its contract and cast columns to the contracted types."""
    contract = INPUTS[name]
    types = dict(df.dtypes)
    where = f"table '{name}'" + (f" at {path}" if path else "")
    missing = [c for c in contract["required"] if c not in types]
    if missing:
        raise SchemaError(f"{where} lacks required column(s) {', '.join(missing)}")
    columns = []
    for col, want in {**contract["required"], **contract["optional"]}.items():
        if col not in types:
            continue
        have = types[col].split("(")[0]
        if have != want and not (want in _NUMERIC and have in _NUMERIC) and not (
            want == "date" and have in {"timestamp", "string"}
        ):
            raise SchemaError(f"{where}: column '{col}' is {types[col]}, expected {want}")
        # TRY_CAST: a value that does not fit (a bad date string, a double out of int range)
        # is null for the quality rules under ANSI mode too, as it was under the legacy cast
        columns.append(casts.try_cast(casts.quoted(col), want).alias(col))
    return df.select(*columns)


def write_run(
    df: DataFrame,
    conf: Mapping[str, Any],
    name: str,
    run_id: str,
    part: tuple[str, str | tuple[str, ...]] | None = None,
) -> None:
    """Write one run's rows: replaces that run's earlier rows, tags the commit with the run id.

    With `part` (column, value or values), only the run's rows holding that value are
    replaced: one job's row of `runs`, some source tables' rows of `quarantine`.
    """
    from pyspark.sql import functions as F

    if name not in OUTPUTS:
        raise ConfigError(f"'{name}' is not an output table")
    check_run_id(run_id)
    where = f"run_id = '{run_id}'"
    if part:
        column, wanted = part
        values = (wanted,) if isinstance(wanted, str) else tuple(wanted)
        for value in values:
            if not _RUN_ID.fullmatch(value):
                raise ConfigError(f"bad value '{value}' for {column}")
        where += f" AND {column} IN ({', '.join(repr(v) for v in values)})"
    writer = (
        df.withColumn("run_id", F.lit(run_id))
        .write.format("delta")
        .mode("overwrite")
        .partitionBy("run_id")
        .option("replaceWhere", where)
        .option("mergeSchema", "true")
        .option("userMetadata", run_id)
    )
    with_retries(lambda: writer.save(location(conf, name)), conf, name,
                 f"writing run {run_id}")


def write_input(df: DataFrame, conf: Mapping[str, Any], name: str, note: str) -> None:
    """Replace an input table entirely (used by `restock generate`)."""
    writer = (
        df.write.format("delta")
        .mode("overwrite")
        .option("overwriteSchema", "true")
        .option("userMetadata", note)
    )
    with_retries(lambda: writer.save(location(conf, name)), conf, name, "replacing the table")


def latest_version(spark: SparkSession, conf: Mapping[str, Any], name: str) -> int:
    """Newest version number of a Delta table."""
    return int(history(spark, conf, name).agg({"version": "max"}).first()[0])


def history(spark: SparkSession, conf: Mapping[str, Any], name: str) -> DataFrame:
    """Delta history (version, timestamp, operation, userMetadata) of a table."""
    from delta.tables import DeltaTable

    return DeltaTable.forPath(spark, location(conf, name)).history().select(
        "version", "timestamp", "operation", "userMetadata"
    )


def select_run(
    spark: SparkSession,
    conf: Mapping[str, Any],
    df: DataFrame,
    name: str,
    run_id: str | None = None,
) -> tuple[DataFrame, str]:
    """Keep one run's rows of an output table: the given run id, else the latest succeeded run.

    The latest is the run present in `df` whose producing job finished last with status
    `succeeded` in the `runs` table.
    """
    from pyspark.sql import functions as F

    if run_id is None:
        run_id = latest_run(spark, conf, df, OUTPUTS[name])
    rows = df.where(F.col("run_id") == run_id)
    if rows.limit(1).count() == 0:
        raise RunNotFoundError(f"run '{run_id}' has no rows in table '{name}'")
    return rows, run_id


def latest_run(spark: SparkSession, conf: Mapping[str, Any], df: DataFrame, job: str) -> str:
    """The run id in df whose `job` finished last with status succeeded."""
    from pyspark.sql import functions as F

    present = df.select("run_id").distinct()
    if exists(spark, conf, "runs"):
        done = read(spark, conf, "runs").where(
            (F.col("status") == "succeeded") & (F.col("job") == job)
        )
        best = (
            present.join(done.select("run_id", "finished_at"), "run_id")
            .orderBy(F.col("finished_at").desc(), F.col("run_id").desc())
            .first()
        )
        if best:
            return str(best["run_id"])
    raise RunNotFoundError(f"no succeeded '{job}' run found in the table")


def check_run_id(run_id: str) -> str:
    """Run ids are plain tokens (letters, digits, `._:-`), safe inside a Delta predicate."""
    if not _RUN_ID.fullmatch(run_id or ""):
        raise ArgumentError(f"bad run id '{run_id}': use letters, digits and . _ : - only")
    return run_id
