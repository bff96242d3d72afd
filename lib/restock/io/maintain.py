"""`restock maintain`: keep the output tables small.

Drops old runs from every output table (never an input table, never the newest succeeded
run of a job), compacts the files (OPTIMIZE, Z-ordered by the series keys where a table has
them) and VACUUMs files older than the retention. Dry run unless `apply`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from restock.errors import ConfigError
from restock.io import tables
from restock.io.config import with_defaults

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"
_DELTA_MIN_HOURS = 168  # Delta refuses a shorter VACUUM retention unless the check is off


@dataclass(frozen=True)
class RetentionSettings:
    """conf `retention`: which runs and files `restock maintain` keeps."""

    vacuum_hours: float
    keep_runs: int | None
    keep_days: float | None

    @classmethod
    def from_conf(cls, conf: Mapping[str, Any]) -> RetentionSettings:
        """Read and check conf `retention` (null disables a rule)."""
        r = with_defaults(conf, "retention")
        hours, runs, days = float(r["vacuum_hours"]), r["keep_runs"], r["keep_days"]
        if hours < 0 or (runs is not None and int(runs) < 0) or (days is not None and
                                                                 float(days) < 0):
            raise ConfigError("retention.vacuum_hours, keep_runs and keep_days must be >= 0")
        return cls(hours, None if runs is None else int(runs),
                   None if days is None else float(days))


@dataclass
class RunChoice:
    """Which runs stay and which go, with the reason each kept run is kept."""

    kept: dict[str, str] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)


def choose_runs(
    spark: SparkSession, conf: Mapping[str, Any], settings: RetentionSettings, now: dt.datetime
) -> RunChoice:
    """Runs of the `runs` table to drop: those neither of the newest `keep_runs`, nor started
    within `keep_days`, nor the newest succeeded run of some job, nor still running.
    With both rules null nothing is dropped."""
    from pyspark.sql import functions as F

    choice = RunChoice()
    if not tables.exists(spark, conf, "runs"):
        return choice
    runs = tables.read(spark, conf, "runs")
    ages = runs.groupBy("run_id").agg(
        F.min("started_at").alias("started_at"),
        F.max(F.when(F.col("status") == "running", 1).otherwise(0)).alias("running"),
    ).orderBy(F.col("started_at").desc(), F.col("run_id").desc()).collect()
    for run_id, reason in _newest_succeeded(runs).items():
        choice.kept[run_id] = reason
    for rank, row in enumerate(ages):
        if row["run_id"] in choice.kept:
            continue
        reason = _kept_because(rank, row, settings, now)
        if reason:
            choice.kept[row["run_id"]] = reason
        else:
            choice.dropped.append(row["run_id"])
    return choice


def _newest_succeeded(runs) -> dict[str, str]:
    """run id -> 'newest succeeded <job>' for every job's latest succeeded run."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    latest = Window.partitionBy("job").orderBy(F.col("finished_at").desc(), F.col("run_id").desc())
    rows = (runs.where(F.col("status") == "succeeded")
            .withColumn("rank", F.row_number().over(latest)).where("rank = 1")
            .select("run_id", "job").collect())
    kept: dict[str, list[str]] = {}
    for row in rows:
        kept.setdefault(row["run_id"], []).append(row["job"])
    return {run_id: "newest succeeded " + ", ".join(sorted(jobs)) for run_id, jobs in kept.items()}


def _kept_because(rank: int, row, settings: RetentionSettings, now: dt.datetime) -> str | None:
    if settings.keep_runs is None and settings.keep_days is None:
        return "no retention rule"
    if row["running"]:
        return "running"
    if settings.keep_runs is not None and rank < settings.keep_runs:
        return f"among the newest {settings.keep_runs}"
    started = row["started_at"]
    if settings.keep_days is not None and started is not None and (
        now - started < dt.timedelta(days=settings.keep_days)
    ):
        return f"younger than {settings.keep_days:g} days"
    return None


def maintain(
    spark: SparkSession,
    conf: Mapping[str, Any],
    apply: bool = False,
    settings: RetentionSettings | None = None,
    now: dt.datetime | None = None,
) -> list[str]:
    """Drop old runs, OPTIMIZE and VACUUM every output table; return what it did (or, dry,
    what it would do), one line each."""
    settings = settings or RetentionSettings.from_conf(conf)
    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    choice = choose_runs(spark, conf, settings, now)
    verb = "removed" if apply else "would remove"
    lines = [f"{'apply' if apply else 'dry run (--apply to do it)'}: keep {len(choice.kept)} "
             f"run(s), drop {len(choice.dropped)} run(s): {', '.join(choice.dropped) or '-'}"]
    lines += [f"  keep {run_id}: {why}" for run_id, why in sorted(choice.kept.items())]
    for name in tables.OUTPUTS:
        if tables.exists(spark, conf, name):
            lines += _maintain_table(spark, conf, name, choice.dropped, settings, apply, verb)
    return lines


def _maintain_table(spark, conf, name, dropped, settings, apply, verb) -> list[str]:
    """Drop the runs, compact and vacuum one output table."""
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    path = tables.location(conf, name)
    table = DeltaTable.forPath(spark, path)
    doomed = F.col("run_id").isin(dropped) if dropped else F.lit(False)
    rows = tables.read(spark, conf, name).where(doomed).count() if dropped else 0
    before = _detail(spark, path)
    lines = [f"{name}: {verb} {rows} row(s) of {len(dropped)} run(s)"]
    if apply:
        if rows:
            table.delete(doomed)
        lines.append(f"{name}: optimize {_optimize(spark, table, path)}")
    else:
        lines.append(f"{name}: {before[0]} file(s), {before[1] / 1e6:.2f} MB (optimize "
                     f"{'z-orders by series keys' if _has_keys(spark, path) else 'compacts'})")
    files = _vacuum(spark, path, settings.vacuum_hours, dry=not apply)
    lines.append(f"{name}: vacuum {verb} {files} file(s) older than "
                 f"{settings.vacuum_hours:g} h")
    return lines


def _detail(spark: SparkSession, path: str) -> tuple[int, int]:
    """(files, bytes) of the table's current version."""
    row = spark.sql(f"DESCRIBE DETAIL delta.`{path}`").first()
    return int(row["numFiles"]), int(row["sizeInBytes"])


def _has_keys(spark: SparkSession, path: str) -> bool:
    columns = set(spark.read.format("delta").load(path).columns)
    return set(tables.SERIES_KEYS) <= columns


def _optimize(spark: SparkSession, table, path: str) -> str:
    """Compact the runs held in more than one file (Z-ordered by the series keys when the
    table has them); runs already in one file are left alone, so a nightly maintain rewrites
    only the new runs. Says files before / after."""
    from pyspark.sql import functions as F

    files, size = _detail(spark, path)
    per_run = (spark.read.format("delta").load(path)
               .select("run_id", F.input_file_name().alias("file")).distinct()
               .groupBy("run_id").count().where("count > 1").collect())
    if not per_run:
        return f"nothing to compact: {files} file(s), one per run"
    runs = ", ".join(f"'{tables.check_run_id(r['run_id'])}'" for r in per_run)
    builder = table.optimize().where(f"run_id IN ({runs})")
    if _has_keys(spark, path):
        builder.executeZOrderBy(*tables.SERIES_KEYS)
        how = "z-ordered by " + ", ".join(tables.SERIES_KEYS)
    else:
        builder.executeCompaction()
        how = "compacted"
    after, size_after = _detail(spark, path)
    return (f"{how} {len(per_run)} run(s): {files} -> {after} file(s), "
            f"{size / 1e6:.2f} -> {size_after / 1e6:.2f} MB")


def _vacuum(spark: SparkSession, path: str, hours: float, dry: bool) -> int:
    """VACUUM (DRY RUN lists without deleting); number of data files it deletes.

    Delta 4's DRY RUN also lists the partition folders that are empty once their files go
    (a VACUUM removes them on its next run); they are not counted as files.
    """
    check = spark.conf.get(_RETENTION_CHECK, "true")
    if hours < _DELTA_MIN_HOURS:
        spark.conf.set(_RETENTION_CHECK, "false")
    try:
        listed = spark.sql(f"VACUUM delta.`{path}` RETAIN {hours:g} HOURS DRY RUN")
        total = listed.count()
        # only the paths without an extension can be folders: they alone reach the driver
        bare = [row[0] for row in listed.where(r"NOT path RLIKE '[^/]*\\.[^/]*/?$'").collect()]
        if not dry and total:
            spark.sql(f"VACUUM delta.`{path}` RETAIN {hours:g} HOURS")
    finally:
        spark.conf.set(_RETENTION_CHECK, check)
    return total - _folders(spark, bare)


def _folders(spark: SparkSession, paths: list[str]) -> int:
    """How many of paths are folders (a path already deleted is not a folder)."""
    jvm = spark.sparkContext._jvm
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    count = 0
    for name in paths:
        target = jvm.org.apache.hadoop.fs.Path(name)
        fs = target.getFileSystem(hadoop)
        count += bool(fs.exists(target) and fs.getFileStatus(target).isDirectory())
    return count
