"""Many series of one bucket as dense arrays of periods: the calendar completed, a missing
period = 0 unless it is unavailable (closed, in a reporting gap); see `Availability`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from restock.quality.outliers import OutlierRule, cap

EPOCH = dt.date(1970, 1, 1)
_SEP = "\x1f"


def epoch_day(day: dt.date) -> int:
    """Days since 1970-01-01 (Spark: datediff(date, '1970-01-01'))."""
    return (day - EPOCH).days


@dataclass(frozen=True)
class Availability:
    """Which periods are unavailable rather than zero demand, and how they are filled.

    A period is unavailable when its row says the location was closed (`open` false) or
    out of stock (`in_stock` false, from inventory history), or it lies in a run of at
    least `gap_periods` periods without a row in a series that has rows for at least
    `gap_min_coverage` of its periods (a reporting gap). Series start at their declared
    launch (`launch`), else at their first row, or near their first sale when the zeros
    before it are too many to be demand (a launch; `listed_from`); periods before are
    pre-launch. Unavailable periods are filled, for fitting, by the series' seasonal
    profile: the mean of its available periods at the same position of the
    `season_length` cycle (else of all available periods): a model fitted on the filled
    series sees neither false zeros nor a broken seasonal cycle.
    """

    gap_periods: int = 4
    gap_min_coverage: float = 0.7
    season_length: int = 7
    # daily grain: a weekday closed in each of this many last weeks is closed ahead
    # (`forecast.weekly_closures`); 0 = off
    weekly_closure_weeks: int = 0


def open_rows(history: pd.DataFrame, name: str = "open") -> np.ndarray:
    """Per row: False where its `open` column says closed (or the column `name`, e.g.
    `in_stock`, says false); True otherwise (null or no such column)."""
    if name not in history.columns:
        return np.ones(len(history), dtype=bool)
    return history[name].ne(False).to_numpy(dtype=bool, na_value=True)


def usable_rows(history: pd.DataFrame) -> np.ndarray:
    """Per row: True when it is demand, open and in stock (`open_rows` of both flags)."""
    return open_rows(history) & open_rows(history, "in_stock")


def declared_launch(history: pd.DataFrame, codes: np.ndarray, n: int) -> np.ndarray:
    """Per series code: the period index of its declared launch (`launch`), NaN for none."""
    found = np.full(n, np.nan)
    if "launch" in history.columns:
        np.fmax.at(found, codes, history["launch"].to_numpy(dtype=float, na_value=np.nan))
    return found


@dataclass
class Panel:
    """Series of one bucket: keys in code order, and a concatenated daily y with offsets.

    Series `i` covers epoch days start[i] .. end (inclusive) and its values are
    y[indptr[i]:indptr[i + 1]]; `capped[i]` of them were capped as outliers.
    """

    keys: pd.DataFrame
    start: np.ndarray
    indptr: np.ndarray
    y: np.ndarray
    end: int
    capped: np.ndarray | None = None
    available: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.keys)

    def codes_of(self, keys: pd.DataFrame) -> np.ndarray:
        """Codes of the given (sku_id, location_id) rows; -1 for a series not in the panel."""
        index = pd.Index(_joined(self.keys))
        return index.get_indexer(_joined(keys))

    def long(self, codes: np.ndarray) -> pd.DataFrame:
        """statsforecast's long frame (unique_id = code, ds = epoch day, y) for these codes."""
        codes = np.sort(codes)
        lengths = self.indptr[codes + 1] - self.indptr[codes]
        unique_id = np.repeat(codes, lengths)
        first = np.repeat(self.indptr[codes], lengths)
        offset = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        return pd.DataFrame(
            {
                "unique_id": unique_id,
                "ds": np.repeat(self.start[codes], lengths) + offset,
                "y": self.y[first + offset],
            }
        )

    def series(self, code: int) -> np.ndarray:
        """The daily values of one series."""
        return self.y[self.indptr[code] : self.indptr[code + 1]]

    def cells(self, history: pd.DataFrame, values: np.ndarray) -> np.ndarray:
        """Per panel cell: the sum of `values` over the rows of history that lie in it (rows
        before a series' start, after the end or of a series not in the panel add nothing)."""
        codes = self.codes_of(history[["sku_id", "location_id"]])
        day = history["day"].to_numpy(dtype=np.int64)
        keep = codes >= 0
        keep[keep] &= (day[keep] >= self.start[codes[keep]]) & (day[keep] <= self.end)
        out = np.zeros(self.indptr[-1])
        np.add.at(out, self.indptr[codes[keep]] + day[keep] - self.start[codes[keep]],
                  np.asarray(values, dtype=float)[keep])
        return out


def build_panel(
    history: pd.DataFrame, end: int, max_days: int = 0, outliers: OutlierRule | None = None,
    availability: Availability | None = None,
) -> Panel:
    """Complete each series' calendar from its first row to `end` (period index), zeros between.

    Args:
        history: rows sku_id, location_id, day (period index), quantity, optionally promo
            and open; several rows of the same period add up; periods after `end` are ignored.
        end: the as-of period, last period of every series.
        max_days: keep only the newest `max_days` periods of each series (0 = all).
        outliers: cap each series' outliers with this rule (`outliers.cap`; days with
            `promo` true are exempt); None = no capping.
        availability: start series at their first sale and fill unavailable periods
            (`Availability`); None = every period from the first row is demand.
    """
    history = history[history["day"] <= end]
    joined = _joined(history)
    codes, uniques = pd.factorize(joined, sort=True)
    n = len(uniques)
    day = history["day"].to_numpy(dtype=np.int64)
    start = np.full(n, end, dtype=np.int64)
    sold = history["quantity"].to_numpy(dtype=np.float64) > 0
    if availability is not None:
        first_any = np.full(n, end, dtype=np.int64)
        np.minimum.at(first_any, codes, day)
        np.minimum.at(start, codes[sold], day[sold])
        start = listed_from(start, first_any, codes, day, sold, usable_rows(history), n,
                            declared_launch(history, codes, n))
    else:
        np.minimum.at(start, codes, day)
    if max_days > 0:
        start = np.maximum(start, end - max_days + 1)
    indptr = np.concatenate([[0], np.cumsum(end - start + 1)])
    y = np.zeros(indptr[-1], dtype=np.float64)
    keep = day >= start[codes]
    np.add.at(
        y,
        indptr[codes[keep]] + day[keep] - start[codes[keep]],
        history["quantity"].to_numpy(dtype=np.float64)[keep],
    )
    sku, location = (
        zip(*(u.split(_SEP, 1) for u in uniques), strict=True) if n else ((), ())
    )
    keys = pd.DataFrame({"sku_id": list(sku), "location_id": list(location)})
    capped = np.zeros(n, dtype=np.int64)
    available = None
    if availability is not None:
        available = _available(history, codes, day, keep, start, indptr, availability)
        _fill(y, available, start, indptr, availability.season_length)
    if outliers is not None and outliers.enabled:
        promo = np.zeros(y.size, dtype=bool)
        if "promo" in history.columns:
            flag = history["promo"].eq(True).to_numpy(dtype=bool, na_value=False)[keep]
            promo[indptr[codes[keep]] + day[keep] - start[codes[keep]]] |= flag
        for i in range(n):
            part = slice(indptr[i], indptr[i + 1])
            y[part], capped[i] = cap(y[part], promo[part], outliers)
    return Panel(keys=keys, start=start, indptr=indptr, y=y, end=end, capped=capped,
                 available=available)


LAUNCH_EVIDENCE = 0.01  # leading zeros this improbable under the series' own rate = pre-launch


def listed_from(
    first_sale: np.ndarray, first_row: np.ndarray, codes: np.ndarray, day: np.ndarray,
    sold: np.ndarray, is_open: np.ndarray, n: int, launch: np.ndarray | None = None,
) -> np.ndarray:
    """Where each series' demand history starts: its declared launch period (`launch`, not
    before its first row nor after its first sale), else its first row, unless the zeros
    before its first sale are too many to be demand zeros, which marks a launch.

    With p the share of open periods with a row that have a sale, from the first sale on
    (that one excluded: a series cut at its first sale starts on a sale by construction),
    L leading zero periods have probability (1 − p)^L if the item was listed all along.
    Below `LAUNCH_EVIDENCE` it was not yet listed: the history starts (1 − p) / p periods
    before the first sale, the mean wait of a listed item for its first sale (0 for one
    that sells every period). So an intermittent part with a few leading zeros keeps them
    as demand (cutting at its first sale would bias its rate up), and an item listed after
    years of zeros starts at its launch. A series with no sale, or one sale only, starts at
    its first row. `availability.listed_from` is the same rule in Spark.
    """
    def periods(mask: np.ndarray) -> np.ndarray:  # distinct periods per series where mask
        return np.bincount(np.unique(np.stack([codes[mask], day[mask]]), axis=1)[0],
                           minlength=n)

    k = periods(sold)
    m = periods(is_open & (day >= first_sale[codes]))
    rate = np.where((k > 1) & (m > 1), (k - 1) / np.maximum(m - 1, 1), 0.0)
    leading = first_sale - first_row
    with np.errstate(divide="ignore", invalid="ignore"):
        odds = leading * np.log1p(-np.minimum(rate, 1.0))
        wait = np.where(rate > 0, np.rint((1 - rate) / rate), 0.0)
    launched = (k > 1) & (leading > 0) & ((rate >= 1) | (odds < np.log(LAUNCH_EVIDENCE)))
    found = np.where(launched, first_sale - np.minimum(wait, leading), first_row)
    if launch is not None:
        declared = np.isfinite(launch)
        bounded = np.minimum(np.maximum(np.nan_to_num(launch), first_row), first_sale)
        found = np.where(declared, bounded, found)
    return found.astype(np.int64)


def _available(
    history: pd.DataFrame, codes: np.ndarray, day: np.ndarray, keep: np.ndarray,
    start: np.ndarray, indptr: np.ndarray, rule: Availability,
) -> np.ndarray:
    """Per panel cell: True for observed demand, False for closed, out-of-stock and
    reporting-gap periods."""
    position = indptr[codes[keep]] + day[keep] - start[codes[keep]]
    has_row = np.zeros(indptr[-1], dtype=bool)
    has_row[position] = True
    available = has_row.copy()
    closed = ~usable_rows(history)[keep]
    available[position[closed]] = False
    for i in range(len(start)):
        part = slice(indptr[i], indptr[i + 1])
        rows = has_row[part]
        if rows.size and rows.mean() >= rule.gap_min_coverage:
            available[part] |= ~rows & ~_long_runs(~rows, rule.gap_periods)
        else:
            available[part] |= ~rows
    return available


def _long_runs(mask: np.ndarray, least: int) -> np.ndarray:
    """True on the runs of True in mask that are at least `least` long."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    out = np.zeros(mask.size, dtype=bool)
    for begin, stop in zip(edges[::2], edges[1::2], strict=True):
        if stop - begin >= least:
            out[begin:stop] = True
    return out


def _fill(
    y: np.ndarray, available: np.ndarray, start: np.ndarray, indptr: np.ndarray, season: int
) -> None:
    """Fill unavailable cells in place with the series' seasonal mean of available cells."""
    for i in np.flatnonzero(np.add.reduceat(~available, indptr[:-1]) if y.size else []):
        part = slice(indptr[i], indptr[i + 1])
        values, ok = y[part], available[part]
        if not ok.any():
            values[:] = 0.0
            continue
        phase = (start[i] + np.arange(values.size)) % max(season, 1)
        sums = np.bincount(phase[ok], weights=values[ok], minlength=season)
        counts = np.bincount(phase[ok], minlength=season)
        means = np.where(counts > 0, sums / np.maximum(counts, 1), values[ok].mean())
        values[~ok] = means[phase[~ok]]


def _joined(frame: pd.DataFrame) -> pd.Series:
    """One string key per row from sku_id and location_id."""
    return frame["sku_id"].astype(str) + _SEP + frame["location_id"].astype(str)
