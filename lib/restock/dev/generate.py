"""Synthetic retail data for the `sales`, `inventory`, `item_params`, `calendar` and
`promotions` input tables.

Series are generated on the executors: `spark.range(n_series)` feeds `mapInPandas` batch
functions, and series i draws only from `np.random.default_rng([seed, i, stream])`, so the
data does not depend on partitioning. Series i is `SKU{i // n_loc:06d}` at `LOC{i % n_loc:03d}`.

Demand patterns (shares of series, default mix): smooth 30%, erratic 15%, intermittent 30%,
lumpy 15% (Syntetos-Boylan classes), new products 5% (10-89 days of history, ramping up) and
end-of-life items 5% (decay, then no sales for the last 60-300 days; 80% are declared
`end_of_life`, the others stay `active` and stop at least 150 days before the end date so
that profiling can detect them). 40% of series have yearly seasonality (a sine of amplitude
U(0.1, 0.5), random phase), 30% have promotions. The `calendar` mix (`MIXES`) gives every
series a yearly cycle and promotions, with smooth 60% and erratic 40%.
Promotions are 3-10-day windows, 2-6 a year, drawn over the history and `FUTURE_DAYS` beyond
it: `promotions` lists every window (the future ones are planned promotions), `sales` marks
the past ones (`promo`, discounted `price`) and multiplies their demand by the item's uplift.
The `calendar` holds global events (location_id null): New Year (Jan 1) and the Christmas
run-up (Dec 18-24), type `holiday`; Double 11 (Nov 11) and Black Friday (the day after the
fourth Thursday of November), type `shopping_festival`; each multiplies every series'
demand by that series' uplift for the event type.
Inventory on hand covers U(0, 45) days of active-phase demand (end-of-life items keep it as
leftover stock); 30% have an open order; 4% of the others are out of stock with backorders.

`bad_row_share` corrupts about that share of sales rows, chosen per series from its own
random stream, cycling through five kinds: a negative quantity (a return), a null quantity,
a NaN quantity, an exact duplicate of the row (the original stays) and a null sku_id.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from pandas.arrays import FloatingArray

from restock.dev.demand import (
    _BAD_ROWS,
    _EPOCH,
    _INVENTORY,
    _PARAMS,
    FUTURE_DAYS,
    MAX_LOCATIONS,
    MIXES,
    Mix,
    SeriesSpec,
    calendar_events,
    promo_windows,
    series_sales,
    series_spec,
)
from restock.errors import ConfigError
from restock.io.tables import INPUTS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

CORRUPTIONS = ("negative_quantity", "null_quantity", "nan_quantity", "duplicate", "null_sku")
_SERIES_PER_PART = 250
_CHUNK_SERIES = 64  # series per yielded pandas frame: bounds executor memory

def _corrupt(
    rows: dict[str, np.ndarray], seed: int, series_id: int, share: float
) -> dict[str, np.ndarray]:
    """Inject the documented bad rows; adds `quantity_null` and `sku_null` masks."""
    n_rows = len(rows["quantity"])
    quantity = rows["quantity"].copy()
    quantity_null = np.zeros(n_rows, dtype=bool)
    sku_null = np.zeros(n_rows, dtype=bool)
    copies = np.ones(n_rows, dtype=np.int64)
    if share > 0 and n_rows:
        rng = np.random.default_rng([seed, series_id, _BAD_ROWS])
        picked = rng.choice(n_rows, rng.binomial(n_rows, share), replace=False)
        kinds = (rng.integers(len(CORRUPTIONS)) + np.arange(len(picked))) % len(CORRUPTIONS)
        quantity[picked[kinds == 0]] *= -1.0
        quantity_null[picked[kinds == 1]] = True
        quantity[picked[kinds == 2]] = np.nan
        copies[picked[kinds == 3]] = 2
        sku_null[picked[kinds == 4]] = True
    masked = {**rows, "quantity": quantity, "quantity_null": quantity_null, "sku_null": sku_null}
    return {name: np.repeat(values, copies) for name, values in masked.items()}


def _contract(name: str) -> tuple[list[str], str]:
    """Column order and Spark DDL schema of an input table (required, then optional columns)."""
    types = {**INPUTS[name]["required"], **INPUTS[name]["optional"]}
    return list(types), ", ".join(f"{column} {kind}" for column, kind in types.items())


def _ids(n_locations: int, series_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """sku_id and location_id strings of series ids (object arrays)."""
    skus = np.array([f"SKU{i // n_locations:06d}" for i in series_ids], dtype=object)
    locations = np.array([f"LOC{i % n_locations:03d}" for i in series_ids], dtype=object)
    return skus, locations


def generated_days(days: int, end_date: datetime.date) -> np.ndarray:
    """The `days` days ending at end_date, as days since 1970-01-01: the days every series is
    generated on (what `demand_quantile` needs)."""
    end = int((np.datetime64(end_date, "D") - _EPOCH).astype(np.int64))
    return np.arange(end - days + 1, end + 1, dtype=np.int64)


CALENDAR_COLUMNS, CALENDAR_SCHEMA = _contract("calendar")
PROMOTIONS_COLUMNS, PROMOTIONS_SCHEMA = _contract("promotions")


def _series_ids(batches: Iterator[pd.DataFrame]) -> Iterator[np.ndarray]:
    """Chunks of at most `_CHUNK_SERIES` series ids from the `id` column of the batches."""
    for batch in batches:
        ids = batch["id"].to_numpy(dtype=np.int64)
        for start in range(0, len(ids), _CHUNK_SERIES):
            yield ids[start : start + _CHUNK_SERIES]


SALES_COLUMNS, SALES_SCHEMA = _contract("sales")


def sales_batches(
    batches: Iterator[pd.DataFrame],
    seed: int,
    days: int,
    end_date: datetime.date,
    n_locations: int,
    bad_row_share: float = 0.0,
    mix: Mix = MIXES["default"],
) -> Iterator[pd.DataFrame]:
    """Sales rows (`SALES_SCHEMA`) of the series whose ids arrive in the `id` column.

    Args:
        batches: pandas frames with an `id` column of series numbers.
        seed: the data set's seed.
        days: number of days of history, ending at end_date inclusive.
        end_date: the last day of history.
        n_locations: locations per SKU (series i is at location i % n_locations).
        bad_row_share: share of rows to corrupt (see the module docstring).
        mix: the shares of patterns, yearly cycles and promotions (`series_spec`).

    Yields:
        One frame per chunk of series: only days with a sale (plus injected bad rows).
    """
    day_numbers = generated_days(days, end_date)
    for chunk in _series_ids(batches):
        sold = [(i, series_sales(series_spec(seed, i, mix), seed, i, day_numbers)) for i in chunk]
        parts = [_corrupt(rows, seed, i, bad_row_share) for i, rows in sold]
        counts = [len(part["day"]) for part in parts]
        rows = {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
        skus, locations = (np.repeat(ids, counts) for ids in _ids(n_locations, chunk))
        frame = pd.DataFrame(
            {
                "sku_id": np.where(rows["sku_null"], None, skus),
                "location_id": locations,
                "date": rows["day"].astype("datetime64[D]"),
                "quantity": FloatingArray(rows["quantity"], rows["quantity_null"]),
                "promo": rows["promo"],
                "price": rows["price"],
                "open": True,  # generated locations never close
            }
        )
        yield frame[SALES_COLUMNS]


ITEM_PARAMS_COLUMNS, ITEM_PARAMS_SCHEMA = _contract("item_params")


def item_params_batches(
    batches: Iterator[pd.DataFrame], seed: int, n_locations: int, mix: Mix = MIXES["default"],
    end_date: datetime.date | None = None,
) -> Iterator[pd.DataFrame]:
    """One `ITEM_PARAMS_SCHEMA` row per series id in the `id` column of the batches; a new
    item's `launch_date` is the first day of its life when end_date (the last day of sales
    history) is given, else null, as for every other item."""
    for chunk in _series_ids(batches):
        specs = [series_spec(seed, i, mix) for i in chunk]
        frame = pd.DataFrame([_item_params(spec, seed, i) for spec, i in zip(specs, chunk,
                                                                            strict=True)])
        frame["launch_date"] = [
            end_date - datetime.timedelta(days=spec.lifecycle_days - 1)
            if end_date is not None and spec.pattern == "new" else None for spec in specs]
        frame["sku_id"], frame["location_id"] = _ids(n_locations, chunk)
        frame["review_period_days"] = frame["review_period_days"].astype(np.int32)
        yield frame[ITEM_PARAMS_COLUMNS]


def _item_params(spec: SeriesSpec, seed: int, series_id: int) -> dict[str, object]:
    """Planning parameters of one series (stream `_PARAMS`)."""
    rng = np.random.default_rng([seed, series_id, _PARAMS])
    domestic = rng.random() < 0.7
    lead_time = float(rng.integers(2, 15) if domestic else rng.integers(21, 61))
    pack_size = float(rng.choice([1, 6, 12, 24], p=[0.7, 0.1, 0.12, 0.08]))
    moq_units = spec.mean_daily * rng.uniform(5.0, 20.0)
    moq = pack_size * max(1.0, math.ceil(moq_units / pack_size)) if rng.random() < 0.5 else 0.0
    has_target = rng.random() < 0.15
    lifecycle = {"new": "new", "end_of_life": "end_of_life" if spec.declared_eol else "active"}
    return {
        "lead_time_days": lead_time,
        "lead_time_std_days": round(lead_time * float(rng.uniform(0.1, 0.3)), 2),
        "review_period_days": int(rng.choice([7, 1, 14], p=[0.7, 0.15, 0.15])),
        "unit_cost": spec.unit_cost,
        "order_cost": round(float(rng.uniform(20.0, 150.0)), 2),
        "holding_rate": round(float(rng.uniform(0.15, 0.35)), 3),
        "shortage_cost": round(spec.unit_cost * float(rng.uniform(0.3, 1.5)), 2),
        "moq": moq,
        "pack_size": pack_size,
        "service_level": float(rng.choice([0.90, 0.95, 0.99])) if has_target else np.nan,
        "lifecycle": lifecycle.get(spec.pattern, "active"),
    }


INVENTORY_COLUMNS, INVENTORY_SCHEMA = _contract("inventory")


def inventory_batches(
    batches: Iterator[pd.DataFrame], seed: int, end_date: datetime.date, n_locations: int,
    mix: Mix = MIXES["default"],
) -> Iterator[pd.DataFrame]:
    """One `INVENTORY_SCHEMA` row per series id, as of end_date."""
    for chunk in _series_ids(batches):
        rows = [_inventory(series_spec(seed, i, mix), seed, i) for i in chunk]
        frame = pd.DataFrame(rows, columns=["on_hand", "on_order", "backorders"], dtype=float)
        frame["sku_id"], frame["location_id"] = _ids(n_locations, chunk)
        frame["as_of_date"] = np.full(len(chunk), np.datetime64(end_date, "D"))
        yield frame[INVENTORY_COLUMNS]


def _inventory(spec: SeriesSpec, seed: int, series_id: int) -> tuple[float, float, float]:
    """On hand, on order and backorders of one series (stream `_INVENTORY`)."""
    rng = np.random.default_rng([seed, series_id, _INVENTORY])
    on_hand = float(np.rint(spec.mean_daily * rng.uniform(0.0, 45.0)))
    on_order = float(max(1.0, np.rint(spec.mean_daily * rng.uniform(5.0, 30.0))))
    on_order = on_order if rng.random() < 0.3 else 0.0
    backorders = 0.0
    if spec.pattern != "end_of_life" and rng.random() < 0.04:
        on_hand, backorders = 0.0, float(max(1.0, np.rint(spec.mean_daily * rng.uniform(0.5, 3.0))))
    return on_hand, on_order, backorders


def promotions_batches(
    batches: Iterator[pd.DataFrame],
    seed: int,
    days: int,
    end_date: datetime.date,
    n_locations: int,
    mix: Mix = MIXES["default"],
) -> Iterator[pd.DataFrame]:
    """`PROMOTIONS_SCHEMA` rows: every promotion window of the series ids in the batches,
    past and planned (up to FUTURE_DAYS after end_date)."""
    day_numbers = generated_days(days, end_date)
    for chunk in _series_ids(batches):
        specs = [series_spec(seed, i, mix) for i in chunk]
        windows = [
            promo_windows(spec, seed, i, day_numbers[0], day_numbers[-1])
            for i, spec in zip(chunk, specs, strict=True)
        ]
        counts = [len(starts) for starts, _ in windows]
        skus, locations = (np.repeat(ids, counts) for ids in _ids(n_locations, chunk))
        frame = pd.DataFrame(
            {
                "sku_id": skus,
                "location_id": locations,
                "start_date": (np.concatenate([s for s, _ in windows]) + _EPOCH).astype(
                    "datetime64[D]"),
                "end_date": (np.concatenate([e for _, e in windows]) + _EPOCH).astype(
                    "datetime64[D]"),
                "discount": np.repeat([spec.promo_discount for spec in specs], counts),
            }
        )
        yield frame[PROMOTIONS_COLUMNS]


def generate(
    spark: SparkSession,
    n_series: int,
    days: int,
    seed: int,
    end_date: datetime.date,
    bad_row_share: float = 0.0,
    partitions: int | None = None,
    mix: Mix = MIXES["default"],
) -> dict[str, DataFrame]:
    """Build the synthetic input tables as lazy Spark DataFrames, generated on executors.

    Args:
        spark: the active session.
        n_series: number of SKU x location series.
        days: days of sales history ending at end_date inclusive.
        seed: same seed, same data; the data does not depend on partitioning.
        end_date: the last day of sales history and the inventory as-of date.
        bad_row_share: share of sales rows to corrupt (see the module docstring).
        partitions: Spark partitions of the series ids; default one per 250 series, at
            least spark.default.parallelism. The data does not depend on it.
        mix: the shares of patterns, yearly cycles and promotions (`MIXES`).

    Returns:
        `{"sales": df, "inventory": df, "item_params": df, "calendar": df,
        "promotions": df}` in their contracted schemas.

    Raises:
        ConfigError: a non-positive size or a bad_row_share outside [0, 1).
    """
    if n_series < 1 or days < 1:
        raise ConfigError(f"generate needs series >= 1 and days >= 1, got {n_series} and {days}")
    if not 0.0 <= bad_row_share < 1.0:
        raise ConfigError(f"bad_row_share must be in [0, 1), got {bad_row_share}")
    n_loc = min(MAX_LOCATIONS, n_series)
    default = max(spark.sparkContext.defaultParallelism, math.ceil(n_series / _SERIES_PER_PART))
    ids = spark.range(n_series).repartition(max(1, min(partitions or default, n_series)))
    sales = partial(sales_batches, seed=seed, days=days, end_date=end_date, n_locations=n_loc,
                    bad_row_share=bad_row_share, mix=mix)
    params = partial(item_params_batches, seed=seed, n_locations=n_loc, mix=mix,
                     end_date=end_date)
    inventory = partial(inventory_batches, seed=seed, end_date=end_date, n_locations=n_loc,
                        mix=mix)
    promotions = partial(promotions_batches, seed=seed, days=days, end_date=end_date,
                         n_locations=n_loc, mix=mix)
    day_numbers = generated_days(days, end_date)
    events = calendar_events(int(day_numbers[0]), int(day_numbers[-1]) + FUTURE_DAYS)
    return {
        "sales": ids.mapInPandas(sales, SALES_SCHEMA),
        "inventory": ids.mapInPandas(inventory, INVENTORY_SCHEMA),
        "item_params": ids.mapInPandas(params, ITEM_PARAMS_SCHEMA),
        "calendar": spark.createDataFrame(events, CALENDAR_SCHEMA),
        "promotions": ids.mapInPandas(promotions, PROMOTIONS_SCHEMA),
    }
