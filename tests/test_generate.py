"""Synthetic data: determinism, demand mix, lifecycle, parameter ranges, bad rows, Spark path."""

from __future__ import annotations

import datetime

import numpy as np
import pandas as pd
import pytest

from restock.dev import demand
from restock.dev import generate as gen
from restock.errors import ConfigError
from restock.io import tables

END = datetime.date(2024, 12, 31)
DAYS = 730
N_SERIES = 400
N_LOC = 10


def _sales(seed: int, ids, days: int = DAYS, share: float = 0.0, batches: int = 1) -> pd.DataFrame:
    """Sales rows of the given series ids, fed to the batch function in `batches` frames."""
    frames = [pd.DataFrame({"id": part}) for part in np.array_split(np.asarray(ids), batches)]
    out = gen.sales_batches(iter(frames), seed, days, END, N_LOC, bad_row_share=share)
    return pd.concat(out, ignore_index=True)


def _params(seed: int, n: int = N_SERIES) -> pd.DataFrame:
    """item_params rows of series 0 .. n - 1."""
    out = gen.item_params_batches(iter([pd.DataFrame({"id": np.arange(n)})]), seed, N_LOC)
    return pd.concat(out, ignore_index=True)


def _inventory(seed: int, n: int = N_SERIES) -> pd.DataFrame:
    """inventory rows of series 0 .. n - 1."""
    out = gen.inventory_batches(iter([pd.DataFrame({"id": np.arange(n)})]), seed, END, N_LOC)
    return pd.concat(out, ignore_index=True)


def _series_id(frame: pd.DataFrame) -> pd.Series:
    """Series number back from the ids: sku * n_loc + location."""
    return frame["sku_id"].str[3:].astype(int) * N_LOC + frame["location_id"].str[3:].astype(int)


@pytest.fixture(scope="module")
def sales() -> pd.DataFrame:
    """Two years of clean sales of 400 series, with their series number."""
    frame = _sales(7, np.arange(N_SERIES))
    return frame.assign(series=_series_id(frame))


@pytest.fixture(scope="module")
def patterns() -> pd.Series:
    """The drawn demand pattern of each of the 400 series."""
    return pd.Series({i: demand.series_spec(7, i).pattern for i in range(N_SERIES)})


def _classify(sales: pd.DataFrame, days: int) -> pd.DataFrame:
    """Syntetos-Boylan class per series: ADI = days / demand days vs 1.32, CV2 of sizes vs 0.49."""
    stats = sales.groupby("series")["quantity"].agg(
        nonzero="count", mean="mean", var=lambda s: s.var(ddof=0)
    )
    stats["adi"] = days / stats["nonzero"]
    stats["cv2"] = stats["var"] / stats["mean"] ** 2
    frequent, steady = stats["adi"] < 1.32, stats["cv2"] < 0.49
    stats["cls"] = np.select(
        [frequent & steady, frequent, steady], ["smooth", "erratic", "intermittent"], "lumpy"
    )
    return stats


def test_same_seed_same_data_different_seed_different_data():
    ids = np.arange(60)
    first, again, other = _sales(3, ids, 200), _sales(3, ids, 200), _sales(4, ids, 200)
    pd.testing.assert_frame_equal(first, again)
    assert not first.equals(other)
    pd.testing.assert_frame_equal(_params(3, 60), _params(3, 60))
    pd.testing.assert_frame_equal(_inventory(3, 60), _inventory(3, 60))
    for column in ("unit_cost", "order_cost"):  # from the spec and the params streams
        assert not _params(3, 60)[column].equals(_params(4, 60)[column]), column
    ordered = [(_inventory(s, 60)["on_order"] > 0).to_numpy() for s in (3, 4)]
    assert (ordered[0] != ordered[1]).any()  # the inventory stream depends on the seed


def test_data_does_not_depend_on_batching():
    ids = np.arange(150)  # > one internal chunk of series, split over 1 or 3 input batches
    key = ["sku_id", "location_id", "date"]
    one = _sales(11, ids, 120).sort_values(key, ignore_index=True)
    three = _sales(11, ids[::-1], 120, batches=3).sort_values(key, ignore_index=True)
    pd.testing.assert_frame_equal(one, three)


def test_ids_dates_and_quantities(sales):
    assert sales["sku_id"].str.fullmatch(r"SKU\d{6}").all()
    assert set(sales["location_id"]) <= {f"LOC{i:03d}" for i in range(N_LOC)}
    assert sales["date"].min() == pd.Timestamp(END) - pd.Timedelta(days=DAYS - 1)
    assert sales["date"].max() == pd.Timestamp(END)
    quantity = sales["quantity"].to_numpy(dtype=float)
    assert (quantity > 0).all() and (quantity == np.round(quantity)).all()
    assert not sales.duplicated(["sku_id", "location_id", "date"]).any()
    assert list(sales.columns[:-1]) == [*tables.INPUTS["sales"]["required"], "promo", "price",
                                        "open"]
    assert sales["open"].all()  # generated locations never close


def test_demand_mix_matches_the_syntetos_boylan_classes(sales, patterns):
    stats = _classify(sales, DAYS).join(patterns.rename("pattern"))
    shares = patterns.value_counts(normalize=True)
    for pattern, target in zip(demand.PATTERNS, demand.PATTERN_SHARES, strict=True):
        assert abs(shares[pattern] - target) < 0.07, pattern  # 3 sd at n=400
    for pattern in ("smooth", "erratic", "intermittent", "lumpy"):
        labelled = stats[stats["pattern"] == pattern]
        assert (labelled["cls"] == pattern).mean() > 0.9, pattern
    measured = stats["cls"].value_counts(normalize=True)
    assert measured["smooth"] > 0.25 and measured["erratic"] > 0.1
    assert measured["intermittent"] > 0.25 and measured["lumpy"] > 0.1


def test_new_products_have_short_history(sales, patterns):
    new = patterns.index[patterns == "new"]
    assert len(new) >= 5
    first_sale = sales[sales["series"].isin(new)].groupby("series")["date"].min()
    history_days = (pd.Timestamp(END) - first_sale).dt.days + 1
    assert (history_days < 90).all() and len(history_days) == len(new)


def test_end_of_life_items_stop_selling(sales, patterns):
    params = _params(7).assign(series=range(N_SERIES))
    eol = params.index[patterns == "end_of_life"]
    declared = params.loc[eol].query("lifecycle == 'end_of_life'")["series"]
    hidden = params.loc[eol].query("lifecycle == 'active'")["series"]
    assert len(declared) >= 5
    last_sale = sales.groupby("series")["date"].max()
    quiet_days = (pd.Timestamp(END) - last_sale).dt.days
    assert (quiet_days.reindex(declared).dropna() >= 60).all()
    assert (quiet_days.reindex(hidden).dropna() >= 150).all()  # > profile.eol_inactive_days
    assert (params.loc[params["lifecycle"] == "end_of_life", "series"].isin(eol)).all()


def test_promotions_lift_demand_at_a_discount(sales):
    promo_items = sales.loc[sales["promo"], "series"].unique()
    assert 0.15 < len(promo_items) / N_SERIES < 0.45
    rows = sales[sales["series"].isin(promo_items)]
    by_item = rows.groupby(["series", "promo"])[["price", "quantity"]].mean().unstack()
    assert (by_item["price"][True] < by_item["price"][False]).mean() > 0.95
    assert (by_item["quantity"][True] > by_item["quantity"][False]).mean() > 0.6


def test_item_params_in_range(patterns):
    p = _params(7)
    assert (_series_id(p) == np.arange(N_SERIES)).all()
    lead = p["lead_time_days"]
    assert lead.between(2, 14).mean() + lead.between(21, 60).mean() == 1.0
    assert 0.2 < lead.between(21, 60).mean() < 0.4
    assert (p["lead_time_std_days"] / lead).between(0.09, 0.31).all()
    review = p["review_period_days"]
    assert set(review) <= {1, 7, 14} and (review == 7).mean() > 0.6
    assert p["unit_cost"].between(0.5, 500).all() and 6 < p["unit_cost"].median() < 25
    assert p["order_cost"].between(20, 150).all() and p["holding_rate"].between(0.15, 0.35).all()
    assert (p["shortage_cost"] / p["unit_cost"]).between(0.28, 1.52).all()
    moq = p.loc[p["moq"] > 0]
    assert 0.4 < len(moq) / N_SERIES < 0.6 and (moq["moq"] % moq["pack_size"] == 0).all()
    assert set(p["pack_size"]) <= {1, 6, 12, 24} and (p["pack_size"] == 1).mean() > 0.6
    assert 0.78 < p["service_level"].isna().mean() < 0.92
    assert set(p["service_level"].dropna()) <= {0.90, 0.95, 0.99}
    assert ((p["lifecycle"] == "new") == (patterns == "new").to_numpy()).all()
    assert set(p["lifecycle"]) == {"new", "active", "end_of_life"}


def test_inventory_in_range(patterns):
    inv = _inventory(7)
    assert (_series_id(inv) == np.arange(N_SERIES)).all()
    assert (inv["as_of_date"] == pd.Timestamp(END)).all()
    stock = inv[["on_hand", "on_order", "backorders"]]
    assert (stock >= 0).all().all() and (stock == stock.round()).all().all()
    assert 0.2 < (inv["on_order"] > 0).mean() < 0.4
    assert 0 < (inv["backorders"] > 0).mean() < 0.1
    assert (inv.loc[inv["backorders"] > 0, "on_hand"] == 0).all()
    assert inv.loc[(patterns == "end_of_life").to_numpy(), "on_hand"].mean() > 0


def test_bad_rows_inject_each_documented_corruption():
    ids = np.arange(100)
    clean, dirty = _sales(5, ids, 365), _sales(5, ids, 365, share=0.05)
    quantity = dirty["quantity"]
    values = quantity.to_numpy(dtype=float, na_value=np.inf)
    found = {
        "negative_quantity": int((values < 0).sum()),
        "null_quantity": int(quantity.isna().sum()),
        "nan_quantity": int(np.isnan(values).sum()),
        "duplicate": int(dirty.duplicated().sum()),
        "null_sku": int(dirty["sku_id"].isna().sum()),
    }
    assert set(found) == set(gen.CORRUPTIONS)
    expected_each = 0.05 * len(clean) / len(gen.CORRUPTIONS)
    for kind, count in found.items():
        assert 0.6 * expected_each < count < 1.4 * expected_each, kind
    assert len(dirty) - len(clean) == found["duplicate"]


def test_no_bad_rows_by_default(sales):
    assert sales["quantity"].notna().all() and not np.isnan(sales["quantity"].to_numpy(float)).any()
    assert (sales["quantity"] > 0).all() and sales["sku_id"].notna().all()
    assert not sales.duplicated().any()


def test_generate_rejects_bad_arguments(spark):
    with pytest.raises(ConfigError, match="bad_row_share"):
        gen.generate(spark, 10, 10, 1, END, bad_row_share=1.5)
    with pytest.raises(ConfigError, match="series >= 1"):
        gen.generate(spark, 0, 10, 1, END)


def test_spark_tables_round_trip_and_ignore_partitioning(spark, wconf):
    frames = gen.generate(spark, 40, 120, 9, END, bad_row_share=0.02, partitions=3)
    for name, df in frames.items():
        tables.write_input(df, wconf, name, note="test")
    back = {name: tables.read(spark, wconf, name) for name in frames}
    assert {n: df.count() for n, df in back.items()} == {n: df.count() for n, df in frames.items()}
    assert back["item_params"].count() == back["inventory"].count() == 40

    key = list(back["sales"].columns)
    one = gen.generate(spark, 40, 120, 9, END, bad_row_share=0.02, partitions=1)["sales"]
    assert one.rdd.getNumPartitions() == 1 and frames["sales"].rdd.getNumPartitions() == 3
    stored = back["sales"].toPandas().sort_values(key, ignore_index=True)
    single = one.toPandas().sort_values(key, ignore_index=True)
    pd.testing.assert_frame_equal(stored, single)

    local = _sales(9, np.arange(40), 120, share=0.02)  # the pandas path gives the same rows
    local = local.assign(date=local["date"].dt.date, quantity=local["quantity"].astype(float))
    local = local.sort_values(key, ignore_index=True)
    pd.testing.assert_frame_equal(stored, local, check_dtype=False)


@pytest.mark.parametrize("pattern", ["smooth", "erratic", "intermittent", "lumpy"])
def test_the_oracle_mean_and_median_match_the_drawn_demand(patterns, pattern):
    # pooled over five series of the pattern and two years: the drawn units add up to the
    # oracle mean (heavy-tailed lognormal sizes: within 10%), and about half the days fall
    # on each side of the oracle median
    ids = patterns.index[patterns == pattern][:5]
    day_numbers = gen.generated_days(DAYS, END)
    drawn, mean, median = [], [], []
    for i in ids:
        spec = demand.series_spec(7, int(i))
        sold = demand.series_sales(spec, 7, int(i), day_numbers)
        y = np.zeros(DAYS)
        y[sold["day"] - day_numbers[0]] = sold["quantity"]
        drawn.append(y)
        mean.append(demand.demand_quantile(spec, 7, int(i), day_numbers, None))
        median.append(demand.demand_quantile(spec, 7, int(i), day_numbers, 0.5))
    y, mean, median = (np.concatenate(a) for a in (drawn, mean, median))
    rel = 0.1 if pattern in ("erratic", "lumpy") else 0.03
    assert y.sum() == pytest.approx(mean.sum(), rel=rel)
    assert (y <= median).mean() >= 0.47
    assert (y < median).mean() <= 0.53


def test_the_calendar_mix_gives_every_series_a_yearly_cycle_and_promotions():
    specs = [demand.series_spec(7, i, demand.MIXES["calendar"]) for i in range(100)]
    assert all(s.season_amplitude > 0 and s.promos_per_year > 0 for s in specs)
    assert {s.pattern for s in specs} == {"smooth", "erratic"}
    default = [demand.series_spec(7, i) for i in range(100)]
    assert default == [demand.series_spec(7, i, demand.MIXES["default"]) for i in range(100)]
