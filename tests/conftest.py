"""One session-scoped local Spark with Delta for the whole suite; tiny data, temp warehouses."""

from __future__ import annotations

import copy
import functools
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


def pytest_collection_modifyitems(items):
    """Tests that use the Spark session carry the `spark` marker (`make test-fast` skips them)."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        if "spark" in names or "wconf" in names:
            item.add_marker(pytest.mark.spark)


@pytest.hookimpl(optionalhook=True)  # an xdist hook: pytest without xdist ignores it
def pytest_xdist_make_scheduler(config, log):
    """`--dist loadscope` (make test) with scopes of this suite's own: the tests of a file
    that defines a module-scoped fixture share a worker (the fixture is built once), every
    other test is scheduled on its own, wherever a worker is free.

    (`--dist loadgroup` with `xdist_group` marks would say the same, but under pytest 9.2
    xdist 3.8 no longer sees the marks' groups: the tests spread and each worker built the
    module fixtures, `make package` of the cluster test twice at once.)
    """
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    root = Path(config.rootpath)

    class ModuleFixtureScopes(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return path if _defines_module_fixture(root / path) else nodeid

    return ModuleFixtureScopes(config, log)


@functools.cache
def _defines_module_fixture(path: Path) -> bool:
    """Whether a test file declares a fixture with scope="module"."""
    return 'scope="module"' in path.read_text()


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
