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
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from pandas.arrays import FloatingArray

from restock.errors import ConfigError
from restock.io.tables import INPUTS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

MAX_LOCATIONS = 10
PATTERNS = ("smooth", "erratic", "intermittent", "lumpy", "new", "end_of_life")
PATTERN_SHARES = (0.30, 0.15, 0.30, 0.15, 0.05, 0.05)
CORRUPTIONS = ("negative_quantity", "null_quantity", "nan_quantity", "duplicate", "null_sku")
_SPEC, _SALES, _PARAMS, _INVENTORY, _BAD_ROWS, _PROMOS = range(6)  # random sub-streams
FUTURE_DAYS = 56  # planned promotions and calendar events reach this far past the end date
_SERIES_PER_PART = 250
_CHUNK_SERIES = 64  # series per yielded pandas frame: bounds executor memory
_EPOCH = np.datetime64("1970-01-01", "D")
_WEEKLY = np.array([0.90, 0.85, 0.88, 0.95, 1.10, 1.30, 1.02])  # Monday..Sunday, mean 1
# Per pattern: level range (mean daily units for volume patterns, mean units per demand day
# otherwise), occurrence probability range, lognormal size sigma range.
_SHAPES = {
    "smooth": ((8.0, 80.0), (1.0, 1.0), (0.0, 0.0)),
    "erratic": ((2.0, 20.0), (0.85, 1.0), (0.9, 1.3)),
    "intermittent": ((1.1, 2.5), (0.1, 0.6), (0.0, 0.0)),
    "lumpy": ((2.0, 15.0), (0.05, 0.4), (1.0, 1.5)),
    "new": ((3.0, 40.0), (1.0, 1.0), (0.0, 0.0)),
    "end_of_life": ((3.0, 40.0), (1.0, 1.0), (0.0, 0.0)),
}


@dataclass(frozen=True)
class Mix:
    """The shares series_spec draws with: demand patterns (in `PATTERNS` order), series with
    a yearly cycle, series with promotions."""

    pattern_shares: tuple[float, ...] = PATTERN_SHARES
    yearly_share: float = 0.4
    promo_share: float = 0.3


MIXES = {
    "default": Mix(),
    # every series has a yearly cycle and promotions, and enough volume for them to show:
    # smooth and erratic patterns only (the calendar-aware benchmark's data)
    "calendar": Mix(pattern_shares=(0.6, 0.4, 0.0, 0.0, 0.0, 0.0), yearly_share=1.0,
                    promo_share=1.0),
}


@dataclass(frozen=True)
class SeriesSpec:
    """The per-series parameters all three tables derive from (drawn from stream `_SPEC`)."""

    pattern: str
    level: float  # mean daily units (volume patterns) or mean units per demand day
    occurrence: float  # probability of a demand day (1 for volume patterns)
    size_sigma: float  # lognormal sigma of erratic / lumpy sizes
    dispersion: float  # negative binomial shape of volume patterns
    weekly_strength: float
    season_amplitude: float
    season_phase: float
    trend_per_year: float
    promos_per_year: float  # 0: the item has no promotions
    promo_uplift: float
    promo_discount: float
    unit_cost: float
    list_price: float
    lifecycle_days: int  # new: days of history; end_of_life: days without sales at the end
    decay_days: int
    declared_eol: bool
    holiday_uplift: float
    festival_uplift: float

    @property
    def mean_daily(self) -> float:
        """Expected daily demand in the item's active phase."""
        if self.pattern in ("smooth", "new", "end_of_life"):
            return self.level
        if self.pattern == "intermittent":
            return self.occurrence * self.level
        return self.occurrence * self.level * math.exp(self.size_sigma**2 / 2)


def series_spec(seed: int, series_id: int, mix: Mix = MIXES["default"]) -> SeriesSpec:
    """Draw the parameters of one series; they depend only on seed, series id and mix.

    Args:
        seed: the data set's seed.
        series_id: the series number, 0 .. n_series - 1.
        mix: the shares of patterns, yearly cycles and promotions.

    Returns:
        The series' demand pattern, price, cost and lifecycle parameters.
    """
    rng = np.random.default_rng([seed, series_id, _SPEC])
    pattern = str(rng.choice(PATTERNS, p=mix.pattern_shares))
    level, occurrence, size_sigma = _demand_shape(rng, pattern)
    unit_cost = float(np.clip(rng.lognormal(np.log(12.0), 1.1), 0.5, 500.0))
    has_promo = rng.random() < mix.promo_share
    declared_eol = pattern == "end_of_life" and rng.random() < 0.8
    lifecycle_days = 0  # new: days of history; end_of_life: days without sales at the end
    if pattern in ("new", "end_of_life"):
        low, high = (10, 90) if pattern == "new" else (60 if declared_eol else 150, 301)
        lifecycle_days = int(rng.integers(low, high))
    return SeriesSpec(
        pattern=pattern,
        level=level,
        occurrence=occurrence,
        size_sigma=size_sigma,
        dispersion=float(rng.uniform(10.0, 50.0)),
        weekly_strength=float(rng.uniform(0.3, 1.0)),
        season_amplitude=float(rng.uniform(0.1, 0.5)) if rng.random() < mix.yearly_share else 0.0,
        season_phase=float(rng.uniform(0.0, 2 * np.pi)),
        trend_per_year=float(rng.uniform(-0.3, 0.3)) if pattern == "smooth" else 0.0,
        promos_per_year=float(rng.uniform(2.0, 6.0)) if has_promo else 0.0,
        promo_uplift=float(rng.uniform(1.5, 3.0)),
        promo_discount=float(rng.uniform(0.1, 0.4)),
        unit_cost=round(unit_cost, 2),
        list_price=round(unit_cost * float(rng.uniform(1.3, 2.5)), 2),
        lifecycle_days=lifecycle_days,
        decay_days=int(rng.integers(30, 121)),
        declared_eol=bool(declared_eol),
        holiday_uplift=float(rng.uniform(1.2, 1.8)),
        festival_uplift=float(rng.uniform(1.5, 3.0)),
    )


def _demand_shape(rng: np.random.Generator, pattern: str) -> tuple[float, float, float]:
    """Level (log-uniform), occurrence probability and size sigma of a demand pattern."""
    (low, high), occurrence, size_sigma = _SHAPES[pattern]
    level = np.exp(rng.uniform(np.log(low), np.log(high)))
    return float(level), float(rng.uniform(*occurrence)), float(rng.uniform(*size_sigma))


def series_sales(
    spec: SeriesSpec, seed: int, series_id: int, day_numbers: np.ndarray
) -> dict[str, np.ndarray]:
    """Daily sales of one series on the days given as days since 1970-01-01.

    Returns:
        Arrays `day`, `quantity`, `promo`, `price` for the days with quantity > 0.
    """
    rng = np.random.default_rng([seed, series_id, _SALES])
    starts, ends = promo_windows(spec, seed, series_id, day_numbers[0], day_numbers[-1])
    promo = _covered(day_numbers, starts, ends)
    factor = _demand_factor(spec, day_numbers, promo)
    quantity = _quantities(rng, spec, factor)
    noise = rng.normal(0.0, 0.02, len(day_numbers))
    price = np.where(promo, 1.0 - spec.promo_discount, 1.0 + noise) * spec.list_price
    sold = quantity > 0
    return {
        "day": day_numbers[sold],
        "quantity": quantity[sold],
        "promo": promo[sold],
        "price": np.round(price[sold], 2),
    }


def demand_quantile(
    spec: SeriesSpec, seed: int, series_id: int, day_numbers: np.ndarray, q: float | None
) -> np.ndarray:
    """The true distribution of the series' daily demand, as the benchmarks' oracle: its mean
    (q None) or its q-quantile per day (the median is the forecast no model can beat on
    MAE). day_numbers must be the generated days (the promotions and lifecycle depend on
    the span); erratic sizes are taken before the rounding to whole units.
    """
    from scipy import stats

    starts, ends = promo_windows(spec, seed, series_id, day_numbers[0], day_numbers[-1])
    factor = _demand_factor(spec, day_numbers, _covered(day_numbers, starts, ends))
    if q is None and spec.pattern not in ("intermittent", "lumpy"):
        return spec.mean_daily * factor  # the factor scales the volume (or the sizes)
    if spec.pattern not in ("intermittent", "lumpy", "erratic"):  # negative binomial
        mean, shape = spec.level * factor, spec.dispersion
        return np.where(mean > 0, stats.nbinom.ppf(q, shape, shape / (shape + mean)), 0.0)
    sigma = spec.size_sigma
    if spec.pattern == "erratic":
        p_day = np.where(factor > 0, spec.occurrence, 0.0)
        scale = spec.level * factor
    else:
        p_day = np.minimum(1.0, spec.occurrence * factor)
        scale = np.full(factor.shape, spec.level)
    lumpy = float(spec.pattern == "lumpy")  # lumpy sizes are 1 + a rounded lognormal
    if q is None:  # sparse patterns: the factor scales the chance of a demand day
        if spec.pattern == "intermittent":  # sizes 1 + Poisson(level - 1)
            return p_day * spec.level
        return p_day * (1.0 + spec.level * math.exp(sigma**2 / 2))
    # P(Y <= m) = 1 - p_day + p_day * P(size <= m): zero below, else a size quantile
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.clip((q - (1.0 - p_day)) / p_day, 1e-9, 1.0 - 1e-9)
    if spec.pattern == "intermittent":
        size = 1.0 + stats.poisson.ppf(a, spec.level - 1.0)
    else:
        size = np.maximum(1.0, lumpy + np.rint(scale * np.exp(sigma * stats.norm.ppf(a))))
    return np.where(q > 1.0 - p_day, size, 0.0)


def promo_windows(
    spec: SeriesSpec, seed: int, series_id: int, first_day: int, last_day: int
) -> tuple[np.ndarray, np.ndarray]:
    """Promotion windows (first and last epoch day, inclusive) of one series (stream `_PROMOS`).

    Poisson(promos_per_year × span / 365) windows of 3-10 days start uniformly over
    first_day .. last_day + FUTURE_DAYS; the ones starting after last_day are planned.
    """
    rng = np.random.default_rng([seed, series_id, _PROMOS])
    span = int(last_day + FUTURE_DAYS - first_day + 1)
    n_windows = rng.poisson(spec.promos_per_year * span / 365.0)
    starts = first_day + np.sort(rng.integers(0, span, n_windows))
    return starts, starts + rng.integers(2, 10, n_windows)


def _covered(day_numbers: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Whether each day falls inside one of the [start, end] windows."""
    edges = np.zeros(len(day_numbers) + 1, dtype=np.int64)
    first = day_numbers[0]
    np.add.at(edges, np.clip(starts - first, 0, len(day_numbers)), 1)
    np.add.at(edges, np.clip(ends + 1 - first, 0, len(day_numbers)), -1)
    return np.cumsum(edges[:-1]) > 0


def calendar_events(first_day: int, last_day: int) -> pd.DataFrame:
    """The global events between two epoch days: date, location_id (null), event, event_type."""
    days = pd.date_range(_EPOCH + first_day, _EPOCH + last_day, freq="D")
    month, day = days.month.to_numpy(), days.day.to_numpy()
    thanksgiving = (month == 11) & (days.dayofweek.to_numpy() == 3) & (day >= 22) & (day <= 28)
    rules = [
        ("New Year", "holiday", (month == 1) & (day == 1)),
        ("Christmas", "holiday", (month == 12) & (day >= 18) & (day <= 24)),
        ("Double 11", "shopping_festival", (month == 11) & (day == 11)),
        ("Black Friday", "shopping_festival", np.roll(thanksgiving, 1)),
    ]
    frames = [
        pd.DataFrame({"date": days[mask].date, "event": name, "event_type": kind})
        for name, kind, mask in rules
    ]
    out = pd.concat(frames, ignore_index=True).sort_values("date", ignore_index=True)
    out["location_id"] = None
    return out[CALENDAR_COLUMNS]


def _event_uplift(spec: SeriesSpec, day_numbers: np.ndarray) -> np.ndarray:
    """The series' multiplier on each day from the global calendar events."""
    events = calendar_events(int(day_numbers[0]), int(day_numbers[-1]))
    day = (events["date"].to_numpy(dtype="datetime64[D]") - _EPOCH).astype(np.int64)
    uplift = {"holiday": spec.holiday_uplift, "shopping_festival": spec.festival_uplift}
    factor = np.ones(len(day_numbers))
    factor[day - day_numbers[0]] = events["event_type"].map(uplift).to_numpy(dtype=float)
    return factor


def _demand_factor(spec: SeriesSpec, day_numbers: np.ndarray, promo: np.ndarray) -> np.ndarray:
    """Multiplicative daily profile: weekday, season, trend, promotion and lifecycle."""
    end = day_numbers[-1]
    weekday = (day_numbers + 3) % 7  # 1970-01-01 was a Thursday
    factor = _WEEKLY[weekday] ** spec.weekly_strength
    season = np.sin(2 * np.pi * day_numbers / 365.25 + spec.season_phase)
    factor *= 1 + spec.season_amplitude * season
    factor *= np.exp(spec.trend_per_year * (day_numbers - end) / 365.0)
    factor *= np.where(promo, spec.promo_uplift, 1.0)
    factor *= _event_uplift(spec, day_numbers)
    days_before_end = end - day_numbers
    if spec.pattern == "new":
        age = spec.lifecycle_days - 1 - days_before_end
        factor *= np.where(age >= 0, 1 - np.exp(-(age + 1) / 10.0), 0.0)
    elif spec.pattern == "end_of_life":
        into_decay = spec.lifecycle_days + spec.decay_days - days_before_end
        decay = np.exp(-3.0 * np.clip(into_decay, 0, None) / spec.decay_days)
        factor *= np.where(days_before_end < spec.lifecycle_days, 0.0, decay)
    return factor


def _quantities(rng: np.random.Generator, spec: SeriesSpec, factor: np.ndarray) -> np.ndarray:
    """Whole daily units; the factor scales occurrence (sparse patterns) or volume."""
    n_days = len(factor)
    if spec.pattern in ("intermittent", "lumpy"):
        occurs = rng.random(n_days) < np.minimum(1.0, spec.occurrence * factor)
        if spec.pattern == "intermittent":  # 1 + Poisson: CV2 of sizes stays below 0.25
            sizes = 1.0 + rng.poisson(spec.level - 1.0, n_days)
        else:
            sizes = 1.0 + np.rint(rng.lognormal(np.log(spec.level), spec.size_sigma, n_days))
        return np.where(occurs, sizes, 0.0)
    if spec.pattern == "erratic":
        occurs = rng.random(n_days) < spec.occurrence
        sizes = rng.lognormal(np.log(spec.level), spec.size_sigma, n_days) * factor
        return np.where(occurs & (factor > 0), np.maximum(1.0, np.rint(sizes)), 0.0)
    mean = spec.level * factor
    shape = spec.dispersion
    return rng.negative_binomial(shape, shape / (shape + mean)).astype(np.float64)


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
    batches: Iterator[pd.DataFrame], seed: int, n_locations: int, mix: Mix = MIXES["default"]
) -> Iterator[pd.DataFrame]:
    """One `ITEM_PARAMS_SCHEMA` row per series id in the `id` column of the batches."""
    for chunk in _series_ids(batches):
        rows = [_item_params(series_spec(seed, i, mix), seed, i) for i in chunk]
        frame = pd.DataFrame(rows)
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
    params = partial(item_params_batches, seed=seed, n_locations=n_loc, mix=mix)
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
