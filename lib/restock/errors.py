"""Errors that speak to the user: each names what is wrong and where."""

from __future__ import annotations


class RestockError(Exception):
    """Base class for errors shown to the user as one line, without a stack trace."""

    exit_code = 1


class ConfigError(RestockError, ValueError):
    """A configuration key is missing, unknown or has a bad value (a usage error: exit 2)."""

    exit_code = 2


class ArgumentError(RestockError, ValueError):
    """A command-line argument is malformed or names nothing (a bad run id, an unknown table):
    exit 1, like the other user mistakes that are not about conf."""


class TableNotFoundError(RestockError):
    """An input Delta table does not exist at its configured path."""


class SchemaError(RestockError, ValueError):
    """A table or file lacks a contracted column or has it with the wrong type."""

    exit_code = 2


class InputFileError(RestockError):
    """An input file is missing, empty or unreadable in the given format."""

    exit_code = 2


class DataQualityError(RestockError, ValueError):
    """Input data breaks a data-quality threshold set in conf."""


class ForecastFailureError(RestockError):
    """More series failed to forecast than the configured share allows."""


class RunNotFoundError(RestockError):
    """A requested run id (or the latest run) is not in the table."""


class ConcurrentWriteError(RestockError):
    """Another writer kept committing to the same Delta table; this write gave up."""
