"""`restock report`: the HTML page of a small real run (sections, images, no external refs)."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from conftest import TEST_SPARK
from PIL import Image

from restock.app.cli import main
from restock.quality.rules import QualitySettings
from restock.reporting import charts
from restock.reporting import queries as report_data
from restock.reporting.html import SECTIONS, _table

FAST = [
    *(arg for key, value in TEST_SPARK.items() for arg in ("--set", f"spark.{key}={value}")),
    "--set", "backtest.windows=2",
    "--set", "backtest.horizon_days=14",
    "--set", "forecast.horizon_days=14",
    "--set", "forecast.interval_windows=2",
    "--set", "forecast.buckets=4",
    "--set", "report.top_a_series=2",
    "--set", "report.worst_series=2",
    "--set", "report.list_rows=5",
]
def restock(warehouse: str, *args: str) -> int:
    """Run the CLI in-process against a warehouse."""
    return main([*args, "--warehouse", warehouse, *FAST])


@pytest.fixture(scope="module")
def warehouse(spark, tmp_path_factory) -> str:
    """Generated data, one full run `r1` with backtest, and a simulation `s1` of r1."""
    path = str(tmp_path_factory.mktemp("report"))
    assert restock(path, "generate", "--series", "12", "--days", "150", "--bad-rows", "0.01") == 0
    assert restock(path, "run", "--run-id", "r1", "--backtest") == 0
    # s1 replays r1's own forecasts (without --forecast-run-id, simulate fits at the cut-off)
    assert restock(path, "simulate", "--run-id", "s1", "--forecast-run-id", "r1",
                   "--set", "simulation.holdout_days=56",
                   "--set", "simulation.min_train_days=42") == 0
    return path


class _Page(HTMLParser):
    """Collects img sources, href values, section ids and the visible text."""

    def __init__(self) -> None:
        super().__init__()
        self.images, self.hrefs, self.sections, self.tags, self.text = [], [], [], set(), []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add(tag)
        if tag == "img":
            self.images.append((attrs.get("src", ""), attrs.get("alt", "")))
        if "href" in attrs:
            self.hrefs.append(attrs["href"])
        if tag == "section":
            self.sections.append(attrs.get("id"))

    def handle_data(self, data):
        self.text.append(data)


def _parse(path) -> tuple[_Page, str]:
    page = _Page()
    source = path.read_text(encoding="utf-8")
    page.feed(source)
    return page, " ".join(" ".join(page.text).split())


@pytest.fixture(scope="module")
def report_r1(warehouse, tmp_path_factory):
    """r1's report, written once through the CLI into a folder that does not exist yet."""
    out = tmp_path_factory.mktemp("pages") / "sub" / "report.html"
    assert restock(warehouse, "report", "--run-id", "r1", "--out", str(out)) == 0
    return out


def test_report_has_every_section_images_that_decode_and_no_external_refs(report_r1):
    out = report_r1
    page, text = _parse(out)
    source = out.read_text(encoding="utf-8")

    assert page.sections == [key for key, _ in SECTIONS]
    for phrase in ("Jobs and timings", "Series by demand class and ABC class",
                   "Against seasonal naive", "Model share", "Recommended orders by ABC class",
                   "Top 5 orders by value", "Stockout risk", "Overstock and excess",
                   "Days of cover", "All figures"):
        assert phrase in text, phrase
    assert "simulation not run" not in text
    assert "Simulation run s1" in text  # r1 has no simulation of its own: s1 replayed r1
    assert re.search(r"MASE [\d.]+ against seasonal naive [\d.]+", text)

    # no external reference of any kind: only in-page anchors and data: images
    assert not ({"script", "link", "iframe", "object", "embed"} & page.tags)
    assert all(h.startswith("#") for h in page.hrefs)
    outside_images = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", source)
    external = r"(https?:|ftp:|//[a-z]|url\(|@import|src=\"[^\"])"
    assert not re.search(external, outside_images, re.I)

    forecast_charts = [alt for _, alt in page.images if " @ " in alt]
    assert 2 <= len(forecast_charts) <= 4  # 2 largest A items + up to 2 worst, no repeats
    assert len(set(forecast_charts)) == len(forecast_charts)
    assert len(page.images) >= len(forecast_charts) + 6
    for src, alt in page.images:
        assert src.startswith("data:image/png;base64,"), alt
        image = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1], validate=True)))
        image.load()
        assert image.format == "PNG" and image.width > 300 and image.height > 150, alt
        assert alt
    assert any(alt.startswith("achieved fill rate") for _, alt in page.images)


def test_plan_figures_match_the_plans_table(spark, base_conf, warehouse):
    conf = {**base_conf, "warehouse": warehouse}
    plans = report_data.run_rows(spark, conf, "plans", "r1")
    by_abc = report_data.order_totals(plans, "abc_class").set_index("abc_class")
    rows = plans.toPandas()
    expected = rows.groupby("abc_class").agg(
        series=("sku_id", "size"), orders=("order_qty", lambda q: int((q > 0).sum())),
        order_value=("order_value", "sum"), stockout=("stockout_risk", "sum"),
    )
    assert by_abc.loc[expected.index, "series"].tolist() == expected["series"].tolist()
    assert by_abc.loc[expected.index, "orders"].tolist() == expected["orders"].tolist()
    np.testing.assert_allclose(by_abc.loc[expected.index, "order_value"],
                               expected["order_value"], rtol=1e-9)
    count, risky = report_data.stockout_list(plans, 3)
    assert count == int(rows["stockout_risk"].fillna(False).sum())
    assert len(risky) == min(3, count)
    cover = report_data.cover_histogram(plans)
    assert int(cover.to_numpy().sum()) == len(rows)
    top = report_data.top_orders(plans, 3)
    want = rows[rows["order_qty"] > 0].nlargest(3, "order_value")["order_value"].tolist()
    np.testing.assert_allclose(top["order_value"], want)


def test_sampled_series_are_the_largest_a_and_the_worst_backtested(spark, base_conf, warehouse):
    conf = {**base_conf, "warehouse": warehouse}
    profile = report_data.run_rows(spark, conf, "series_profile", "r1")
    forecasts = report_data.run_rows(spark, conf, "forecasts", "r1")
    metrics = report_data.run_rows(spark, conf, "backtest_metrics", "r1")
    series = metrics.where("scope = 'series'")
    settings = report_data.ReportSettings(top_a_series=2, worst_series=2, history_days=30,
                                          list_rows=5)
    sample = report_data.sample_series(profile, forecasts, series, "mase", settings)
    prof = profile.toPandas()
    largest = prof[prof["abc_class"] == "A"].nlargest(2, "sales_value")
    got_a = sample[sample["reason"] == "largest A item"]
    assert got_a["sku_id"].tolist() == largest["sku_id"].tolist()
    chosen = series.where("selected").toPandas().dropna(subset=["mase"])
    keys = set(zip(got_a["sku_id"], got_a["location_id"], strict=True))
    chosen = chosen[[k not in keys for k in zip(chosen["sku_id"], chosen["location_id"],
                                                 strict=True)]]
    worst = sample[sample["reason"].str.startswith("worst")]
    np.testing.assert_allclose(worst["score"], chosen.nlargest(2, "mase")["mase"])

    as_of = forecasts.select("as_of_date").first()[0]
    history, future = report_data.sample_rows(spark, conf, sample, forecasts, as_of, 30,
                                              QualitySettings.from_conf(conf))
    assert len(history) == 30 * len(sample)  # calendar filled: one row per day and series
    assert history["date"].max() == pd.Timestamp(as_of)
    assert set(zip(future["sku_id"], future["location_id"], strict=True)) == set(
        zip(sample["sku_id"], sample["location_id"], strict=True))


def test_a_plan_only_run_reports_its_forecast_runs_parts(warehouse, tmp_path, capsys):
    assert restock(warehouse, "plan", "--run-id", "p2") == 0
    out = tmp_path / "p2.html"
    assert restock(warehouse, "report", "--run-id", "p2", "--out", str(out)) == 0
    assert f"report written to {out}" in capsys.readouterr().out
    _, text = _parse(out)
    assert "Forecasts, profile and backtest come from run r1" in text
    assert "Against seasonal naive" in text  # r1's backtest
    assert "Simulation run s1" in text  # the simulation of r1's forecasts


def test_a_forecast_only_run_says_what_it_lacks(warehouse, tmp_path):
    assert restock(warehouse, "forecast", "--run-id", "f2", "--models", "HistoricAverage") == 0
    out = tmp_path / "f2.html"
    assert restock(warehouse, "report", "--run-id", "f2", "--out", str(out)) == 0
    page, text = _parse(out)
    for line in ("no plan for run f2", "backtest not run for run f2",
                 "simulation not run for run f2 (nor for its forecasts, run f2)"):
        assert line in text, line
    charts_shown = [alt for _, alt in page.images if " @ " in alt]
    assert charts_shown and all("HistoricAverage" in alt for alt in charts_shown)


def test_unknown_run_is_a_one_line_error(warehouse, tmp_path, capsys):
    code = restock(warehouse, "report", "--run-id", "nope", "--out", str(tmp_path / "x.html"))
    err = capsys.readouterr().err
    assert code != 0
    assert "run 'nope' is not in the runs table" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.html").exists()


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no chromium on this machine")
def test_headless_chromium_renders_the_page(report_r1, tmp_path):
    out = report_r1
    shot = tmp_path / "shot.png"
    subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,3000",
         f"--screenshot={shot}", out.as_uri()],
        check=True, capture_output=True, timeout=120,
    )
    pixels = np.asarray(Image.open(shot).convert("L"))
    assert pixels.shape == (3000, 1200)
    assert (pixels < 128).mean() > 0.01  # text and charts drawn, not a blank page


def test_forecast_chart_without_intervals_and_html_escaping():
    dates = pd.date_range("2026-01-01", periods=10, freq="D")
    history = pd.DataFrame({"date": dates, "quantity": np.arange(10.0)})
    future = pd.DataFrame({"date": dates + pd.Timedelta(days=10), "yhat": np.full(10, 4.0),
                           "lo_80": np.nan, "hi_80": np.nan})
    data = charts.forecast_chart(history, future, [80], "S @ L", dates[-1])
    assert Image.open(io.BytesIO(data)).format == "PNG"
    cell = _table(pd.DataFrame({"sku_id": ["<script>x</script>"], "qty": [1234.5]}))
    assert "<script>" not in cell and "&lt;script&gt;" in cell and "1,234.5" in cell
