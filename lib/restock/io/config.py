"""Configuration: base.yaml < <env>.yaml < RESTOCK_* environment variables < CLI overrides."""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from restock.errors import ConfigError
from restock.paths import project_root

ENV_PREFIX = "RESTOCK_"
_DIRECT_ENV = {"RESTOCK_WAREHOUSE": "warehouse", "RESTOCK_MASTER": "master"}


def load_conf(
    env: str = "local",
    conf_dir: str | Path | None = None,
    overrides: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Merge the configuration layers into one plain dict.

    Args:
        env: name of the environment file (`conf/<env>.yaml`) laid over base.yaml.
        conf_dir: folder holding the YAML files; defaults to the project's conf/.
        overrides: `dotted.key=value` strings (values parsed as YAML scalars).
        environ: environment to read RESTOCK_* variables from (default os.environ).

    Returns:
        The merged configuration.
    """
    folder = conf_dir_of(conf_dir)
    conf = _read_yaml(folder / "base.yaml")
    env_file = folder / f"{env}.yaml"
    if not env_file.is_file():
        known = sorted(p.stem for p in folder.glob("*.yaml") if p.stem != "base")
        raise ConfigError(f"no conf file for env '{env}' at {env_file} (known: {', '.join(known)})")
    conf = deep_merge(conf, _read_yaml(env_file))
    for key, value in _env_overrides(os.environ if environ is None else environ):
        set_key(conf, key, value)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects KEY=VALUE, got '{item}'")
        set_key(conf, key.strip(), yaml.safe_load(raw))
    return conf


def conf_dir_of(conf_dir: str | Path | None) -> Path:
    """The folder of the YAML layers: the one given, else the project's conf/."""
    return Path(conf_dir) if conf_dir else project_root() / "conf"


def read_schema(folder: Path) -> dict[str, Any]:
    """base.yaml as read: the schema of every conf (`restock.io.conf_schema`)."""
    return _read_yaml(folder / "base.yaml")


def with_defaults(conf: Mapping[str, Any], name: str) -> dict[str, Any]:
    """Conf section `name` laid over base.yaml's: the keys a conf leaves out (a hand-made
    conf of a test or a library caller) take base.yaml's value, so a default lives only
    there."""
    return deep_merge(_base_defaults().get(name) or {}, conf.get(name) or {})


@functools.cache
def _base_defaults() -> dict[str, Any]:
    """The project's base.yaml, read once."""
    return read_schema(conf_dir_of(None))


def deep_merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """Return base with top laid over it, merging nested mappings key by key."""
    merged = copy.deepcopy(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def set_key(conf: dict[str, Any], dotted: str, value: Any) -> None:
    """Set `section.key` in conf; under `spark` the rest of the key is one Spark setting.

    Spark's own keys start with `spark.` too: `spark.sql.shuffle.partitions=8` sets the Spark
    setting `spark.sql.shuffle.partitions` (the prefix is kept, not taken as the section's).
    A key conf already holds in another case (`spark.sql.session.timeZone`) keeps its spelling.
    """
    head, _, rest = dotted.partition(".")
    if head == "spark" and rest:
        spark = conf.setdefault("spark", {})
        key = dotted if rest.split(".")[0] != "spark" else rest
        # RESTOCK_SPARK__… names are upper case: keep the spelling of a key conf already has
        key = next((k for k in spark if k.lower() == key.lower()), key)
        spark[key] = _spark_value(value)
        return
    node = conf
    parts = dotted.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"cannot set '{dotted}': '{part}' is not a section")
        node = child
    node[parts[-1]] = value


def _spark_value(value: Any) -> str:
    """A Spark setting as Spark reads it: YAML true/false become true/false, not True."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def section(conf: Mapping[str, Any], name: str) -> dict[str, Any]:
    """Return a required conf section."""
    value = conf.get(name)
    if not isinstance(value, dict):
        raise ConfigError(f"conf section '{name}' is missing")
    return value


def digest(conf: Mapping[str, Any]) -> str:
    """Short stable hash of the effective configuration, recorded with each run."""
    canonical = json.dumps(conf, sort_keys=True, default=str).encode()
    return hashlib.sha256(canonical).hexdigest()[:16]


def _read_yaml(path: Path) -> dict[str, Any]:
    """Read one YAML mapping, naming the file on error."""
    if not path.is_file():
        raise ConfigError(f"conf file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"conf file {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"conf file {path} must hold a mapping at the top level")
    return data


def _env_overrides(environ: Mapping[str, str]) -> list[tuple[str, Any]]:
    """RESTOCK_WAREHOUSE / RESTOCK_MASTER and RESTOCK_<SECTION>__<KEY> variables."""
    found = []
    for name, raw in sorted(environ.items()):
        if name in _DIRECT_ENV:
            found.append((_DIRECT_ENV[name], raw))
        elif name.startswith(ENV_PREFIX) and "__" in name:
            dotted = name[len(ENV_PREFIX) :].lower().replace("__", ".")
            found.append((dotted, yaml.safe_load(raw)))
    return found
