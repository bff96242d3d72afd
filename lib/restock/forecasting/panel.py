"""Many series of one bucket as dense daily arrays: the calendar completed, missing day = 0."""

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


def build_panel(
    history: pd.DataFrame, end: int, max_days: int = 0, outliers: OutlierRule | None = None
) -> Panel:
    """Complete each series' calendar from its first row to `end` (epoch day), zeros between.

    Args:
        history: rows sku_id, location_id, day (epoch day), quantity, optionally promo;
            several rows of the same day add up; days after `end` are ignored.
        end: the as-of epoch day, last day of every series.
        max_days: keep only the newest `max_days` days of each series (0 = all).
        outliers: cap each series' outliers with this rule (`outliers.cap`; days with
            `promo` true are exempt); None = no capping.
    """
    history = history[history["day"] <= end]
    joined = _joined(history)
    codes, uniques = pd.factorize(joined, sort=True)
    n = len(uniques)
    day = history["day"].to_numpy(dtype=np.int64)
    start = np.full(n, end, dtype=np.int64)
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
    if outliers is not None and outliers.enabled:
        promo = np.zeros(y.size, dtype=bool)
        if "promo" in history.columns:
            flag = history["promo"].fillna(False).to_numpy(dtype=bool)[keep]
            promo[indptr[codes[keep]] + day[keep] - start[codes[keep]]] |= flag
        for i in range(n):
            part = slice(indptr[i], indptr[i + 1])
            y[part], capped[i] = cap(y[part], promo[part], outliers)
    return Panel(keys=keys, start=start, indptr=indptr, y=y, end=end, capped=capped)


def _joined(frame: pd.DataFrame) -> pd.Series:
    """One string key per row from sku_id and location_id."""
    return frame["sku_id"].astype(str) + _SEP + frame["location_id"].astype(str)
