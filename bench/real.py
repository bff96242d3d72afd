"""The real data sets of ../shared/data/real/ loaded as a user would: `restock ingest`'s code
(`ingest.load_files`) with the README's column mapping; the grain is left to restock to
detect. Rossmann's `Promo` column (a daily promotion the chain plans ahead) is also written
as the `promotions` table, one window per store and promotion day, as a user with a promotion
plan would load it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"  # ../shared/data/real


@dataclass(frozen=True)
class Dataset:
    """Files of one data set and the `--mapping` flags that load them as sales."""

    files: tuple[str, ...]
    mapping: tuple[str, ...]


DATASETS = {
    "rossmann": Dataset(("rossmann/rossmann-sales.csv",),
                        ("sku_id=Store", "location_id=Store", "date=Date", "quantity=Sales",
                         "open=Open", "promo=Promo")),
    "walmart": Dataset(("walmart_weekly/train.csv",),
                       ("sku_id=Dept", "location_id=Store", "date=Date",
                        "quantity=Weekly_Sales")),
    "carparts": Dataset(("carparts_monthly/carparts_long.csv",),
                        ("sku_id=part", "location_id=part", "date=month", "quantity=demand")),
}


def load(spark: Any, conf: dict, name: str, folder: Path = REAL) -> None:
    """Ingest one data set into the sales table (and Rossmann's promotions); prints the
    ingest summary."""
    import pandas as pd

    from restock.io import tables
    from restock.io.ingest import load_files
    from restock.io.sources import parse_mapping

    data = DATASETS[name]
    result = load_files(spark, conf, "sales", [str(folder / f) for f in data.files],
                        run_id="bench_ingest", as_of_date=dt.date(2100, 1, 1),
                        mapping=parse_mapping(data.mapping, "sales"))
    print(result.summary())
    if name == "rossmann":
        raw = pd.read_csv(folder / data.files[0], usecols=["Store", "Date", "Promo"],
                          parse_dates=["Date"])
        raw = raw[raw["Promo"].eq(1)]
        store = raw["Store"].astype(str)
        day = raw["Date"].dt.date
        promotions = pd.DataFrame({"sku_id": store, "location_id": store,
                                   "start_date": day, "end_date": day})
        tables.write_input(spark.createDataFrame(promotions), conf, "promotions",
                           "bench rossmann Promo")
        print(f"promotions: {len(promotions)} store-days with Promo = 1")


def sample(daily: Any, series: int) -> Any:
    """A stable hash sample of `series` series (all when there are fewer)."""
    from pyspark.sql import functions as F

    keys = ["sku_id", "location_id"]
    ranked = daily.select(*keys).distinct().withColumn(
        "rank", F.pmod(F.xxhash64(*keys), F.lit(1_000_000)))
    kept = ranked.orderBy("rank", *keys).limit(series).select(*keys)
    return daily.join(kept, keys)
