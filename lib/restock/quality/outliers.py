"""Outlier capping before fitting: median + k·MAD over a series' non-zero, non-exempt days.

For one series, the days considered are those with demand (y > 0) that are not exempt:
promotion and calendar-event days (their lift is real demand). With at least
`min_nonzero_days` of them:

    m = median(y_d),  MAD = median(|y_d - m|),  sigma = 1.4826 · MAD,  cap = m + k · sigma

and every considered day above `cap` is set to `cap` (1.4826 makes the MAD a consistent
estimate of a normal standard deviation). Only the upper side is capped: a low day is a slow
day or a stock-out, not a recording error. A series whose MAD is 0 (half or more of its
days hold the same value) is left alone: its spread cannot be told from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from restock.errors import ConfigError

MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class OutlierRule:
    """Conf `outliers`: k (0 = off) and the fewest non-zero days a series needs."""

    mad_k: float
    min_nonzero_days: int

    @classmethod
    def from_conf(cls, conf: Mapping[str, Any]) -> OutlierRule:
        """Read and check conf `outliers` (absent or `enabled: false` = off)."""
        o = conf.get("outliers") or {}
        if not o.get("enabled", False):
            return cls(0.0, 0)
        k = float(o["mad_k"])
        if k <= 0:
            raise ConfigError(f"outliers.mad_k must be positive, got {k}")
        return cls(k, int(o["min_nonzero_days"]))

    @property
    def enabled(self) -> bool:
        """Whether the rule caps anything."""
        return self.mad_k > 0


def cap(y: np.ndarray, exempt: np.ndarray | None, rule: OutlierRule) -> tuple[np.ndarray, int]:
    """Cap one series' outliers (see the module docstring).

    Args:
        y: daily demand.
        exempt: True on days never capped (promotions, calendar events), or None.
        rule: k and the minimum number of considered days.

    Returns:
        The capped copy of y and the number of days capped.
    """
    y = np.asarray(y, dtype=np.float64)
    if not rule.enabled:
        return y, 0
    considered = y > 0
    if exempt is not None:
        considered &= ~np.asarray(exempt, dtype=bool)
    values = y[considered]
    if values.size < max(rule.min_nonzero_days, 1):
        return y, 0
    median = float(np.median(values))
    mad = float(np.median(np.abs(values - median)))
    if mad == 0:
        return y, 0
    bound = median + rule.mad_k * MAD_TO_SIGMA * mad
    over = considered & (y > bound)
    n = int(over.sum())
    if not n:
        return y, 0
    capped = y.copy()
    capped[over] = bound
    return capped, n
