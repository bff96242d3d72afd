"""A run: its session, settings tree, run id, as-of date and grain (each fixed once), and
the validated inputs its steps share."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from restock.app.settings import Settings, build_settings
from restock.errors import RestockError
from restock.io import runs
from restock.quality import rules as quality
from restock.spark import progress
from restock.spark.progress import ProgressSettings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


@dataclass
class Run:
    """One run: the session, the effective conf and its settings tree, the run id and the
    as-of date."""

    spark: SparkSession
    conf: Mapping[str, Any]
    run_id: str
    as_of_date: dt.date | None = None
    settings: Settings = None  # type: ignore[assignment]  # built from conf when not given
    notes: list[str] = field(default_factory=list)  # what the run decided, for the CLI to print
    progress: ProgressSettings = None  # type: ignore[assignment]  # the tree's when not given
    series: int | None = None  # series of the accepted sales, once read (progress estimates)
    held: list[runs.RunRecord] = field(default_factory=list)  # finished rows not yet written

    def __post_init__(self) -> None:
        if self.settings is None:
            self.settings = build_settings(self.conf)
        if self.progress is None:
            self.progress = self.settings.progress

    def resolve_grain(self, name: str) -> None:
        """Fix the run's grain (detected from the sales when conf says auto): conf
        `data.frequency` takes it and the settings tree is built again, once, so every
        window in periods follows it."""
        data = dict(self.conf.get("data") or {})
        if data.get("frequency") != name:
            self.conf["data"] = {**data, "frequency": name}  # type: ignore[index]
            self.settings = build_settings(self.conf)

    def fix_as_of(self, date: dt.date) -> dt.date:
        """Resolve the run's as-of date once (the given one, else the first a step finds);
        a later step finding another date is an error, not a silent change."""
        if self.as_of_date is None:
            self.as_of_date = date
        elif date != self.as_of_date:
            raise RestockError(f"run {self.run_id}: as-of date {self.as_of_date} already fixed, "
                               f"a step found {date} (forecasts of another as-of date?)")
        return self.as_of_date

    @contextmanager
    def recorded(self, job: str) -> Iterator[runs.RunRecord]:
        """This job's row in `runs` (from its start) and its progress lines (stderr)."""
        current: list[runs.RunRecord] = []
        series = (self.series, self.buckets()) if self.series else None
        with progress.step(self.spark, job, self.progress, lambda: runs.counts_text(current[0]),
                           series):
            with runs.recorded(self.spark, self.conf, self.run_id, job, self.as_of_date,
                               self.held) as rec:
                current.append(rec)
                yield rec

    def write_held(self) -> None:
        """Write the `runs` rows of jobs that ended but were held for the next job's
        commit (`runs.recorded`); called once the run's jobs are done."""
        runs.write_held(self.spark, self.conf, self.run_id, self.held)

    def buckets(self) -> int:
        """Series groups per UDF step: conf, else 32 per core of the session.

        Many small groups keep the cores busy to the end: the last group to finish is
        about 1/32 of a core's share of the work.
        """
        configured = self.settings.forecast.buckets
        return configured or 32 * self.spark.sparkContext.defaultParallelism


@dataclass
class Inputs:
    """Validated inputs of a run (accepted rows only, persisted); None when not read."""

    daily: DataFrame | None = None
    item_params: DataFrame | None = None
    inventory: DataFrame | None = None
    calendar: DataFrame | None = None
    promotions: DataFrame | None = None
    reports: dict[str, quality.QualityReport] = field(default_factory=dict)
