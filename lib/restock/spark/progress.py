"""Progress of a step: a start and an end line, and while it works the tasks done / total
of Spark's active stages (sc.statusTracker()), elapsed and estimated time left.

On a terminal the stage progress is a tqdm bar; otherwise (a log) one line every
`progress.log_every_seconds`; with --quiet nothing. Everything goes to stderr, so stdout
keeps only what a command prints as its result.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from restock.errors import ConfigError
from restock.io.config import with_defaults

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

MODES = ("auto", "bar", "log", "quiet")
_active = threading.local()  # a step inside a step reports only its lines, not a 2nd poller


@dataclass(frozen=True)
class ProgressSettings:
    """conf `progress` (and --quiet): how steps report while they run."""

    mode: str  # auto: bar on a terminal, log lines otherwise
    log_every_seconds: float
    poll_seconds: float

    @classmethod
    def from_conf(cls, conf: Mapping[str, Any], quiet: bool = False) -> ProgressSettings:
        """Read and check conf `progress`; quiet wins over conf."""
        p = with_defaults(conf, "progress")
        mode = "quiet" if quiet else str(p["mode"])
        if mode not in MODES:
            raise ConfigError(f"progress.mode must be one of {', '.join(MODES)}, got '{mode}'")
        every, poll = float(p["log_every_seconds"]), float(p["poll_seconds"])
        if every <= 0 or poll <= 0:
            raise ConfigError("progress.log_every_seconds and poll_seconds must be > 0")
        return cls(mode, every, poll)

    def resolved(self, stream: TextIO) -> str:
        """bar, log or quiet for this stream."""
        if self.mode != "auto":
            return self.mode
        return "bar" if stream.isatty() else "log"


@dataclass
class StageCounts:
    """Tasks of the active stages at one poll."""

    stages: tuple[int, ...]
    done: int
    total: int


def active_stages(spark: SparkSession) -> StageCounts:
    """Completed and total tasks over the stages running now."""
    tracker = spark.sparkContext.statusTracker()
    ids = tuple(sorted(tracker.getActiveStageIds()))
    infos = [i for i in (tracker.getStageInfo(s) for s in ids) if i is not None]
    return StageCounts(ids, sum(i.numCompletedTasks for i in infos),
                       sum(i.numTasks for i in infos))


@contextmanager
def step(
    spark: SparkSession,
    name: str,
    settings: ProgressSettings,
    describe: Callable[[], str] | None = None,
    series: tuple[int, int] | None = None,
    stream: TextIO | None = None,
) -> Iterator[None]:
    """Report a step: start line, stage progress while it runs, end line with seconds and
    `describe()` (its counts). `series` = (series, buckets), when known, turns the tasks of
    a stage of `buckets` tasks (a per-bucket UDF stage) into an estimate of series done."""
    stream = stream or sys.stderr
    mode = settings.resolved(stream)
    say = (lambda text: None) if mode == "quiet" else (lambda text: _line(stream, text))
    say(f"{name} started")
    started = time.monotonic()
    nested = getattr(_active, "on", False)
    poller = None if nested or mode == "quiet" else _Poller(spark, name, settings, mode,
                                                           series, stream)
    _active.on = True
    try:
        if poller:
            poller.start()
        yield
    except BaseException as exc:
        _stop(poller)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        say(f"{name} failed after {time.monotonic() - started:.1f} s: {first}")
        raise
    finally:
        _stop(poller)
        _active.on = nested
    counts = describe() if describe else ""
    say(f"{name} done in {time.monotonic() - started:.1f} s" + (f": {counts}" if counts else ""))


def _stop(poller: _Poller | None) -> None:
    if poller:
        poller.stop()


def _line(stream: TextIO, text: str) -> None:
    stream.write(f"{time.strftime('%H:%M:%S')} restock {text}\n")
    stream.flush()


class _Poller(threading.Thread):
    """Polls the status tracker; draws a tqdm bar or writes a line every N seconds."""

    def __init__(self, spark, name, settings, mode, series, stream) -> None:
        super().__init__(name=f"progress-{name}", daemon=True)
        self.spark, self.step_name, self.settings = spark, name, settings
        self.mode, self.series, self.stream = mode, series, stream
        self.halt = threading.Event()
        self.started = time.monotonic()
        self.stage_started = self.started
        self.stages: tuple[int, ...] = ()
        self.bar = None

    def run(self) -> None:
        last_line = self.started
        while not self.halt.wait(self.settings.poll_seconds):
            try:
                counts = active_stages(self.spark)
            except Exception:  # noqa: BLE001 - a session shutting down ends the polling
                return
            if not counts.total:
                continue
            if counts.stages != self.stages:
                self.stages, self.stage_started = counts.stages, time.monotonic()
                self._reset_bar(counts)
            if self.mode == "bar":
                self.bar.n = counts.done
                self.bar.set_postfix_str(self._series_done(counts), refresh=False)
                self.bar.refresh()
            elif time.monotonic() - last_line >= self.settings.log_every_seconds:
                last_line = time.monotonic()
                _line(self.stream, self._log_text(counts))

    def stop(self) -> None:
        self.halt.set()
        if self.is_alive():
            self.join(timeout=5)
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def _reset_bar(self, counts: StageCounts) -> None:
        if self.mode != "bar":
            return
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=counts.total, file=self.stream, leave=False, unit="task",
                            dynamic_ncols=True)
        else:
            self.bar.reset(total=counts.total)
        self.bar.set_description(f"{self.step_name} stage {_stage_label(counts)}", refresh=False)

    def _series_done(self, counts: StageCounts) -> str:
        if not self.series or len(counts.stages) != 1 or counts.total != self.series[1]:
            return ""
        series = self.series[0]
        return f"~{series * counts.done // counts.total}/{series} series"

    def _log_text(self, counts: StageCounts) -> str:
        now = time.monotonic()
        in_stage = now - self.stage_started
        eta = (f"{in_stage * (counts.total - counts.done) / counts.done:.0f} s"
               if counts.done else "?")
        series = self._series_done(counts)
        return (f"{self.step_name} stage {_stage_label(counts)}: {counts.done}/{counts.total} "
                f"tasks{', ' + series if series else ''}, {now - self.started:.0f} s elapsed, "
                f"stage ETA {eta}")


def _stage_label(counts: StageCounts) -> str:
    return ",".join(str(s) for s in counts.stages)
