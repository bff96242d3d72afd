"""Small hand-made series for tests."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from restock.forecasting.panel import epoch_day

AS_OF = dt.date(2026, 6, 30)
END = epoch_day(AS_OF)


def history(series: dict[tuple[str, str], np.ndarray], as_of: dt.date = AS_OF) -> pd.DataFrame:
    """Long frame (sku_id, location_id, day, quantity) of daily arrays ending at as_of.

    Zero days are left out, as in a real sales table.
    """
    end = epoch_day(as_of)
    frames = []
    for (sku, location), values in series.items():
        values = np.asarray(values, dtype=float)
        days = np.arange(end - values.size + 1, end + 1)
        keep = values != 0
        frames.append(pd.DataFrame(
            {"sku_id": sku, "location_id": location, "day": days[keep], "quantity": values[keep]}
        ))
    return pd.concat(frames, ignore_index=True)


def sales_rows(series: dict[tuple[str, str], np.ndarray], as_of: dt.date = AS_OF) -> pd.DataFrame:
    """The same as `history`, with a `date` column instead of the epoch day."""
    frame = history(series, as_of)
    frame["date"] = [dt.date(1970, 1, 1) + dt.timedelta(days=int(d)) for d in frame.pop("day")]
    return frame[["sku_id", "location_id", "date", "quantity"]]


def routes(pairs: dict[tuple[str, str], str | list[str]]) -> pd.DataFrame:
    """sku_id, location_id, model rows."""
    rows = [
        (sku, loc, model)
        for (sku, loc), models in pairs.items()
        for model in ([models] if isinstance(models, str) else models)
    ]
    return pd.DataFrame(rows, columns=["sku_id", "location_id", "model"])


def poisson(rate: float, days: int, seed: int) -> np.ndarray:
    """Poisson daily demand."""
    return np.random.default_rng(seed).poisson(rate, days).astype(float)


def weekly(days: int, pattern: tuple[float, ...] = (2, 4, 6, 8, 10, 30, 20)) -> np.ndarray:
    """A deterministic weekly pattern repeated."""
    return np.resize(np.asarray(pattern, dtype=float), days)
