"""Install time: resolve the Delta Lake jars matching the installed pyspark from Maven Central.

`make install` runs `python -m restock.io.jars .jars`; the session factory only reads the folder.
"""

from __future__ import annotations

import re
import shutil
import sys
from importlib.metadata import version
from pathlib import Path

from restock.errors import RestockError


def delta_coordinates() -> str:
    """Maven coordinates of the Delta jars matching the installed delta-spark and Scala."""
    jars_dir = _pyspark_jars()
    scala = sorted(jars_dir.glob("scala-library-*.jar"))
    if not scala:
        raise RestockError(f"cannot tell pyspark's Scala version: no scala-library in {jars_dir}")
    scala_binary = ".".join(scala[0].stem.split("-")[-1].split(".")[:2])
    return f"io.delta:delta-spark_{scala_binary}:{version('delta-spark')}"


def older_line() -> str | None:
    """`3.5` when the installed pyspark is of the Spark 3.5 line; None on Spark 4."""
    import pyspark

    major, minor = pyspark.__version__.split(".")[:2]
    return None if int(major) >= 4 else f"{major}.{minor}"


def line_folder(folder: str | Path) -> Path:
    """The jar folder of the installed Spark line: `folder` itself on Spark 4 (the default
    line), `<folder>-spark3.5` on Spark 3.5 (`make install SPARK=3.5`)."""
    folder, line = Path(folder), older_line()
    return folder.with_name(f"{folder.name}-spark{line}") if line else folder


def install_command() -> str:
    """The make command that fills the installed line's jar folder."""
    line = older_line()
    return f"make install SPARK={line}" if line else "make install"


def artifact(jar_name: str) -> str:
    """A jar's artifact without its version: `jackson-core-2.21.2.jar` -> `jackson-core`."""
    return re.sub(r"-\d[^-]*(-\d+)?(\.jar)?$", "", jar_name.removesuffix(".jar"))


def _pyspark_jars() -> Path:
    """The jar folder of the installed pyspark (Spark's own classpath)."""
    import pyspark

    return Path(pyspark.__file__).parent / "jars"


def resolve_delta_jars(dest: str | Path) -> list[Path]:
    """Fetch the Delta jars (and their dependencies) from Maven Central into dest.

    Uses Spark's own Ivy resolver with its cache inside dest, so the project controls
    the folder and later runs need no network. Jars of artifacts that pyspark already
    ships (Delta 4 pulls older Hadoop, Parquet and Jackson jars through delta-kernel) are
    left out: Spark's own copy wins on the classpath anyway, and executors need not fetch
    them with --jars.
    """
    from pyspark.sql import SparkSession

    dest = Path(dest).resolve()
    ivy = dest / "ivy"
    coordinates = delta_coordinates()
    spark = (
        SparkSession.builder.master("local[1]")
        .appName("restock-resolve-jars")
        .config("spark.jars.packages", coordinates)
        .config("spark.jars.ivy", str(ivy))
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    spark.stop()
    resolved = sorted((ivy / "jars").glob("*.jar"))
    if not resolved:
        raise RestockError(f"Ivy resolved no jars for {coordinates} into {ivy}")
    for old in dest.glob("*.jar"):
        old.unlink()
    shipped = {artifact(jar.name) for jar in _pyspark_jars().glob("*.jar")}
    copies = [Path(shutil.copy2(jar, dest / jar.name)) for jar in resolved
              if artifact(jar.name.split("_", 1)[-1]) not in shipped]
    (dest / "COORDINATES").write_text(coordinates + "\n")
    return copies


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else ".jars"
    for path in resolve_delta_jars(target):
        print(path)
