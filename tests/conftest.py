"""One session-scoped local Spark with Delta for the whole suite; tiny data, temp warehouses."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from restock.io.config import load_conf

TEST_SPARK = {
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.ui.enabled": "false",
    "spark.databricks.delta.snapshotPartitions": "1",
    "spark.sql.adaptive.enabled": "false",
    "spark.driver.memory": "2g",
    # VACUUM lists files in a job of this many tasks (Spark's default: 10000)
    "spark.sql.sources.parallelPartitionDiscovery.parallelism": "2",
}


@pytest.hookimpl(tryfirst=True)  # before xdist reads the xdist_group marks
def pytest_collection_modifyitems(items):
    """Tests that use the Spark session carry the `spark` marker (`make test-fast` skips them).

    A test that uses a module-scoped fixture joins its file's `xdist_group`: under
    `--dist loadgroup` (make test) such a file's tests share one worker, so its fixture is
    built once, and every other test is scheduled on its own, wherever a worker is free.
    """
    for item in items:
        names = getattr(item, "fixturenames", ())
        if "spark" in names or "wconf" in names:
            item.add_marker(pytest.mark.spark)
        info = getattr(item, "_fixtureinfo", None)
        defs = info.name2fixturedefs.values() if info else ()
        if any(d[-1].scope == "module" for d in defs if d):
            item.add_marker(pytest.mark.xdist_group(item.path.name))


@pytest.fixture(scope="session")
def base_conf(tmp_path_factory) -> dict:
    """The project's local conf with a test master and a temp warehouse."""
    conf = load_conf("local", environ={})
    conf["master"] = "local[2]"
    conf["spark"].update(TEST_SPARK)
    conf["warehouse"] = str(tmp_path_factory.mktemp("warehouse"))
    return conf


@pytest.fixture(scope="session")
def spark(base_conf):
    """The single SparkSession of the test run."""
    from restock.io.session import build_spark

    session = build_spark(base_conf)
    yield session
    session.stop()


@pytest.fixture
def wconf(base_conf, spark, tmp_path: Path) -> dict:
    """A conf whose warehouse is a fresh temp folder, for tests that write tables."""
    conf = copy.deepcopy(base_conf)
    conf["warehouse"] = str(tmp_path / "warehouse")
    return conf
