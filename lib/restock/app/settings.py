"""One settings tree: the layered conf checked and built once, before the SparkSession starts.

`load_settings` lays the conf layers (`restock.io.config.load_conf`), checks their shape
against base.yaml (unknown keys, types: `restock.io.conf_schema`), then builds each section's
frozen dataclass exactly once, each with its own range rules. Steps receive their section;
no step reads conf again. The tree lives in `app` because it gathers every layer's section.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from restock.io.conf_schema import check_shape
from restock.io.config import conf_dir_of, load_conf, read_schema

if TYPE_CHECKING:
    from restock.forecasting.backtest import BacktestSettings
    from restock.forecasting.calendar import CalendarSettings
    from restock.forecasting.forecast import ForecastSettings
    from restock.forecasting.profile import ProfileSettings
    from restock.grain import DataSettings
    from restock.io.ingest import IngestSettings
    from restock.io.maintain import RetentionSettings
    from restock.io.runs import RunsSettings
    from restock.io.writes import WriteSettings
    from restock.planning.bounds import PlanSettings
    from restock.planning.policy import PolicySettings
    from restock.planning.simulate import SimulationSettings
    from restock.quality.data_quality import CheckLimits
    from restock.quality.outliers import OutlierRule
    from restock.quality.rules import QualitySettings
    from restock.reporting.queries import ReportSettings
    from restock.spark.progress import ProgressSettings
    from restock.spark.routing import RoutingSettings


@dataclass(frozen=True)
class Settings:
    """Every section of conf, validated; `conf` is the raw layered mapping (table locations,
    Spark settings, the run's digest)."""

    conf: Mapping[str, Any]
    data: DataSettings
    quality: QualitySettings
    checks: CheckLimits
    ingest: IngestSettings
    profile: ProfileSettings
    routing: RoutingSettings
    calendar: CalendarSettings
    outliers: OutlierRule
    forecast: ForecastSettings
    backtest: BacktestSettings
    policy: PolicySettings
    plan: PlanSettings
    writes: WriteSettings
    runs: RunsSettings
    retention: RetentionSettings
    progress: ProgressSettings
    simulation: SimulationSettings
    report: ReportSettings


def load_settings(
    env: str = "local",
    conf_dir: str | Path | None = None,
    overrides: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
    *,
    warehouse: str | None = None,
    master: str | None = None,
) -> Settings:
    """Lay the conf layers, apply the CLI's --warehouse / --master, check and build the tree.

    Raises:
        ConfigError: naming the key's full path and what was expected.
    """
    conf = load_conf(env, conf_dir, overrides, environ)
    if warehouse:
        conf["warehouse"] = warehouse
    if master:
        conf["master"] = master
    return build_settings(conf, read_schema(conf_dir_of(conf_dir)))


def build_settings(conf: Mapping[str, Any], schema: Mapping[str, Any] | None = None) -> Settings:
    """Check conf's shape (against base.yaml unless schema is given) and build every section.

    The shape check comes first and imports nothing heavy, so a typo fails in a blink.
    """
    check_shape(conf, read_schema(conf_dir_of(None)) if schema is None else schema)
    from restock.forecasting.backtest import BacktestSettings
    from restock.forecasting.calendar import CalendarSettings
    from restock.forecasting.forecast import ForecastSettings
    from restock.forecasting.profile import ProfileSettings
    from restock.grain import DataSettings
    from restock.io.ingest import IngestSettings
    from restock.io.maintain import RetentionSettings
    from restock.io.runs import RunsSettings
    from restock.io.writes import WriteSettings
    from restock.planning.bounds import PlanSettings
    from restock.planning.policy import PolicySettings
    from restock.planning.simulate import SimulationSettings
    from restock.quality.data_quality import CheckLimits
    from restock.quality.outliers import OutlierRule
    from restock.quality.rules import QualitySettings
    from restock.reporting.queries import ReportSettings
    from restock.spark.progress import ProgressSettings
    from restock.spark.routing import RoutingSettings

    data = DataSettings.from_conf(conf)
    quality = QualitySettings.from_conf(conf)
    calendar = CalendarSettings.from_conf(conf)
    outliers = OutlierRule.from_conf(conf)
    profile = ProfileSettings.from_conf(conf, data=data)
    forecast = ForecastSettings.from_conf(conf, calendar=calendar, outliers=outliers, data=data)
    policy = PolicySettings.from_conf(conf["policy"], levels=forecast.levels,
                                      period_days=forecast.grain.period_days)
    return Settings(
        conf=conf,
        data=data,
        quality=quality,
        checks=CheckLimits.from_conf(conf),
        ingest=IngestSettings.from_conf(conf, returns=quality),
        profile=profile,
        routing=RoutingSettings.from_conf(conf, calendar),
        calendar=calendar,
        outliers=outliers,
        forecast=forecast,
        backtest=BacktestSettings.from_conf(conf, calendar=calendar, data=data),
        policy=policy,
        plan=PlanSettings.from_conf(conf),
        writes=WriteSettings.from_conf(conf),
        runs=RunsSettings.from_conf(conf),
        retention=RetentionSettings.from_conf(conf),
        progress=ProgressSettings.from_conf(conf),
        simulation=SimulationSettings.from_conf(conf, policy=policy, profile=profile,
                                                forecast=forecast),
        report=ReportSettings.from_conf(conf),
    )
