"""The one SparkSession factory."""

from __future__ import annotations

import glob
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from restock.errors import ConfigError
from restock.io import jars
from restock.paths import project_root, resolve

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def build_spark(conf: Mapping[str, Any]) -> SparkSession:
    """Build (or reuse) the SparkSession described by conf.

    The master comes only from conf (`conf/local.yaml` or `--master`); under spark-submit
    it is left to spark-submit. Delta jars come from `spark.jars.packages` when conf sets
    it, else from the folder `make install` filled; with `delta_jars_dir: null` (cluster)
    they are left to spark-submit (`--packages`).
    """
    from pyspark.sql import SparkSession

    settings = {str(k): str(v) for k, v in (conf.get("spark") or {}).items()}
    if "spark.jars.packages" not in settings and conf.get("delta_jars_dir"):
        settings["spark.jars"] = _join_jars(settings.get("spark.jars"), delta_jars(conf))
    log4j = project_root() / "conf" / "log4j2.properties"
    if log4j.is_file():
        option = f"-Dlog4j.configurationFile=file:{log4j}"
        for key in ("spark.driver.extraJavaOptions", "spark.executor.extraJavaOptions"):
            settings[key] = f"{settings[key]} {option}" if key in settings else option
    for var in _THREAD_VARS:  # python workers of a local master inherit the driver's env
        os.environ.setdefault(var, "1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

    builder = SparkSession.builder.appName(str(conf.get("app_name", "restock")))
    if conf.get("master"):
        builder = builder.master(str(conf["master"]))
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(str(conf.get("log_level", "ERROR")))
    return spark


def delta_jars(conf: Mapping[str, Any]) -> list[str]:
    """The Delta Lake jar files `make install` put in the jar folder of the installed Spark
    line (`.jars`; `.jars-spark3.5` on Spark 3.5), checked against the installed versions."""
    folder = str(jars.line_folder(resolve(str(conf["delta_jars_dir"]))))
    found = sorted(glob.glob(os.path.join(folder, "*.jar")))
    line = jars.install_command()
    if not found:
        raise ConfigError(
            f"no Delta Lake jars in {folder}: run `{line}` "
            "(or set spark.jars.packages to resolve them at start-up)"
        )
    stamp = os.path.join(folder, "COORDINATES")
    wanted = jars.delta_coordinates()
    if os.path.isfile(stamp) and Path(stamp).read_text().strip() != wanted:
        raise ConfigError(f"the jars in {folder} are not {wanted} (the installed "
                          f"pyspark and delta-spark): run `{line}` again")
    return found


def _join_jars(existing: str | None, extra: list[str]) -> str:
    """Comma-join extra jars after any the conf already lists."""
    return ",".join([existing, *extra] if existing else extra)
