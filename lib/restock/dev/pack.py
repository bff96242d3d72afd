"""The requirements of the packed executor environment (`make package`): restock's own
dependencies and delta-spark's, without pyspark and py4j.

Executors run with the cluster's Spark (spark-submit puts its pyspark on their path), so
the archive leaves pyspark out; installing only these (delta-spark itself with --no-deps)
spares `make package` installing the ~400 MB pyspark wheel only to uninstall it.
"""

from __future__ import annotations

import re
from importlib import metadata

import tomllib

from restock.paths import project_root

SPARK_PACKAGES = re.compile(r"(pyspark|py4j|delta-spark)\b", re.IGNORECASE)


def executor_requirements() -> list[str]:
    """pyproject's dependencies plus delta-spark's, minus the Spark packages."""
    with open(project_root() / "pyproject.toml", "rb") as f:
        own = tomllib.load(f)["project"]["dependencies"]
    delta = metadata.requires("delta-spark") or []
    return [r for r in [*own, *delta] if not SPARK_PACKAGES.match(r)]


if __name__ == "__main__":
    print("\n".join(executor_requirements()))
