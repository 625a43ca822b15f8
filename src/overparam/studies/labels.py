"""Study ``labels``: true against random labels on digits -- GD's convergence speed against
y^T (H^inf)^-1 y, and the test error against the kernel bounds.

[arora-2019] (Theorems 4.1 and 5.1) for a two-layer relu network f = V relu(W x) with the output
layer fixed and W trained by GD from a small random init:

* Theorem 4.1: ||y - u(k)||^2 = sum_i (1 - eta lambda_i)^(2k) (v_i^T y)^2 +- eps, with
  (lambda_i, v_i) the eigenpairs of H^inf_ij = x_i^T x_j (pi - arccos x_i^T x_j) / (2 pi)
  (:func:`overparam.ntk.gram.h_infinity`): labels aligned with the top eigenvectors are fitted
  fast, so true labels train faster than random ones;
* Theorem 5.1: the test error of the trained net is <= sqrt(2 y^T (H^inf)^-1 y / n)
  + O(sqrt(log(n / (lambda_0 delta)) / n)), evaluated here with the O's constant 1.

[cao-gu-2019, Corollary 3.10] bounds the test error of Algorithm 2 (online SGD) by
L sqrt(y^T (Theta^(L))^-1 y / n) + sqrt(log(1/delta) / n) (constants 1 here, L = 2, the
analytic Theta^(2) of the cao-gu network; see :mod:`overparam.generalization`). It is stated
for Algorithm 2, so on these GD runs its claim is judged *outside assumptions*; the numbers are
still shown as the kernel complexity at the same labels.

Setting: scikit-learn's digits, binary task (0-4 vs 5-9), n training images (unit norm, mu = 0.5)
whose labels are replaced by random ones with probability ``noise`` in 0..1
(:func:`overparam.data.digits`), the zou-gu network with one hidden layer (L = 1: exactly Arora
et al.'s architecture with a Gaussian instead of a +-1 output layer; its NTK / m -> H^inf) trained
by full-batch GD for a fixed number of steps at the measured stable step (lr = "auto").

``plan``: the GD runs (noise x seed). ``measure`` (no training): per (noise, seed) the
complexities y^T (H^inf)^-1 y and y^T (Theta^(2))^-1 y, lambda_0 = lambda_min(H^inf), both
bounds, and the linearized loss curve of Theorem 4.1 at the run's own width, init and step --
r(t) = (I - eta c Theta)^t r(0) with Theta the empirical NTK at init, c the loss's 1/n and
r(0) = f_0(X) - y measured (the zou-gu output layer is not small, so r(0) != -y) -- at
log-spaced checkpoints. Convergence speed is the number of steps until L(W_t) <= 10% L(W_0),
from the stored curves (infinite for a run that never gets there: the slowest, tied with any
other such run). The linearized curve is judged on each run's worst checkpoint in the second
half of training, where the network has had time to leave its linearization.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from overparam.config import RunConfig, build_config
from overparam.studies.claims import Claim, Hypothesis, Monotone, Rank, Ratio, Threshold
from overparam.studies.frames import done_runs, first_step_below
from overparam.studies.hypotheses import CAO_GU_ALGORITHM_2
from overparam.studies.plan import sweep
from overparam.studies.study import Context, Evidence, FigureSpec, Scale, Study, StudyData
from overparam.sweep.spec import SweepSpec

NAME = "labels"
DEPTH = 1  # zou-gu L: one hidden layer, Arora et al.'s two-layer network
CG_DEPTH = 2  # Cao & Gu's L for the same architecture (weight matrices)
DELTA = 0.05
SPEED_RATIO = 0.1  # convergence speed: steps until L(W_t) <= 10% of L(W_0)
#: The stated eps of "follows": Theorem 4.1 writes ||y - u(k)|| = ||(I - eta H)^k y|| +- eps with
#: eps -> 0 only as m -> infinity, so the margin is stated here, as a fraction of ||u(0) - y||.
FOLLOW_EPS = 0.1

ARORA_GD = Hypothesis(
    "algorithm", allowed=("gd",), reason="arora-2019, Section 3: gradient descent on $W$"
)
ARORA_TWO_LAYER = Hypothesis(
    "depth", allowed=(DEPTH,), reason="arora-2019, Section 3: a two-layer network"
)


@dataclass(frozen=True)
class Size:
    n: int
    width: int
    steps: int
    noises: tuple[float, ...]
    seeds: tuple[int, ...]


SIZES: dict[str, Size] = {
    "quick": Size(n=100, width=512, steps=300, noises=(0.0, 0.5, 1.0), seeds=(0, 1)),
    "full": Size(n=200, width=1024, steps=500, noises=(0.0, 0.25, 0.5, 0.75, 1.0), seeds=(0, 1, 2)),
}


def _base(s: Size) -> dict:
    return dict(
        data="digits",
        task="binary",
        n=s.n,
        width=s.width,
        depth=DEPTH,
        parameterization="zou-gu",
        algorithm="gd",
        lr="auto",
        steps=s.steps,  # no target: every run keeps its whole loss curve
        dtype="float32",
    )


def config(noise: float, seed: int, s: Size) -> RunConfig:
    """One GD run: zou-gu, L = 1, digits 0-4 vs 5-9 with ``noise`` random training labels."""
    return build_config(**_base(s), noise=noise, seed=seed)


def plan_for(s: Size, scale: Scale) -> list[SweepSpec]:
    """Every (noise, seed) GD run of a size."""
    grid: dict[str, list[Any]] = {"noise": list(s.noises), "seed": list(s.seeds)}
    return [sweep(NAME, scale, base=_base(s), grid=grid)]


def plan(scale: Scale) -> list[SweepSpec]:
    return plan_for(SIZES[scale], scale)


# ---------------------------------------------------------------------------------------------
# measure
# ---------------------------------------------------------------------------------------------


def checkpoints(steps: int) -> list[int]:
    """0, 1, 2, 5, 10, 20, 50, ... up to and including ``steps``."""
    out, base = [0], 1
    while base <= steps:
        out += [v for v in (base, 2 * base, 5 * base) if v <= steps]
        base *= 10
    return sorted(set(out) | {steps})


def linearized_losses(
    theta: np.ndarray, r0: np.ndarray, lr: float, c: float, steps: list[int]
) -> np.ndarray:
    """c/2 ||(I - lr c Theta)^t r0||^2 at each t of ``steps`` [arora-2019, Theorem 4.1]: GD on
    the linearized network, loss c/2 ||r||^2 (c = 1/n for the mean square loss)."""
    lam, U = np.linalg.eigh(0.5 * (theta + theta.T))
    z = U.T @ r0
    decay = 1.0 - lr * c * lam
    return np.array([0.5 * c * float(np.sum((decay**t * z) ** 2)) for t in steps])


def arora_bound(q: float, n: int, lambda0: float, delta: float = DELTA) -> float:
    """sqrt(2 q / n) + sqrt(log(n / (lambda_0 delta)) / n) [arora-2019, Theorem 5.1], the O's
    constant 1."""
    return math.sqrt(2.0 * q / n) + math.sqrt(math.log(n / (lambda0 * delta)) / n)


def measure_point(cfg: RunConfig) -> list[dict]:
    """The rows of one (noise, seed): complexities, bounds and the linearized curve."""
    import copy

    import torch

    from overparam.generalization import factor, ntk_bound
    from overparam.ntk import empirical
    from overparam.ntk.gram import h_infinity
    from overparam.run import resolve_lr, setup

    s = setup(cfg)
    X, y = s.train.X.to(torch.float64), s.train.y.to(torch.float64)
    n = int(X.shape[0])
    h = h_infinity(X)
    lambda0 = float(np.linalg.eigvalsh(h)[0])
    fk = factor(h, kind="given")
    q = fk.quadratic(y)
    cg = ntk_bound(X, y, CG_DEPTH, DELTA)
    lr = resolve_lr(s)
    net = copy.deepcopy(s.model).to(torch.float64)
    theta = empirical(net, X).detach().numpy()
    with torch.no_grad():
        r0 = (net(X) - y).numpy()[:, 0]
    c = s.objective.scale(n)
    steps = checkpoints(cfg.steps)
    pred = linearized_losses(theta, r0, lr, c, steps)
    base = {"noise": cfg.noise, "seed": cfg.seed, "n": n}
    rows = [
        {
            **base,
            "quantity": "complexity",
            "q_hinf": q,
            "hinf_jitter": fk.jitter_relative,
            "lambda0": lambda0,
            "y_norm2": float((y**2).sum()),
            "arora_term": math.sqrt(2.0 * q / n),
            "arora_bound": arora_bound(q, n, lambda0) if lambda0 > 0 else math.nan,
            "cg_complexity": cg.complexity,
            "cg_bound": cg.bound,
            "cg_jitter": cg.jitter_relative,
            "lr": lr,
            "corrupted": int(s.train.provenance.get("corrupted", 0)),
        }
    ]
    rows += [
        {**base, "quantity": "linearized_loss", "step": t, "value": float(v)}
        for t, v in zip(steps, pred, strict=True)
    ]
    return rows


def measure_size(s: Size) -> pd.DataFrame:
    rows = []
    for noise in s.noises:
        for seed in s.seeds:
            rows += measure_point(config(noise, seed, s))
    return pd.DataFrame.from_records(rows)


def measure(scale: Scale) -> pd.DataFrame:
    """Tidy rows: ``complexity`` (one per noise, seed: q_hinf = y^T (H^inf)^-1 y, lambda0,
    arora_bound, cg_complexity, cg_bound, lr) and ``linearized_loss`` (step, value) of
    Theorem 4.1."""
    return measure_size(SIZES[scale])


# ---------------------------------------------------------------------------------------------
# claims
# ---------------------------------------------------------------------------------------------

CLAIMS: tuple[Claim, ...] = (
    Claim(
        "complexity-noise",
        r"$y^\top (H^\infty)^{-1} y$ grows as labels get random",
        cite="arora-2019, Section 5",
        quantity="q_hinf",
        test=Monotone("increasing", x="noise"),
    ),
    Claim(
        "speed",
        r"GD converges slower when $y^\top (H^\infty)^{-1} y$ is larger (steps to 10% of $L(0)$)",
        cite="arora-2019, Theorem 4.1",
        quantity="steps_to_10pct",
        test=Rank(0.8, "q_hinf"),
        hypotheses=(ARORA_GD, ARORA_TWO_LAYER),
    ),
    Claim(
        "linearized",
        "the residual follows the linearized (kernel) prediction: "
        rf"$|\|r_t\| - \|r_t^{{\mathrm{{lin}}}}\|| \le {FOLLOW_EPS:g} \|r_0\|$ at every "
        "checkpoint of the second half of training",
        cite="arora-2019, Theorem 4.1",
        quantity="late_gap",
        test=Threshold(at_most=FOLLOW_EPS),
        hypotheses=(ARORA_GD, ARORA_TWO_LAYER),
    ),
    Claim(
        "arora-bound",
        r"test error $\le \sqrt{2 y^\top (H^\infty)^{-1} y / n} "
        r"+ \sqrt{\log(n / (\lambda_0 \delta)) / n}$ (constants 1)",
        cite="arora-2019, Theorem 5.1",
        quantity="test_error",
        test=Ratio(bound="arora_bound", trivial=1.0),
        hypotheses=(ARORA_GD, ARORA_TWO_LAYER),
    ),
    Claim(
        "cao-gu-bound",
        r"test error $\le L \sqrt{y^\top \Theta^{-1} y / n} + \sqrt{\log(1/\delta) / n}$ "
        "(constants 1; stated for Algorithm 2)",
        cite="cao-gu-2019, Corollary 3.10",
        quantity="test_error",
        test=Ratio(bound="cg_bound", trivial=1.0),
        hypotheses=(CAO_GU_ALGORITHM_2,),
    ),
)


# ---------------------------------------------------------------------------------------------
# evidence
# ---------------------------------------------------------------------------------------------


def steps_to(losses: pd.DataFrame, ratio: float = SPEED_RATIO) -> pd.Series:
    """Per run_id: the first step with loss <= ratio * loss at step 0 (inf: never)."""
    out = {}
    for rid, g in losses.groupby("run_id"):
        g = g.sort_values("step")
        loss = g["loss"].to_numpy(dtype=float)
        out[rid] = first_step_below(g["step"].to_numpy(), loss, ratio * loss[0])
    return pd.Series(out, dtype=float)


COMPLEXITY_COLUMNS = (
    "q_hinf",
    "lambda0",
    "y_norm2",
    "arora_term",
    "arora_bound",
    "cg_complexity",
    "cg_bound",
)


def run_table(runs: pd.DataFrame, losses: pd.DataFrame, meas: pd.DataFrame) -> pd.DataFrame:
    """One row per finished run: noise, seed, n, algorithm, depth, test_error, train_error,
    steps_to_10pct, final_ratio, with the measured complexities and bounds of its (noise, seed)."""
    runs = done_runs(runs)
    cfg = [c for c in ("run_id", "noise", "seed", "n", "algorithm", "depth", "width") if c in runs]
    t = runs[cfg].copy()
    t["n"] = t["n"].astype(int)
    t["noise"] = t["noise"].astype(float)
    t["seed"] = t["seed"].astype(int)
    t["test_error"] = 1.0 - runs["test_accuracy"].astype(float).to_numpy()
    t["train_error"] = 1.0 - runs["train_accuracy"].astype(float).to_numpy()
    t["steps_to_10pct"] = t["run_id"].map(steps_to(losses))
    last = losses.sort_values("step").groupby("run_id")["loss"].agg(["first", "last"])
    t["final_ratio"] = t["run_id"].map(last["last"] / last["first"])
    comp = meas[meas["quantity"] == "complexity"] if not meas.empty else meas
    if not comp.empty:
        cols = ["noise", "seed", *(c for c in COMPLEXITY_COLUMNS if c in comp)]
        c = comp[cols].astype({"noise": float, "seed": int})
        t = t.merge(c, on=["noise", "seed"], how="left")
    return t.sort_values(["noise", "seed"]).reset_index(drop=True)


def noise_table(t: pd.DataFrame) -> pd.DataFrame:
    """Means over seeds per noise level (and the test error's standard error)."""
    cols = [
        c
        for c in (
            "q_hinf",
            "arora_bound",
            "cg_complexity",
            "cg_bound",
            "steps_to_10pct",
            "final_ratio",
            "test_error",
            "train_error",
        )
        if c in t
    ]
    g = t.groupby("noise")
    out = g[cols].mean()
    out["test_error_se"] = g["test_error"].std(ddof=1).fillna(0.0) / np.sqrt(g.size())
    out["seeds"] = g.size()
    return out.reset_index()


def follow_table(losses: pd.DataFrame, runs: pd.DataFrame, meas: pd.DataFrame) -> pd.DataFrame:
    """Measured against linearized loss at every checkpoint of every finished run: (run_id,
    noise, seed, step, measured, predicted, gap, factor).

    gap = |sqrt(measured) - sqrt(predicted)| / sqrt(L_0) is |‖r_t‖ - ‖r_t^lin‖| / ‖r_0‖ (the
    loss is c/2 ‖r‖², and both curves start at the run's own r_0, L_0 = predicted at step 0);
    factor = max(measured / predicted, its inverse), the gap relative to the current loss."""
    lin = meas[meas["quantity"] == "linearized_loss"] if not meas.empty else meas
    runs = done_runs(runs)
    if lin.empty or losses.empty or runs.empty:
        return pd.DataFrame()
    keep = [c for c in ("run_id", "noise", "seed", "algorithm", "depth") if c in runs]
    keys = runs[keep].astype({"noise": float, "seed": int})
    m = losses[["run_id", "step", "loss"]].merge(keys, on="run_id")
    lin = lin[["noise", "seed", "step", "value"]].astype({"noise": float, "seed": int, "step": int})
    l0 = lin[lin["step"] == 0].set_index(["noise", "seed"])["value"].rename("l0")
    out = m.merge(lin, on=["noise", "seed", "step"]).rename(
        columns={"loss": "measured", "value": "predicted"}
    )
    out = out.join(l0, on=["noise", "seed"])
    out = out[(out["measured"] > 0) & (out["predicted"] > 0) & (out["l0"] > 0)].copy()
    out["gap"] = (np.sqrt(out["measured"]) - np.sqrt(out["predicted"])).abs() / np.sqrt(out["l0"])
    r = out["measured"] / out["predicted"]
    out["factor"] = np.maximum(r, 1.0 / r)
    return out.drop(columns=["l0"]).sort_values(["run_id", "step"]).reset_index(drop=True)


def late_gaps(follow: pd.DataFrame) -> pd.DataFrame:
    """Per run: late_gap, the worst gap over its checkpoints in the second half of its steps
    (t >= t_max / 2), the step where it occurs, and late_factor, the worst factor there."""
    cols = ["run_id", "late_gap", "worst_step", "late_factor"]
    if follow.empty:
        return pd.DataFrame(columns=cols)
    t_max = follow.groupby("run_id")["step"].transform("max")
    late = follow[follow["step"] >= t_max / 2.0]
    worst = late.loc[late.groupby("run_id")["gap"].idxmax()]
    cfg = [c for c in ("run_id", "noise", "seed", "algorithm", "depth") if c in worst]
    out = worst[cfg].assign(late_gap=worst["gap"], worst_step=worst["step"])
    factor = late.groupby("run_id")["factor"].max()
    out["late_factor"] = out["run_id"].map(factor)
    return out.reset_index(drop=True)


def context(t: pd.DataFrame) -> list[Context]:
    """The identity y^T H^-1 y <= ||y||^2 / lambda_min and the Arora bound's values."""
    if t.empty or "q_hinf" not in t:
        return []
    ceiling = t["y_norm2"] / t["lambda0"]
    out = [
        Context(
            r"$y^\top (H^\infty)^{-1} y$ against $\|y\|^2 / \lambda_{\min}(H^\infty)$",
            f"yᵀH⁻¹y {t['q_hinf'].min():.3g} .. {t['q_hinf'].max():.3g}; ‖y‖²/λ₀ "
            f"{ceiling.min():.3g} .. {ceiling.max():.3g} (λ₀ {t['lambda0'].min():.3g} .. "
            f"{t['lambda0'].max():.3g})",
            "arora-2019, Theorem 5.1",
            r"$y^\top H^{-1} y \le \|y\|^2 / \lambda_{\min}$ holds for every $y$ (a Rayleigh "
            "quotient): an identity, not a measurement",
        )
    ]
    b = t["arora_bound"]
    out.append(
        Context(
            r"$\sqrt{2 y^\top (H^\infty)^{-1} y / n} + \sqrt{\log(n / (\lambda_0 \delta)) / n}$ "
            "on the 0-1 test error (constants 1)",
            f"{b.min():.3g} .. {b.max():.3g}; ≥ 1 at {int((b >= 1).sum())} of {len(b)} runs",
            "arora-2019, Theorem 5.1",
            r"where the bound is $\ge 1$ it bounds a probability by 1 or more: it cannot fail",
        )
    )
    return out


def evidence(data: StudyData) -> Evidence:
    runs, losses, meas = data.runs, data.losses, data.measurements
    if done_runs(runs).empty or losses.empty:
        return Evidence()
    t = run_table(runs, losses, meas)
    nt = noise_table(t)
    follow = follow_table(losses, runs, meas)
    late = late_gaps(follow)
    frames = {
        "speed": t,
        "linearized": late,
        "arora-bound": t,
        "cao-gu-bound": t,
    }
    if "q_hinf" in t:
        frames["complexity-noise"] = t
    figures = [figure_curves(losses, runs, meas), figure_generalization(nt)]
    if "q_hinf" in t:
        figures.insert(1, figure_speed(t))
    tables = {"noise": nt, "runs": t.drop(columns=["run_id"])}
    if not late.empty:
        tables["linearized, worst late checkpoint per run"] = late.drop(columns=["run_id"])
    if not follow.empty:
        tables["linearized"] = (
            follow.groupby(["noise", "step"])[["measured", "predicted"]].mean().reset_index()
        )
    return Evidence(frames=frames, figures=figures, tables=tables, context=context(t))


# ---------------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------------


def figure_curves(losses: pd.DataFrame, runs: pd.DataFrame, meas: pd.DataFrame) -> FigureSpec:
    from overparam.studies.plots import (
        COLORS,
        THEORY,
        loglog,
        mean_band,
        new_figure,
        place_legend,
        plot_band,
    )

    fig, (ax,) = new_figure()
    keys = runs[["run_id", "noise"]].astype({"noise": float})
    m = losses.merge(keys, on="run_id")
    m = m.assign(step1=m["step"] + 1)  # log axis: step t at t + 1
    lin = meas[meas["quantity"] == "linearized_loss"] if not meas.empty else meas
    for i, (noise, g) in enumerate(m.groupby("noise")):
        color = COLORS[i % len(COLORS)]
        plot_band(ax, mean_band(g, "step1", "loss"), "step1", label=f"noise {noise:g}",
                  color=color, marker="")  # fmt: skip
        p = lin[lin["noise"].astype(float) == noise] if not lin.empty else lin
        if not p.empty:
            stats = mean_band(p.assign(step1=p["step"] + 1), "step1", "value")
            ax.plot(stats["step1"], stats["mean"], color=color, ls="--", lw=1.0)
    ax.plot([], [], label="linearized (Thm 4.1), dashed", **THEORY)
    loglog(ax, "GD step $t + 1$", "training loss", "digits: true vs random labels")
    place_legend(ax, ncols=2)
    return FigureSpec(
        "labels_loss_curves",
        "Training loss of GD on digits with a fraction of random labels (geometric mean and "
        "range over seeds); dashed, same colour: the linearized prediction "
        r"$(I - \eta\Theta/n)^t r(0)$ of [arora-2019, Theorem 4.1] with the empirical $\Theta$ "
        r"at init. Random labels project onto small eigenvalues of $H^\infty$ and are fitted "
        "slower.",
        fig,
    )


def figure_speed(t: pd.DataFrame) -> FigureSpec:
    from overparam.studies.plots import COLORS, loglog, new_figure, place_legend

    fig, (ax,) = new_figure()
    for i, (noise, g) in enumerate(t.groupby("noise")):
        ax.scatter(g["q_hinf"], g["steps_to_10pct"], color=COLORS[i % len(COLORS)], s=20,
                   label=f"noise {noise:g}")  # fmt: skip
    loglog(ax, r"$y^\top (H^\infty)^{-1} y$", f"GD steps to {SPEED_RATIO:.0%} of $L(0)$",
           "convergence speed against the label complexity")  # fmt: skip
    place_legend(ax)
    return FigureSpec(
        "labels_speed",
        f"Steps until the training loss falls to {SPEED_RATIO:.0%} of its initial value against "
        r"$y^\top (H^\infty)^{-1} y$, one point per run, log-log [arora-2019, Theorem 4.1: the "
        r"projections of $y$ on the eigenvectors of $H^\infty$ set the speed].",
        fig,
    )


def figure_generalization(nt: pd.DataFrame) -> FigureSpec:
    from overparam.studies.plots import COLORS, new_figure, place_legend

    fig, (ax,) = new_figure()
    ax.plot(nt["noise"], nt["test_error"], marker="o", ms=4, color=COLORS[0],
            label="test error (GD)")  # fmt: skip
    ax.fill_between(
        nt["noise"],
        (nt["test_error"] - nt["test_error_se"]).clip(lower=1e-3),
        nt["test_error"] + nt["test_error_se"],
        alpha=0.2,
        color=COLORS[0],
    )
    for i, (col, label) in enumerate(
        (
            ("arora_bound", r"$\sqrt{2 y^\top H^{-1} y / n}$ + conf. (Arora Thm 5.1)"),
            ("cg_bound", r"$L \sqrt{y^\top \Theta^{-1} y / n}$ + conf. (Cao & Gu Cor 3.10)"),
        )
    ):
        if col in nt:
            ax.plot(nt["noise"], nt[col], marker="s", ms=4, ls="--", color=COLORS[i + 1],
                    label=label)  # fmt: skip
    ax.axhline(1.0, color="0.6", lw=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("label noise (fraction of random training labels)")
    ax.set_ylabel("0-1 test error / bound")
    ax.set_title("test error against the kernel bounds")
    place_legend(ax)
    return FigureSpec(
        "labels_generalization",
        r"Test error of the GD-trained network (mean $\pm$ standard error over seeds, true test "
        "labels) against the bounds of [arora-2019, Theorem 5.1] and [cao-gu-2019, Corollary "
        "3.10] with constants 1 (dashed), against label noise; the grey line is error 1.",
        fig,
    )


STUDY = Study(
    name=NAME,
    title=r"True vs random labels: convergence speed and test error against $y^\top H^{-1} y$",
    cites=("arora-2019", "cao-gu-2019"),
    description=(
        "Full-batch GD on digits (0-4 vs 5-9) with a fraction of random training labels, "
        "for the two-layer ReLU network of Arora et al. [arora-2019]: steps to 10% of the "
        r"initial loss against $y^\top (H^\infty)^{-1} y$, the loss curve against its linearized "
        "prediction, and the test error against Arora et al.'s [arora-2019, Theorem 5.1] and "
        "Cao & Gu's [cao-gu-2019, Corollary 3.10] kernel bounds."
    ),
    claims=CLAIMS,
    plan=plan,
    evidence=evidence,
    measure=measure,
    hypotheses=(ARORA_GD, ARORA_TWO_LAYER),
)
