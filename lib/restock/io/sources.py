"""Reading users' files (CSV, Parquet, Delta) into raw string columns named by a contract.

Every contracted column comes out as a string, exactly as the file holds it, so that the
raw value can go to `quarantine` when it does not parse. Problems with a file as a whole
(not found, empty, unreadable, a required column missing) raise before anything is written.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from restock.errors import ConfigError, InputFileError, SchemaError
from restock.io.tables import INPUTS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

FORMATS = ("csv", "parquet", "delta")
_SUFFIXES = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet"}
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def normalized(name: str) -> str:
    """A header as the contract spells names: trimmed, lower case, `_` for spaces and dashes
    (`" SKU ID"` -> `sku_id`); a byte-order mark is dropped."""
    return re.sub(r"[\s\-]+", "_", name.replace("\ufeff", "").strip()).lower()


def parse_mapping(items: Iterable[str], table: str) -> dict[str, str]:
    """`--mapping CONTRACT_COLUMN=FILE_COLUMN` flags as {contract column: file column}.

    Raises:
        ConfigError: a flag without `=`, or a contract column the table does not have.
    """
    contract = INPUTS[table]
    known = {**contract["required"], **contract["optional"]}
    mapping = {}
    for item in items:
        target, sep, source = item.partition("=")
        target = target.strip()
        if not sep or not target or not source.strip():
            raise ConfigError(f"--mapping expects CONTRACT_COLUMN=FILE_COLUMN, got '{item}'")
        if target not in known:
            raise ConfigError(
                f"--mapping {item}: '{target}' is not a column of table '{table}' "
                f"(columns: {', '.join(known)})"
            )
        mapping[target] = source.strip()
    return mapping


def read_files(
    spark: SparkSession,
    table: str,
    paths: Sequence[str],
    fmt: str | None = None,
    mapping: Mapping[str, str] | None = None,
) -> DataFrame:
    """Read the files of one input table as raw strings in contract names.

    Returns:
        One frame: the contract's columns present in the files (as strings), `source_file`,
        `file_index` (position in `paths`) and `row_index` (order within the file).

    Raises:
        InputFileError: a path does not exist, is empty, or cannot be read in its format.
        SchemaError: a file lacks a required column of the table's contract.
    """
    from functools import reduce

    if not paths:
        raise ConfigError("no file given")
    frames = [
        _mapped(_read_one(spark, path, fmt), table, path, mapping or {}, index)
        for index, path in enumerate(paths)
    ]
    return reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), frames)


def format_of(path: str, fmt: str | None = None) -> str:
    """The format given, else the one a path's suffix (or a `_delta_log` folder) tells."""
    if fmt:
        if fmt not in FORMATS:
            raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, got '{fmt}'")
        return fmt
    name = path.rstrip("/").lower()
    for suffix in (".gz", ".bz2", ".snappy"):
        name = name.removesuffix(suffix)
    found = next((f for s, f in _SUFFIXES.items() if name.endswith(s)), None)
    if found:
        return found
    if os.path.isdir(os.path.join(path, "_delta_log")):
        return "delta"
    if os.path.isdir(path) and any(n.endswith(".parquet") for n in os.listdir(path)):
        return "parquet"
    raise InputFileError(f"{path}: cannot tell the file format from its name; pass --format")


def _read_one(spark: SparkSession, path: str, fmt: str | None) -> DataFrame:
    """One file read as is; checks that it exists, reads, and holds at least one row."""
    if not _SCHEME.match(path) and not os.path.exists(path):
        raise InputFileError(f"{path}: file not found")
    if not _SCHEME.match(path) and os.path.isfile(path) and os.path.getsize(path) == 0:
        raise InputFileError(f"{path}: empty file")
    fmt = format_of(path, fmt)
    if fmt == "parquet" and not _SCHEME.match(path):
        _check_parquet(path)
    try:
        if fmt == "csv":
            sep = "\t" if path.lower().endswith(".tsv") else ","
            reader = spark.read.options(header=True, inferSchema=False, sep=sep, mode="PERMISSIVE")
            df = reader.csv(path)
        else:
            df = spark.read.format(fmt).load(path)
        empty = not df.columns or df.limit(1).count() == 0
    except Exception as exc:  # noqa: BLE001 - Spark raises many kinds; the user needs one line
        raise InputFileError(f"{path}: cannot read as {fmt}: {_first_line(exc)}") from None
    if empty:
        raise InputFileError(f"{path}: empty file (no data rows)")
    return df


def _mapped(
    df: DataFrame, table: str, path: str, mapping: Mapping[str, str], index: int
) -> DataFrame:
    """The contract's columns of one file, renamed and cast to string, plus file and row."""
    from pyspark.sql import functions as F

    contract = INPUTS[table]
    by_name = {normalized(c): c for c in df.columns}
    columns, missing = [], []
    for col in {**contract["required"], **contract["optional"]}:
        wanted = mapping.get(col, col)
        source = by_name.get(normalized(wanted))
        if source is None and col in mapping:
            raise SchemaError(
                f"{path}: --mapping {col}={wanted}: the file has no column '{wanted}'"
            )
        if source is None:
            if col in contract["required"]:
                missing.append(col)
            continue
        columns.append(F.col(f"`{source}`").cast("string").alias(col))
    if missing:
        raise SchemaError(
            f"{path}: missing required column(s) {', '.join(missing)} for table '{table}' "
            f"(the file has: {', '.join(df.columns)}; map one with --mapping {missing[0]}=COLUMN)"
        )
    return df.select(
        *columns,
        F.lit(path).alias("source_file"),
        F.lit(index).alias("file_index"),
        F.monotonically_increasing_id().alias("row_index"),
    )


def _check_parquet(path: str) -> None:
    """Local Parquet files start and end with `PAR1`; anything else is not Parquet.

    Checked here so that a wrong file stops with one line instead of an executor's trace.
    """
    files = [path] if os.path.isfile(path) else [
        os.path.join(root, n) for root, _, names in os.walk(path) for n in names
        if n.endswith(".parquet")
    ]
    for name in files:
        with open(name, "rb") as f:
            head = f.read(4)
            f.seek(max(os.path.getsize(name) - 4, 0))
            tail = f.read(4)
        if head != b"PAR1" or tail != b"PAR1":
            raise InputFileError(f"{name}: not a Parquet file (no PAR1 magic bytes); "
                                 "pass --format csv if it is text")


def _first_line(exc: BaseException) -> str:
    """The most telling line of an error: the innermost `Caused by:` of a JVM error, else
    the first line; without the JVM class prefix, cut to 300 characters."""
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    causes = [ln.split("Caused by:", 1)[1] for ln in lines if "Caused by:" in ln]
    text = (causes[-1] if causes else lines[0]).strip()
    return re.sub(r"^[\w.$]+(Exception|Error):\s*", "", text)[:300]
