"""The forecast step: many series per pandas-UDF call, one StatsForecast per model group."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from restock.errors import ConfigError
from restock.forecasting.exog import Events, Exog, split_promo
from restock.forecasting.guard import Guarded, outcomes_frame
from restock.forecasting.models import check_models
from restock.forecasting.panel import Availability, Panel, build_panel, open_rows
from restock.grain import EPOCH, DataSettings, Grain
from restock.io.config import section
from restock.io.tables import SERIES_KEYS
from restock.quality.outliers import OutlierRule
from restock.spark.buckets import per_bucket

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from restock.forecasting.calendar import CalendarSettings


@dataclass(frozen=True)
class ForecastSettings:
    """What the per-bucket function needs from conf `forecast` (picklable, immutable).

    Windows are in periods of `grain` (days at D): conf gives days, `from_conf` converts.
    """

    horizon_days: int
    levels: tuple[int, ...]
    season_length: int
    fallback_models: tuple[str, ...]
    max_train_days: int
    interval_windows: int
    interval_step_days: int
    max_failed_share: float
    uplift: tuple[str, int, int] = ("none", 0, 0)
    outliers: OutlierRule = OutlierRule(0.0, 0)
    models: str | tuple[str, ...] = "auto"
    buckets: int = 0  # series groups per UDF step; 0 = 32 per core of the session
    grain: Grain = Grain()
    availability: Availability | None = None

    @classmethod
    def from_conf(
        cls,
        conf: Mapping[str, Any],
        calendar: CalendarSettings | None = None,
        outliers: OutlierRule | None = None,
        data: DataSettings | None = None,
    ) -> ForecastSettings:
        """Read and check conf `forecast`; calendar, outliers and data are their sections,
        built once by the settings tree (read from conf when not given)."""
        from restock.forecasting.calendar import CalendarSettings

        fc = section(conf, "forecast")
        calendar = calendar or CalendarSettings.from_conf(conf)
        levels = tuple(sorted(int(v) for v in fc["levels"]))
        if not levels or any(not 0 < v < 100 for v in levels):
            raise ConfigError(f"forecast.levels must be percentages in (0, 100), got {levels}")
        if int(fc["horizon_days"]) < 1:
            raise ConfigError("forecast.horizon_days must be at least 1")
        if int(fc.get("buckets") or 0) < 0:
            raise ConfigError("forecast.buckets must be 0 (automatic) or more")
        data = data or DataSettings.from_conf(conf)
        grain = data.grain()
        season = grain.season_length(int(fc["season_length"]))
        max_train = int(fc.get("max_train_days") or 0)
        return cls(
            horizon_days=grain.whole_periods(int(fc["horizon_days"])),
            levels=levels,
            season_length=season,
            fallback_models=tuple(check_models(fc["fallback_models"], "forecast.fallback_models")),
            max_train_days=grain.whole_periods(max_train) if max_train else 0,
            interval_windows=int(fc["interval_windows"]),
            interval_step_days=grain.whole_periods(int(fc["interval_step_days"])),
            max_failed_share=float(fc["max_failed_share"]),
            uplift=calendar.uplift_rule,
            outliers=outliers or OutlierRule.from_conf(conf),
            models=models_of(fc["models"]),
            buckets=int(fc.get("buckets") or 0),
            grain=grain,
            availability=availability_of(data, grain, season),
        )

    def guard(self, model: str, form: str | None = None) -> Guarded:
        """The guarded statsforecast model for one requested model (and searched form)."""
        return Guarded(
            model, self.fallback_models, self.season_length,
            self.interval_windows, self.interval_step_days, self.uplift, form,
        )


def models_of(value: Any) -> str | tuple[str, ...]:
    """`forecast.models` / --models: auto, routed, or model names (a list or comma-separated)."""
    if isinstance(value, str) and value in ("auto", "routed"):
        return value
    names = [v.strip() for v in value.split(",")] if isinstance(value, str) else list(value)
    return tuple(check_models([n for n in names if n], "forecast.models"))


def availability_of(data: DataSettings, grain: Grain, season: int) -> Availability:
    """The panel's availability rule from conf `data` at this grain."""
    return Availability(data.gap_periods(grain), data.gap_min_coverage, season,
                        data.weekly_closure_weeks)


def output_schema(levels: tuple[int, ...]) -> str:
    """Spark DDL of forecast_bucket's output (run_id and as_of_date are added after)."""
    bounds = "".join(f", lo_{lv} double, hi_{lv} double" for lv in levels)
    return (
        "sku_id string, location_id string, model string, fitted_model string, step int, "
        f"date date, yhat double{bounds}, interval_method string, status string, error string, "
        "outliers_capped int"
    )


def forecast_bucket(
    history: pd.DataFrame,
    routes: pd.DataFrame,
    *,
    settings: ForecastSettings,
    as_of_date: dt.date,
    events: Events | None = None,
) -> pd.DataFrame:
    """Forecast every routed series of one bucket.

    Args:
        history: sku_id, location_id, day (period index), quantity[, promo, open]; periods
            after as_of ignored.
            Rows with a null quantity are promotion days (see `per_bucket`).
        routes: sku_id, location_id, model[, form] — one row per series and requested
            model; a form (`restock.forecasting.forms`, the backtest's) fits only that
            form's parameters.
        settings: horizon, levels, fallbacks, interval settings.
        as_of_date: last day of history; forecasts start the day after.
        events: calendar events and whether promotions are known; None = no regressors.

    Returns:
        One row per series, model and day ahead (see `output_schema`); a series whose
        model and fallbacks all fail gets one row with status `failed` and the error.
    """
    columns = _columns(settings.levels)
    if history.empty or routes.empty:
        return pd.DataFrame(columns=columns)
    history, promo = split_promo(history)
    history = closed_by_calendar(history, events, settings.grain)
    closures, events = events, regressor_events(events)
    panel = build_panel(_exempt_flagged(history, promo, events),
                        settings.grain.index_of(as_of_date), settings.max_train_days,
                        settings.outliers, settings.availability)
    exog = Exog.build(panel, promo, events) if events is not None else None
    form = routes["form"].fillna("") if "form" in routes else ""
    routes = routes.assign(code=panel.codes_of(routes), form=form)
    routes = routes[routes["code"] >= 0]
    parts = [
        _forecast_group(panel, group["code"].to_numpy(), model, settings, exog, form or None)
        for (model, form), group in routes.groupby(["model", "form"], sort=True)
    ]
    if not parts:
        return pd.DataFrame(columns=columns)
    out = pd.concat(parts, ignore_index=True)[columns]
    return closed_to_zero(out, closures, weekly_closures(history, panel.end, settings), settings)


def regressor_events(events: Events | None) -> Events | None:
    """The calendar without its `closed` days: a closure is an unavailable period, not a
    regressor (its "uplift" would be measured as a near-zero factor); None when nothing is
    left to regress on."""
    if events is None or "closed" not in events.types:
        return events
    keep = events.event_type != "closed"
    if not keep.any() and not events.promotions:
        return None
    return Events(day=events.day[keep], location=events.location[keep],
                  event_type=events.event_type[keep], promotions=events.promotions)


def closed_by_calendar(history: pd.DataFrame, events: Events | None, grain: Grain) -> pd.DataFrame:
    """History rows with `open` false on the calendar's `closed` days of their location (D)."""
    if events is None or grain.kind != "D" or "closed" not in events.types or history.empty:
        return history
    closed = events.hits(history["location_id"].to_numpy(dtype=object),
                         history["day"].to_numpy(), "closed")
    return history.assign(open=open_rows(history) & ~closed)


def weekly_closures(history: pd.DataFrame, end: int, settings: ForecastSettings) -> pd.DataFrame:
    """Recurring closures (daily grain): sku_id, location_id and weekday (epoch day mod 7) of
    the weekdays on which a series was closed (`open` false) on each of its last
    `availability.weekly_closure_weeks` weeks up to day `end` (a store shut on Sundays)."""
    keys = ["sku_id", "location_id"]
    weeks = settings.availability.weekly_closure_weeks if settings.availability else 0
    if settings.grain.kind != "D" or weeks < 1 or "open" not in history or history.empty:
        return pd.DataFrame(columns=[*keys, "weekday"])
    recent = history[(history["day"] > end - 7 * weeks) & (history["day"] <= end)]
    closed = recent[~open_rows(recent)]
    days = closed.drop_duplicates([*keys, "day"])
    counts = days.groupby([*keys, days["day"] % 7], sort=False).size().rename_axis(
        [*keys, "weekday"])
    return counts[counts == weeks].reset_index()[[*keys, "weekday"]]


def closed_to_zero(out: pd.DataFrame, events: Events | None, weekly: pd.DataFrame,
                   settings: ForecastSettings) -> pd.DataFrame:
    """Forecast 0 (intervals too) on known future closures (daily grain: a closed day of a
    week or month is not a closed period): calendar events of type `closed` at the series'
    location, and the series' recurring weekly closures (`weekly_closures`)."""
    if settings.grain.kind != "D" or out.empty:
        return out
    day = (out["date"].to_numpy(dtype="datetime64[D]") - np.datetime64(EPOCH, "D")).astype(int)
    closed = np.zeros(len(out), dtype=bool)
    if events is not None and "closed" in events.types:
        closed |= events.hits(out["location_id"].to_numpy(dtype=object), day, "closed")
    if not weekly.empty:
        keys = ["sku_id", "location_id", "weekday"]
        found = out[keys[:2]].assign(weekday=day % 7).merge(
            weekly.assign(hit=True), on=keys, how="left")["hit"]
        closed |= found.eq(True).to_numpy()
    closed &= out["status"].to_numpy() != "failed"
    if closed.any():
        numbers = ["yhat", *[f"{b}_{lv}" for lv in settings.levels for b in ("lo", "hi")]]
        out.loc[closed, numbers] = 0.0
    return out


def _forecast_group(
    panel: Panel, codes: np.ndarray, model: str, settings: ForecastSettings,
    exog: Exog | None = None, form: str | None = None,
) -> pd.DataFrame:
    """One StatsForecast(n_jobs=1) call for the series routed to one model and form."""
    from statsforecast import StatsForecast

    codes = np.sort(codes)
    h = settings.horizon_days
    guard = settings.guard(model, form)
    sf = StatsForecast(models=[guard], freq=1, n_jobs=1)
    levels = list(settings.levels)
    if exog is None:
        raw = sf.forecast(df=panel.long(codes), h=h, level=levels)
    else:
        raw = sf.forecast(df=exog.history(codes), h=h, level=levels, X_df=exog.future(codes, h))
    outcomes = outcomes_frame(guard, len(codes), model)
    per_row = partial(np.repeat, repeats=h)
    out = pd.DataFrame(
        {
            "sku_id": panel.keys["sku_id"].to_numpy()[per_row(codes)],
            "location_id": panel.keys["location_id"].to_numpy()[per_row(codes)],
            "model": model,
            "fitted_model": per_row(outcomes["fitted"].to_numpy()),
            "step": (raw["ds"].to_numpy() - panel.end).astype("int32"),
            "date": settings.grain.ends(raw["ds"].to_numpy()),
            "yhat": raw[model].to_numpy().clip(min=0),
            "interval_method": per_row(outcomes["method"].to_numpy()),
            "status": per_row(outcomes["status"].to_numpy()),
            "error": per_row(outcomes["error"].to_numpy()),
            "outliers_capped": per_row(panel.capped[codes]).astype("int32"),
        }
    )
    for lv in settings.levels:
        out[f"lo_{lv}"] = raw[f"{model}-lo-{lv}"].to_numpy().clip(min=0)
        out[f"hi_{lv}"] = raw[f"{model}-hi-{lv}"].to_numpy().clip(min=0)
    return _collapse_failed(out)


def _exempt_flagged(
    history: pd.DataFrame, promo: pd.DataFrame, events: Events | None
) -> pd.DataFrame:
    """Sales rows with `promo` true on the days outlier capping leaves alone: promotion days
    (sales' own flag, or a day of the promotions table) and, with the calendar in use,
    calendar event days; their lift is real demand, and the uplift is measured on them."""
    flagged = (history["promo"].eq(True).to_numpy(dtype=bool, na_value=False)
               if "promo" in history else False)
    keys = ["sku_id", "location_id", "day"]
    if len(promo):
        days = pd.MultiIndex.from_frame(promo[keys])
        flagged = flagged | pd.MultiIndex.from_frame(history[keys]).isin(days)
    if events is not None and events.day.size:
        flagged = flagged | events.hits(history["location_id"].to_numpy(dtype=object),
                                        history["day"].to_numpy())
    return history.assign(promo=flagged)


def _collapse_failed(out: pd.DataFrame) -> pd.DataFrame:
    """A failed series keeps one row: no step, no date, no numbers; the status and the error."""
    failed = out["status"] == "failed"
    if not failed.any():
        return out
    out = out[~(failed & out.duplicated(SERIES_KEYS))].copy()
    failed = out["status"] == "failed"
    out["step"] = out["step"].astype("Int32")
    out.loc[failed, "step"] = pd.NA
    out.loc[failed, "date"] = pd.NaT
    return out


def _columns(levels: tuple[int, ...]) -> list[str]:
    """Output column names in schema order."""
    return [part.split()[0] for part in output_schema(levels).split(", ")]


def forecast(
    sales: DataFrame,
    routes: DataFrame,
    *,
    as_of_date: dt.date,
    settings: ForecastSettings,
    buckets: int,
    events: Events | None = None,
    promo_days: DataFrame | None = None,
) -> DataFrame:
    """Forecast every routed series: one `forecast_bucket` call per bucket of series.

    Args:
        sales: cleaned daily sales (sku_id, location_id, date, quantity).
        routes: sku_id, location_id, model — the model(s) to fit per series.
        as_of_date: last day of history used.
        settings: forecast settings.
        buckets: number of series groups (and partitions); each is one UDF call.
        events: calendar events for the regressors (None: no regressors).
        promo_days: promotion days per series (`calendar.promo_days`), with events.

    Returns:
        The forecasts frame (`output_schema` plus as_of_date), lazily.
    """
    from pyspark.sql import functions as F

    fn = partial(forecast_bucket, settings=settings, as_of_date=as_of_date, events=events)
    out = per_bucket(sales, routes, fn, output_schema(settings.levels), as_of_date=as_of_date,
                     buckets=buckets, promo_days=promo_days, grain=settings.grain)
    return out.withColumn("as_of_date", F.lit(as_of_date))
