"""YearlyETS: weekly AutoETS on demand divided by a smooth Fourier yearly factor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from statsforecast import models as sf

YEAR_DAYS = 365


class YearlyETS:
    """AutoETS with the weekly season, fitted on demand divided by a smooth yearly factor.

    The yearly factor is exp of the Fourier part of an OLS fit of log(centred 7-day moving
    average) — the weekly cycle averaged out — on a quadratic trend and `harmonics` sine /
    cosine pairs of period 365.25 days; the trend is left to ETS. A handful of coefficients
    is what 2-3 years of noisy days can pin down: MSTL's yearly component is one value per
    day of the year, the average of as many noisy days as there are years, and its noise
    goes straight into the forecast. Only positions are used (the phase is estimated), so
    no dates are needed; days whose moving average is 0 are left out of the fit. The
    forecast and its bounds are ETS's, times the factor ahead.
    """

    PERIOD = 365.25

    def __init__(self, season_length: int, harmonics: int = 3) -> None:
        self.season_length = season_length
        self.harmonics = harmonics

    def yearly_factor(self, y: np.ndarray, h: int) -> np.ndarray:
        """The yearly factor over the history and the h days after it (mean ≈ 1)."""
        n = y.size
        average = np.convolve(y, np.ones(7) / 7, mode="valid")  # centred on days 3 .. n - 4
        days = np.arange(3, n - 3)
        positive = average > 0
        if positive.sum() < 2 * YEAR_DAYS:
            raise ValueError(f"needs two years of days with demand, got {positive.sum()}")
        design = self._design(days[positive], n)
        beta, *_ = np.linalg.lstsq(design, np.log(average[positive]), rcond=None)
        fourier = self._design(np.arange(n + h), n)[:, 3:]
        return np.exp(fourier @ beta[3:])

    def _design(self, days: np.ndarray, n: int) -> np.ndarray:
        """Columns 1, t, t² (t = day / n), then cos and sin of each harmonic."""
        columns = [np.ones(days.size), days / n, (days / n) ** 2]
        for k in range(1, self.harmonics + 1):
            angle = 2 * np.pi * k * days / self.PERIOD
            columns += [np.cos(angle), np.sin(angle)]
        return np.column_stack(columns)

    def forecast(
        self, y: np.ndarray, h: int, X: Any = None, X_future: Any = None,
        level: Sequence[int] | None = None, fitted: bool = False,
    ) -> dict[str, np.ndarray]:
        """Forecast h days: ETS on the deseasonalised history, times the yearly factor."""
        factor = self.yearly_factor(y, h)
        ets = sf.AutoETS(season_length=self.season_length)
        result = ets.forecast(y=y / factor[: y.size], h=h, level=list(level) if level else None)
        return {key: values * factor[y.size:] for key, values in result.items()}
