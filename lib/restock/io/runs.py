"""Run ids and the `runs` table: one row per job of a run, written when the job ends."""

from __future__ import annotations

import datetime as dt
import secrets
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import restock
from restock.io import config, tables
from restock.paths import project_root

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

RUNS_SCHEMA = (
    "job string, as_of_date date, started_at timestamp, finished_at timestamp, status string, "
    "config_digest string, code_version string, rows_in bigint, rows_out bigint, "
    "rows_quarantined bigint, rows_duplicate bigint, series_count bigint, failed_series bigint, "
    "message string"
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
) -> Iterator[RunRecord]:
    """Yield a RunRecord for the job to fill; write it to `runs` when the job ends.

    A job that raises is recorded with status `failed` and the error's first line,
    then the error propagates.
    """
    tables.check_run_id(run_id)
    record = RunRecord(
        job=job,
        as_of_date=as_of_date,
        started_at=_now(),
        config_digest=config.digest(conf),
        code_version=code_version(),
    )
    try:
        yield record
        record.status = "succeeded"
    except BaseException as exc:
        record.status = "failed"
        record.message = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:1000]
        raise
    finally:
        record.finished_at = _now()
        write_record(spark, conf, run_id, record)


def write_record(
    spark: SparkSession, conf: Mapping[str, Any], run_id: str, record: RunRecord
) -> None:
    """Replace this run's row for this job in the `runs` table."""
    df = spark.createDataFrame([asdict(record)], RUNS_SCHEMA)
    tables.write_run(df, conf, "runs", run_id, part=("job", record.job))


def _now() -> dt.datetime:
    """Naive UTC now (Spark's session time zone is UTC)."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
