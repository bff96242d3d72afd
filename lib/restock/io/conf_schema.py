"""The shape of the conf: every key base.yaml holds, with its type, checked before Spark starts.

base.yaml is the schema. A key the layered conf holds must exist in base.yaml (an unknown key
is a typo until proven otherwise), and its value must have the type of base.yaml's value:
int where base has an int, a number where base has a float, a bool, a string, a list, or a
mapping. A few mappings are open (their keys are the user's: Spark settings, table locations,
per-class overrides); a few keys may be null. Ranges and allowed words are each section's
own rule, checked when the settings tree is built (`restock.app.settings`).
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Mapping
from typing import Any

from restock.errors import ConfigError

# mappings whose keys the user chooses; their values are checked by the section's own rule
OPEN_MAPS = frozenset({
    "spark", "tables", "routing.by_abc", "backtest.candidates", "ingest.on_conflict",
    "policy.service_level_by_abc", "profile.abc_shares",
})
# keys that take null as well as base.yaml's type (null = off / not set / none)
# (fnmatch patterns: each is a key whose base.yaml comment documents what null means)
NULLABLE = ("warehouse", "master", "delta_jars_dir", "calendar.benchmark",
            "data.aggregate_to", "quality.max_quantity", "quality.max_relative_quantity",
            "quality.checks.*.warn", "quality.checks.*.fail",
            "retention.keep_runs", "retention.keep_days")
# keys that are a number or a word (forecast.models: auto | routed | a name | a list of names)
ANY_OF = {"forecast.models": (str, list)}


def check_shape(conf: Mapping[str, Any], schema: Mapping[str, Any]) -> None:
    """Raise ConfigError naming the first key of conf that schema does not hold or types.

    Args:
        conf: the layered conf.
        schema: base.yaml as read (its values give the expected types).
    """
    _check_node(conf, schema, "")


def _check_node(node: Mapping[str, Any], schema: Mapping[str, Any], prefix: str) -> None:
    """Check one mapping against its schema mapping, recursively."""
    for key, value in node.items():
        path = f"{prefix}{key}"
        if path in OPEN_MAPS or prefix.rstrip(".") in OPEN_MAPS:
            _check_open(path, value, schema.get(key))
            continue
        if key not in schema:
            raise ConfigError(_unknown(_first_leaf(path, value), str(key), schema, prefix))
        expected = schema[key]
        if value is None and (expected is None or _nullable(path)):
            continue
        if isinstance(expected, Mapping):
            if not isinstance(value, Mapping):
                raise ConfigError(f"conf key '{path}' must be a section (a mapping of keys), "
                                  f"got {_shown(value)}")
            _check_node(value, expected, f"{path}.")
            continue
        _check_value(path, value, expected)


def _nullable(path: str) -> bool:
    """Whether the key at path takes null (see NULLABLE)."""
    return any(fnmatch.fnmatchcase(path, pattern) for pattern in NULLABLE)


def _unknown(path: str, key: str, schema: Mapping[str, Any], prefix: str) -> str:
    """The message for an unknown key: the closest known one, or the known ones."""
    known = sorted(str(k) for k in schema)
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    where = prefix.rstrip(".") or "the top level"
    hint = (f"did you mean '{prefix}{close[0]}'?" if close
            else f"known under {where}: {', '.join(known)}")
    return f"conf key '{path}' is unknown ({hint})"


def _first_leaf(path: str, value: Any) -> str:
    """The full path of the first leaf under path (the key as the user typed it)."""
    while isinstance(value, Mapping) and value:
        key, value = next(iter(value.items()))
        path = f"{path}.{key}"
    return path


def _check_open(path: str, value: Any, expected: Any) -> None:
    """An open mapping must be a mapping (when base has one); its own keys are free."""
    if isinstance(expected, Mapping) and not isinstance(value, Mapping):
        raise ConfigError(f"conf key '{path}' must be a mapping, got {_shown(value)}")


def _check_value(path: str, value: Any, expected: Any) -> None:
    """One leaf: value must have the type of base.yaml's value at path."""
    if path in ANY_OF:
        if not isinstance(value, ANY_OF[path]):
            raise ConfigError(f"conf key '{path}' must be a word or a list, got {_shown(value)}")
        return
    if value is None:
        raise ConfigError(f"conf key '{path}' must not be null (expected {_kind(expected)})")
    if isinstance(expected, bool):
        ok = isinstance(value, bool)
    elif isinstance(expected, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(expected, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif isinstance(expected, str):
        ok = isinstance(value, str)
    elif isinstance(expected, list):
        ok = isinstance(value, list)
    else:
        ok = expected is None
    if not ok:
        raise ConfigError(f"conf key '{path}' must be {_kind(expected)}, got {_shown(value)}")


def _kind(expected: Any) -> str:
    """What a base.yaml value asks for, in words."""
    if isinstance(expected, bool):
        return "true or false"
    if isinstance(expected, int):
        return "a whole number"
    if isinstance(expected, float):
        return "a number"
    if isinstance(expected, str):
        return "a word or text"
    if isinstance(expected, list):
        return "a list"
    return "null"


def _shown(value: Any) -> str:
    """A value as the user wrote it, with its YAML kind."""
    kind = {bool: "boolean", int: "number", float: "number", str: "text", list: "list",
            dict: "mapping"}.get(type(value), type(value).__name__)
    text = repr(value)
    return f"{kind} {text[:60]}"
