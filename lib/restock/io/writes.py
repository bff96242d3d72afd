"""Delta writes that survive concurrent writers: bounded retries with backoff on commit
conflicts, then one line naming the table, the conflicting operation and what to do.

Two jobs writing the same table at once (two `restock run`, two `restock ingest`) make
Delta's optimistic commit fail for one of them: `ProtocolChangedException` when both
create the table, `ConcurrentAppendException` when both MERGE into it, and so on. The
writes here are idempotent (a run id's rows are replaced, a MERGE is keyed), so the loser
simply tries again against the new table version.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from restock.errors import ConcurrentWriteError, ConfigError
from restock.io.config import with_defaults

T = TypeVar("T")
# delta-spark's commit conflicts (`delta.exceptions` on delta-spark 3.3 and 4.0); matched by
# name so the Python class, the Py4J wrapper and the JVM class all count
CONFLICTS = (
    "ConcurrentAppendException", "ConcurrentDeleteReadException",
    "ConcurrentDeleteDeleteException", "ConcurrentTransactionException",
    "ConcurrentWriteException", "MetadataChangedException", "ProtocolChangedException",
    "DeltaConcurrentModificationException",
)
_CONFLICT_TEXT = re.compile(
    "(" + "|".join(CONFLICTS) + r")|DELTA_CONCURRENT_\w+|DELTA_(PROTOCOL|METADATA)_CHANGED"
)
_OPERATION = re.compile(r'"operation"\s*:\s*"([^"]+)"')


@dataclass(frozen=True)
class WriteSettings:
    """Conf `writes`: retries of a Delta commit that lost to a concurrent writer."""

    conflict_retries: int
    backoff_seconds: float

    @classmethod
    def from_conf(cls, conf: Mapping[str, Any]) -> WriteSettings:
        """Read and check conf `writes`."""
        w = with_defaults(conf, "writes")
        retries, backoff = int(w["conflict_retries"]), float(w["backoff_seconds"])
        if retries < 0 or backoff < 0:
            raise ConfigError("writes.conflict_retries and writes.backoff_seconds must be >= 0")
        return cls(retries, backoff)


def conflict_of(exc: BaseException) -> str | None:
    """The Delta conflict an error is (its exception name), or None for any other error."""
    names = [t.__name__ for t in type(exc).__mro__]
    found = next((n for n in names if n in CONFLICTS), None)
    if found:
        return found
    match = _CONFLICT_TEXT.search(_java_text(exc))
    return (match.group(1) or match.group(0)) if match else None


def with_retries(write: Callable[[], T], conf: Mapping[str, Any], table: str, what: str) -> T:
    """Run `write`; on a Delta commit conflict wait (exponential backoff, jittered) and retry.

    Raises:
        ConcurrentWriteError: still conflicting after `writes.conflict_retries` retries.
    """
    settings = WriteSettings.from_conf(conf)
    for attempt in range(settings.conflict_retries + 1):
        try:
            return write()
        except Exception as exc:  # noqa: BLE001 - only commit conflicts are retried
            conflict = conflict_of(exc)
            if conflict is None:
                raise
            if attempt == settings.conflict_retries:
                # the cause stays attached: RESTOCK_DEBUG=1 prints it, the user sees one line
                raise ConcurrentWriteError(_gave_up(table, what, conflict, exc, attempt)) \
                    from exc
            time.sleep(settings.backoff_seconds * 2**attempt * (1 + random.random()))
    raise AssertionError("unreachable")


def _gave_up(table: str, what: str, conflict: str, exc: BaseException, retries: int) -> str:
    """The one line a writer that kept losing prints."""
    operation = _OPERATION.search(_java_text(exc))
    other = f"a concurrent {operation.group(1)}" if operation else "a concurrent write"
    return (f"table '{table}': {what} lost to {other} ({conflict}) {retries + 1} times; "
            "nothing of it was committed. Run the command again once the other job has "
            "finished (or raise writes.conflict_retries)")


def _java_text(exc: BaseException) -> str:
    """The error's text with the JVM exception's class and message when Py4J carries one."""
    text = str(exc)
    java = getattr(exc, "java_exception", None)
    if java is not None:
        try:
            text += "\n" + str(java.toString())
        except Exception:  # noqa: BLE001 - a dead gateway: the Python text is enough
            pass
    return text

