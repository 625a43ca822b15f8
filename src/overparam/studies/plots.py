"""One figure style for every study: log-log axes for scaling laws, theory lines dashed,
confidence bands over seeds."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

STYLE = {
    "figure.figsize": (5.2, 3.6),
    "figure.dpi": 110,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "font.size": 9,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "savefig.bbox": "tight",
}
THEORY = {"linestyle": "--", "color": "0.3", "linewidth": 1.2}
COLORS = plt.rcParams["axes.prop_cycle"].by_key()["color"]


def new_figure(ncols: int = 1, width: float = 5.2, height: float = 3.6):
    """A figure with ``ncols`` axes in the report style."""
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=False)
    for ax in axes[0]:
        ax.grid(True, alpha=0.3)
        ax.spines["top"].set_visible(False)
        ax.spines["right"].set_visible(False)
    return fig, list(axes[0])


def mean_band(df: pd.DataFrame, x: str, y: str, *, log: bool = True) -> pd.DataFrame:
    """Per-x mean and a band over seeds (geometric mean / min-max in log space when ``log``)."""
    values = df[[x, y]].dropna()
    if log:
        values = values[values[y] > 0]
        g = values.assign(_l=np.log(values[y])).groupby(x)["_l"]
        out = pd.DataFrame({"mean": np.exp(g.mean()), "lo": np.exp(g.min()), "hi": np.exp(g.max())})
    else:
        g = values.groupby(x)[y]
        out = pd.DataFrame({"mean": g.mean(), "lo": g.min(), "hi": g.max()})
    return out.reset_index()


def plot_band(
    ax, stats: pd.DataFrame, x: str, *, label: str, color: str | None = None, marker: str = "o"
) -> None:
    """A mean line with markers and a shaded band over seeds."""
    line = ax.plot(stats[x], stats["mean"], marker=marker, ms=4, label=label, color=color)[0]
    if len(stats) and (stats["hi"] > stats["lo"]).any():
        ax.fill_between(stats[x], stats["lo"], stats["hi"], alpha=0.2, color=line.get_color())


def theory_line(
    ax, x: Sequence[float], slope: float, anchor: tuple[float, float], *, label: str
) -> None:
    """The dashed line y = anchor_y (x / anchor_x)^slope (a theory slope on log-log axes)."""
    xs = np.asarray(sorted(x), dtype=float)
    ax.plot(xs, anchor[1] * (xs / anchor[0]) ** slope, label=label, **THEORY)


def theory_through(
    ax, stats: pd.DataFrame, x: str, slope: float, *, label: str, y: str = "mean"
) -> None:
    """The dashed theory line of ``slope`` through the geometric centre of the measured points
    (so the eye compares slopes, not the constants the theory leaves open)."""
    d = stats[(stats[x] > 0) & (stats[y] > 0)]
    if d.empty:
        return
    anchor = (float(np.exp(np.log(d[x]).mean())), float(np.exp(np.log(d[y]).mean())))
    theory_line(ax, d[x], slope, anchor, label=label)


def fitted_line(ax, xs: Sequence[float], exponent: float, intercept: float, **kwargs) -> None:
    """A thin dotted line y = exp(intercept) x^exponent (a measured log-log fit)."""
    grid = np.asarray(sorted(xs), dtype=float)
    style = {"linestyle": ":", "linewidth": 1.0, **kwargs}
    ax.plot(grid, np.exp(intercept) * grid**exponent, **style)


def bound_line(ax, y: float, *, label: str) -> None:
    """A horizontal dashed theory line (a bound on a ratio, a threshold)."""
    ax.axhline(y, label=label, **THEORY)


def loglog(ax, xlabel: str, ylabel: str, title: str | None = None) -> None:
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)


def save(fig, directory: Path, name: str) -> tuple[Path, Path]:
    """Write ``name``.png and ``name``.svg into ``directory``; returns both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    png, svg = directory / f"{name}.png", directory / f"{name}.svg"
    fig.savefig(png, dpi=110, bbox_inches="tight")
    fig.savefig(svg, bbox_inches="tight")
    plt.close(fig)
    return png, svg
