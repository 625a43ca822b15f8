"""Study ``depth``: fully connected network against ResNet as depth grows -- width needed,
iterations, forward stability and the Gram's smallest eigenvalue.

[du-2019-deep]: for the fully connected network x^(h) = sqrt(c_sigma/m) sigma(W^(h) x^(h-1)) the
width and step size of Theorem 5.1 carry a 2^O(H) factor, while for the ResNet x^(h) = x^(h-1) +
c_res/(H sqrt(m)) sigma(W^(h) x^(h-1)) (Section 6, Theorem 6.1) they are polynomial in H; both
theorems assume an activation of Condition 3.1 (analytic, non-polynomial, Lipschitz and smooth:
softplus, tanh; ReLU is not). The exponential comes from the forward-stability constants, which
multiply layer by layer without the skip ([allen-zhu-2019, Lemma 7.1]: ||h_l|| ~ 1 needs m >> L
for the fully connected ReLU network).

Both networks use Du et al.'s parameterization (``du``, c_res = 1) on the same sphere data
(n = 16 unit inputs in d = 8, Gaussian labels), with tanh (the theorems' setting) and with ReLU
beside them (judged too: *outside assumptions*; softplus, also smooth, stalls near 20% of L(0)
within 600 steps at this step size: its outputs share a large mean, so lambda_max of the
Gauss-Newton matrix, and with it the step, is set by one direction), trained by GD with the
measured stable step lr = "auto" until the loss is 1% of L(0) (``target_ratio``) or the step
budget runs out:

* width needed(H): the smallest grid width from which every seed converges at every larger width
  (inf, censored, when the largest width fails); both scales use the doubling grid 16 .. 128, so
  one :class:`~overparam.studies.claims.Grid` describes every stored value;
* iterations(H): the steps to converge at the largest width (converged runs);
* measured without training: the spread max/min of ||x^(H)|| / ||x|| over inputs and init seeds
  at width 32, and lambda_min of Du et al.'s K^(H) (ReLU) for both networks (Definition 5.1,
  eq. (7); Definition 6.1, whose ResNet Gram carries (c_res / H)^2).

The theorems' widths are sufficient, so the study compares the *shape* in H, not the constants.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from overparam.studies.claims import Claim, Grid, Monotone, Resolution, Slope
from overparam.studies.frames import converged
from overparam.studies.hypotheses import DU_SMOOTH, RELU
from overparam.studies.plan import sweep
from overparam.studies.study import Context, Evidence, FigureSpec, Scale, Study, StudyData
from overparam.sweep.spec import SweepSpec

NAME = "depth"
ARCHS = ("fc", "resnet")
N, D = 16, 8
TARGET_RATIO = 1e-2  # converged once L <= 1% of L(0)
NORM_WIDTH = 32  # the width at which forward norms are measured (m ~ L: where fc's drift shows)
NORM_SEEDS = (0, 1, 2, 3)
WIDTHS = (16, 32, 64, 128)  # the doubling width grid of both scales
GRID = Grid(2.0, float(WIDTHS[0]), float(WIDTHS[-1]))
THM_FC = "du-2019-deep, Theorem 5.1"
THM_RES = "du-2019-deep, Theorem 6.1"


@dataclass(frozen=True)
class Size:
    depths: tuple[int, ...]
    seeds: tuple[int, ...]
    activations: tuple[str, ...]
    steps: int
    measure_depths: tuple[int, ...]
    norm_seeds: tuple[int, ...]


# 600 steps: every ReLU ResNet of the grid reaches 1% of L(0) well within it (the slowest, width
# 16 at H = 32, takes ~420 steps), so a failure to converge is a width effect, not the budget.
SIZES: dict[str, Size] = {
    "quick": Size((2, 8, 32), (0,), ("relu", "tanh"), 600, (2, 8, 32), NORM_SEEDS[:2]),
    "full": Size(
        (2, 4, 8, 16, 32),
        (0, 1),
        ("relu", "tanh"),
        600,
        (2, 4, 8, 16, 32, 64),
        NORM_SEEDS,
    ),
}


def plan(scale: Scale) -> list[SweepSpec]:
    s = SIZES[scale]
    base = dict(parameterization="du", n=N, d=D, steps=s.steps, target_ratio=TARGET_RATIO)
    grid: dict[str, list[Any]] = {
        "arch": list(ARCHS),
        "activation": list(s.activations),
        "depth": list(s.depths),
        "width": list(WIDTHS),
        "seed": list(s.seeds),
    }
    return [sweep(NAME, scale, base=base, grid=grid)]


# -- claims ------------------------------------------------------------------------------------

_RATE = (
    r"iterations to 1% of $L(0)$ at the largest width grow at most like $H^2$ ($\mathrm{poly}(H)$)"
)
_WIDTH_FC = "the width the fully connected net needs grows with depth ($2^{O(H)}$ of Theorem 5.1)"
_WIDTH_RES = (
    r"the width the ResNet needs does not grow with depth ($\mathrm{poly}(H)$ of Theorem 6.1)"
)

CLAIMS = (
    Claim(
        "norms-fc",
        "the fully connected ReLU net's forward-norm spread grows with $H$ at fixed "
        f"$m={NORM_WIDTH}$",
        cite="allen-zhu-2019, Lemma 7.1",
        quantity="norm_spread",
        test=Monotone("increasing", x="depth", min_points=3),
        hypotheses=(RELU,),
    ),
    Claim(
        "norms-resnet",
        rf"the ResNet's forward-norm spread stays bounded in $H$ ($m={NORM_WIDTH}$, "
        r"smooth $\sigma$)",
        cite="du-2019-deep, Section 6",
        quantity="norm_spread",
        test=Slope(0.0, 0.1, kind="at_most", x="depth"),
        hypotheses=(DU_SMOOTH,),
    ),
    Claim(
        "width-fc",
        _WIDTH_FC + r" (smooth $\sigma$)",
        cite=THM_FC,
        quantity="width_needed",
        test=Monotone("increasing", x="depth", min_points=3),
        hypotheses=(DU_SMOOTH,),
    ),
    Claim(
        "width-fc-relu",
        _WIDTH_FC + " (ReLU runs)",
        cite=THM_FC,
        quantity="width_needed",
        test=Monotone("increasing", x="depth", min_points=3),
        hypotheses=(DU_SMOOTH,),
    ),
    Claim(
        "width-resnet",
        _WIDTH_RES + r" (smooth $\sigma$)",
        cite=THM_RES,
        quantity="width_needed",
        test=Slope(0.0, 0.1, kind="at_most", x="depth", grid=GRID),
        hypotheses=(DU_SMOOTH,),
    ),
    Claim(
        "width-resnet-relu",
        _WIDTH_RES + " (ReLU runs)",
        cite=THM_RES,
        quantity="width_needed",
        test=Slope(0.0, 0.1, kind="at_most", x="depth", grid=GRID),
        hypotheses=(DU_SMOOTH,),
    ),
    Claim(
        "iterations-resnet",
        "ResNet: " + _RATE + r" (smooth $\sigma$)",
        cite=THM_RES,
        quantity="steps",
        test=Slope(2.0, 0.25, kind="at_most", x="depth"),
        hypotheses=(DU_SMOOTH,),
    ),
    Claim(
        "iterations-resnet-relu",
        "ResNet: " + _RATE + " (ReLU runs)",
        cite=THM_RES,
        quantity="steps",
        test=Slope(2.0, 0.25, kind="at_most", x="depth"),
        hypotheses=(DU_SMOOTH,),
    ),
    Claim(
        "gram-resnet",
        r"$\lambda_{\min}$ of the ResNet's Gram $K^{(H)}$ falls like $H^{-2}$ "
        r"(its $(c_{\mathrm{res}}/H)^2$ factor)",
        cite="du-2019-deep, Definition 6.1",
        quantity="lambda_min",
        test=Slope(-2.0, 0.25, kind="equal", x="depth"),
        resolution=Resolution(dtype="float64", scale="lambda_max"),
    ),
)


# -- measurements without training -------------------------------------------------------------


def _inputs() -> torch.Tensor:
    from overparam.config import build_config
    from overparam.run import build_data

    cfg = build_config(parameterization="du", n=N, d=D, width=NORM_WIDTH, depth=2, steps=1)
    train, _ = build_data(cfg)
    return train.X.to(torch.float64)


def norm_spread(
    arch: str,
    depth: int,
    width: int,
    X: torch.Tensor,
    seeds: tuple[int, ...] = NORM_SEEDS,
    activation: str = "relu",
) -> float:
    """max / min over inputs and init seeds of ||x^(H)|| / ||x|| at init (last hidden layer)."""
    from overparam.models import FullyConnected, ResNet

    cls = ResNet if arch == "resnet" else FullyConnected
    ratios = []
    for seed in seeds:
        net = cls(X.shape[1], width, depth, parameterization="du", activation=activation,
                  dtype=torch.float64, seed=seed)  # fmt: skip
        with torch.no_grad():
            _, _, hidden = net(X, return_hidden=True)
        ratios.append(hidden[-1].norm(dim=1) / X.norm(dim=1))
    r = torch.cat(ratios)
    return float(r.max() / r.min().clamp_min(1e-300))


def gram_eigenvalues(arch: str, depth: int, X: torch.Tensor) -> tuple[float, float]:
    """(lambda_min, lambda_max) of Du et al.'s ReLU K^(H) (fc: Definition 5.1; resnet:
    Definition 6.1, H >= 2)."""
    from overparam.ntk.gram import du_gram
    from overparam.ntk.resnet_gram import du_resnet_gram

    K = du_resnet_gram(X, depth) if arch == "resnet" else du_gram(X, depth=depth)
    ev = np.linalg.eigvalsh(K)
    return float(ev[0]), float(ev[-1])


def measure(scale: Scale) -> pd.DataFrame:
    s = SIZES[scale]
    X = _inputs()
    rows = []
    for arch in ARCHS:
        for depth in s.measure_depths:
            for act in s.activations:
                value = norm_spread(arch, depth, NORM_WIDTH, X, s.norm_seeds, act)
                rows.append(dict(quantity="norm_spread", arch=arch, activation=act, depth=depth,
                                 width=NORM_WIDTH, value=value))  # fmt: skip
            if arch == "fc" or depth >= 2:
                lo, hi = gram_eigenvalues(arch, depth, X)
                rows.append(dict(quantity="gram_lambda_min", arch=arch, activation="relu",
                                 depth=depth, width=math.inf, value=lo, lambda_max=hi))  # fmt: skip
    return pd.DataFrame(rows)


# -- analysis (pure functions of the stored frames) --------------------------------------------


def run_table(runs: pd.DataFrame, losses: pd.DataFrame) -> pd.DataFrame:
    """One row per run: arch, activation, depth, width, seed, converged, steps (to the target;
    from the stored loss curve when there is one)."""
    out = runs[["arch", "depth", "width", "seed"]].copy()
    out["activation"] = runs["activation"].astype(str) if "activation" in runs else "relu"
    out["depth"] = out["depth"].astype(int)
    out["width"] = out["width"].astype(int)
    out["converged"] = converged(runs)
    steps = runs["steps_run"] if "steps_run" in runs else runs.get("steps")
    if not losses.empty:
        last = losses.groupby("run_id")["step"].max()
        steps = runs["run_id"].map(last).fillna(steps if steps is not None else np.nan)
    out["steps"] = np.asarray(steps, dtype=float)
    return out.reset_index(drop=True)


def width_needed(table: pd.DataFrame) -> pd.DataFrame:
    """(arch, activation, depth, width_needed): the smallest grid width w such that every seed
    converged at every width >= w; inf when even the largest width failed (censored)."""
    rows = []
    for (arch, act, depth), group in table.groupby(["arch", "activation", "depth"]):
        ok = group.groupby("width")["converged"].all().sort_index()
        needed = math.inf
        for w in reversed(ok.index.tolist()):
            if not ok[w]:
                break
            needed = float(w)
        rows.append(dict(arch=arch, activation=act, depth=int(depth), width_needed=needed))
    return pd.DataFrame(rows, columns=["arch", "activation", "depth", "width_needed"])


def iterations(table: pd.DataFrame) -> pd.DataFrame:
    """(arch, activation, depth, seed, steps): steps to converge at the largest width
    (converged runs only)."""
    top = table[(table["width"] == table["width"].max()) & table["converged"]]
    return top[["arch", "activation", "depth", "seed", "steps"]].reset_index(drop=True)


def _split(df: pd.DataFrame, arch: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(smooth-activation rows, ReLU rows) of one architecture."""
    a = df[df["arch"] == arch]
    relu = a["activation"] == "relu"
    return a[~relu].reset_index(drop=True), a[relu].reset_index(drop=True)


def evidence(data: StudyData) -> Evidence:
    meas = data.measurements
    frames: dict[str, pd.DataFrame] = {}
    figures: list[FigureSpec] = []
    tables: dict[str, pd.DataFrame] = {}
    context: list[Context] = []
    if not meas.empty and "quantity" in meas:
        norms = meas[meas["quantity"] == "norm_spread"].rename(columns={"value": "norm_spread"})
        _, fc_r = _split(norms, "fc")
        res_s, _ = _split(norms, "resnet")
        frames["norms-fc"], frames["norms-resnet"] = fc_r, res_s
        grams = meas[meas["quantity"] == "gram_lambda_min"].rename(columns={"value": "lambda_min"})
        frames["gram-resnet"] = grams[grams["arch"] == "resnet"].reset_index(drop=True)
        context += gram_context(grams)
        figures += [figure_norms(norms), figure_gram(grams)]
    if not data.runs.empty and {"arch", "train_status"} <= set(data.runs.columns):
        table = run_table(data.runs, data.losses)
        wn, it = width_needed(table), iterations(table)
        for arch, key in (("fc", "width-fc"), ("resnet", "width-resnet")):
            smooth, relu = _split(wn, arch)
            frames[key], frames[f"{key}-relu"] = smooth, relu
        smooth, relu = _split(it, "resnet")
        frames["iterations-resnet"], frames["iterations-resnet-relu"] = smooth, relu
        tables = {"width_needed": wn, "iterations": it}
        figures = [figure_width(wn), figure_iterations(it), *figures]
    return Evidence(frames=frames, figures=figures, tables=tables, context=context)


def gram_context(grams: pd.DataFrame) -> list[Context]:
    """The fully connected K^(H)'s lambda_min over the measured depths (no claim is made of
    its shape: Theorem 5.1 only needs it positive)."""
    fc = grams[grams["arch"] == "fc"].sort_values("depth")
    if fc.empty:
        return []
    lo, hi = fc.iloc[0], fc.iloc[-1]
    return [
        Context(
            r"$\lambda_{\min}$ of the fully connected $K^{(H)}$ (ReLU)",
            f"{lo['lambda_min']:.3g} at H={int(lo['depth'])} -> {hi['lambda_min']:.3g} at "
            f"H={int(hi['depth'])}",
            cite="du-2019-deep, Definition 5.1",
            why="shown beside the ResNet's $H^{-2}$: the theorem states no shape in $H$ for it",
        )
    ]


# -- figures -----------------------------------------------------------------------------------


def depth_axis(ax) -> None:
    """Log-2 depth axis labelled 2, 4, 8, ... (plain numbers, no minor labels)."""
    from matplotlib.ticker import NullFormatter

    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:g}")
    ax.xaxis.set_minor_formatter(NullFormatter())


def _series(df: pd.DataFrame):
    """(index, arch, activation, rows sorted by depth) per arch and activation."""
    keys = df[["arch", "activation"]].drop_duplicates().sort_values(["arch", "activation"])
    for i, (arch, act) in enumerate(keys.itertuples(index=False)):
        sub = df[(df["arch"] == arch) & (df["activation"] == act)].sort_values("depth")
        yield i, arch, act, sub


def figure_width(wn: pd.DataFrame) -> FigureSpec:
    from overparam.studies.plots import COLORS, new_figure, place_legend

    cap = 2.0 * WIDTHS[-1]
    fig, (ax,) = new_figure()
    for i, arch, act, sub in _series(wn):
        w = sub["width_needed"].to_numpy(float)
        shown = np.where(np.isfinite(w), w, cap)
        color = COLORS[i % len(COLORS)]
        ax.plot(sub["depth"], shown, marker="o", ms=4, color=color, label=f"{arch}, {act}",
                ls="-" if arch == "fc" else "--")  # fmt: skip
        cens = ~np.isfinite(w)
        if cens.any():
            ax.scatter(sub["depth"][cens], shown[cens], marker="^", s=40, color=color)
    ax.set_yscale("log", base=2)
    ax.set_xlabel("depth $H$")
    ax.set_ylabel("smallest width that trains")
    ax.set_title("width needed vs depth (du parameterization)")
    place_legend(ax)
    return FigureSpec(
        "depth_width_needed",
        "Smallest width (of the grid 16..128) from which GD reaches 1% of $L(0)$ for every seed, "
        "against depth: fully connected (solid) vs ResNet (dashed), per activation "
        "[du-2019-deep, Theorems 5.1 and 6.1; ReLU is outside their Condition 3.1]. Linear "
        "depth axis, log width: an exponential is a straight line. Triangles: no width of the "
        "grid trained (drawn at twice the largest).",
        fig,
    )


def figure_iterations(it: pd.DataFrame) -> FigureSpec:
    from overparam.studies.plots import COLORS, THEORY, loglog, new_figure, place_legend

    fig, (ax,) = new_figure()
    med = it.groupby(["arch", "activation", "depth"])["steps"].median().reset_index()
    for i, arch, act, sub in _series(med):
        ax.plot(sub["depth"], sub["steps"], marker="o", ms=4, color=COLORS[i % len(COLORS)],
                label=f"{arch}, {act}", ls="-" if arch == "fc" else "--")  # fmt: skip
    res = med[med["arch"] == "resnet"].sort_values("depth")
    if len(res):
        x0, y0 = float(res["depth"].iloc[0]), float(res["steps"].iloc[0])
        xs = np.asarray(sorted(med["depth"].unique()), float)
        ax.plot(xs, y0 * (xs / x0) ** 2, label="$H^2$ (a polynomial reference)", **THEORY)
    loglog(ax, "depth $H$", "steps to 1% of $L(0)$", f"iterations at width $m = {WIDTHS[-1]}$")
    depth_axis(ax)
    place_legend(ax)
    return FigureSpec(
        "depth_iterations",
        "Median GD steps (`lr = auto`) to reach 1% of the initial loss at the largest width, "
        r"against depth [du-2019-deep, Theorem 6.1: $\mathrm{poly}(H)$ for the ResNet]; "
        "dashed: $H^2$.",
        fig,
    )


def figure_norms(norms: pd.DataFrame) -> FigureSpec:
    from overparam.studies.plots import COLORS, loglog, new_figure, place_legend

    fig, (ax,) = new_figure()
    for i, arch, act, sub in _series(norms):
        ax.plot(sub["depth"], sub["norm_spread"], marker="o", ms=4, color=COLORS[i % len(COLORS)],
                label=f"{arch}, {act}", ls="-" if arch == "fc" else "--")  # fmt: skip
    ylabel = r"$\max\,/\,\min$ of $\|x^{(H)}\| \,/\, \|x\|$"
    loglog(ax, "depth $H$", ylabel, f"forward norms at init, $m = {NORM_WIDTH}$")
    depth_axis(ax)
    place_legend(ax)
    return FigureSpec(
        "depth_norms",
        "Spread of the last hidden layer's norm over inputs and init seeds, against depth: the "
        "ResNet's stays $O(1)$ [du-2019-deep, Section 6], the fully connected net's log-norm "
        r"drifts with variance $O(H/m)$ [allen-zhu-2019, Lemma 7.1 needs $m \gg L$].",
        fig,
    )


def figure_gram(grams: pd.DataFrame) -> FigureSpec:
    from overparam.studies.plots import COLORS, THEORY, loglog, new_figure, place_legend

    fig, (ax,) = new_figure()
    for i, arch in enumerate(ARCHS):
        sub = grams[grams["arch"] == arch].sort_values("depth")
        ax.plot(sub["depth"], sub["lambda_min"], marker="o", ms=4, color=COLORS[i], label=arch)
    res = grams[grams["arch"] == "resnet"].sort_values("depth")
    if len(res):
        x0, y0 = float(res["depth"].iloc[0]), float(res["lambda_min"].iloc[0])
        xs = res["depth"].to_numpy(float)
        ax.plot(xs, y0 * (xs / x0) ** -2.0, label="$H^{-2}$ (Definition 6.1)", **THEORY)
    loglog(ax, "depth $H$", r"$\lambda_{\min}(K^{(H)})$", "Du et al.'s Gram matrices (ReLU)")
    depth_axis(ax)
    place_legend(ax)
    return FigureSpec(
        "depth_gram",
        "Smallest eigenvalue of Du et al.'s infinite-width ReLU Gram $K^{(H)}$ on the study's "
        "inputs: fully connected (Definition 5.1, eq. (7)) and ResNet (Definition 6.1, with its "
        r"$(c_{\mathrm{res}}/H)^2$ factor; dashed: $H^{-2}$) [du-2019-deep, Definition 6.1].",
        fig,
    )


STUDY = Study(
    name=NAME,
    title="Depth: fully connected vs ResNet (exponential vs polynomial)",
    cites=("du-2019-deep", "allen-zhu-2019"),
    description=(
        f"Du et al.'s [du-2019-deep] fully connected network and ResNet ($n={N}$, $d={D}$, "
        "Gaussian labels, all layers trained) with tanh (Condition 3.1) and with ReLU (outside "
        f"it), trained by GD (`lr = auto`) to 1% of $L(0)$ on the width grid "
        f"{WIDTHS[0]}..{WIDTHS[-1]}: the width needed and the iterations against depth; at "
        r"init, forward-norm spreads and $\lambda_{\min}$ of Du et al.'s Gram $K^{(H)}$."
    ),
    claims=CLAIMS,
    plan=plan,
    evidence=evidence,
    measure=measure,
    hypotheses=(DU_SMOOTH,),
)
