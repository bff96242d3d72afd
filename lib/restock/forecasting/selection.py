"""Model selection by class: one model per demand class (and ABC class) from the pooled
backtest of all its series; a series keeps its own best model only on a clear, repeated win.

Why: the per-series argmin of a noisy metric over a few windows overfits (on real data the
winner of three windows is often not the winner of the fourth). A class's pooled score
averages hundreds of series, so its choice is at least as good as the best single model
there; a series leaves it only when its own best model beats the class's choice by
`override_margin` in every backtest window.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from restock.io.tables import SERIES_KEYS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from restock.forecasting.backtest import BacktestSettings

CLASS_KEYS = ["demand_class", "abc_class"]
MIN_COVERAGE = 0.9  # a model the class chooses was backtested on this share of its series


def class_totals(series: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per (demand_class, abc_class, model): Σ metric and the series it was scored on.

    `series`: ranked `series` rows (rank not null) with the classes joined.
    """
    scored = series[series[metric].notna()]
    return scored.groupby([*CLASS_KEYS, "model"], dropna=False).agg(
        total=(metric, "sum"), n_series=(metric, "size")
    ).reset_index()


def class_choice(totals: pd.DataFrame, class_series: pd.DataFrame,
                 min_series: int) -> pd.DataFrame:
    """The model with the lowest mean metric per (demand_class, abc_class).

    `class_series`: the number of ranked series per (demand_class, abc_class) (`n`).
    A class with fewer than `min_series` series takes its demand class's choice (pooled
    over ABC). Only models scored on `MIN_COVERAGE` of a class's series compete; ties go to
    the cheaper model (lower cost rank), then the name.
    """
    from restock.forecasting.models import cost_rank

    pooled = totals.groupby(["demand_class", "model"], dropna=False)[
        ["total", "n_series"]].sum().reset_index()
    by_demand = class_series.groupby("demand_class", dropna=False)["n"].sum().reset_index()
    fine = _best(totals.merge(class_series, on=CLASS_KEYS), CLASS_KEYS, cost_rank)
    coarse = _best(pooled.merge(by_demand, on="demand_class"), ["demand_class"], cost_rank)
    out = class_series.merge(fine, on=CLASS_KEYS, how="left").merge(
        coarse.rename(columns={"model": "demand_model"}), on="demand_class", how="left")
    small = out["n"] < min_series
    out["model"] = out["model"].where(~small & out["model"].notna(), out["demand_model"])
    return out[[*CLASS_KEYS, "model"]].dropna(subset=["model"])


def _best(scores: pd.DataFrame, keys: list[str], cost_rank) -> pd.DataFrame:
    """Per group of keys, the model with the lowest mean over enough of its series."""
    scores = scores[scores["n_series"] >= MIN_COVERAGE * scores["n"]].copy()
    scores["mean"] = (scores["total"] / scores["n_series"]).round(9)
    scores["cost"] = scores["model"].map(cost_rank)
    scores = scores.sort_values([*keys, "mean", "cost", "model"])
    return scores.groupby(keys, dropna=False).head(1)[[*keys, "model"]]


def final_models(windows: pd.DataFrame, series: pd.DataFrame, chosen: pd.DataFrame,
                 metric: str, margin: float) -> pd.DataFrame:
    """Each series' model: its class's choice, unless its own rank-1 model beats that by
    `margin` (metric < (1 − margin) × the class model's) in every backtest window; its
    own rank-1 model when the class's choice was not backtested (or failed) on it.

    windows: `window` rows (keys, model, cutoff, metric); series: ranked `series` rows
    (keys, model, rank); chosen: keys and the class's `model` per series.
    """
    own = series.loc[series["rank"] == 1, [*SERIES_KEYS, "model"]]
    ranked = series.loc[series["rank"].notna(), [*SERIES_KEYS, "model"]]
    usable = chosen.merge(ranked, on=[*SERIES_KEYS, "model"])  # the class model ran here
    pair = own.rename(columns={"model": "own"}).merge(
        usable.rename(columns={"model": "chosen"}), on=SERIES_KEYS, how="left")
    scores = windows[[*SERIES_KEYS, "model", "cutoff", metric]]
    wins = pair.merge(scores.rename(columns={"model": "own", metric: "own_score"}),
                      on=[*SERIES_KEYS, "own"])
    wins = wins.merge(scores.rename(columns={"model": "chosen", metric: "chosen_score"}),
                      on=[*SERIES_KEYS, "chosen", "cutoff"])
    wins["win"] = wins["own_score"] < (1 - margin) * wins["chosen_score"]
    clear = wins.groupby(SERIES_KEYS)["win"].all().rename("clear").reset_index()
    pair = pair.merge(clear, on=SERIES_KEYS, how="left")
    keep_own = pair["chosen"].isna() | pair["clear"].eq(True)
    pair["model"] = np.where(keep_own, pair["own"], pair["chosen"])
    return pair[[*SERIES_KEYS, "model"]]


def select_frame(results: pd.DataFrame, classes: pd.DataFrame,
                 settings: BacktestSettings) -> pd.DataFrame:
    """`final_models` on pandas backtest rows (one process: the bench), classes given per
    series (keys, demand_class, abc_class)."""
    series = results[results["scope"] == "series"].merge(classes, on=SERIES_KEYS)
    ranked = series[series["rank"].notna()]
    counts = ranked.drop_duplicates(SERIES_KEYS).groupby(CLASS_KEYS, dropna=False).size()
    choice = class_choice(class_totals(ranked, settings.metric),
                          counts.rename("n").reset_index(), settings.class_min_series)
    chosen = classes.merge(choice, on=CLASS_KEYS)[[*SERIES_KEYS, "model"]]
    windows = results[(results["scope"] == "window") & (results["status"] == "ok")]
    return final_models(windows, series, chosen, settings.metric, settings.override_margin)


def select(results: DataFrame, profile: DataFrame, settings: BacktestSettings,
           buckets: int) -> DataFrame:
    """Backtest rows with `selected` set by class choice (`final_models`), lazily.

    The class totals are one small aggregate on the driver; the per-series decision runs
    per bucket of series (`buckets` groups).
    """
    from pyspark.sql import functions as F

    metric = settings.metric
    classes = profile.select(*SERIES_KEYS, *CLASS_KEYS)
    series = results.where((F.col("scope") == "series") & F.col("rank").isNotNull())
    series = series.join(classes, SERIES_KEYS)
    totals = series.where(F.col(metric).isNotNull()).groupBy(*CLASS_KEYS, "model").agg(
        F.sum(metric).alias("total"), F.count(F.lit(1)).alias("n_series")).toPandas()
    counts = series.select(*SERIES_KEYS, *CLASS_KEYS).distinct().groupBy(*CLASS_KEYS).agg(
        F.count(F.lit(1)).alias("n")).toPandas()
    choice = class_choice(totals, counts, settings.class_min_series)
    spark = results.sparkSession
    choice_df = spark.createDataFrame(choice, "demand_class string, abc_class string, "
                                              "model string")
    chosen = classes.join(F.broadcast(choice_df), CLASS_KEYS).select(
        *SERIES_KEYS, F.col("model").alias("chosen"))
    rows = results.where((F.col("status") == "ok") & F.col("scope").isin("series", "window"))
    rows = rows.select(*SERIES_KEYS, "model", "scope", "cutoff", "rank", metric).join(
        chosen, SERIES_KEYS, "left").withColumn(
        "bucket", F.abs(F.hash(*SERIES_KEYS)) % F.lit(max(buckets, 1)))

    def decide(group: pd.DataFrame) -> pd.DataFrame:
        picked = group.loc[group["chosen"].notna(), [*SERIES_KEYS, "chosen"]]
        picked = picked.drop_duplicates().rename(columns={"chosen": "model"})
        return final_models(group[group["scope"] == "window"],
                            group[group["scope"] == "series"], picked, metric,
                            settings.override_margin)

    final = rows.groupBy("bucket").applyInPandas(
        decide, "sku_id string, location_id string, model string").withColumnRenamed(
        "model", "final")
    return results.join(final, SERIES_KEYS, "left").withColumn(
        "selected", F.coalesce(F.col("model") == F.col("final"), F.lit(False))
    ).drop("final")
