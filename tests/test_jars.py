"""The Delta jar folder of each Spark line (no Spark session: install-time helpers)."""

from __future__ import annotations

import pyspark
import pytest

from restock.errors import ConfigError
from restock.io import jars
from restock.io.session import delta_jars


@pytest.mark.parametrize("name, expected", [
    ("jackson-core-2.21.2.jar", "jackson-core"),
    ("delta-spark_2.13-4.4.0.jar", "delta-spark_2.13"),
    ("zstd-jni-1.5.7-3.jar", "zstd-jni"),
    ("hadoop-client-runtime-3.5.0.jar", "hadoop-client-runtime"),
])
def test_artifact_drops_the_version(name, expected):
    assert jars.artifact(name) == expected


@pytest.mark.parametrize("version, folder, command", [
    ("4.2.0", ".jars", "make install"),
    ("3.5.7", ".jars-spark3.5", "make install SPARK=3.5"),
])
def test_each_line_has_its_jar_folder(monkeypatch, tmp_path, version, folder, command):
    monkeypatch.setattr(pyspark, "__version__", version)
    assert jars.line_folder(tmp_path / ".jars") == tmp_path / folder
    assert jars.install_command() == command


def test_jars_of_the_other_line_are_refused(tmp_path):
    folder = jars.line_folder(tmp_path / ".jars")
    folder.mkdir()
    (folder / "io.delta_delta-spark_2.12-3.3.2.jar").write_bytes(b"")
    (folder / "COORDINATES").write_text("io.delta:delta-spark_9.99:0.0.1\n")
    with pytest.raises(ConfigError, match="are not io.delta:delta-spark_2"):
        delta_jars({"delta_jars_dir": str(tmp_path / ".jars")})
    (folder / "COORDINATES").write_text(jars.delta_coordinates() + "\n")
    assert delta_jars({"delta_jars_dir": str(tmp_path / ".jars")}) == [
        str(folder / "io.delta_delta-spark_2.12-3.3.2.jar")]
