"""Plain statsforecast baselines for bench/accuracy.py: the same training days and holdout
as restock's strategies, no restock code in the forecast: a period without a sale is 0, as a
plain statsforecast user feeds it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from restock.forecasting.exog import split_promo
from restock.forecasting.models import moving_window
from restock.forecasting.panel import build_panel
from restock.grain import Grain
from restock.io.tables import SERIES_KEYS

KEYS = SERIES_KEYS
BASELINES = ["sf_SeasonalNaive", "sf_WindowAverage", "sf_AutoETS", "sf_TSB", "sf_ADIDA",
             "sf_MSTL"]


def models_at(grain: Grain) -> tuple[dict, int, int]:
    """The plain baselines at a grain, with its longest cycle and its season (periods).

    Seasonal naive and AutoETS at the season (7 at D, 52 at W, 12 at M); the moving average
    of the last 28 days (4 weeks; at least 3 periods, so that a monthly one is not the naive
    forecast); MSTL over the weekly and yearly cycles at D (the yearly one alone at W and M)
    with an AutoETS trend.
    """
    from statsforecast import models as sf

    season = grain.season_length(7)
    cycles = [7, 365] if grain.kind == "D" else [grain.periods_per_year]
    return {
        "sf_SeasonalNaive": sf.SeasonalNaive(season),
        "sf_WindowAverage": sf.WindowAverage(moving_window(season)),
        "sf_AutoETS": sf.AutoETS(season_length=season), "sf_TSB": sf.TSB(0.1, 0.1),
        "sf_ADIDA": sf.ADIDA(),
        "sf_MSTL": sf.MSTL(cycles, trend_forecaster=sf.AutoETS(model="ZZN")),
    }, cycles[-1], season


def baseline(name: str, train: pd.DataFrame, horizon: int, grain: Grain) -> pd.DataFrame:
    """A plain statsforecast model on the training periods (missing periods = 0); a series
    the model cannot fit (too short) gets statsforecast's fallback, the naive forecast."""
    from statsforecast import StatsForecast
    from statsforecast import models as sf

    models, longest, season = models_at(grain)
    model = models[name]
    history, _ = split_promo(train)
    panel = build_panel(history, int(history["day"].max()))
    long = np.diff(panel.indptr) >= 2 * longest
    parts = [(model, np.flatnonzero(long | (name != "sf_MSTL")))]
    if name == "sf_MSTL":  # MSTL needs two whole cycles; the shorter series get AutoETS
        parts.append((sf.AutoETS(season_length=season), np.flatnonzero(~long)))
    frames = []
    for fitted, codes in parts:
        if not codes.size:
            continue
        fc = StatsForecast(models=[fitted], freq=1, n_jobs=1, fallback_model=sf.Naive()
                           ).forecast(df=panel.long(codes), h=horizon)
        fc = fc.reset_index() if "unique_id" not in fc.columns else fc
        column = [c for c in fc.columns if c not in ("unique_id", "ds")][0]
        frames.append(pd.DataFrame({"code": fc["unique_id"].to_numpy(),
                                    "yhat": fc[column].clip(lower=0).to_numpy(),
                                    "step": fc["ds"].to_numpy() - panel.end}))
    out = pd.concat(frames, ignore_index=True)
    out[KEYS] = panel.keys.iloc[out["code"]][KEYS].to_numpy()
    return out[[*KEYS, "step", "yhat"]]
