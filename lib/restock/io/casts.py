"""Casts of user data that never raise: a value that does not fit becomes null, and a row
rule then names it (`unparseable date`, `non-numeric price`, ...) in quarantine.

Spark 4 runs with ANSI mode on (`spark.sql.ansi.enabled`, its default, which restock keeps):
there CAST raises on the first bad value and fails the whole job. TRY_CAST returns null on
both Spark lines (3.5 and 4) whatever the ANSI setting. pyspark 3.5 has no `Column.try_cast`,
so the cast is written in SQL over column names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column


def quoted(name: str) -> str:
    """A column name as a SQL identifier (backticks, inner backticks doubled)."""
    return "`" + name.replace("`", "``") + "`"


def try_cast(sql: str, kind: str) -> Column:
    """`TRY_CAST(sql AS kind)`: null where the value does not convert."""
    from pyspark.sql import functions as F

    return F.expr(try_cast_sql(sql, kind))


def try_cast_sql(sql: str, kind: str) -> str:
    """The SQL text of `try_cast`, to nest in a larger expression."""
    return f"try_cast({sql} AS {kind})"


def whole_int(sql: str) -> Column:
    """A value as int when it is a whole number in int range (`7`, `7.0`, `7e0`); else null
    (`7.5`, `1e20`, `NaN`, text)."""
    from pyspark.sql import functions as F

    number = try_cast_sql(sql, "double")
    whole = try_cast_sql(number, "int")
    return F.expr(f"CASE WHEN {whole} = {number} THEN {whole} END")
