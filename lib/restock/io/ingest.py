"""`restock ingest`: users' files -> validated, deduplicated rows upserted into an input table.

Each row read ends in exactly one place, so rows read = rows accepted + rows quarantined +
exact duplicates dropped:

1. parse: every contracted column from its raw string to the contract type; a value that is
   there but does not parse is rejected (`unparseable date`, `non-numeric quantity`, ...);
2. NaN and infinite numbers (`<column> is NaN` / `is infinite`: NaN is not a missing
   value), the table's row rules (`quality.rules_for`), dates after the as-of date: the
   first rule a row breaks is its quarantine reason;
3. exact duplicates (the same parsed values in every column) of an accepted row are dropped
   and counted;
4. rows sharing a key with different values are resolved by conf `ingest.on_conflict`:
   `sum` (sales: quantities add up, price is the quantity-weighted mean, promo if any),
   `last` / `first` (in file order; the others are quarantined), or `quarantine` (all of them);
5. the accepted rows are MERGEd into the Delta table on the key: new keys inserted, changed
   rows updated, identical rows left alone (re-ingesting a file changes nothing).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from restock.errors import ConfigError, InputFileError
from restock.io import casts, tables
from restock.io.config import section
from restock.io.upsert import NOTHING_MERGED, present_types, upsert
from restock.quality import rules as quality

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

CONFLICT_RULES = ("sum", "last", "first", "quarantine")
# tables whose rows may lie after the as-of date: planned events and promotions
_PLANNED = {"calendar", "promotions"}
_PARSE_REASON = {"date": "unparseable", "double": "non-numeric", "int": "non-integer",
                 "boolean": "unparseable", "timestamp": "unparseable"}


@dataclass(frozen=True)
class IngestSettings:
    """Conf `ingest`."""

    negative_quantity: str
    on_conflict: tuple[tuple[str, str], ...]
    max_quarantine_share: float
    max_quantity: float = float("inf")  # conf quality.max_quantity: shared with the run

    @classmethod
    def from_conf(
        cls, conf: Mapping[str, Any], returns: quality.QualitySettings | None = None
    ) -> IngestSettings:
        """Read and check conf `ingest`; returns is conf `quality` (its negative_quantity
        and max_quantity are one rule for ingest and run), built once by the settings tree
        (read from conf when not given)."""
        ing = section(conf, "ingest")
        returns = returns or quality.QualitySettings.from_conf(conf)
        negative = "quarantine" if returns.negative_quantity == "quarantine" else "keep"
        rules = {str(k): str(v) for k, v in (ing.get("on_conflict") or {}).items()}
        for table, rule in rules.items():
            if rule not in CONFLICT_RULES:
                raise ConfigError(
                    f"ingest.on_conflict.{table} must be one of {CONFLICT_RULES}, got '{rule}'"
                )
        return cls(negative, tuple(sorted(rules.items())), float(ing["max_quarantine_share"]),
                   returns.max_quantity)

    def conflict_rule(self, table: str) -> str:
        """The conflict rule of a table: its own, else `default`, else `last`."""
        rules = dict(self.on_conflict)
        rule = rules.get(table, rules.get("default", "last"))
        if rule == "sum" and "quantity" not in tables.INPUTS[table]["required"]:
            raise ConfigError(f"ingest.on_conflict.{table}: sum needs a quantity column")
        return rule


@dataclass(frozen=True)
class IngestCounts:
    """Row accounting of one ingest: rows_read = accepted + quarantined + duplicates."""

    rows_read: int
    rows_accepted: int
    rows_quarantined: int
    rows_duplicate: int
    by_reason: dict[str, int]

    def summary(self) -> str:
        """One line: the accounting and the reasons."""
        line = (f"read {self.rows_read} = accepted {self.rows_accepted} + quarantined "
                f"{self.rows_quarantined} + exact duplicates dropped {self.rows_duplicate}")
        reasons = ", ".join(f"{r}: {n}" for r, n in sorted(self.by_reason.items()))
        return line + (f" ({reasons})" if reasons else "")


def tag(raw: DataFrame, table: str, as_of_date: dt.date, settings: IngestSettings) -> DataFrame:
    """Parse raw string columns and tag each row with `reason` and `duplicate`.

    Args:
        raw: `sources.read_files` output (contract columns as strings, source_file,
            file_index, row_index).
        table: the input table's name in `tables.INPUTS`.
        as_of_date: rows dated after it are rejected.
        settings: conf `ingest`.

    Returns:
        The parsed contract columns, `raw_<column>` for each, source_file, the order
        columns, `reason` (null = accepted) and `duplicate` (an exact copy, dropped).
    """
    from pyspark.sql import functions as F

    types = present_types(raw, table)
    parsed = raw.select(
        *[_parse(c, t).alias(c) for c, t in types.items()],
        *[F.col(c).alias(f"raw_{c}") for c in types],
        "source_file", "file_index", "row_index",
    )
    doubles = [c for c, t in types.items() if t == "double"]
    rules = [
        *(_parse_rule(c, t) for c, t in types.items() if t in _PARSE_REASON),
        *((F.isnan(c), f"{c} is NaN") for c in doubles),
        *((F.col(c).isin(float("inf"), float("-inf")), f"{c} is infinite") for c in doubles),
        *quality.rules_for(table, settings.negative_quantity, parsed.columns,
                           settings.max_quantity),
        *((F.col(c) > F.lit(as_of_date), f"{c} after the as-of date")
          for c, t in types.items() if t == "date" and table not in _PLANNED),
    ]
    tagged = parsed.withColumn("reason", quality.first_reason(rules))
    return _resolve(tagged, list(types), tables.INPUTS[table]["key"],
                    settings.conflict_rule(table))


def count(tagged: DataFrame) -> IngestCounts:
    """The accounting of a tagged frame (one small aggregate to the driver).

    Raises:
        InputFileError: Spark cannot read a file through (e.g. a corrupt Parquet page).
    """
    from pyspark.sql import functions as F

    try:
        rows = tagged.groupBy("reason", "duplicate").agg(F.count(F.lit(1)).alias("n")).collect()
    except Exception as exc:  # noqa: BLE001 - one line naming the files, no JVM trace
        files = ", ".join(r[0] for r in tagged.select("source_file").distinct().collect())
        raise InputFileError(f"{files}: cannot read: {str(exc).strip().splitlines()[0][:300]}") \
            from None
    by_reason = {r["reason"]: int(r["n"]) for r in rows if r["reason"] is not None}
    accepted = sum(int(r["n"]) for r in rows if r["reason"] is None and not r["duplicate"])
    duplicates = sum(int(r["n"]) for r in rows if r["reason"] is None and r["duplicate"])
    quarantined = sum(by_reason.values())
    return IngestCounts(accepted + quarantined + duplicates, accepted, quarantined, duplicates,
                        by_reason)


def check(counts: IngestCounts, table: str, settings: IngestSettings) -> None:
    """Raise when more rows were rejected than `ingest.max_quarantine_share` allows."""
    quality.check_rejected(counts.rows_quarantined, counts.rows_read, counts.by_reason, table,
                           settings.max_quarantine_share, "ingest.max_quarantine_share",
                           "; nothing was loaded, see the quarantine table")


def accepted_rows(tagged: DataFrame, table: str, rule: str) -> DataFrame:
    """Accepted rows, one per key: conflicting rows summed under the `sum` rule."""
    from pyspark.sql import functions as F

    columns = [c for c in present_types(tagged, table)]
    kept = tagged.where(F.col("reason").isNull() & ~F.col("duplicate")).select(*columns)
    if rule != "sum":
        return kept
    key = tables.INPUTS[table]["key"]
    q = F.col("quantity")
    aggs = [F.sum(q).alias("quantity")]
    if "price" in columns:
        weighted = F.sum(q * F.col("price")) / F.sum(q)
        aggs.append(F.when(F.sum(q) != 0, weighted).otherwise(F.avg("price")).alias("price"))
    aggs += [F.max(c).alias(c) for c in columns if c not in (*key, "quantity", "price")]
    return kept.groupBy(*key).agg(*aggs).select(*columns)


def quarantined(tagged: DataFrame, table: str) -> DataFrame:
    """Rejected rows for `quarantine`: source table and file, reason, keys, raw row as JSON."""
    from pyspark.sql import functions as F

    raw = [c for c in tagged.columns if c.startswith("raw_")]
    day = next((c for c in tables.INPUTS[table]["key"]
                if tables.INPUTS[table]["required"].get(c) == "date"), None)
    def key(name: str) -> Column:
        return F.col(name) if name in tagged.columns else F.lit(None).cast("string")

    return tagged.where(F.col("reason").isNotNull()).select(
        F.lit(table).alias("source_table"),
        "reason",
        key("sku_id").alias("sku_id"),
        key("location_id").alias("location_id"),
        (F.col(day) if day else F.lit(None)).cast("date").alias("date"),
        F.to_json(F.struct(*[F.col(c).alias(c[4:]) for c in raw]),
                  {"ignoreNullFields": "false"}).alias("record"),
        "source_file",
    )


def _parse(col: str, kind: str) -> Column:
    """A raw string column, trimmed, as the contract type; null when it does not parse.

    Integers must be whole numbers in int range (`7` or `7.0`, not `7.5`); dates are ISO
    (`yyyy-MM-dd`, a time part is ignored); a month `yyyy-MM` is its last day (the monthly
    grain dates a period by its end), never silently the 1st. TRY_CAST, so that ANSI mode
    (Spark 4's default) gives null for the parse rule instead of failing the job.
    """
    from pyspark.sql import functions as F

    raw = f"trim({casts.quoted(col)})"
    if kind == "int":
        return casts.whole_int(raw)
    if kind == "date":
        month = F.expr(raw).rlike(r"^\d{4}-\d{1,2}$")
        day = casts.try_cast(raw, "date")
        return F.when(month, F.last_day(day)).otherwise(day)
    return casts.try_cast(raw, kind)


def _parse_rule(col: str, kind: str) -> tuple[Column, str]:
    """A value that is there in the file but does not parse as its type."""
    from pyspark.sql import functions as F

    there = F.col(f"raw_{col}").isNotNull() & (F.trim(F.col(f"raw_{col}")) != "")
    return there & F.col(col).isNull(), f"{_PARSE_REASON[kind]} {col}"


def _resolve(tagged: DataFrame, columns: list[str], key: list[str], rule: str) -> DataFrame:
    """Mark exact duplicates of accepted rows, then resolve rows that share a key."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    live = F.col("reason").isNull()
    order = [F.col("file_index"), F.col("row_index")]
    exact = Window.partitionBy(live, *columns).orderBy(*order)
    tagged = tagged.withColumn("duplicate", live & (F.row_number().over(exact) > 1))
    keep = live & ~F.col("duplicate")
    if rule == "sum":
        return tagged
    same_key = Window.partitionBy(keep, *key)
    if rule == "quarantine":
        loser = keep & (F.count(F.lit(1)).over(same_key) > 1)
        reason = "conflicting duplicates of key"
    else:
        ranked = same_key.orderBy(*(o.desc() if rule == "last" else o for o in order))
        loser = keep & (F.row_number().over(ranked) > 1)
        reason = f"conflicting duplicate of key (kept the {rule})"
    return tagged.withColumn("reason", F.when(loser, F.lit(reason)).otherwise(F.col("reason")))


@dataclass(frozen=True)
class IngestResult:
    """What one `restock ingest` did: the accounting and Delta's merge metrics."""

    run_id: str
    table: str
    counts: IngestCounts
    merged: dict[str, int]
    grain: str = ""  # sales: the grain its dates are on, as detected

    def summary(self) -> str:
        """Two lines for the user."""
        m = self.merged
        grain = f"\n{self.table}: {self.grain}" if self.grain else ""
        return (f"{self.table}: {self.counts.summary()}{grain}\n"
                f"{self.table}: inserted {m['inserted']}, updated {m['updated']}, "
                f"unchanged {m['unchanged']} rows in {self.table} (run {self.run_id})")


def load_files(
    spark: SparkSession,
    conf: Mapping[str, Any],
    table: str,
    paths: list[str],
    *,
    run_id: str,
    as_of_date: dt.date,
    fmt: str | None = None,
    mapping: Mapping[str, str] | None = None,
    settings: IngestSettings | None = None,
) -> IngestResult:
    """Read files, validate, write rejected rows to `quarantine`, upsert the rest; record
    the run (job `ingest_<table>`) in `runs`.

    File problems (not found, empty, unreadable, missing column) raise before anything is
    written. Above `ingest.max_quarantine_share` the quarantine is written and the table is
    not touched.
    """
    from restock.io import runs
    from restock.io.sources import read_files

    if table not in tables.INPUTS:
        raise ConfigError(f"'{table}' is not an input table ({', '.join(tables.INPUTS)})")
    settings = settings or IngestSettings.from_conf(conf)  # the CLI passes the settings tree's
    rule = settings.conflict_rule(table)
    tables.check_run_id(run_id)
    raw = read_files(spark, table, paths, fmt, mapping)
    tagged = tag(raw, table, as_of_date, settings).persist()
    try:
        counts = count(tagged)
        with runs.recorded(spark, conf, run_id, f"ingest_{table}", as_of_date) as record:
            record.rows_in, record.rows_out = counts.rows_read, counts.rows_accepted
            record.rows_quarantined, record.rows_duplicate = (counts.rows_quarantined,
                                                              counts.rows_duplicate)
            record.message = counts.summary()[:1000]
            tables.write_run(quarantined(tagged, table), conf, "quarantine", run_id,
                             ("source_table", table))
            check(counts, table, settings)
            merged = (upsert(spark, conf, table, accepted_rows(tagged, table, rule), run_id)
                      if counts.rows_accepted else dict(NOTHING_MERGED))
            record.message = (f"{counts.summary()}; inserted {merged['inserted']}, updated "
                              f"{merged['updated']}, unchanged {merged['unchanged']}")[:1000]
        grain = _detected_grain(tagged) if table == "sales" else ""
    finally:
        tagged.unpersist()
    return IngestResult(run_id, table, counts, merged, grain)


def _detected_grain(tagged: DataFrame) -> str:
    """The grain the accepted sales dates are on, as a sentence (`grain.detect`)."""
    from pyspark.sql import functions as F

    from restock.forecasting.availability import MAX_DETECT_DATES
    from restock.grain import detect

    accepted = tagged.where(F.col("reason").isNull()).select("date").distinct()
    return detect([r[0] for r in accepted.limit(MAX_DETECT_DATES).collect()])[1]
