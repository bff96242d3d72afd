"""Plain statsforecast baselines for bench/accuracy.py: the same training days and holdout
as restock's strategies, no restock code in the forecast (missing days = 0, as restock)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from restock.forecasting.exog import split_promo
from restock.forecasting.panel import build_panel
from restock.io.tables import SERIES_KEYS

KEYS = SERIES_KEYS
BASELINES = ["sf_SeasonalNaive", "sf_WindowAverage", "sf_AutoETS", "sf_TSB", "sf_ADIDA",
             "sf_MSTL"]


def baseline(name: str, train: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """A plain statsforecast model on the training days (missing days = 0, as restock)."""
    from statsforecast import StatsForecast
    from statsforecast import models as sf

    model = {
        "sf_SeasonalNaive": sf.SeasonalNaive(7), "sf_WindowAverage": sf.WindowAverage(28),
        "sf_AutoETS": sf.AutoETS(season_length=7), "sf_TSB": sf.TSB(0.1, 0.1),
        "sf_ADIDA": sf.ADIDA(),
        "sf_MSTL": sf.MSTL([7, 365], trend_forecaster=sf.AutoETS(model="ZZN")),
    }[name]
    history, _ = split_promo(train)
    panel = build_panel(history, int(history["day"].max()))
    long = np.diff(panel.indptr) >= 2 * 365
    parts = [(model, np.flatnonzero(long | (name != "sf_MSTL")))]
    if name == "sf_MSTL":  # MSTL needs two whole years; the shorter series get AutoETS
        parts.append((sf.AutoETS(season_length=7), np.flatnonzero(~long)))
    frames = []
    for fitted, codes in parts:
        if not codes.size:
            continue
        fc = StatsForecast(models=[fitted], freq=1, n_jobs=1).forecast(
            df=panel.long(codes), h=horizon)
        fc = fc.reset_index() if "unique_id" not in fc.columns else fc
        column = [c for c in fc.columns if c not in ("unique_id", "ds")][0]
        frames.append(pd.DataFrame({"code": fc["unique_id"].to_numpy(),
                                    "yhat": fc[column].clip(lower=0).to_numpy(),
                                    "step": fc["ds"].to_numpy() - panel.end}))
    out = pd.concat(frames, ignore_index=True)
    out[KEYS] = panel.keys.iloc[out["code"]][KEYS].to_numpy()
    return out[[*KEYS, "step", "yhat"]]
