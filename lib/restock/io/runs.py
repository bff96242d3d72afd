"""Run ids and the `runs` table: one row per job of a run, written when the job starts
(status `running`, with the host, pid and Spark application that runs it) and replaced
when it ends (`succeeded` / `failed`). A row left `running` by a killed job is marked
`abandoned` by `restock runs` once its process is judged gone (`mark_abandoned`).

A job of a multi-job run may hand its `succeeded` row to the next job (`held`): that row
is written in the same commit as the next job's `running` row, so a run of n jobs makes
n + 1 commits to `runs`, not 2n (each Delta commit costs seconds on a small cluster)."""

from __future__ import annotations

import datetime as dt
import os
import secrets
import socket
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

import restock
from restock.errors import ConfigError
from restock.io import config, tables
from restock.paths import project_root

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

RUNS_SCHEMA = (
    "job string, as_of_date date, started_at timestamp, finished_at timestamp, status string, "
    "config_digest string, code_version string, rows_in bigint, rows_out bigint, "
    "rows_quarantined bigint, rows_duplicate bigint, series_count bigint, failed_series bigint, "
    "message string, host string, pid int, app_id string"
)


@dataclass
class RunRecord:
    """What a job reports about itself; fields the job leaves unset stay null."""

    job: str
    as_of_date: dt.date | None
    started_at: dt.datetime
    config_digest: str
    code_version: str
    finished_at: dt.datetime | None = None
    status: str = "running"
    rows_in: int | None = None
    rows_out: int | None = None
    rows_quarantined: int | None = None
    rows_duplicate: int | None = None  # exact duplicates dropped (restock ingest)
    series_count: int | None = None
    failed_series: int | None = None
    message: str | None = None
    host: str | None = None  # where the driver ran: judged by `mark_abandoned`
    pid: int | None = None
    app_id: str | None = None  # Spark application id of the driver


@dataclass(frozen=True)
class RunsSettings:
    """conf `runs`: how `restock runs` judges a `running` row of another host."""

    abandon_after_hours: float

    @classmethod
    def from_conf(cls, conf: Mapping[str, Any]) -> RunsSettings:
        """Read and check conf `runs`."""
        hours = float(config.with_defaults(conf, "runs")["abandon_after_hours"])
        if hours <= 0:
            raise ConfigError(f"runs.abandon_after_hours must be > 0, got {hours}")
        return cls(hours)


def new_run_id(now: dt.datetime | None = None) -> str:
    """A sortable, unique run id: r<UTC timestamp>-<4 random hex>."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return f"r{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


def code_version() -> str:
    """Package version plus the git commit of the checkout, when there is one."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=project_root(),
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{restock.__version__}+{sha}" if sha else restock.__version__


@contextmanager
def recorded(
    spark: SparkSession,
    conf: Mapping[str, Any],
    run_id: str,
    job: str,
    as_of_date: dt.date | None,
    held: list[RunRecord] | None = None,
) -> Iterator[RunRecord]:
    """Write a `running` row for the job, yield its RunRecord to fill, replace the row when
    the job ends.

    A job that raises is recorded with status `failed` and the error's first line,
    then the error propagates. A job killed outright leaves its `running` row.

    With `held` (the run's list of finished rows not yet written), the held rows are
    written with this job's `running` row, and this job's `succeeded` row is held in turn;
    the caller writes what is left with `write_held` when the run's jobs are done.
    """
    tables.check_run_id(run_id)
    record = RunRecord(
        job=job,
        as_of_date=as_of_date,
        started_at=_now(),
        config_digest=config.digest(conf),
        code_version=code_version(),
        host=socket.gethostname(),
        pid=os.getpid(),
        app_id=spark.sparkContext.applicationId,
    )
    write_records(spark, conf, run_id, [*(held or ()), record])
    if held:
        held.clear()
    try:
        yield record
        record.status = "succeeded"
    except BaseException as exc:
        record.status = "failed"
        record.message = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:1000]
        raise
    finally:
        record.finished_at = _now()
        if held is not None and record.status == "succeeded":
            held.append(record)
        else:
            write_record(spark, conf, run_id, record)


def write_held(
    spark: SparkSession, conf: Mapping[str, Any], run_id: str, held: list[RunRecord]
) -> None:
    """Write the finished rows `recorded` held back (none: no commit), and forget them."""
    if held:
        write_records(spark, conf, run_id, held)
        held.clear()


def write_record(
    spark: SparkSession, conf: Mapping[str, Any], run_id: str, record: RunRecord
) -> None:
    """Replace this run's row for this job in the `runs` table."""
    write_records(spark, conf, run_id, [record])


def write_records(
    spark: SparkSession, conf: Mapping[str, Any], run_id: str, records: list[RunRecord]
) -> None:
    """Replace this run's rows for these jobs in the `runs` table, in one commit."""
    df = spark.createDataFrame([asdict(r) for r in records], RUNS_SCHEMA)
    tables.write_run(df, conf, "runs", run_id, part=("job", tuple(r.job for r in records)))


def counts_text(record: RunRecord) -> str:
    """The counts a job filled in, for its progress line."""
    counts = [("series", record.series_count), ("rows in", record.rows_in),
              ("rows out", record.rows_out), ("quarantined", record.rows_quarantined),
              ("failed series", record.failed_series)]
    return ", ".join(f"{name} {value}" for name, value in counts if value is not None)


def mark_abandoned(
    spark: SparkSession, conf: Mapping[str, Any], now: dt.datetime | None = None
) -> list[tuple[str, str]]:
    """Mark `running` rows whose job is gone as `abandoned`; return their (run_id, job).

    On this host a job is gone when its pid is not alive (or the pid now belongs to a
    process started after the job). A row of another host (or without a host) cannot be
    probed: it is judged gone once it started more than `runs.abandon_after_hours` ago.
    """
    from pyspark.sql import functions as F

    if not tables.exists(spark, conf, "runs"):
        return []
    settings = RunsSettings.from_conf(conf)
    now = now or _now()
    runs = tables.read(spark, conf, "runs")
    running = runs.where(F.col("status") == "running").collect()
    names = {f.name for f in fields(RunRecord)}
    marked = []
    for row in running:
        values = row.asDict()
        why = _gone_reason(values, settings, now, spark.sparkContext.applicationId)
        if why is None:
            continue
        record = RunRecord(**{k: v for k, v in values.items() if k in names})
        record.status = "abandoned"
        record.message = f"abandoned: {why} (marked {now:%Y-%m-%d %H:%M:%S} UTC)"
        write_record(spark, conf, values["run_id"], record)
        marked.append((values["run_id"], values["job"]))
    return marked


def _gone_reason(
    row: Mapping[str, Any], settings: RunsSettings, now: dt.datetime, own_app_id: str
) -> str | None:
    """Why a `running` row's job is judged gone, or None while it may still run."""
    if row.get("app_id") and row["app_id"] == own_app_id:
        return None
    started = row["started_at"]
    if row.get("host") == socket.gethostname() and row.get("pid"):
        pid = int(row["pid"])
        if not _alive(pid):
            return f"pid {pid} on {row['host']} is not running"
        born = _process_start(pid)
        if born is not None and started is not None and born > started:
            return f"pid {pid} on {row['host']} is another process now"
        return None
    age_hours = (now - started).total_seconds() / 3600 if started else float("inf")
    if age_hours > settings.abandon_after_hours:
        return (f"started {age_hours:.1f} h ago on {row.get('host') or 'an unknown host'}, "
                f"over runs.abandon_after_hours {settings.abandon_after_hours:g}")
    return None


def _alive(pid: int) -> bool:
    """Whether a process with this pid exists (zombies count as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _process_start(pid: int) -> dt.datetime | None:
    """Naive UTC start time of a process from /proc (None where there is no /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/stat") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith("btime"))
    except (OSError, ValueError, StopIteration, IndexError):
        return None
    seconds = boot + ticks / os.sysconf("SC_CLK_TCK")
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).replace(tzinfo=None)


def _now() -> dt.datetime:
    """Naive UTC now (Spark's session time zone is UTC)."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
