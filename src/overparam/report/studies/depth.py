"""Study ``depth``: fully connected network against ResNet as depth grows -- width needed,
iterations, forward stability and the Gram's smallest eigenvalue.

[du-2019-deep] (seed 004): for the fully connected network x^(h) = sqrt(c_sigma/m)
sigma(W^(h) x^(h-1)) the width and step size of Theorem 5.1 carry a 2^O(H) factor, while for the
ResNet x^(h) = x^(h-1) + c_res/(H sqrt(m)) sigma(W^(h) x^(h-1)) (Section 6, Theorem 6.1) they are
polynomial in H; the exponential comes from the forward-stability constants, which multiply
layer by layer without the skip ([allen-zhu-2019, Lemma 7.1]'s ||h_l|| ~ 1 needs m >> L for the
fully connected network; seed 004: "constants will blow up exponentially in the number of layers
L" if proved by induction).

Both networks use Du et al.'s parameterization (``du``, relu, c_res = 1) on the same sphere data
(n = 16 unit inputs in d = 8, Gaussian labels), trained by GD with the measured stable step
lr = "auto" until the loss is 1% of L(0) (``target_ratio``) or the step budget runs out:

* width needed(H): the smallest width from which every seed converges at every larger width of
  the grid (censored above the largest width);
* iterations(H): the median steps to converge at the largest width;
* measured without training: the spread max/min of ||x^(H)|| / ||x|| over inputs and init seeds
  at width 32, and lambda_min of Du et al.'s K^(H) for both networks (Definition 5.1, eq. (7);
  Definition 6.1), where the ResNet's carries (c_res / H)^2.

A smallest-width-that-trains curve is an upper bound's shadow: the theorems' widths are
sufficient, so the study compares the *shape* in H (exponential vs polynomial), not the constants.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from overparam.config import RunConfig, build_config
from overparam.report.study import Claim, FigureSpec, Study, StudyData, StudyResult, register

SOURCE = (
    "du-2019-deep, Theorem 5.1 (fully connected: 2^O(H)) vs Section 6 / Theorem 6.1 (ResNet: "
    "poly(H)); allen-zhu-2019, Lemma 7.1 and its ResNet remark (seeds 000, 004)"
)
ARCHS = ("fc", "resnet")
N, D = 16, 8
TARGET_RATIO = 1e-2  # converged once L <= 1% of L(0)
NORM_WIDTH = 32  # the width at which forward norms are measured (m ~ L: where fc's drift shows)
NORM_SEEDS = (0, 1, 2, 3)


@dataclass(frozen=True)
class Scale:
    depths: tuple[int, ...]
    widths: tuple[int, ...]
    seeds: tuple[int, ...]
    steps: int
    measure_depths: tuple[int, ...]


# 600 steps: every ResNet of the grid reaches 1% of L(0) well within it (the slowest, width 16 at
# H = 32, takes ~420 steps), so a failure to converge is a width effect, not a short budget.
FULL = Scale(
    depths=(2, 4, 8, 16, 32),
    widths=(16, 32, 64, 128),
    seeds=(0, 1),
    steps=600,
    measure_depths=(2, 4, 8, 16, 32, 64),
)
QUICK = Scale(depths=(2, 8, 32), widths=(16, 64), seeds=(0,), steps=600, measure_depths=(2, 8, 32))


def scale_of(quick: bool) -> Scale:
    return QUICK if quick else FULL


def config(arch: str, depth: int, width: int, seed: int, steps: int) -> RunConfig:
    return build_config(
        arch=arch,
        parameterization="du",
        n=N,
        d=D,
        width=width,
        depth=depth,
        seed=seed,
        steps=steps,
        target_ratio=TARGET_RATIO,
    )


def plan(quick: bool) -> list[RunConfig]:
    s = scale_of(quick)
    return [
        config(arch, depth, width, seed, s.steps)
        for arch in ARCHS
        for depth in s.depths
        for width in s.widths
        for seed in s.seeds
    ]


# -- measurements without training -------------------------------------------------------------


def _inputs() -> torch.Tensor:
    from overparam.train.run import build_data

    train, _ = build_data(config("fc", 2, NORM_WIDTH, 0, 1))
    return train.X.to(torch.float64)


def norm_spread(arch: str, depth: int, width: int, X: torch.Tensor, seeds=NORM_SEEDS) -> float:
    """max / min over inputs and init seeds of ||x^(H)|| / ||x|| at init (last hidden layer)."""
    from overparam.models import FullyConnected, ResNet

    cls = ResNet if arch == "resnet" else FullyConnected
    ratios = []
    for seed in seeds:
        net = cls(X.shape[1], width, depth, parameterization="du", dtype=torch.float64, seed=seed)
        with torch.no_grad():
            _, _, hidden = net(X, return_hidden=True)
        ratios.append(hidden[-1].norm(dim=1) / X.norm(dim=1))
    r = torch.cat(ratios)
    return float(r.max() / r.min().clamp_min(1e-300))


def gram_lambda_min(arch: str, depth: int, X: torch.Tensor) -> float:
    """lambda_min of Du et al.'s K^(H) (fc: Definition 5.1; resnet: Definition 6.1, H >= 2)."""
    from overparam.ntk.gram import du_gram
    from overparam.ntk.resnet_gram import du_resnet_gram

    K = du_resnet_gram(X, depth) if arch == "resnet" else du_gram(X, depth=depth)
    return float(np.linalg.eigvalsh(K)[0])


def measure(quick: bool) -> pd.DataFrame:
    s = scale_of(quick)
    X = _inputs()
    seeds = NORM_SEEDS[:2] if quick else NORM_SEEDS
    rows = []
    for arch in ARCHS:
        for depth in s.measure_depths:
            rows.append(
                {
                    "quantity": "norm_spread",
                    "arch": arch,
                    "depth": depth,
                    "width": NORM_WIDTH,
                    "value": norm_spread(arch, depth, NORM_WIDTH, X, seeds),
                }
            )
            if arch == "fc" or depth >= 2:
                rows.append(
                    {
                        "quantity": "gram_lambda_min",
                        "arch": arch,
                        "depth": depth,
                        "width": math.inf,
                        "value": gram_lambda_min(arch, depth, X),
                    }
                )
    return pd.DataFrame(rows)


# -- analysis (pure functions of the stored frames) --------------------------------------------


def _converged(runs: pd.DataFrame) -> pd.Series:
    col = "train_status" if "train_status" in runs else "status"
    return runs[col].astype(str) == "converged"


def run_table(runs: pd.DataFrame, losses: pd.DataFrame) -> pd.DataFrame:
    """One row per run: arch, depth, width, seed, converged, steps (to the target; from the
    stored loss curve when there is one)."""
    rid = "run_id" if "run_id" in runs else "id"
    out = runs[["arch", "depth", "width", "seed"]].copy()
    out["depth"] = out["depth"].astype(int)
    out["width"] = out["width"].astype(int)
    out["converged"] = _converged(runs).to_numpy()
    steps = runs["steps_run"] if "steps_run" in runs else runs.get("steps")
    if not losses.empty:
        last = losses.groupby("run_id")["step"].max()
        steps = runs[rid].map(last).fillna(steps if steps is not None else np.nan)
    out["steps"] = np.asarray(steps, dtype=float)
    return out.reset_index(drop=True)


def width_needed(table: pd.DataFrame) -> pd.DataFrame:
    """(arch, depth, width_needed): the smallest grid width w such that every seed converged at
    every width >= w; inf when even the largest width failed (censored)."""
    rows = []
    for (arch, depth), group in table.groupby(["arch", "depth"]):
        ok = group.groupby("width")["converged"].all().sort_index()
        needed = math.inf
        for w in reversed(ok.index.tolist()):
            if not ok[w]:
                break
            needed = float(w)
        rows.append({"arch": arch, "depth": int(depth), "width_needed": needed})
    return pd.DataFrame(rows)


def iterations(table: pd.DataFrame) -> pd.DataFrame:
    """(arch, depth, steps): median steps to converge at the largest width (converged runs)."""
    top = table[table["width"] == table["width"].max()]
    conv = top[top["converged"]]
    return conv.groupby(["arch", "depth"])["steps"].median().reset_index()


def fit_slope(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(slope, R^2) of the least-squares line y = a + b x."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 2 or np.ptp(x) == 0:
        return math.nan, math.nan
    b, a = np.polyfit(x, y, 1)
    resid = y - (a + b * x)
    tot = ((y - y.mean()) ** 2).sum()
    return float(b), float(1 - (resid**2).sum() / tot) if tot > 0 else 1.0


def _needed_text(wn: pd.DataFrame, arch: str, max_width: int) -> str:
    sub = wn[wn["arch"] == arch].sort_values("depth")
    return ", ".join(
        f"H={d}: {int(w) if np.isfinite(w) else f'>{max_width}'}"
        for d, w in zip(sub["depth"], sub["width_needed"], strict=True)
    )


def claims(table: pd.DataFrame, meas: pd.DataFrame, max_width: int) -> list[Claim]:
    out = []
    norms = meas[meas["quantity"] == "norm_spread"] if not meas.empty else meas
    if not norms.empty:
        spread = norms.pivot_table(index="depth", columns="arch", values="value")
        lo, hi = spread.index.min(), spread.index.max()
        fc_growth = spread.loc[hi, "fc"] / spread.loc[lo, "fc"]
        res_growth = spread.loc[hi, "resnet"] / spread.loc[lo, "resnet"]
        holds = fc_growth > 2.0 * res_growth and spread.loc[hi, "resnet"] < 3.0
        out.append(
            Claim(
                claim="the ResNet's forward norms stay bounded in depth; the fc net's spread grows",
                source="du-2019-deep, Sections 5-6; allen-zhu-2019, Lemma 7.1",
                measured=f"max/min ||x^(H)||/||x|| at H={lo} -> {hi}: fc "
                f"{spread.loc[lo, 'fc']:.2f} -> {spread.loc[hi, 'fc']:.3g}, resnet "
                f"{spread.loc[lo, 'resnet']:.2f} -> {spread.loc[hi, 'resnet']:.2f}",
                theory="resnet O(1); fc grows with H at fixed m",
                verdict="holds" if holds else "does not hold at this scale",
                note=f"width {int(norms['width'].iloc[0])}, init only",
            )
        )
    wn = width_needed(table)
    if not wn.empty:
        fc = wn[wn["arch"] == "fc"].sort_values("depth")
        res = wn[wn["arch"] == "resnet"].sort_values("depth")
        cap = 2.0 * max_width  # a censored width is drawn / fitted as 2x the largest width

        def grows(sub: pd.DataFrame) -> bool:
            w = sub["width_needed"].replace(math.inf, cap).to_numpy()
            return bool(len(w) >= 2 and w[-1] > w[0])

        fc_w = np.log2(fc["width_needed"].replace(math.inf, cap).to_numpy())
        exp_b, exp_r2 = fit_slope(fc["depth"].to_numpy(), fc_w)
        pow_b, pow_r2 = fit_slope(np.log2(fc["depth"].to_numpy()), fc_w)
        holds = grows(fc) and not grows(res)
        out.append(
            Claim(
                claim="the width needed grows with depth for the fc net, not for the ResNet",
                source="du-2019-deep, Theorem 5.1 (2^O(H)) vs Theorem 6.1 (poly(H))",
                measured=f"fc: {_needed_text(wn, 'fc', max_width)}; "
                f"resnet: {_needed_text(wn, 'resnet', max_width)}",
                theory="fc: 2^O(H) sufficient; resnet: poly(H)",
                verdict="holds" if holds else "does not hold at this scale",
                note=f"fc fits: log2 m = a + {exp_b:.3f} H (R^2 {exp_r2:.2f}) vs "
                f"a + {pow_b:.2f} log2 H (R^2 {pow_r2:.2f}); censored widths as 2x the largest",
            )
        )
    it = iterations(table)
    res_it = it[it["arch"] == "resnet"].sort_values("depth")
    fc_it = it[it["arch"] == "fc"].sort_values("depth")
    if len(res_it) >= 2:
        slope, _ = fit_slope(np.log(res_it["depth"]), np.log(res_it["steps"]))
        fc_slope, _ = fit_slope(np.log(fc_it["depth"]), np.log(fc_it["steps"]))
        out.append(
            Claim(
                claim="iterations to reach 1% of L(0) grow at most polynomially in depth (ResNet)",
                source="du-2019-deep, Theorem 6.1",
                measured=f"resnet steps ~ H^{slope:.2f} at width {max_width}",
                theory="poly(H)",
                verdict="holds" if slope <= 2.0 else "does not hold at this scale",
                note=f"fc at the same width: H^{fc_slope:.2f} (converged depths only); "
                "step size measured (lr=auto), not the theorem's",
            )
        )
    grams = meas[meas["quantity"] == "gram_lambda_min"] if not meas.empty else meas
    res_g = grams[grams["arch"] == "resnet"].sort_values("depth") if not grams.empty else grams
    if len(res_g) >= 2:
        slope, _ = fit_slope(np.log(res_g["depth"]), np.log(res_g["value"]))
        fc_g = grams[grams["arch"] == "fc"].sort_values("depth")
        fc_slope, _ = fit_slope(np.log(fc_g["depth"]), np.log(fc_g["value"]))
        out.append(
            Claim(
                claim="lambda_min of the ResNet's Gram K^(H) falls like H^-2 (polynomially)",
                source="du-2019-deep, Definition 6.1 (the (c_res/H)^2 factor)",
                measured=f"slope {slope:.3f} in log lambda_min vs log H",
                theory="-2",
                verdict="holds" if abs(slope + 2.0) <= 0.25 else "does not hold at this scale",
                note=f"fc K^(H) (Definition 5.1): slope {fc_slope:.2f}",
            )
        )
    return out


# -- figures -----------------------------------------------------------------------------------


def depth_axis(ax) -> None:
    """Log-2 depth axis labelled 2, 4, 8, ... (plain numbers, no minor labels)."""
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())


def figure_width(table: pd.DataFrame, max_width: int) -> FigureSpec:
    from overparam.report.plots import COLORS, THEORY, new_figure

    wn = width_needed(table)
    cap = 2.0 * max_width
    fig, (ax,) = new_figure()
    for i, arch in enumerate(ARCHS):
        sub = wn[wn["arch"] == arch].sort_values("depth")
        w = sub["width_needed"].to_numpy()
        shown = np.where(np.isfinite(w), w, cap)
        ax.plot(sub["depth"], shown, marker="o", ms=4, color=COLORS[i], label=arch)
        cens = ~np.isfinite(w)
        if cens.any():
            ax.scatter(sub["depth"][cens], shown[cens], marker="^", s=40, color=COLORS[i],
                       label=f"{arch}: none of the widths")  # fmt: skip
        if arch == "fc" and len(sub) >= 2:
            b, _ = fit_slope(sub["depth"].to_numpy(), np.log2(shown))
            a = np.log2(shown).mean() - b * sub["depth"].mean()
            xs = np.linspace(sub["depth"].min(), sub["depth"].max(), 50)
            ax.plot(xs, 2 ** (a + b * xs), label=f"2^({b:.2f} H): Thm 5.1's form, fitted",
                    **THEORY)  # fmt: skip
    ax.set_yscale("log", base=2)
    ax.set_xlabel("depth H")
    ax.set_ylabel("smallest width that trains")
    ax.set_title("width needed vs depth (du parameterization)")
    ax.legend()
    return FigureSpec(
        "depth_width_needed",
        "Smallest width (of the grid) from which GD reaches 1% of L(0) for every seed, against "
        "depth: fully connected vs ResNet [du-2019-deep, Theorems 5.1 and 6.1]. Linear depth "
        "axis, log width: an exponential is a straight line (dashed: fitted 2^(bH)). Triangles: "
        "no width of the grid trained (drawn at twice the largest).",
        fig,
    )


def figure_iterations(table: pd.DataFrame, max_width: int) -> FigureSpec:
    from overparam.report.plots import COLORS, THEORY, loglog, new_figure

    it = iterations(table)
    fig, (ax,) = new_figure()
    for i, arch in enumerate(ARCHS):
        sub = it[it["arch"] == arch].sort_values("depth")
        ax.plot(sub["depth"], sub["steps"], marker="o", ms=4, color=COLORS[i], label=arch)
    res = it[it["arch"] == "resnet"].sort_values("depth")
    if len(res):
        x0, y0 = float(res["depth"].iloc[0]), float(res["steps"].iloc[0])
        xs = np.asarray(sorted(it["depth"].unique()), float)
        ax.plot(xs, y0 * (xs / x0) ** 2, label="H^2 (a polynomial reference)", **THEORY)
    loglog(ax, "depth H", "steps to 1% of L(0)", f"iterations at width {max_width}")
    depth_axis(ax)
    ax.legend()
    return FigureSpec(
        "depth_iterations",
        "Median GD steps (lr = auto) to reach 1% of the initial loss at the largest width, "
        "against depth [du-2019-deep, Theorem 6.1: poly(H) for the ResNet]; dashed: H^2.",
        fig,
    )


def figure_norms(meas: pd.DataFrame) -> FigureSpec:
    from overparam.report.plots import COLORS, loglog, new_figure

    fig, (ax,) = new_figure()
    norms = meas[meas["quantity"] == "norm_spread"]
    for i, arch in enumerate(ARCHS):
        sub = norms[norms["arch"] == arch].sort_values("depth")
        ax.plot(sub["depth"], sub["value"], marker="o", ms=4, color=COLORS[i], label=arch)
    loglog(
        ax, "depth H", "max / min of ||x^(H)|| / ||x||", f"forward norms at init, m = {NORM_WIDTH}"
    )
    depth_axis(ax)
    ax.legend()
    return FigureSpec(
        "depth_norms",
        "Spread of the last hidden layer's norm over inputs and init seeds, against depth: the "
        "ResNet's stays O(1) [du-2019-deep, Section 6], the fully connected net's log-norm drifts "
        "with variance O(H/m) [allen-zhu-2019, Lemma 7.1 needs m >> L].",
        fig,
    )


def figure_gram(meas: pd.DataFrame) -> FigureSpec:
    from overparam.report.plots import COLORS, THEORY, loglog, new_figure

    fig, (ax,) = new_figure()
    grams = meas[meas["quantity"] == "gram_lambda_min"]
    for i, arch in enumerate(ARCHS):
        sub = grams[grams["arch"] == arch].sort_values("depth")
        ax.plot(sub["depth"], sub["value"], marker="o", ms=4, color=COLORS[i], label=arch)
    res = grams[grams["arch"] == "resnet"].sort_values("depth")
    if len(res):
        x0, y0 = float(res["depth"].iloc[0]), float(res["value"].iloc[0])
        xs = res["depth"].to_numpy(float)
        ax.plot(xs, y0 * (xs / x0) ** -2.0, label="H^-2 (Definition 6.1)", **THEORY)
    loglog(ax, "depth H", "lambda_min(K^(H))", "Du et al.'s Gram matrices")
    depth_axis(ax)
    ax.legend()
    return FigureSpec(
        "depth_gram",
        "Smallest eigenvalue of Du et al.'s infinite-width Gram K^(H) on the study's inputs: "
        "fully connected (Definition 5.1, eq. (7)) and ResNet (Definition 6.1, with its "
        "(c_res/H)^2 factor; dashed: H^-2).",
        fig,
    )


def analyze(data: StudyData) -> StudyResult:
    if data.runs.empty:
        return StudyResult(
            claims=[Claim("depth runs", SOURCE, "no runs stored", "-", "not measured")]
        )
    table = run_table(data.runs, data.losses)
    max_width = int(table["width"].max())
    meas = data.measurements
    figures = [figure_width(table, max_width), figure_iterations(table, max_width)]
    if not meas.empty:
        figures += [figure_norms(meas), figure_gram(meas)]
    return StudyResult(
        claims=claims(table, meas, max_width),
        figures=figures,
        tables={"width_needed": width_needed(table), "iterations": iterations(table)},
    )


STUDY = register(
    Study(
        name="depth",
        title="Depth: fully connected vs ResNet (exponential vs polynomial)",
        source=SOURCE,
        plan=plan,
        analyze=analyze,
        measure=measure,
        description=__doc__ or "",
    )
)
