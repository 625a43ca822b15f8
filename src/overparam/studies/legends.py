"""Legends that cover no data: where the drawn lines, markers and bands of a figure are, in
display coordinates, and a legend placed in the first free corner of its axes or else outside.

A legend is *clear* when its box (padded by ``PAD_PX``) meets no visible line segment, marker or
filled band of any axes of its figure, inside the region the artist is clipped to (what is not
drawn cannot be covered).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.legend import Legend
from matplotlib.path import Path
from matplotlib.transforms import Bbox, ScaledTranslation

from overparam.errors import ConfigError

#: The inside locations tried, in order: the corners, then the edge midpoints.
LOCATIONS: tuple[str, ...] = (
    "upper right",
    "upper left",
    "lower left",
    "lower right",
    "upper center",
    "lower center",
    "center right",
    "center left",
)
#: Clearance between a legend box and the data it must not touch (display px).
PAD_PX = 2.0
#: Gap between the axes' decorations and a legend placed outside them (inches).
GAP_IN = 0.08
#: At most this many columns for a legend below its axes.
MAX_COLUMNS = 4

Side = Literal["below", "right"]
# Attribute on a legend placed by this module: the (handles, labels, kwargs, side) it was made with.
_ARGS_ATTR = "_overparam_args"


@dataclass
class Shapes:
    """What is drawn, in display coordinates: polylines (k, 2), filled polygons (k, 2), and
    marker centres (k, 2) with their radius; each with the box it is clipped to (or None)."""

    polylines: list[tuple[np.ndarray, Bbox | None]] = field(default_factory=list)
    polygons: list[tuple[np.ndarray, Bbox | None]] = field(default_factory=list)
    points: list[tuple[np.ndarray, float, Bbox | None]] = field(default_factory=list)


def _finite_runs(xy: np.ndarray) -> list[np.ndarray]:
    """The maximal runs of consecutive finite rows of ``xy`` (a NaN breaks a drawn line)."""
    ok = np.isfinite(xy).all(axis=1)
    if ok.all():
        return [xy]
    edges = np.flatnonzero(np.diff(np.r_[0, ok.astype(int), 0]))
    return [xy[a:b] for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _clip_box(artist) -> Bbox | None:
    return artist.get_clip_box() if artist.get_clip_on() else None


def _drawn(style) -> bool:
    return style not in (None, "None", "none", "", " ")


def axes_shapes(ax, shapes: Shapes | None = None) -> Shapes:
    """The visible lines (segments and markers), scatter markers, line collections, filled
    collections (bands) and patches of ``ax``, in display coordinates (the figure must have
    been laid out: see :func:`renderer`)."""
    shapes = shapes if shapes is not None else Shapes()
    px = ax.figure.dpi / 72.0
    for line in ax.get_lines():
        if not line.get_visible():
            continue
        xy = np.asarray(line.get_xydata(), dtype=float)
        if xy.size == 0:
            continue
        xy = line.get_transform().transform(xy)
        clip = _clip_box(line)
        if _drawn(line.get_linestyle()):
            shapes.polylines += [(run, clip) for run in _finite_runs(xy) if len(run)]
        if _drawn(line.get_marker()):
            radius = (line.get_markersize() / 2 + line.get_markeredgewidth()) * px
            shapes.points.append((xy[np.isfinite(xy).all(axis=1)], radius, clip))
    for coll in ax.collections:
        if not coll.get_visible():
            continue
        clip = _clip_box(coll)
        if isinstance(coll, PathCollection):
            offsets = np.asarray(coll.get_offsets(), dtype=float)
            if offsets.size == 0:
                continue
            xy = coll.get_offset_transform().transform(offsets)
            sizes = coll.get_sizes()
            radius = (np.sqrt(float(np.max(sizes))) / 2 if len(sizes) else 3.0) * px
            shapes.points.append((xy[np.isfinite(xy).all(axis=1)], radius, clip))
        elif isinstance(coll, LineCollection):
            trans = coll.get_transform()
            for seg in coll.get_segments():
                if len(seg):
                    xy = trans.transform(np.asarray(seg, dtype=float))
                    shapes.polylines += [(r, clip) for r in _finite_runs(xy) if len(r)]
        else:
            trans = coll.get_transform()
            for path in coll.get_paths():
                shapes.polygons += [(p, clip) for p in path.to_polygons(trans) if len(p)]
    for patch in ax.patches:
        if patch.get_visible():
            polys = patch.get_path().to_polygons(patch.get_transform())
            shapes.polygons += [(p, _clip_box(patch)) for p in polys if len(p)]
    return shapes


def figure_shapes(fig) -> Shapes:
    """:func:`axes_shapes` of every axes of ``fig``."""
    shapes = Shapes()
    for ax in fig.axes:
        axes_shapes(ax, shapes)
    return shapes


def _region(box: Bbox, clip: Bbox | None) -> Bbox | None:
    """``box`` cut to ``clip`` (None: nothing of the artist can be under the box)."""
    if clip is None:
        return box
    cut = Bbox.intersection(box, clip)
    return cut if cut is not None and cut.width > 0 and cut.height > 0 else None


def covers(box: Bbox, shapes: Shapes, pad: float = PAD_PX) -> bool:
    """Whether ``box`` (display coordinates), padded by ``pad`` px, meets any of ``shapes``."""
    box = box.padded(pad)
    for xy, clip in shapes.polylines:
        region = _region(box, clip)
        if region is None:
            continue
        if len(xy) == 1:
            if region.count_contains(xy):
                return True
        elif Path(xy).intersects_bbox(region, filled=False):
            return True
    for xy, clip in shapes.polygons:
        region = _region(box, clip)
        if region is not None and Path(xy, closed=True).intersects_bbox(region, filled=True):
            return True
    for xy, radius, clip in shapes.points:
        region = _region(box.padded(radius), clip)
        if region is not None and len(xy) and region.count_contains(xy) > 0:
            return True
    return False


def renderer(fig):
    """Lay ``fig`` out (run its layout engine, as a draw would first) and return its renderer
    (an Agg canvas is attached to a figure that ``pyplot.close`` left without one)."""
    if not hasattr(fig.canvas, "get_renderer"):
        FigureCanvasAgg(fig)
    engine = fig.get_layout_engine()
    if engine is not None:
        engine.execute(fig)
    return fig.canvas.get_renderer()


def _remember(legend: Legend, handles, labels, kwargs: dict, side: Side) -> Legend:
    setattr(legend, _ARGS_ATTR, (list(handles), list(labels), dict(kwargs), side))
    return legend


def _legend_entries(ax, kwargs: dict) -> tuple[list, list]:
    handles, labels = kwargs.pop("handles", None), kwargs.pop("labels", None)
    if handles is None or labels is None:
        found_h, found_l = ax.get_legend_handles_labels()
        handles = found_h if handles is None else handles
        labels = found_l if labels is None else labels
    return list(handles), list(labels)


def place_legend(
    ax,
    *,
    loc: str | None = None,
    outside: Side = "below",
    handles: Sequence | None = None,
    labels: Sequence[str] | None = None,
    **kwargs,
) -> Legend | None:
    """The legend of ``ax`` where it covers no data of the figure: ``loc`` if given and clear,
    else the first clear location of :data:`LOCATIONS` (with the requested columns, then one
    column), else outside the axes (``outside``: below the x label, in as many columns as fit
    the panel, the figure taller by the legend's height; or right of the axes).

    Args:
        ax: the axes whose labelled artists are listed (or ``handles`` / ``labels``).
        loc: a preferred inside location (one of :data:`LOCATIONS`).
        outside: where the legend goes when no inside location is clear.
        kwargs: passed to :meth:`matplotlib.axes.Axes.legend` (``ncols``, ``title``, ...).

    Returns:
        The legend, or None when nothing is labelled.
    """
    if loc is not None and loc not in LOCATIONS:
        raise ConfigError("loc", loc, ", ".join(LOCATIONS))
    if outside not in ("below", "right"):
        raise ConfigError("outside", outside, "below, right")
    if handles is not None:
        kwargs["handles"] = handles
    if labels is not None:
        kwargs["labels"] = labels
    handles, labels = _legend_entries(ax, kwargs)
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    if not labels:
        return None
    kwargs.pop("loc", None)
    ncols = int(kwargs.pop("ncols", kwargs.pop("ncol", 1)))
    fig = ax.figure
    try:
        r = renderer(fig)
    except ValueError:  # not drawable (a log axis with nothing positive): analysis goes on
        legend = ax.legend(handles, labels, loc=loc or "best", ncols=ncols, **kwargs)
        return _remember(legend, handles, labels, {**kwargs, "ncols": ncols}, outside)
    shapes = figure_shapes(fig)
    order = ([loc] if loc else []) + [where for where in LOCATIONS if where != loc]
    for columns in dict.fromkeys((ncols, 1)):
        for where in order:
            legend = ax.legend(handles, labels, loc=where, ncols=columns, **kwargs)
            if not covers(legend.get_window_extent(r), shapes):
                return _remember(legend, handles, labels, {**kwargs, "ncols": ncols}, outside)
    return legend_outside(ax, handles, labels, side=outside, **kwargs)


def legend_outside(ax, handles: Sequence, labels: Sequence[str], *, side: Side = "below", **kw):
    """The legend of ``ax`` outside the axes: below its x decorations (tick labels and x label)
    in as many columns as fit the panel (the whole figure width for a single panel), the figure
    made taller by what the legend takes; or to the right of the axes, in one column."""
    fig = ax.figure
    kw.pop("ncols", None)
    kw.pop("loc", None)
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    r = renderer(fig)
    if side == "right":
        shift = ScaledTranslation(GAP_IN, 0, fig.dpi_scale_trans)
        legend = ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1, 1),
                           bbox_transform=ax.transAxes + shift, borderaxespad=0, **kw)  # fmt: skip
        return _remember(legend, handles, labels, kw, side)
    decorations = ax.xaxis.get_tightbbox(r)
    bottom = min(ax.bbox.y0, decorations.y0) if decorations is not None else ax.bbox.y0
    below = (ax.bbox.y0 - bottom) / fig.dpi + GAP_IN
    shift = ScaledTranslation(0, -below, fig.dpi_scale_trans)
    room = fig.bbox.width if len(fig.axes) == 1 else 1.05 * ax.bbox.width
    for columns in range(min(len(labels), MAX_COLUMNS), 0, -1):
        legend = ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0),
                           bbox_transform=ax.transAxes + shift, borderaxespad=0,
                           ncols=columns, **kw)  # fmt: skip
        if legend.get_window_extent(r).width <= room:
            break
    make_room(fig, legend.get_window_extent(r).height / fig.dpi + GAP_IN)
    return _remember(legend, handles, labels, kw, side)


def make_room(fig, inches: float) -> None:
    """Make ``fig`` taller so that a legend of ``inches`` under the axes leaves their height:
    by what exceeds the room already made for the other panels' legends."""
    grown = getattr(fig, "_overparam_grown_in", 0.0)
    if inches > grown:
        fig.set_figheight(fig.get_figheight() + inches - grown)
        fig._overparam_grown_in = inches


def legends(fig) -> list[Legend]:
    """The visible legends of ``fig``: each axes' and the figure's own."""
    found = [ax.get_legend() for ax in fig.axes]
    found += list(fig.legends)
    return [leg for leg in found if leg is not None and leg.get_visible()]


def covering(fig) -> list[Legend]:
    """The legends of ``fig`` whose box meets drawn data (after laying the figure out)."""
    r = renderer(fig)
    shapes = figure_shapes(fig)
    return [leg for leg in legends(fig) if covers(leg.get_window_extent(r), shapes)]


def repair(fig) -> int:
    """Move every legend of ``fig`` that covers data outside its axes (below; a figure legend
    below all panels) until none does; returns how many were moved. Moving one makes the
    figure taller, which moves the data under the others, so the check repeats."""
    moved = 0
    for _ in range(len(legends(fig)) + 1):
        bad = covering(fig)
        if not bad:
            return moved
        for legend in bad:
            moved += 1
            _move_outside(fig, legend)
    if covering(fig):
        raise RuntimeError("a legend still covers data after moving every legend outside")
    return moved


def _move_outside(fig, legend: Legend) -> None:
    args = getattr(legend, _ARGS_ATTR, None)
    if legend in fig.legends:
        shown, texts = legend.legend_handles, [t.get_text() for t in legend.texts]
        legend.remove()
        fig.legend(shown, texts, loc="outside lower center", ncols=min(len(texts), 3))
        return
    ax = legend.axes
    side: Side
    if args is None:
        handles, labels = ax.get_legend_handles_labels()
        kw, side = {}, "below"
    else:
        handles, labels, kw, side = args
    legend_outside(ax, handles, labels, side=side, **kw)
