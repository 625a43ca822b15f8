"""The figure helpers draw theory lines through the data they are given, and every study figure
is laid out for the width the report shows it at: legends cover no drawn line, marker or band
(checked by sampling what is drawn, not with the placement code's geometry), every text renders
at >= 10 CSS px, and the SVG keeps its text as <text> elements of that size."""

from __future__ import annotations

import itertools
import math
import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PathCollection
from matplotlib.path import Path as MplPath
from matplotlib.text import Text

from overparam.errors import ConfigError
from overparam.studies import no_critical_points as nc
from overparam.studies.plots import (
    CONTENT_WIDTH_PX,
    HALF_WIDTH_PX,
    MIN_TEXT_PX,
    bound_line,
    fitted_line,
    mean_band,
    new_figure,
    place_legend,
    save,
    theory_through,
)
from overparam.studies.registry import get
from overparam.studies.study import StudyData

from . import (
    test_critical_width,
    test_depth,
    test_du_two_layer,
    test_generalization,
    test_gnn_skip,
    test_kernel_regime,
    test_labels,
    test_width_scaling,
)

EMPTY = pd.DataFrame()
#: Mathtext draws sub- and superscripts at 0.7 of the base size.
SCRIPT = 0.7


def test_plot_helpers_draw_through_the_data():
    fig, (ax,) = new_figure()
    stats = pd.DataFrame({"width": [64.0, 1024.0], "mean": [1.0, 0.25]})
    theory_through(ax, stats, "width", -0.5, label="theory")
    fitted_line(ax, [64, 1024], -0.5, 0.0)
    bound_line(ax, 1.0, label="bound")
    _, y = ax.lines[0].get_data()
    assert np.allclose(y[1] / y[0], (1024 / 64) ** -0.5)
    assert np.sqrt(y[0] * y[1]) == pytest.approx(0.5)
    assert ax.lines[0].get_linestyle() == "--" and ax.lines[1].get_linestyle() == ":"
    plt.close(fig)


def test_mean_band_is_the_geometric_mean_and_range_over_seeds():
    df = pd.DataFrame({"width": [8, 8, 16, 16], "y": [1.0, 4.0, 2.0, 2.0]})
    band = mean_band(df, "width", "y").set_index("width")
    assert band.loc[8, "mean"] == pytest.approx(2.0)
    assert (band.loc[8, "lo"], band.loc[8, "hi"]) == (1.0, 4.0)
    assert band.loc[16, "mean"] == pytest.approx(2.0)


# -- an independent overlap check: sample what is drawn --------------------------------------


def _inside(xy: np.ndarray, box) -> np.ndarray:
    return (xy[:, 0] > box.x0) & (xy[:, 0] < box.x1) & (xy[:, 1] > box.y0) & (xy[:, 1] < box.y1)


def _clip_segment(a: np.ndarray, b: np.ndarray, box) -> tuple[float, float] | None:
    """The parameter range [t0, t1] of a + t (b - a) inside ``box`` (Liang-Barsky)."""
    t0, t1 = 0.0, 1.0
    d = b - a
    for p, q in ((-d[0], a[0] - box.x0), (d[0], box.x1 - a[0]),
                 (-d[1], a[1] - box.y0), (d[1], box.y1 - a[1])):  # fmt: skip
        if p == 0:
            if q < 0:
                return None
        elif p < 0:
            t0 = max(t0, q / p)
        else:
            t1 = min(t1, q / p)
    return (t0, t1) if t0 <= t1 else None


def _along(xy: np.ndarray, clip) -> np.ndarray:
    """Points every <= 0.5 px along the polyline ``xy`` where it lies inside ``clip``."""
    out = [np.empty((0, 2))]
    for a, b in itertools.pairwise(xy):
        if not (np.isfinite(a).all() and np.isfinite(b).all()):
            continue
        span = _clip_segment(a, b, clip)
        if span is None:
            continue
        length = float(np.hypot(*(b - a))) * (span[1] - span[0])
        t = np.linspace(span[0], span[1], max(2, math.ceil(2 * length) + 1))[:, None]
        out.append(a + t * (b - a))
    return np.concatenate(out)


def _disc_meets(centres: np.ndarray, radius: float, box) -> bool:
    dx = np.maximum.reduce([box.x0 - centres[:, 0], np.zeros(len(centres)), centres[:, 0] - box.x1])
    dy = np.maximum.reduce([box.y0 - centres[:, 1], np.zeros(len(centres)), centres[:, 1] - box.y1])
    return bool((np.hypot(dx, dy) < radius).any())


def _region(box, ax):
    x0, x1 = max(box.x0, ax.bbox.x0), min(box.x1, ax.bbox.x1)
    y0, y1 = max(box.y0, ax.bbox.y0), min(box.y1, ax.bbox.y1)
    if x0 >= x1 or y0 >= y1:
        return None
    return type(box).from_extents(x0, y0, x1, y1)


def covered(fig, box) -> list[str]:
    """What drawn data of ``fig`` lies under ``box`` (display coordinates): line samples,
    marker discs, band boundaries and band interiors, each clipped to its axes."""
    px = fig.dpi / 72
    hits = []
    for ax in fig.axes:
        region = _region(box, ax)
        if region is None:
            continue
        for line in ax.get_lines():
            xy = np.asarray(line.get_xydata(), float)
            if not line.get_visible() or xy.size == 0:
                continue
            xy = line.get_transform().transform(xy)
            if (
                line.get_linestyle() not in ("None", "")
                and _inside(_along(xy, ax.bbox), region).any()
            ):
                hits.append(f"line {line.get_label()!r}")
            ok = np.isfinite(xy).all(axis=1) & _inside(xy, ax.bbox)
            marked = line.get_marker() not in ("None", "", None) and ok.any()
            if marked and _disc_meets(xy[ok], line.get_markersize() / 2 * px, region):
                hits.append(f"markers of {line.get_label()!r}")
        for coll in ax.collections:
            if isinstance(coll, PathCollection):
                xy = coll.get_offset_transform().transform(np.asarray(coll.get_offsets(), float))
                ok = _inside(xy, ax.bbox)
                r = math.sqrt(float(coll.get_sizes().max())) / 2 * px
                if ok.any() and _disc_meets(xy[ok], r, region):
                    hits.append("scatter")
                continue
            gx, gy = np.meshgrid(np.linspace(region.x0, region.x1, 7),
                                 np.linspace(region.y0, region.y1, 7))  # fmt: skip
            grid = np.column_stack([gx.ravel(), gy.ravel()])
            for path in coll.get_paths():
                for poly in path.to_polygons(coll.get_transform()):
                    edge = _along(np.vstack([poly, poly[:1]]), ax.bbox)
                    if _inside(edge, region).any() or MplPath(poly).contains_points(grid).any():
                        hits.append("band")
    return hits


def legend_boxes(fig) -> list:
    """The display boxes of every legend of ``fig``, laid out as saved."""
    if not hasattr(fig.canvas, "get_renderer"):  # pyplot.close left the figure without one
        FigureCanvasAgg(fig)
    fig.draw_without_rendering()
    found = [ax.get_legend() for ax in fig.axes] + list(fig.legends)
    r = fig.canvas.get_renderer()
    return [leg.get_window_extent(r) for leg in found if leg is not None and leg.get_visible()]


# -- text sizes --------------------------------------------------------------------------------


def svg_width(text: str) -> float:
    return float(re.search(r'<svg[^>]*\swidth="([0-9.]+)pt"', text).group(1))


def svg_text_sizes(text: str) -> list[tuple[float, float]]:
    """(base, smallest) font size of every <text> element (user units = pt): a mathtext
    element holds one <tspan> per glyph, its scripts smaller than the base."""
    out = []
    for element in re.findall(r"<text\b.*?</text>", text, flags=re.S):
        sizes = [float(s) for s in re.findall(r"font-size: ?([0-9.]+)px", element)]
        sizes += [float(s) for s in re.findall(r"font: ?([0-9.]+)px", element)]
        if sizes:
            out.append((max(sizes), min(sizes)))
    return out


def check_figure(spec, directory) -> float:
    """Save one study figure and check it; returns its smallest base text size in CSS px."""
    fig = spec.figure
    saved = save(fig, directory, spec.name, png=False)
    wide = len(fig.axes) > 1
    assert saved.display_px == (CONTENT_WIDTH_PX if wide else HALF_WIDTH_PX), spec.name
    svg = saved.svg.read_text(encoding="utf-8")
    scale = saved.display_px / svg_width(svg)  # CSS px per pt of the tight-cropped figure
    for box in legend_boxes(fig):
        assert not covered(fig, box), (spec.name, covered(fig, box))
    texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    smallest = min(t.get_fontsize() for t in texts) * scale
    assert smallest >= MIN_TEXT_PX, (spec.name, smallest)
    sizes = svg_text_sizes(svg)
    assert len(sizes) >= 6, spec.name  # tick labels, axis labels, title, legend: text, not paths
    assert min(base for base, _ in sizes) * scale >= MIN_TEXT_PX, spec.name
    assert min(low for _, low in sizes) * scale >= SCRIPT * MIN_TEXT_PX - 1e-9, spec.name
    assert "$" not in "".join(re.findall(r"<text\b.*?</text>", svg, flags=re.S)), spec.name
    return smallest


# -- every study's figures, from the frames its own tests craft ------------------------------


def linear_rate_data() -> StudyData:
    """Du et al.'s runs (softplus and relu, three widths, two seeds): geometric loss curves,
    their kernel prediction off by m^(-1/2), lambda_min(Theta_t) falling to 0.9 lambda_0."""
    runs, losses, probes = [], [], []
    steps = np.arange(0, 41, 2)
    rid = 0
    for act in ("softplus", "relu"):
        for w in (64, 256, 1024):
            for seed in (0, 1):
                rid += 1
                runs.append(dict(run_id=rid, status="done", train_status="converged", width=w,
                                 seed=seed, activation=act, parameterization="du", depth=2,
                                 n=16, lr_used=0.1, initial_loss=1.0, dtype="float64"))  # fmt: skip
                loss = (1 + 0.05 * seed) * 0.9**steps
                base = dict(run_id=rid, layer="all", bound=np.nan, ratio=np.nan)
                probes.append({**base, "step": 0, "probe": "rate", "quantity": "contraction",
                               "value": 0.95, "bound": 0.95})  # fmt: skip
                for t, v in zip(steps, loss, strict=True):
                    losses.append(dict(run_id=rid, step=int(t), loss=float(v)))
                    predicted = v * (1 + w**-0.5)
                    probes.append({**base, "step": int(t), "probe": "rate",
                                   "quantity": "predicted_loss", "value": predicted})  # fmt: skip
                    probes.append({**base, "step": int(t), "probe": "rate",
                                   "quantity": "loss_curve_error", "value": w**-0.5})  # fmt: skip
                for t in (0, 20, 40):
                    lam = 1.0 - 0.1 * t / 40
                    probes.append({**base, "step": t, "probe": "ntk_drift",
                                   "quantity": "lambda_min", "value": lam, "bound": 0.5,
                                   "ratio": lam / 0.5})  # fmt: skip
    return StudyData(pd.DataFrame(runs), pd.DataFrame(losses), pd.DataFrame(probes), EMPTY)


def no_critical_points_data() -> StudyData:
    """Both networks at three widths and two seeds: gradient ratios c m above their lower bound
    0.01 m and below the upper 100 m, positive residuals at half their bound."""
    runs, losses, probes = [], [], []
    steps = (0, 1, 2, 5, 10, 20, 50)
    rid = 0
    for p in nc.PARAMETERIZATIONS:
        for w in (64, 256, 1024):
            for seed in (0, 1):
                rid += 1
                runs.append(dict(run_id=rid, status="done", train_status="converged", width=w,
                                 seed=seed, activation="relu", parameterization=p, depth=2,
                                 n=16, lr_used=0.1, initial_loss=1.0, dtype="float64",
                                 steps_run=50))  # fmt: skip
                for t in steps:
                    g = w * (1.0 + 0.1 * seed) * (1 - 0.5 * t / 50)
                    losses.append(dict(run_id=rid, step=t, loss=0.9**t))
                    for q, bound in (("lower_allen_zhu", 0.01 * w), ("lower_zou_gu", 0.01 * w),
                                     ("upper_allen_zhu", 100.0 * w)):  # fmt: skip
                        probes.append(dict(run_id=rid, step=t, probe="gradient_ratio",
                                           quantity=q, layer="all", value=g, bound=bound,
                                           ratio=g / bound))  # fmt: skip
                    probes.append(dict(run_id=rid, step=t, probe="semi_smoothness",
                                       quantity="residual", layer="all", value=1e-3 * 0.9**t,
                                       bound=2e-3 * 0.9**t, ratio=0.5))  # fmt: skip
    return StudyData(pd.DataFrame(runs), pd.DataFrame(losses), pd.DataFrame(probes), EMPTY)


def generalization_data() -> StudyData:
    runs = pd.DataFrame(
        [dict(run_id=i, status="done", data="digits", noise=p, n=test_generalization.N_FULL,
              seed=s, test_accuracy=0.9 - 0.3 * p - 0.01 * s)
         for i, (p, s) in enumerate((p, s) for p in test_generalization.gen.NOISES
                                    for s in (0, 1, 2))]
    )  # fmt: skip
    return StudyData(runs, EMPTY, EMPTY, test_generalization.crafted())


BUILDERS = {
    "du-two-layer": lambda: test_du_two_layer.crafted(True),
    "width-scaling": lambda: test_width_scaling.crafted(0.0),
    "kernel-regime": lambda: StudyData(EMPTY, EMPTY, EMPTY, test_kernel_regime.crafted()),
    "no-critical-points": no_critical_points_data,
    "linear-rate": linear_rate_data,
    "critical-width": lambda: StudyData(
        test_critical_width.critical_runs(5.0), EMPTY, EMPTY, EMPTY
    ),
    "depth": test_depth.depth_data,
    "gnn-skip": lambda: test_gnn_skip.synthetic(faster=True),
    "generalization": generalization_data,
    "labels": test_labels.crafted,
}


#: Each study's figures on its crafted frames (one test per figure, each under 3 s).
FIGURES = {
    "du-two-layer": ("loss", "pattern_changes", "distance"),
    "width-scaling": ("movement", "flips", "hidden_drift", "ntk_drift", "linearization"),
    "kernel-regime": ("kernel_ntk_convergence", "kernel_du_lambda_min", "kernel_du_init",
                      "kernel_cnn_convergence"),
    "no-critical-points": ("gradient_ratio", "gradient_ratio_vs_width", "semi_smoothness"),
    "linear-rate": ("loss_curves", "kernel_regime"),
    "critical-width": ("critical_width_scaling", "critical_width_theory_practice",
                       "critical_width_success"),
    "depth": ("depth_width_needed", "depth_iterations", "depth_norms", "depth_gram"),
    "gnn-skip": ("gnn_skip_curves", "gnn_skip_speed", "gnn_skip_prediction"),
    "generalization": ("generalization_noise", "generalization_n"),
    "labels": ("labels_loss_curves", "labels_speed", "labels_generalization"),
}  # fmt: skip
_FIGURES: dict[str, dict] = {}


def study_figure(study: str, name: str):
    """Figure ``name`` of ``study`` analysed on its crafted frames (each study analysed once;
    each figure handed out once, since saving closes it)."""
    if study not in _FIGURES:
        result = get(study).analyze(BUILDERS[study]())
        _FIGURES[study] = {f.name: f for f in result.figures}
        assert sorted(_FIGURES[study]) == sorted(FIGURES[study]), study
    return _FIGURES[study].pop(name)


@pytest.mark.parametrize(("study", "name"), [(s, f) for s, names in FIGURES.items() for f in names])
def test_study_figure_fits_its_width_and_its_legends_cover_no_data(study, name, tmp_path):
    check_figure(study_figure(study, name), tmp_path)


def test_a_figure_with_no_positive_value_on_its_log_axis_is_still_laid_out(tmp_path):
    """Negative lambda_min(K^(H)) at every depth (a contradicted claim): no point is drawn on
    the log axis, the figure still has its depth axis and a legend."""
    meas = test_kernel_regime.crafted(lam=-1e-3)
    result = get("kernel-regime").analyze(StudyData(EMPTY, EMPTY, EMPTY, meas))
    figures = {f.name: f for f in result.figures}
    assert check_figure(figures.pop("kernel_du_lambda_min"), tmp_path) >= MIN_TEXT_PX
    for f in figures.values():
        plt.close(f.figure)


# -- place_legend on crafted axes --------------------------------------------------------------


def _grid(x0: float, x1: float, y0: float, y1: float, k: int = 12) -> tuple[np.ndarray, ...]:
    x, y = np.meshgrid(np.linspace(x0, x1, k), np.linspace(y0, y1, k))
    return x.ravel(), y.ravel()


def _entries(ax) -> None:
    ax.plot([0, 1], [0.5, 0.5], label="a line")
    ax.plot([], [], "--", label="a second entry")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)


def test_a_full_upper_right_corner_sends_the_legend_elsewhere():
    fig, (ax,) = new_figure()
    ax.scatter(*_grid(0.45, 1.0, 0.6, 1.0), s=12, color="C1")
    _entries(ax)
    (blocked,) = legend_boxes_of(ax, loc="upper right")
    assert covered(fig, blocked)  # matplotlib's own corner would hide data
    legend = place_legend(ax)
    (box,) = legend_boxes(fig)
    assert not covered(fig, box)
    assert box.x0 >= ax.bbox.x0 and box.y1 <= ax.bbox.y1  # still inside the axes
    assert legend.get_bbox_to_anchor().bounds == ax.bbox.bounds
    plt.close(fig)


def legend_boxes_of(ax, **kwargs) -> list:
    ax.legend(**kwargs)
    boxes = legend_boxes(ax.figure)
    ax.get_legend().remove()
    return boxes


@pytest.mark.parametrize("side", ["below", "right"])
def test_every_corner_full_puts_the_legend_outside(side):
    fig, (ax,) = new_figure()
    ax.scatter(*_grid(0.0, 1.0, 0.0, 1.0, k=20), s=12, color="C1")
    _entries(ax)
    height = fig.get_figheight()
    place_legend(ax, outside=side)
    (box,) = legend_boxes(fig)
    assert not covered(fig, box)
    if side == "below":
        assert box.y1 <= ax.xaxis.get_tightbbox().y0  # under the tick labels
        assert fig.get_figheight() > height  # the axes keep their height
    else:
        assert box.x0 >= ax.bbox.x1
    plt.close(fig)


def test_save_moves_a_legend_that_covers_data_outside(tmp_path):
    fig, (ax,) = new_figure()
    ax.fill_between([0, 1], [0.0, 0.0], [1.0, 1.0], alpha=0.2, label="a band over everything")
    _entries(ax)
    ax.legend(loc="upper right")  # drawn by matplotlib where it was told, over the band
    (box,) = legend_boxes(fig)
    assert "band" in covered(fig, box)
    png, svg = save(fig, tmp_path, "covered")  # SavedFigure unpacks as (png, svg)
    assert png.stat().st_size > 0 and svg.stat().st_size > 0
    (box,) = legend_boxes(fig)
    assert not covered(fig, box) and box.y1 <= ax.bbox.y0


def test_bad_arguments_name_the_field():
    fig, (ax,) = new_figure()
    ax.plot([0, 1], label="x")
    with pytest.raises(ConfigError, match="loc"):
        place_legend(ax, loc="middle")
    with pytest.raises(ConfigError, match="outside"):
        place_legend(ax, outside="left")
    with pytest.raises(ConfigError, match="ncols"):
        new_figure(0)
    plt.close(fig)


def test_mathtext_stays_text_in_the_svg_with_scripts_at_07_of_the_base(tmp_path):
    fig, (ax,) = new_figure()
    ax.plot([1, 2, 3], [1, 4, 9])
    ax.set_ylabel(r"$\lambda_{\min}(K^{(H)})$")
    svg = save(fig, tmp_path, "math", png=False).svg.read_text(encoding="utf-8")
    (label,) = [e for e in re.findall(r"<text\b.*?</text>", svg, flags=re.S) if "λ" in e]
    glyphs = re.findall(r"font-size: ([0-9.]+)px[^>]*>([^<]+)</tspan>", label)
    sizes = {glyph: float(size) for size, glyph in glyphs}
    assert set(sizes) == set("λminK(H)")
    assert sizes["λ"] == pytest.approx(plt.rcParams["axes.labelsize"]) == sizes["K"]
    assert sizes["m"] == pytest.approx(SCRIPT * sizes["λ"]) and sizes["H"] == sizes["m"]
