"""One figure style for every study, laid out for the width the report shows it at: log-log
axes for scaling laws, theory lines dashed, confidence bands over seeds, legends that cover no
data (:mod:`overparam.studies.legends`), SVG whose text stays text.

Sizes: the report's content column is :data:`CONTENT_WIDTH_PX` CSS px wide; a single-panel
figure is shown at :data:`HALF_WIDTH_PX` (two side by side), a multi-panel one at the full
column. A figure W inches wide (its saved, tight-cropped width) shown at D px renders one point
of text as D / (72 W) px, so :func:`new_figure` makes it D / (72 :data:`PX_PER_PT`) inches wide
and every font of :data:`STYLE` renders at >= :data:`MIN_TEXT_PX`. Mathtext sub- and
superscripts are drawn at matplotlib's 0.7 of their base size.

Importing this module sets matplotlib's rcParams to :data:`STYLE`: tick labels, titles and
legends take their sizes from rcParams when they are created, some only at draw time, so a
context manager around the figure's creation would not reach them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from overparam.errors import ConfigError
from overparam.studies.legends import legend_outside, make_room, place_legend, renderer, repair

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

__all__ = [
    "COLORS",
    "CONTENT_WIDTH_PX",
    "HALF_WIDTH_PX",
    "MIN_TEXT_PX",
    "STYLE",
    "THEORY",
    "SavedFigure",
    "bound_line",
    "display_px",
    "fitted_line",
    "legend_outside",
    "loglog",
    "mean_band",
    "new_figure",
    "place_legend",
    "plot_band",
    "save",
    "shared_legend",
    "theory_line",
    "theory_through",
]

#: The report's content column and the width a single-panel figure is shown at (CSS px).
CONTENT_WIDTH_PX = 1000
HALF_WIDTH_PX = 490
#: Rendered CSS px per point of text at a figure's nominal width.
PX_PER_PT = 1.35
#: The smallest text (tick labels, legend entries) at the displayed size, CSS px.
MIN_TEXT_PX = 10.0
#: Height of every figure's panel row (inches; legends below the axes add to it).
HEIGHT_IN = 3.7
#: White margin of the tight-cropped saved figure (inches).
PAD_IN = 0.04
#: PNG pixels per displayed CSS px (sharp on high-density screens).
PNG_SCALE = 2.0
# Attributes new_figure sets on its figure: the display width (CSS px) and the nominal width (in).
_DISPLAY_PX_ATTR = "_overparam_display_px"
_WIDTH_IN_ATTR = "_overparam_width_in"

STYLE: dict[RcKeyType, Any] = {
    "figure.dpi": 100,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "font.size": 9.0,
    "axes.labelsize": 9.0,
    "axes.titlesize": 9.5,
    "xtick.labelsize": 8.5,
    "ytick.labelsize": 8.5,
    "legend.fontsize": 8.5,
    "legend.title_fontsize": 8.5,
    "legend.frameon": False,
    "legend.handlelength": 1.8,
    "legend.columnspacing": 1.2,
    "mathtext.fontset": "dejavusans",
    "svg.fonttype": "none",
    "savefig.bbox": "tight",
    "savefig.pad_inches": PAD_IN,
}
matplotlib.rcParams.update(STYLE)
THEORY: dict[str, Any] = {"linestyle": "--", "color": "0.3", "linewidth": 1.2}
COLORS = plt.rcParams["axes.prop_cycle"].by_key()["color"]


def new_figure(ncols: int = 1, *, wide: bool = False, height: float = HEIGHT_IN):
    """A figure of ``ncols`` panels in one row, in the report style, with constrained layout.

    One panel is laid out for :data:`HALF_WIDTH_PX` (``wide``: for the full column), several
    for :data:`CONTENT_WIDTH_PX`; the display width is recorded on the figure
    (:func:`display_px`). ``height``: the panel row's height in inches. Returns (figure, list
    of axes)."""
    if isinstance(ncols, bool) or not isinstance(ncols, int) or ncols < 1:
        raise ConfigError("ncols", ncols, "an integer >= 1")
    if not height > 0:
        raise ConfigError("height", height, "a positive number of inches")
    px = CONTENT_WIDTH_PX if ncols > 1 or wide else HALF_WIDTH_PX
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(
            1, ncols, figsize=(px / (72 * PX_PER_PT), height), squeeze=False, layout="constrained"
        )
    setattr(fig, _DISPLAY_PX_ATTR, px)
    setattr(fig, _WIDTH_IN_ATTR, fig.get_figwidth())
    for ax in axes[0]:
        ax.grid(True, alpha=0.3)
        ax.spines["top"].set_visible(False)
        ax.spines["right"].set_visible(False)
    return fig, list(axes[0])


def display_px(fig) -> int:
    """The CSS width the report shows ``fig`` at (:func:`new_figure` records it; otherwise by
    its number of panels)."""
    px = getattr(fig, _DISPLAY_PX_ATTR, None)
    if px is None:
        return HALF_WIDTH_PX if len(fig.axes) <= 1 else CONTENT_WIDTH_PX
    return int(px)


def shared_legend(fig, **kwargs):
    """One legend for every panel of ``fig`` (each label once, in panel order) below all of
    them, where it covers no panel: in as many columns (at most 3) as fit the figure's width,
    the figure made taller by the legend's height. ``kwargs`` go to
    :meth:`matplotlib.figure.Figure.legend`."""
    entries: dict[str, object] = {}
    for ax in fig.axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)
    if not entries:
        return None
    r = renderer(fig)
    for columns in range(min(len(entries), 3), 0, -1):
        legend = fig.legend(list(entries.values()), list(entries), loc="outside lower center",
                            ncols=columns, **kwargs)  # fmt: skip
        if columns == 1 or legend.get_window_extent(r).width <= fig.bbox.width:
            break
        legend.remove()
    make_room(fig, legend.get_window_extent(r).height / fig.dpi)
    return legend


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


@dataclass(frozen=True)
class SavedFigure:
    """The files of a saved figure and the CSS width the report shows it at. Iterating gives
    (png, svg), as the tuple :func:`save` used to return."""

    png: Path
    svg: Path
    display_px: int

    def __iter__(self):
        return iter((self.png, self.svg))


def _fit_width(fig, width_in: float) -> bool:
    """Narrow ``fig`` until its tight-cropped width is at most ``width_in`` (text that sticks
    out of the figure widens the saved file, and the page then shrinks all of its text);
    returns whether it changed."""
    changed = False
    for _ in range(3):
        excess = fig.get_tightbbox(renderer(fig)).padded(PAD_IN).width - width_in
        if excess <= 0.005:
            break
        fig.set_figwidth(fig.get_figwidth() - excess)
        changed = True
    return changed


def save(fig, directory: Path, name: str, *, png: bool = True) -> SavedFigure:
    """Write ``name``.svg (text as ``<text>`` elements, ids salted by ``name``) and ``name``.png
    (:data:`PNG_SCALE` px per displayed px) into ``directory``, tight-cropped, after moving any
    legend that covers data outside its axes (:func:`overparam.studies.legends.repair`) and
    narrowing it to its laid-out width if text sticks out; closes the figure. Returns the paths
    and the width to show the figure at (``png=False``: no PNG written)."""
    directory.mkdir(parents=True, exist_ok=True)
    png_path, svg = directory / f"{name}.png", directory / f"{name}.svg"
    repair(fig)
    if _fit_width(fig, getattr(fig, _WIDTH_IN_ATTR, fig.get_figwidth())):
        repair(fig)  # a narrower figure moves the data under the legends
    px = display_px(fig)
    # The layout is final: keep it (no engine re-run per draw) and crop both files to it.
    bbox = fig.get_tightbbox(renderer(fig)).padded(PAD_IN)
    fig.set_layout_engine("none")
    with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": name}):
        fig.savefig(svg, format="svg", bbox_inches=bbox, metadata={"Date": None})
    if png:
        fig.savefig(png_path, dpi=PNG_SCALE * px / bbox.width, bbox_inches=bbox)
    plt.close(fig)
    return SavedFigure(png_path, svg, px)
