"""The grain of the sales series: day, week anchored on a weekday, or month.

Every window the conf gives in days becomes periods of the grain here and nowhere else
(`Grain.periods`, `Grain.whole_periods`). Periods are numbered by an integer index (the
pandas kernels' `day` column holds it): at D the epoch day, at W the number of weeks whose
end falls after 1970-01-01, at M the months since 1970-01. A period is dated by its last day
(`end`): the anchor weekday of its week, or the month's last day.

Rules (stated once):
- A date that is not on the grain belongs to the period that ends on or after it (a daily
  row of a Wednesday goes to the week ending the following Friday at W-FRI; a month given
  as `1998-01` is read as its first day by Spark, then dated 1998-01-31).
- Days become periods by dividing by the period's mean length (1, 7 or 365.25 / 12 days):
  fractional (a 30-day lead time is 4.29 weeks); windows round up to whole periods.
- The plan spreads each period's forecast evenly over the days of the period, so lead
  time and review period stay in days (fractional days included).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from restock.errors import ConfigError
from restock.io.config import with_defaults

if TYPE_CHECKING:
    from pyspark.sql import Column

EPOCH = dt.date(1970, 1, 1)
WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_EPOCH_WEEKDAY = EPOCH.weekday()  # Thursday = 3
_MONTH_DAYS = 365.25 / 12
KINDS = {"D": "daily", "W": "weekly", "M": "monthly"}


@dataclass(frozen=True)
class Grain:
    """One grain: `kind` D, W or M; `anchor` the weekday (0 = Monday) that ends a week."""

    kind: str = "D"
    anchor: int = 6

    @classmethod
    def parse(cls, text: str) -> Grain:
        """`D`, `W` (= W-SUN), `W-FRI` …, `M`; anything else is a ConfigError."""
        name = str(text).strip().upper()
        if name in ("D", "M"):
            return cls(name)
        if name == "W":
            return cls("W", 6)
        if name.startswith("W-") and name[2:] in WEEKDAYS:
            return cls("W", WEEKDAYS.index(name[2:]))
        raise ConfigError(f"data.frequency must be D, W, W-<MON..SUN> or M (or auto), got '{text}'")

    @property
    def name(self) -> str:
        """The grain as conf spells it: D, W-FRI, M."""
        return f"W-{WEEKDAYS[self.anchor]}" if self.kind == "W" else self.kind

    @property
    def period_days(self) -> float:
        """Mean length of one period in days."""
        return {"D": 1.0, "W": 7.0, "M": _MONTH_DAYS}[self.kind]

    @property
    def periods_per_year(self) -> int:
        """Whole periods in a year (annual cycle length for the yearly models)."""
        return {"D": 365, "W": 52, "M": 12}[self.kind]

    def season_length(self, daily_season: int) -> int:
        """The seasonal cycle in periods: conf forecast.season_length at D, a year above."""
        return daily_season if self.kind == "D" else self.periods_per_year

    def periods(self, days: float) -> float:
        """Days as fractional periods of this grain."""
        return float(days) / self.period_days

    def whole_periods(self, days: float, least: int = 1) -> int:
        """A window of `days` as whole periods, rounded up, at least `least`."""
        return max(least, math.ceil(self.periods(days) - 1e-9))

    def _week_offset(self) -> int:
        """Days from 1970-01-01 to the first period end (anchor weekday) on or after it."""
        return (self.anchor - _EPOCH_WEEKDAY) % 7

    def index_of(self, day: dt.date) -> int:
        """The period index of a date."""
        if self.kind == "M":
            return (day.year - 1970) * 12 + day.month - 1
        epoch_day = (day - EPOCH).days
        if self.kind == "W":
            return (epoch_day - self._week_offset() + 6) // 7
        return epoch_day

    def end_of(self, index: int) -> dt.date:
        """The last day of period `index`."""
        return dt.date.fromisoformat(str(self.ends(np.array([index]))[0]))

    def ends(self, index: np.ndarray) -> np.ndarray:
        """Last days (datetime64[D]) of the periods `index`."""
        index = np.asarray(index, dtype=np.int64)
        if self.kind == "M":
            return (np.datetime64("1970-01", "M") + index + 1).astype("datetime64[D]") - 1
        days = index * 7 + self._week_offset() if self.kind == "W" else index
        return np.datetime64(EPOCH, "D") + days.astype("timedelta64[D]")

    def index_col(self, date: Column) -> Column:
        """Spark: the period index of a date column."""
        from pyspark.sql import functions as F

        if self.kind == "M":
            return ((F.year(date) - 1970) * 12 + F.month(date) - 1).cast("long")
        epoch_day = F.datediff(date, F.lit(EPOCH))
        if self.kind == "W":
            return F.floor((epoch_day - self._week_offset() + 6) / 7).cast("long")
        return epoch_day.cast("long")

    def end_col(self, date: Column) -> Column:
        """Spark: the last day of the period holding a date (the bucketing rule)."""
        from pyspark.sql import functions as F

        if self.kind == "M":
            return F.last_day(date)
        if self.kind == "W":
            return F.date_add(F.lit(EPOCH), (self.index_col(date) * 7 + self._week_offset())
                              .cast("int"))
        return date


@dataclass(frozen=True)
class DataSettings:
    """Conf `data`: the grain and the rules for unavailable periods."""

    frequency: str
    aggregate_to: str | None
    gap_min_days: int
    gap_min_coverage: float
    profile_window_days: int
    weekly_closure_weeks: int = 0
    stockouts_from_inventory: bool = True

    @classmethod
    def from_conf(cls, conf: Mapping[str, Any]) -> DataSettings:
        """Read and check conf `data`."""
        d = with_defaults(conf, "data")
        settings = cls(
            frequency=str(d["frequency"]),
            aggregate_to=d["aggregate_to"] or None,
            gap_min_days=int(d["gap_min_days"]),
            gap_min_coverage=float(d["gap_min_coverage"]),
            profile_window_days=int(d["profile_window_days"] or 0),
            weekly_closure_weeks=int(d["weekly_closure_weeks"] or 0),
            stockouts_from_inventory=bool(d["stockouts_from_inventory"]),
        )
        if settings.frequency != "auto":
            Grain.parse(settings.frequency)
        if settings.aggregate_to:
            Grain.parse(settings.aggregate_to)
        if not 0 <= settings.gap_min_coverage <= 1:
            raise ConfigError("data.gap_min_coverage must be in [0, 1]")
        if settings.weekly_closure_weeks < 0:
            raise ConfigError("data.weekly_closure_weeks must be 0 (off) or more")
        return settings

    def grain(self) -> Grain:
        """The grain the run works at (aggregate_to wins over frequency); auto = daily."""
        target = self.aggregate_to or self.frequency
        return Grain() if target == "auto" else Grain.parse(target)

    def gap_periods(self, grain: Grain) -> int:
        """Shortest run of missing periods that counts as a reporting gap."""
        return grain.whole_periods(self.gap_min_days, least=2)


def grain_of(conf: Mapping[str, Any]) -> Grain:
    """The run's grain from conf `data` (after detection has resolved `auto`)."""
    return DataSettings.from_conf(conf).grain()


def detect(dates: Sequence[dt.date]) -> tuple[Grain, str]:
    """The grain distinct sales dates are on, and a sentence saying why.

    Monthly: every date is a month's first or last day and dates are at least 28 days
    apart; weekly: every date is the same weekday; otherwise daily.
    """
    days = sorted(set(dates))
    n = len(days)
    if n < 3:
        return Grain(), f"daily grain assumed: only {n} distinct date(s)"
    gaps = np.diff(np.array(days, dtype="datetime64[D]")).astype(int)
    month_ends = all((d + dt.timedelta(days=1)).day == 1 for d in days)
    month_starts = all(d.day == 1 for d in days)
    if (month_ends or month_starts) and gaps.min() >= 28:
        where = "month ends" if month_ends else "first days of months (dated to month end)"
        return Grain("M"), f"detected monthly grain M from {n} distinct dates (all {where})"
    weekdays = {d.weekday() for d in days}
    if len(weekdays) == 1:
        grain = Grain("W", weekdays.pop())
        return grain, (f"detected weekly grain {grain.name} from {n} distinct dates "
                       f"(all {_DAY_NAMES[grain.anchor]}s, {int(gaps.min())}+ days apart)")
    return Grain(), f"detected daily grain D from {n} distinct dates"
