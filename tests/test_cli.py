"""The CLI surface without Spark: verbs, help, and the spark-submit entry points."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from restock.app.cli import main

VERBS = ["backtest", "forecast", "generate", "ingest", "plan", "profile", "quality", "report",
         "run", "runs", "show", "simulate", "summary"]
JOBS = Path(__file__).resolve().parents[1] / "jobs"


def test_help_lists_every_verb(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(f"  {verb} " in out for verb in VERBS)


@pytest.mark.parametrize("verb", VERBS)
def test_each_verb_documents_its_flags(verb, capsys):
    assert main([verb, "--help"]) == 0
    out = capsys.readouterr().out
    assert "--warehouse" in out and "--set KEY=VALUE" in out


@pytest.mark.parametrize("job", sorted(p.name for p in JOBS.glob("*_job.py")))
def test_job_entry_points_run_their_verb(job):
    verb = job.removesuffix("_job.py")
    result = subprocess.run(
        [sys.executable, str(JOBS / job), "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert f"Usage: restock {verb} " in result.stdout


def test_every_verb_that_writes_has_a_job():
    assert {p.name.removesuffix("_job.py") for p in JOBS.glob("*_job.py")} == {
        "backtest", "forecast", "generate", "ingest", "plan", "profile", "quality", "report",
        "run", "simulate",
    }
