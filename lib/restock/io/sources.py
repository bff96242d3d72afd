"""Reading users' files (CSV, Parquet, Delta) into raw string columns named by a contract.

Every contracted column comes out as a string, exactly as the file holds it, so that the
raw value can go to `quarantine` when it does not parse. Problems with a file as a whole
(not found, empty, unreadable, a required column missing) raise before anything is written.
"""

from __future__ import annotations

import csv
import gzip
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
    found = _format_by_suffix(path.rstrip("/"))
    if found:
        return found
    if os.path.isdir(os.path.join(path, "_delta_log")):
        return "delta"
    formats = {_format_by_suffix(n) for n in _data_files(path)} if os.path.isdir(path) else set()
    if len(formats) == 1 and None not in formats:
        return str(formats.pop())
    raise InputFileError(f"{path}: cannot tell the file format from its name; pass --format")


def _read_one(spark: SparkSession, path: str, fmt: str | None) -> DataFrame:
    """One file read as is; checks that it exists, reads, and holds at least one row."""
    if not _SCHEME.match(path) and not os.path.exists(path):
        raise InputFileError(f"{path}: file not found")
    if not _SCHEME.match(path) and os.path.isfile(path) and os.path.getsize(path) == 0:
        raise InputFileError(f"{path}: empty file")
    fmt = format_of(path, fmt)
    if os.path.isdir(path) and fmt != "delta":
        _check_folder(path, fmt)
    if fmt == "parquet" and not _SCHEME.match(path):
        _check_parquet(path)
    sep = "\t" if path.lower().endswith(".tsv") else ","
    if fmt == "csv" and not _SCHEME.match(path):
        _check_csv_header(path, sep)
    try:
        if fmt == "csv":
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
    by_name = _by_normalized_name(df.columns)
    columns, missing = [], []
    for col in {**contract["required"], **contract["optional"]}:
        wanted = mapping.get(col, col)
        sources = by_name.get(normalized(wanted), [])
        if len(sources) > 1:
            raise SchemaError(f"{path}: columns {', '.join(sources)} all read as '{wanted}'; "
                              "rename one, or pick one with --mapping")
        source = sources[0] if sources else None
        if source is None and col in mapping:
            raise SchemaError(
                f"{path}: --mapping {col}={wanted}: the file has no column '{wanted}'"
            )
        if source is None:
            if col in contract["required"]:
                missing.append(col)
            continue
        columns.append(F.col(quoted(source)).cast("string").alias(col))
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


def quoted(name: str) -> str:
    """A column name as a Spark attribute reference: in backticks, inner backticks doubled."""
    return "`" + name.replace("`", "``") + "`"


def _by_normalized_name(columns: Sequence[str]) -> dict[str, list[str]]:
    """{normalized header: the file's headers with that name}."""
    found: dict[str, list[str]] = {}
    for name in columns:
        found.setdefault(normalized(name), []).append(name)
    return found


def _check_csv_header(path: str, sep: str) -> None:
    """A local CSV whose header names a column twice stops with one line (Spark would read
    `quantity` at positions 3 and 4 as `quantity3` and `quantity4`)."""
    files = [path] if os.path.isfile(path) else [os.path.join(path, n) for n in _data_files(path)]
    if not files:
        return
    opener = gzip.open if files[0].lower().endswith(".gz") else open
    try:
        with opener(files[0], "rt", encoding="utf-8-sig", errors="replace", newline="") as f:
            header = next(csv.reader(f, delimiter=sep), [])
    except (OSError, csv.Error, EOFError):
        return  # Spark's read reports it
    seen: dict[str, int] = {}
    for name in header:
        seen[normalized(name)] = seen.get(normalized(name), 0) + 1
    twice = [n for n, times in seen.items() if times > 1 and n]
    if twice:
        raise SchemaError(f"{files[0]}: column(s) {', '.join(twice)} named more than once in "
                          "the header; rename or drop the copies")


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


def _data_files(folder: str) -> list[str]:
    """Files Spark reads in a local folder (it skips names starting with `_` or `.`)."""
    found = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(("_", "."))]
        found += [os.path.relpath(os.path.join(root, n), folder)
                  for n in names if not n.startswith(("_", "."))]
    return sorted(found)


def _check_folder(folder: str, fmt: str) -> None:
    """A folder read as CSV or Parquet must hold only files of that format."""
    odd = [n for n in _data_files(folder) if _format_by_suffix(n) != fmt]
    if odd:
        shown = ", ".join(odd[:5]) + (f" and {len(odd) - 5} more" if len(odd) > 5 else "")
        raise InputFileError(f"{folder}: folder read as {fmt} also holds other files ({shown}); "
                             f"give the {fmt} files themselves or a folder holding only them")


def _format_by_suffix(name: str) -> str | None:
    """The format a file name's suffix tells (a compression suffix is looked through)."""
    name = name.lower()
    for suffix in (".gz", ".bz2", ".snappy"):
        name = name.removesuffix(suffix)
    return next((f for s, f in _SUFFIXES.items() if name.endswith(s)), None)


def _first_line(exc: BaseException) -> str:
    """The most telling line of an error: the innermost `Caused by:` of a JVM error, else
    the first line; without the JVM class prefix, cut to 300 characters."""
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    causes = [ln.split("Caused by:", 1)[1] for ln in lines if "Caused by:" in ln]
    text = (causes[-1] if causes else lines[0]).strip()
    return re.sub(r"^[\w.$]+(Exception|Error):\s*", "", text)[:300]
