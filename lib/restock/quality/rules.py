"""Input validation: every input row is either accepted or quarantined with a reason."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from restock.errors import ConfigError, DataQualityError
from restock.io.config import section
from restock.io.tables import INPUTS, SERIES_KEYS

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

# conf quality.negative_quantity, the one rule for returns (a negative quantity):
# net: kept at ingest, netted into the day; a day still negative at a run is quarantined;
# zero: the same, but such a day becomes 0; quarantine: rejected at ingest and at a run
_NEGATIVE_POLICIES = ("net", "zero", "quarantine")
# a series' scale for the relative bound: this quantile of its positive rows (works when
# half or more of them hold one value, where the MAD is 0)
SCALE_QUANTILE = 0.9
IMPLAUSIBLE_PREFIX = "implausible quantity"
LIFECYCLES = ("active", "new", "end_of_life")


@dataclass(frozen=True)
class QualitySettings:
    """Conf `quality`."""

    negative_quantity: str
    max_quarantine_share: float
    max_quantity: float = math.inf  # a sales row above this is implausible (units)
    max_relative_quantity: float = math.inf  # ... or above this many times its series' scale

    @classmethod
    def from_conf(cls, conf: Mapping[str, Any]) -> QualitySettings:
        """Read and check conf `quality`."""
        q = section(conf, "quality")
        policy = str(q["negative_quantity"])
        if policy not in _NEGATIVE_POLICIES:
            raise ConfigError(
                f"quality.negative_quantity must be one of {_NEGATIVE_POLICIES}, got '{policy}'"
            )
        bounds = [_positive(q, key) for key in ("max_quantity", "max_relative_quantity")]
        return cls(policy, float(q["max_quarantine_share"]), *bounds)


def _positive(q: Mapping[str, Any], key: str) -> float:
    """A positive bound of conf `quality` (absent or null: no bound)."""
    value = q.get(key)
    if value is None:
        return math.inf
    bound = float(value)
    if not bound > 0:
        raise ConfigError(f"quality.{key} must be positive (or null: no bound), got {value}")
    return bound


@dataclass(frozen=True)
class QualityReport:
    """Row counts of one validation: rows_in = rows_accepted + rows_quarantined."""

    rows_in: int
    rows_accepted: int
    rows_quarantined: int
    by_reason: dict[str, int]
    negatives_zeroed: int

    def check(self, settings: QualitySettings, table: str = "sales") -> None:
        """Raise when the quarantined share passes the conf threshold."""
        check_rejected(self.rows_quarantined, self.rows_in, self.by_reason, table,
                       settings.max_quarantine_share, "quality.max_quarantine_share")


def check_rejected(
    rejected: int, total: int, by_reason: Mapping[str, int], table: str, limit: float,
    key: str, consequence: str = "",
) -> None:
    """The one threshold rule of rejected rows (ingest and run): more than `limit` of `total`
    rejected raises DataQualityError naming the table, the counts, the conf key and reasons."""
    share = rejected / total if total else 0.0
    if share > limit:
        reasons = ", ".join(f"{r}: {n}" for r, n in sorted(by_reason.items()))
        raise DataQualityError(
            f"table '{table}': {rejected} of {total} rows rejected ({share:.1%} > {key} "
            f"{limit:.1%}){consequence}: {reasons}"
        )


def tag_sales(sales: DataFrame, settings: QualitySettings) -> DataFrame:
    """Add `reason` (null = accepted) to each sales row; zero negatives when conf says so.

    Reasons, first match wins: the `sales_rules`, then duplicate row (an exact copy of an
    earlier row: one copy is kept), then a quantity above `quality.max_relative_quantity`
    times its series' scale (`SCALE_QUANTILE` of the series' positive accepted rows).
    """
    from pyspark.sql import functions as F

    q = F.col("quantity")
    rules = sales_rules(settings.negative_quantity, settings.max_quantity)
    tagged = _tag(sales, rules, sales.columns, "duplicate row")
    tagged = _beyond_series_scale(tagged, settings.max_relative_quantity)
    zeroed = F.col("reason").isNull() & (q < 0)
    return tagged.withColumn("zeroed", zeroed).withColumn(
        "quantity", F.when(zeroed, F.lit(0.0)).otherwise(q)
    )


def sales_rules(
    negative_quantity: str = "quarantine", max_quantity: float = math.inf
) -> list[tuple[Column, str]]:
    """Sales row rules: null series key, null date, null quantity, quantity is NaN,
    quantity is infinite, above `max_quantity`, and negative quantity (return) under
    `quarantine` and `net` (at a run, a day whose returns outweigh its sales); `keep` (the
    ingest of `net` and `zero`: returns net into the day) and `zero` have no such rule."""
    from pyspark.sql import functions as F

    q = F.col("quantity")
    rules = [
        (_null_key(), "null series key"),
        (F.col("date").isNull(), "null date"),
        (q.isNull(), "null quantity"),
        (F.isnan(q), "quantity is NaN"),
        (q.isin(float("inf"), float("-inf")), "quantity is infinite"),
    ]
    if math.isfinite(max_quantity):
        rules.append((q > max_quantity,
                      f"{IMPLAUSIBLE_PREFIX}: above quality.max_quantity {max_quantity:g}"))
    if negative_quantity in ("quarantine", "net"):
        rules.append((q < 0, "negative quantity (return)"))
    return rules


def _beyond_series_scale(tagged: DataFrame, factor: float) -> DataFrame:
    """Reject accepted rows above `factor` times their series' scale (see `tag_sales`)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    if not math.isfinite(factor):
        return tagged
    live, q = F.col("reason").isNull(), F.col("quantity")
    series = Window.partitionBy(*SERIES_KEYS)
    scale = F.percentile_approx(F.when(live & (q > 0), q), SCALE_QUANTILE).over(series)
    reason = (f"{IMPLAUSIBLE_PREFIX}: above quality.max_relative_quantity {factor:g} x the "
              f"series' {SCALE_QUANTILE:.0%} quantile")
    beyond = live & (q > F.lit(factor) * scale)
    return tagged.withColumn("reason", F.when(beyond, F.lit(reason)).otherwise(F.col("reason")))


def implausible_rows(by_reason: Mapping[str, int]) -> int:
    """Rows rejected by a plausibility bound (absolute or relative)."""
    return sum(n for r, n in by_reason.items() if r.startswith(IMPLAUSIBLE_PREFIX))


def tag_item_params(params: DataFrame) -> DataFrame:
    """Add `reason` to item_params rows: null keys, impossible values, a second row per series.

    Of several rows for one series, one is kept (the first in column order) and the others
    are quarantined as `duplicate series`.
    """
    return _tag(params, item_params_rules(), SERIES_KEYS, "duplicate series")


def item_params_rules() -> list[tuple[Column, str]]:
    """item_params row rules: null keys, missing or negative lead time, unit cost not
    positive, other negative figures, service level outside (0, 1), unknown lifecycle."""
    from pyspark.sql import functions as F

    def negative(name: str) -> tuple[Column, str]:
        return (F.col(name) < 0, f"negative {name}")

    level = F.col("service_level")
    rules = [
        (_null_key(), "null series key"),
        (F.col("lead_time_days").isNull() | (F.col("lead_time_days") < 0),
         "lead_time_days missing or negative"),
        (F.col("unit_cost").isNull() | (F.col("unit_cost") <= 0),
         "unit_cost missing or not positive"),
        *(negative(n) for n in ("lead_time_std_days", "review_period_days", "order_cost",
                                "holding_rate", "shortage_cost", "moq", "pack_size")),
        (level.isNotNull() & ((level <= 0) | (level >= 1)), "service_level outside (0, 1)"),
        (F.col("lifecycle").isNotNull() & ~F.col("lifecycle").isin(*LIFECYCLES),
         "unknown lifecycle"),
    ]
    return rules


def tag_inventory(inventory: DataFrame) -> DataFrame:
    """Add `reason` to inventory rows: null keys or dates, missing or negative stock figures,
    a second row for the same series and date (one is kept)."""
    keys = ["sku_id", "location_id", "as_of_date"]
    return _tag(inventory, inventory_rules(), keys, "duplicate series and date")


def inventory_rules() -> list[tuple[Column, str]]:
    """Inventory row rules: null keys or date, missing, NaN or negative stock figures."""
    from pyspark.sql import functions as F

    return [
        (_null_key(), "null series key"),
        (F.col("as_of_date").isNull(), "null as_of_date"),
        *(
            (F.col(n).isNull() | F.isnan(n) | (F.col(n) < 0), f"{n} missing or negative")
            for n in ("on_hand", "on_order", "backorders")
        ),
    ]


def rules_for(
    table: str, negative_quantity: str = "quarantine", columns: Sequence[str] = (),
    max_quantity: float = math.inf,
) -> list[tuple[Column, str]]:
    """The row rules of an input table (`columns`: those present, for optional ones;
    `max_quantity`: the sales plausibility bound); a
    table without its own rules gets null-key rules (`null series key`, `null <column>`)
    for the key of its contract."""
    from pyspark.sql import functions as F

    if table == "sales":
        return sales_rules(negative_quantity, max_quantity)
    if table == "promotions":
        return promotions_rules("discount" in columns)
    if table in _RULES:
        return _RULES[table]()
    key = INPUTS[table]["key"]
    rules = [(_null_key(), "null series key")] if set(SERIES_KEYS) <= set(key) else []
    return rules + [(F.col(c).isNull(), f"null {c}") for c in key if c not in SERIES_KEYS]


def calendar_rules() -> list[tuple[Column, str]]:
    """Calendar row rules: a date, an event and an event type are required."""
    from pyspark.sql import functions as F

    return [
        (F.col("date").isNull(), "null date"),
        (F.col("event").isNull() | F.col("event_type").isNull(), "null event or event_type"),
    ]


def promotions_rules(has_discount: bool = True) -> list[tuple[Column, str]]:
    """Promotions row rules: full series key, both dates, end not before start, a discount
    (when the column is there) in [0, 1)."""
    from pyspark.sql import functions as F

    rules = [
        (_null_key(), "null series key"),
        (F.col("start_date").isNull() | F.col("end_date").isNull(), "null start or end date"),
        (F.col("end_date") < F.col("start_date"), "end_date before start_date"),
    ]
    if has_discount:
        d = F.col("discount")
        rules.append((d.isNotNull() & (F.isnan(d) | (d < 0) | (d >= 1)),
                      "discount outside [0, 1)"))
    return rules


def tag_calendar(calendar: DataFrame) -> DataFrame:
    """Add `reason` to calendar rows (`calendar_rules`); a second row for the same date,
    location and event is a duplicate (one is kept)."""
    keys = [c for c in ("date", "location_id", "event") if c in calendar.columns]
    return _tag(calendar, calendar_rules(), keys, "duplicate event")


def tag_promotions(promotions: DataFrame) -> DataFrame:
    """Add `reason` to promotions rows (`promotions_rules`); a second row with the same
    series and dates is a duplicate (one is kept)."""
    keys = ["sku_id", "location_id", "start_date", "end_date"]
    rules = promotions_rules("discount" in promotions.columns)
    return _tag(promotions, rules, keys, "duplicate promotion")


def _null_key() -> Column:
    """A row without a full series key."""
    from pyspark.sql import functions as F

    return F.col("sku_id").isNull() | F.col("location_id").isNull()


_RULES = {"item_params": item_params_rules, "inventory": inventory_rules,
          "calendar": calendar_rules}


def first_reason(rules: list[tuple[Column, str]]) -> Column:
    """The reason of the first rule a row breaks; null when it breaks none."""
    from pyspark.sql import functions as F

    reason = F.lit(None).cast("string")
    for condition, text in reversed(rules):
        reason = F.when(condition, F.lit(text)).otherwise(reason)
    return reason


def _tag(
    df: DataFrame, rules: list[tuple[Column, str]], unique: list[str], duplicate: str
) -> DataFrame:
    """First matching rule's reason per row; then, among rows that passed and share the
    `unique` columns, all but the first (ordered by every column) get `duplicate`."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    tagged = df.withColumn("reason", first_reason(rules))
    same = Window.partitionBy(F.col("reason").isNull(), *unique).orderBy(*df.columns)
    later = F.col("reason").isNull() & (F.row_number().over(same) > 1)
    return tagged.withColumn("reason", F.when(later, F.lit(duplicate)).otherwise(F.col("reason")))


def accepted(tagged: DataFrame) -> DataFrame:
    """The accepted rows, without the tagging columns."""
    from pyspark.sql import functions as F

    return tagged.where(F.col("reason").isNull()).drop("reason", "zeroed")


def report(tagged: DataFrame) -> QualityReport:
    """Count accepted and quarantined rows by reason (one small aggregate to the driver)."""
    return reports({"input": tagged})["input"]


def reports(tagged: Mapping[str, DataFrame]) -> dict[str, QualityReport]:
    """`report` of every input by name, from one aggregate (one Spark job, not one each)."""
    from functools import reduce

    from pyspark.sql import functions as F

    def counts(name: str, df: DataFrame) -> DataFrame:
        flag = F.col("zeroed") if "zeroed" in df.columns else F.lit(False)  # sales only
        return df.groupBy("reason").agg(
            F.count(F.lit(1)).alias("n"), F.sum(flag.cast("long")).alias("z"),
        ).withColumn("input", F.lit(name))

    rows = reduce(lambda a, b: a.unionByName(b),
                  [counts(name, df) for name, df in tagged.items()]).collect()
    found = {}
    for name in tagged:
        mine = [r for r in rows if r["input"] == name]
        by_reason = {r["reason"]: int(r["n"]) for r in mine if r["reason"] is not None}
        accepted = sum(int(r["n"]) for r in mine if r["reason"] is None)
        zeroed = sum(int(r["z"] or 0) for r in mine)
        quarantined = sum(by_reason.values())
        found[name] = QualityReport(accepted + quarantined, accepted, quarantined, by_reason,
                                    zeroed)
    return found


def quarantined(tagged: DataFrame, table: str) -> DataFrame:
    """Rejected rows for the `quarantine` table: source, reason, keys and the row as JSON."""
    from pyspark.sql import functions as F

    original = [c for c in tagged.columns if c not in ("reason", "zeroed")]
    day = next((c for c in ("date", "as_of_date", "start_date") if c in original), None)

    def column(name: str | None) -> Column:
        return F.col(name) if name in original else F.lit(None)

    return tagged.where(F.col("reason").isNotNull()).select(
        F.lit(table).alias("source_table"),
        "reason",
        column("sku_id").cast("string").alias("sku_id"),
        column("location_id").cast("string").alias("location_id"),
        column(day).cast("date").alias("date"),
        F.to_json(F.struct(*original), {"ignoreNullFields": "false"}).alias("record"),
    )


def daily_sales(tagged: DataFrame) -> DataFrame:
    """Accepted rows summed per series and day (several transactions of a day add up).

    Keeps `sales_value` = sum of quantity × price when sales has a price column (else null),
    and `promo` (any row of the day on promotion) / `open` (any row of the day open) when
    sales has those columns.
    """
    from pyspark.sql import functions as F

    value = F.col("quantity") * F.col("price") if "price" in tagged.columns else F.lit(None)
    promo = [F.max(c).alias(c) for c in ("promo", "open") if c in tagged.columns]
    return (
        tagged.where(F.col("reason").isNull())
        .groupBy("sku_id", "location_id", "date")
        .agg(
            F.sum("quantity").alias("quantity"),
            F.sum(value.cast("double")).alias("sales_value"),
            *promo,
        )
    )
