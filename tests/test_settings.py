"""The settings tree: checked before Spark starts, every key reaching its target."""

from __future__ import annotations

import os
import resource
import subprocess
import sys

import pytest

from restock.app.cli import main
from restock.app.settings import build_settings, load_settings
from restock.errors import ConfigError
from restock.io.config import load_conf


def _restock(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The restock CLI in a fresh process (as a user runs it)."""
    return subprocess.run([sys.executable, "-m", "restock.app.cli", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=600)


@pytest.mark.parametrize("flag, named, shape", [
    ("simulaton.holdout_days=10", "'simulaton.holdout_days' is unknown (did you mean "
                                  "'simulation'?)", True),
    ("forecast.horizon_days=abc", "'forecast.horizon_days' must be a whole number, got text",
     True),
    ("quality=5", "'quality' must be a section", True),
    ("forecast.horizn_days=3", "did you mean 'forecast.horizon_days'?", True),
    ("policy.service_level_by_abc.C=1.5", "service_level_by_abc", False),
    ("backtest.metric=r2", "backtest.metric must be one of", False),
])
def test_a_bad_key_fails_before_spark_in_one_line_with_exit_2(flag, named, shape):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = _restock("run", "--set", flag, "--warehouse", "/nonexistent/never-created")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_seconds = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("restock: error: ") and named in lines[0]
    assert "Traceback" not in result.stderr and not os.path.exists("/nonexistent/never-created")
    if shape:  # the shape check runs before anything heavy is imported (wall time: load-bound)
        assert cpu_seconds < 5, cpu_seconds


def test_the_shape_check_imports_nothing_heavy():
    code = ("import sys\nfrom restock.app.settings import load_settings\n"
            "try:\n    load_settings('local', overrides=['simulaton.x=1'], environ={})\n"
            "except Exception as exc:\n    print(type(exc).__name__)\n"
            "print('statsforecast' in sys.modules, 'pyspark' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["ConfigError", "False", "False"]


def test_the_tree_is_built_once_with_every_section():
    settings = load_settings("local", environ={})
    assert settings.forecast.horizon_days == 28 and settings.backtest.windows == 3
    assert settings.simulation.policy is settings.policy  # one policy, not a re-read copy
    assert settings.simulation.forecast is settings.forecast
    assert settings.routing.calendar is settings.calendar
    assert settings.forecast.models == "auto" and settings.routing.min_history_days == 56


def test_env_and_flags_layer_over_the_files():
    settings = load_settings("local", overrides=["forecast.horizon_days=14"],
                             environ={"RESTOCK_BACKTEST__WINDOWS": "2"})
    assert settings.forecast.horizon_days == 14 and settings.backtest.windows == 2


@pytest.mark.parametrize("given", [
    {"forecast": {"models": "AutoETS,Nope"}},
    {"routing": {"by_class": {"smoth": "AutoETS"}}},
    {"profile": {"abc_shares": {"A": 0.9, "B": 0.8}}},
])
def test_section_rules_name_the_key(given):
    conf = load_conf("local", environ={})
    for section, values in given.items():
        conf[section] = {**conf[section], **values}
    with pytest.raises(ConfigError, match=list(given)[0]):
        build_settings(conf)


def test_spark_settings_keep_their_spark_prefix():
    conf = load_conf("local", environ={"RESTOCK_SPARK__SQL__SHUFFLE__PARTITIONS": "5"},
                     overrides=["spark.sql.adaptive.enabled=false",
                                "spark.spark.ui.enabled=false"])
    spark = conf["spark"]
    assert spark["spark.sql.shuffle.partitions"] == "5"
    assert spark["spark.sql.adaptive.enabled"] == "false" and spark["spark.ui.enabled"] == "false"
    assert not any(not k.startswith("spark.") for k in spark)


@pytest.mark.spark
def test_set_spark_reaches_the_session():
    """Read back from a started session, in a fresh process: --set and RESTOCK_SPARK__…"""
    result = _restock("settings", "--spark", "--master", "local[1]",
                      "--set", "spark.sql.shuffle.partitions=7",
                      "--set", "spark.ui.enabled=false",
                      env={"RESTOCK_SPARK__SQL__SESSION__TIMEZONE": "Europe/Paris"})
    assert result.returncode == 0, result.stderr
    got = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    assert got["spark.sql.shuffle.partitions"] == "7"
    assert got["spark.sql.session.timeZone"] == "Europe/Paris"


def test_main_returns_2_for_a_config_error(capsys):
    assert main(["run", "--set", "simulation.nope=1"]) == 2
    assert "simulation.nope" in capsys.readouterr().err
