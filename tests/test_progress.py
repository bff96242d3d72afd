"""Step progress: start / end lines with counts, stage lines from the status tracker while
a job runs, a tqdm bar on a terminal, nothing when quiet."""

from __future__ import annotations

import io
import time

import pytest

from restock.errors import ConfigError
from restock.spark.progress import ProgressSettings, step

FAST_LOG = ProgressSettings("log", log_every_seconds=0.2, poll_seconds=0.05)


def _slow_job(spark, partitions=4, seconds=1.0):
    def slow(rows):
        time.sleep(seconds)
        return rows

    return spark.sparkContext.parallelize(range(partitions), partitions).mapPartitions(
        slow).count()


def test_log_mode_prints_start_stage_progress_and_end_with_counts(spark):
    out = io.StringIO()
    with step(spark, "forecast", FAST_LOG, describe=lambda: "series 4", stream=out):
        assert _slow_job(spark) == 4
    lines = out.getvalue().splitlines()
    assert lines[0].endswith("restock forecast started")
    assert any("forecast stage" in line and "/4 tasks" in line and "elapsed" in line
               and "ETA" in line for line in lines[1:-1])
    assert " restock forecast done in " in lines[-1] and lines[-1].endswith(": series 4")


def test_a_failing_step_says_so_and_raises(spark):
    out = io.StringIO()
    with pytest.raises(ValueError, match="bad"), step(spark, "plan", FAST_LOG, stream=out):
        raise ValueError("bad input\nsecond line")
    assert out.getvalue().splitlines()[-1].endswith("plan failed after 0.0 s: bad input")


def test_quiet_prints_nothing_and_bar_mode_draws_a_tqdm_bar(spark):
    quiet = io.StringIO()
    with step(spark, "simulate", ProgressSettings.from_conf({}, quiet=True), stream=quiet):
        _slow_job(spark, partitions=2, seconds=0.3)
    assert quiet.getvalue() == ""
    bar = io.StringIO()
    shown = ProgressSettings("bar", log_every_seconds=30.0, poll_seconds=0.05)
    with step(spark, "backtest", shown, stream=bar):
        _slow_job(spark)
    assert "backtest stage" in bar.getvalue() and "task" in bar.getvalue()


def test_settings_are_checked():
    assert ProgressSettings.from_conf({"progress": {"mode": "bar"}}).mode == "bar"
    with pytest.raises(ConfigError, match="progress.mode"):
        ProgressSettings.from_conf({"progress": {"mode": "loud"}})
