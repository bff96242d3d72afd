"""The report's charts: small pandas frames in, PNG bytes out (matplotlib, no display).

Every chart has a title, labelled axes with units, and a legend where more than one
thing is drawn. Figures are built with `matplotlib.figure.Figure` (no pyplot state).
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

_DPI = 100
_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI, bbox_inches="tight")
    return buffer.getvalue()


def forecast_chart(
    history: pd.DataFrame,
    forecast: pd.DataFrame,
    levels: Sequence[int],
    title: str,
    as_of_date: object,
) -> bytes:
    """Daily history, the forecast and its interval bands for one series.

    Args:
        history: date, quantity (one row per day, zeros included).
        forecast: date, yhat, and lo_<level> / hi_<level> per level.
        levels: interval levels, drawn widest first (lightest).
        title: the chart title.
        as_of_date: last day of history, marked with a vertical line.
    """
    fig = Figure(figsize=(10, 3.2))
    ax = fig.add_subplot()
    ax.plot(history["date"], history["quantity"], color="#444444", lw=1,
            label="sales (units/day)")
    for i, level in enumerate(sorted(levels, reverse=True)):
        lo, hi = forecast.get(f"lo_{level}"), forecast.get(f"hi_{level}")
        if lo is None or hi is None or lo.isna().all():
            continue
        ax.fill_between(forecast["date"], lo.astype(float), hi.astype(float),
                        color=_COLORS[0], alpha=0.15 + 0.15 * i, lw=0,
                        label=f"{level}% interval")
    ax.plot(forecast["date"], forecast["yhat"], color=_COLORS[0], lw=1.8, label="forecast")
    ax.axvline(pd.Timestamp(as_of_date), color="#999999", ls="--", lw=1)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("date")
    ax.set_ylabel("units per day")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    fig.autofmt_xdate()
    return png(fig)


def box_chart(stats: pd.DataFrame, metric: str, title: str) -> bytes:
    """Box plots from precomputed quantiles (one box per row).

    Args:
        stats: label, n, p05, p25, p50, p75, p95 (whiskers at the 5th and 95th percentile).
        metric: the metric's name, for the axis label.
        title: the chart title.
    """
    boxes = [
        {"label": f"{r.label}\n(n={int(r.n)})", "whislo": r.p05, "q1": r.p25, "med": r.p50,
         "q3": r.p75, "whishi": r.p95, "fliers": []}
        for r in stats.itertuples()
    ]
    fig = Figure(figsize=(7, 3.5))
    ax = fig.add_subplot()
    ax.bxp(boxes, showfliers=False)
    if metric == "mase":
        ax.axhline(1.0, color="#d62728", ls="--", lw=1, label="MASE 1 = in-sample seasonal naive")
        ax.legend(loc="upper right", fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("demand class")
    ax.set_ylabel(f"{metric.upper()} per series (whiskers: 5th–95th pct.)")
    ax.grid(axis="y", alpha=0.3)
    return png(fig)


def share_chart(shares: pd.DataFrame, title: str, xlabel: str) -> bytes:
    """Horizontal stacked bars: rows are categories, columns the parts (shares of 1).

    Args:
        shares: index = category (e.g. demand class), columns = part (e.g. model), values in
            0..1 summing to 1 per row.
        title: the chart title.
        xlabel: the x-axis label.
    """
    fig = Figure(figsize=(8, 0.6 * len(shares) + 1.6))
    ax = fig.add_subplot()
    left = np.zeros(len(shares))
    labels = [str(i) for i in shares.index]
    for i, column in enumerate(shares.columns):
        values = shares[column].fillna(0).to_numpy(dtype=float)
        ax.barh(labels, values, left=left, color=_COLORS[i % len(_COLORS)], label=str(column))
        left += values
    ax.set_xlim(0, 1)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.invert_yaxis()
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    return png(fig)


def grouped_bars(
    values: pd.DataFrame,
    title: str,
    xlabel: str,
    ylabel: str,
    targets: pd.DataFrame | None = None,
    percent: bool = False,
) -> bytes:
    """Grouped vertical bars: index = groups on the x axis, columns = one bar per series.

    Args:
        values: the bar heights.
        title, xlabel, ylabel: chart text (ylabel carries the unit).
        targets: optional frame shaped like `values`; each bar gets a black tick at it.
        percent: format the y axis as percentages of 1.
    """
    fig = Figure(figsize=(8, 3.6))
    ax = fig.add_subplot()
    groups = [str(i) for i in values.index]
    x = np.arange(len(groups))
    width = 0.8 / max(len(values.columns), 1)
    for i, column in enumerate(values.columns):
        offset = x - 0.4 + width * (i + 0.5)
        heights = values[column].to_numpy(dtype=float)
        bars = ax.bar(offset, heights, width, color=_COLORS[i % len(_COLORS)], label=str(column))
        if len(values.columns) <= 2:
            ax.bar_label(bars, labels=[_short(h, percent) for h in heights], fontsize=7)
        if targets is not None and column in targets:
            ax.scatter(offset, targets[column].to_numpy(dtype=float), marker="_", s=300,
                       color="black", zorder=3,
                       label="target" if i == 0 else None)
    ax.set_xticks(x, groups)
    ax.set_title(title, fontsize=10, pad=12)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if percent:  # rates near their targets: zoom on the range that holds them
        shown = np.concatenate([values.to_numpy(dtype=float).ravel(),
                                [] if targets is None else targets.to_numpy(dtype=float).ravel()])
        low = np.nanmin(shown, initial=1.0)
        ax.set_ylim(max(0.0, np.floor(low * 10 - 0.5) / 10), 1.0)
        ax.yaxis.set_major_locator(MaxNLocator(steps=[1, 2, 5, 10]))
    ax.yaxis.set_major_formatter(lambda v, _: _short(v, percent))
    ax.grid(axis="y", alpha=0.3)
    if len(values.columns) > 1 or targets is not None:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    return png(fig)


def stacked_bars(values: pd.DataFrame, title: str, xlabel: str, ylabel: str) -> bytes:
    """Vertical stacked bars: index = bars on the x axis, columns = stacked parts."""
    fig = Figure(figsize=(8, 3.6))
    ax = fig.add_subplot()
    labels = [str(i) for i in values.index]
    bottom = np.zeros(len(values))
    for i, column in enumerate(values.columns):
        heights = values[column].fillna(0).to_numpy(dtype=float)
        ax.bar(labels, heights, bottom=bottom, color=_COLORS[i % len(_COLORS)],
               label=str(column))
        bottom += heights
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.yaxis.set_major_formatter(lambda v, _: _short(v, False))
    ax.grid(axis="y", alpha=0.3)
    ax.tick_params(axis="x", labelrotation=15)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    return png(fig)


def duration_chart(jobs: pd.DataFrame) -> bytes:
    """Horizontal bars of each job's wall-clock seconds (columns job, seconds)."""
    fig = Figure(figsize=(7, 0.45 * len(jobs) + 1.4))
    ax = fig.add_subplot()
    seconds = jobs["seconds"].fillna(0).to_numpy(dtype=float)
    ax.barh(jobs["job"].astype(str), seconds, color=_COLORS[0])
    for y, s in enumerate(seconds):
        ax.text(s, y, f" {s:,.0f} s", va="center", fontsize=8)
    ax.set_title("wall-clock time per job", fontsize=10)
    ax.set_xlabel("seconds")
    ax.set_ylabel("job")
    ax.invert_yaxis()
    ax.set_xlim(0, max(seconds.max(initial=0) * 1.2, 1))
    return png(fig)


def _short(value: float, percent: bool) -> str:
    """A tick or bar label: 12%, 1.2k, 3.4M, 0.85 or 12."""
    if not np.isfinite(value):
        return ""
    if percent:
        return f"{value:.0%}" if abs(value) >= 0.1 or value == 0 else f"{value:.1%}"
    size = abs(value)
    if size >= 1e6:
        return f"{value / 1e6:,.1f}M"
    if size >= 1e4:
        return f"{value / 1e3:,.0f}k"
    return f"{value:,.0f}" if size >= 10 or value == int(value) else f"{value:.2f}"
