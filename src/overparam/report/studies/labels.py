"""Study ``labels``: true against random labels on digits -- GD's convergence speed against
y^T (H^inf)^-1 y, and the test error against the kernel bounds.

[arora-2019] (Theorems 4.1 and 5.1) for a two-layer relu network f = V relu(W x) with the output
layer fixed and W trained by GD from a small random init:

* Theorem 4.1: ||y - u(k)||^2 = sum_i (1 - eta lambda_i)^(2k) (v_i^T y)^2 +- eps, with
  (lambda_i, v_i) the eigenpairs of H^inf_ij = x_i^T x_j (pi - arccos x_i^T x_j) / (2 pi)
  (:func:`overparam.ntk.gram.h_infinity`): labels aligned with the top eigenvectors are fitted
  fast, so true labels train faster than random ones, and ||W(k) - W(0)||_F grows with
  sqrt(y^T (H^inf)^-1 y);
* Theorem 5.1: the test error of the trained net is <= sqrt(2 y^T (H^inf)^-1 y / n)
  + O(sqrt(log(n / (lambda_0 delta)) / n)).

[cao-gu-2019, Corollary 3.10] bounds the test error of Algorithm 2 (online SGD) by
L sqrt(y^T (Theta^(L))^-1 y / n) + sqrt(log(1/delta) / n) (constants 1 here, L = 2, the
analytic Theta^(2) of the cao-gu network; see :mod:`overparam.generalization`). It is stated
for SGD; here it is put beside the GD runs as the kernel complexity at the same labels.

Setting: scikit-learn's digits, binary task (0-4 vs 5-9), n training images (unit norm, mu = 0.5)
whose labels are replaced by random ones with probability ``noise`` in 0..1
(:func:`overparam.data.digits`), the zou-gu network with one hidden layer (L = 1: exactly Arora
et al.'s architecture with a Gaussian instead of a +-1 output layer; its NTK / m -> H^inf) trained
by full-batch GD for a fixed number of steps at the measured stable step (lr = "auto").

``plan``: the GD runs (noise x seed). ``measure`` (no training): per (noise, seed) the
complexities y^T (H^inf)^-1 y and y^T (Theta^(2))^-1 y, both bounds, and the linearized loss
curve of Theorem 4.1 at the run's own width, init and step -- r(t) = (I - eta c Theta)^t r(0)
with Theta the empirical NTK at init, c the loss's 1/n and r(0) = f_0(X) - y measured (the
zou-gu output layer is not small, so r(0) != -y) -- at log-spaced checkpoints.
Convergence speed is the number of steps until L(W_t) <= 10% L(W_0), from the stored curves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from overparam.config import RunConfig, build_config
from overparam.report.study import Claim, FigureSpec, Study, StudyData, StudyResult, register

SOURCE = (
    "arora-2019, Theorems 4.1 and 5.1 (y^T H^-1 y: convergence and generalization); "
    "cao-gu-2019, Corollary 3.10 (seed 002)"
)
DEPTH = 1  # zou-gu L: one hidden layer, Arora et al.'s two-layer network
CG_DEPTH = 2  # Cao & Gu's L for the same architecture (weight matrices)
DELTA = 0.05
SPEED_RATIO = 0.1  # convergence speed: steps until L(W_t) <= 10% of L(W_0)
RANK_THRESHOLD = 0.8  # Spearman rho needed for "tracks" claims (as in the generalization study)
# The linearized curve "follows" the measured one when the median |log10(measured/predicted)|
# over checkpoints and runs is at most log10(1.5); within 10x it holds up to a constant.
FOLLOW_TOL = math.log10(1.5)


@dataclass(frozen=True)
class Scale:
    n: int
    width: int
    steps: int
    noises: tuple[float, ...]
    seeds: tuple[int, ...]


FULL = Scale(n=200, width=1024, steps=500, noises=(0.0, 0.25, 0.5, 0.75, 1.0), seeds=(0, 1, 2))
QUICK = Scale(n=100, width=512, steps=300, noises=(0.0, 0.5, 1.0), seeds=(0, 1))


def scale_of(quick: bool) -> Scale:
    return QUICK if quick else FULL


def config(noise: float, seed: int, s: Scale) -> RunConfig:
    """One GD run: zou-gu, L = 1, digits 0-4 vs 5-9 with ``noise`` random training labels."""
    return build_config(
        data="digits",
        task="binary",
        noise=noise,
        n=s.n,
        width=s.width,
        depth=DEPTH,
        parameterization="zou-gu",
        algorithm="gd",
        lr="auto",
        steps=s.steps,  # no target: every run keeps its whole loss curve
        seed=seed,
        dtype="float32",
    )


def plan(quick: bool) -> list[RunConfig]:
    s = scale_of(quick)
    return [config(noise, seed, s) for noise in s.noises for seed in s.seeds]


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


def linearized_losses(theta: np.ndarray, r0: np.ndarray, lr: float, c: float, steps) -> np.ndarray:
    """c/2 ||(I - lr c Theta)^t r0||^2 at each t of ``steps`` [arora-2019, Theorem 4.1]: GD on
    the linearized network, loss c/2 ||r||^2 (c = 1/n for the mean square loss)."""
    lam, U = np.linalg.eigh(0.5 * (theta + theta.T))
    z = U.T @ r0
    decay = 1.0 - lr * c * lam
    return np.array([0.5 * c * float(np.sum((decay**t * z) ** 2)) for t in steps])


def measure_point(cfg: RunConfig) -> list[dict]:
    """The rows of one (noise, seed): complexities, bounds and the linearized curve."""
    import copy

    import torch

    from overparam.generalization import factor, ntk_bound
    from overparam.ntk import empirical
    from overparam.ntk.gram import h_infinity
    from overparam.train.run import resolve_lr, setup

    s = setup(cfg)
    X, y = s.train.X.to(torch.float64), s.train.y.to(torch.float64)
    n = int(X.shape[0])
    fk = factor(h_infinity(X), kind="given")
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
            "arora_bound": math.sqrt(2.0 * q / n),
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


def measure_scale(s: Scale) -> pd.DataFrame:
    rows = []
    for noise in s.noises:
        for seed in s.seeds:
            rows += measure_point(config(noise, seed, s))
    return pd.DataFrame.from_records(rows)


def measure(quick: bool) -> pd.DataFrame:
    """Tidy rows: ``complexity`` (one per noise, seed: q_hinf = y^T (H^inf)^-1 y, arora_bound,
    cg_complexity, cg_bound, lr) and ``linearized_loss`` (step, value) of Theorem 4.1."""
    return measure_scale(scale_of(quick))


# ---------------------------------------------------------------------------------------------
# analysis
# ---------------------------------------------------------------------------------------------


def steps_to(losses: pd.DataFrame, ratio: float = SPEED_RATIO) -> pd.Series:
    """Per run_id: the first step with loss <= ratio * loss at step 0 (NaN: never)."""
    out = {}
    for rid, g in losses.groupby("run_id"):
        g = g.sort_values("step")
        hit = g["loss"].to_numpy() <= ratio * float(g["loss"].iloc[0])
        out[rid] = float(g["step"].to_numpy()[hit.argmax()]) if hit.any() else math.nan
    return pd.Series(out, dtype=float)


def run_table(runs: pd.DataFrame, losses: pd.DataFrame, meas: pd.DataFrame) -> pd.DataFrame:
    """One row per run: noise, seed, test_error, train_error, steps_to_10pct, final_ratio,
    with the measured complexities and bounds of its (noise, seed)."""
    t = runs[["run_id", "noise", "seed", "n"]].copy()
    t["n"] = t["n"].astype(int)
    t["noise"] = t["noise"].astype(float)
    t["seed"] = t["seed"].astype(int)
    t["test_error"] = 1.0 - runs["test_accuracy"].astype(float).to_numpy()
    t["train_error"] = 1.0 - runs["train_accuracy"].astype(float).to_numpy()
    speed = steps_to(losses)
    t["steps_to_10pct"] = t["run_id"].map(speed)
    last = losses.sort_values("step").groupby("run_id")["loss"].agg(["first", "last"])
    t["final_ratio"] = t["run_id"].map(last["last"] / last["first"])
    comp = meas[meas["quantity"] == "complexity"] if not meas.empty else meas
    if not comp.empty:
        cols = ["noise", "seed", "q_hinf", "arora_bound", "cg_complexity", "cg_bound"]
        c = comp[cols].astype({"noise": float, "seed": int})
        t = t.merge(c, on=["noise", "seed"], how="left")
    return t


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
    """Measured against linearized loss at every checkpoint of every run: (noise, seed, step,
    measured, predicted, log10_ratio)."""
    lin = meas[meas["quantity"] == "linearized_loss"] if not meas.empty else meas
    if lin.empty or losses.empty:
        return pd.DataFrame()
    keys = runs[["run_id", "noise", "seed"]].astype({"noise": float, "seed": int})
    m = losses.merge(keys, on="run_id")
    lin = lin[["noise", "seed", "step", "value"]].astype({"noise": float, "seed": int, "step": int})
    out = m.merge(lin, on=["noise", "seed", "step"]).rename(
        columns={"loss": "measured", "value": "predicted"}
    )
    out = out[(out["measured"] > 0) & (out["predicted"] > 0)]
    out["log10_ratio"] = np.log10(out["measured"] / out["predicted"])
    return out[["noise", "seed", "step", "measured", "predicted", "log10_ratio"]]


def _spearman(a, b) -> float:
    from scipy.stats import spearmanr

    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
        return math.nan
    return float(spearmanr(a[ok], b[ok]).statistic)


def _fmt(values, digits: int = 3) -> str:
    return ", ".join(f"{v:.{digits}g}" for v in values)


def _rank_verdict(rho: float) -> str:
    return "holds" if np.isfinite(rho) and rho >= RANK_THRESHOLD else "does not hold at this scale"


def claims(t: pd.DataFrame, nt: pd.DataFrame, follow: pd.DataFrame) -> list[Claim]:
    out = []
    n = int(t["n"].iloc[0]) if "n" in t else None
    scale = f"n={n}, " if n else ""
    if "q_hinf" in nt and len(nt) >= 2:
        rho = _spearman(nt["noise"], nt["q_hinf"])
        out.append(
            Claim(
                claim="y^T (H^inf)^-1 y grows as labels get random",
                source="arora-2019, Section 5 (Figure: true vs random labels)",
                measured=f"noise {_fmt(nt['noise'])}: {_fmt(nt['q_hinf'])} (Spearman {rho:.2f})",
                theory="increasing in noise",
                verdict=_rank_verdict(rho),
                note=f"{scale}means over {int(nt['seeds'].min())}+ seeds, digits 0-4 vs 5-9",
            )
        )
    if {"q_hinf", "steps_to_10pct"} <= set(t.columns):
        rho = _spearman(nt["q_hinf"], nt["steps_to_10pct"])
        rho_runs = _spearman(t["q_hinf"], t["steps_to_10pct"])
        never = int(t["steps_to_10pct"].isna().sum())
        out.append(
            Claim(
                claim="GD converges slower when y^T (H^inf)^-1 y is larger",
                source="arora-2019, Theorem 4.1",
                measured=f"steps to 10% of L(0): {_fmt(nt['steps_to_10pct'])}; Spearman with "
                f"y^T H^-1 y {rho:.2f} over noise levels ({rho_runs:.2f} over runs)",
                theory="monotone: slower for larger y^T H^-1 y",
                verdict=_rank_verdict(rho),
                note=f"lr = auto (1/lambda_max); {never} run(s) never reached 10%"
                if never
                else "lr = auto (1/lambda_max), full-batch GD",
            )
        )
    if not follow.empty:
        med = float(follow["log10_ratio"].abs().median())
        worst = float(follow["log10_ratio"].abs().max())
        if med <= FOLLOW_TOL:
            verdict = "holds"
        elif med <= 1.0:
            verdict = "holds with constant C"
        else:
            verdict = "does not hold at this scale"
        out.append(
            Claim(
                claim="the loss curve follows the linearized (kernel) prediction",
                source="arora-2019, Theorem 4.1 (at finite width: lee-2019)",
                measured=f"median |log10(measured / predicted)| {med:.3f} (factor "
                f"{10**med:.2f}); worst {worst:.2f}",
                theory="0 (exact in the kernel limit)",
                verdict=verdict,
                note=f"{len(follow)} (run, checkpoint) pairs; prediction from Theta at init, "
                f"the run's step and r(0); 'holds' within a factor {10**FOLLOW_TOL:.1f}, "
                "'with constant C' within 10",
            )
        )
    for col, label, source, theory in (
        (
            "arora_bound",
            "sqrt(2 y^T (H^inf)^-1 y / n)",
            "arora-2019, Theorem 5.1",
            "test error <= sqrt(2 y^T H^-1 y / n) + O(sqrt(log(n/(lambda0 delta))/n))",
        ),
        (
            "cg_bound",
            "L sqrt(y^T Theta^-1 y / n) + sqrt(log(1/delta)/n)",
            "cao-gu-2019, Corollary 3.10",
            "E[test error] <= bound (stated for Algorithm 2)",
        ),
    ):
        if col not in nt or "test_error" not in nt:
            continue
        above = bool((nt[col] >= nt["test_error"]).all())
        vacuous = bool((nt[col] >= 1.0).all())
        rho = _spearman(nt["test_error"], nt[col])
        out.append(
            Claim(
                claim=f"the test error of GD stays below {label} (constants 1)",
                source=source,
                measured=f"test error {_fmt(nt['test_error'])} vs bound {_fmt(nt[col])} "
                f"(Spearman {rho:.2f})",
                theory=theory,
                verdict="holds" if above else "does not hold at this scale",
                note=(
                    "vacuous: the bound is >= 1 at every noise level; "
                    if vacuous
                    else "non-vacuous at some noise level; "
                )
                + (
                    "both rise with noise"
                    if _rank_verdict(rho) == "holds"
                    else "the error does not track the bound"
                ),
            )
        )
    return out


# ---------------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------------


def figure_curves(losses: pd.DataFrame, runs: pd.DataFrame, meas: pd.DataFrame) -> FigureSpec:
    from overparam.report.plots import COLORS, THEORY, loglog, mean_band, new_figure, plot_band

    fig, (ax,) = new_figure(width=6.0)
    keys = runs[["run_id", "noise"]].astype({"noise": float})
    m = losses.merge(keys, on="run_id")
    m = m.assign(step1=m["step"] + 1)  # log axis: step t at t + 1
    lin = meas[meas["quantity"] == "linearized_loss"] if not meas.empty else meas
    for i, (noise, g) in enumerate(m.groupby("noise")):
        color = COLORS[i % len(COLORS)]
        plot_band(
            ax,
            mean_band(g, "step1", "loss"),
            "step1",
            label=f"noise {noise:g}",
            color=color,
            marker="",
        )
        p = lin[lin["noise"].astype(float) == noise] if not lin.empty else lin
        if not p.empty:
            stats = mean_band(p.assign(step1=p["step"] + 1), "step1", "value")
            ax.plot(stats["step1"], stats["mean"], color=color, ls="--", lw=1.0)
    ax.plot([], [], label="linearized (Thm 4.1), dashed", **THEORY)
    loglog(ax, "GD step t + 1", "training loss", "digits: true vs random labels")
    ax.legend(ncol=2)
    return FigureSpec(
        "labels_loss_curves",
        "Training loss of GD on digits with a fraction of random labels (geometric mean and "
        "range over seeds); dashed, same colour: the linearized prediction "
        "(I - eta Theta/n)^t r(0) of [arora-2019, Theorem 4.1] with the empirical Theta at init. "
        "Random labels project onto small eigenvalues of H^inf and are fitted slower.",
        fig,
    )


def figure_speed(t: pd.DataFrame) -> FigureSpec:
    from overparam.report.plots import COLORS, loglog, new_figure

    fig, (ax,) = new_figure()
    for i, (noise, g) in enumerate(t.groupby("noise")):
        ax.scatter(
            g["q_hinf"],
            g["steps_to_10pct"],
            color=COLORS[i % len(COLORS)],
            s=20,
            label=f"noise {noise:g}",
        )
    loglog(
        ax,
        "y^T (H^∞)^-1 y",
        f"GD steps to {SPEED_RATIO:.0%} of L(0)",
        "convergence speed against the label complexity",
    )
    ax.legend()
    return FigureSpec(
        "labels_speed",
        f"Steps until the training loss falls to {SPEED_RATIO:.0%} of its initial value against "
        "y^T (H^inf)^-1 y, one point per run, log-log [arora-2019, Theorem 4.1: the projections "
        "of y on H^inf's eigenvectors set the speed].",
        fig,
    )


def figure_generalization(nt: pd.DataFrame) -> FigureSpec:
    from overparam.report.plots import COLORS, new_figure

    fig, (ax,) = new_figure()
    ax.plot(
        nt["noise"], nt["test_error"], marker="o", ms=4, color=COLORS[0], label="test error (GD)"
    )
    ax.fill_between(
        nt["noise"],
        (nt["test_error"] - nt["test_error_se"]).clip(lower=1e-3),
        nt["test_error"] + nt["test_error_se"],
        alpha=0.2,
        color=COLORS[0],
    )
    for i, (col, label) in enumerate(
        (
            ("arora_bound", "√(2 yᵀH⁻¹y / n) (Arora Thm 5.1)"),
            ("cg_bound", "L√(yᵀΘ⁻¹y / n) + conf. (Cao & Gu Cor 3.10)"),
        )
    ):
        if col in nt:
            ax.plot(
                nt["noise"], nt[col], marker="s", ms=4, ls="--", color=COLORS[i + 1], label=label
            )
    ax.axhline(1.0, color="0.6", lw=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("label noise (fraction of random training labels)")
    ax.set_ylabel("0-1 test error / bound")
    ax.set_title("test error against the kernel bounds")
    ax.legend()
    return FigureSpec(
        "labels_generalization",
        "Test error of the GD-trained network (mean +- standard error over seeds, true test "
        "labels) against the bounds of [arora-2019, Theorem 5.1] and [cao-gu-2019, Corollary "
        "3.10] with constants 1 (dashed), against label noise; the grey line is error 1.",
        fig,
    )


def analyze(data: StudyData) -> StudyResult:
    runs, losses, meas = data.runs, data.losses, data.measurements
    if runs.empty or losses.empty:
        return StudyResult(
            claims=[
                Claim(
                    "GD converges slower when y^T (H^inf)^-1 y is larger",
                    "arora-2019, Theorem 4.1",
                    "",
                    "",
                    "not measured",
                )
            ]
        )
    t = run_table(runs, losses, meas)
    nt = noise_table(t)
    follow = follow_table(losses, runs, meas)
    figures = [figure_curves(losses, runs, meas), figure_generalization(nt)]
    if "q_hinf" in t:
        figures.insert(1, figure_speed(t))
    tables = {"noise": nt, "runs": t.drop(columns=["run_id"])}
    if not follow.empty:
        tables["linearized"] = (
            follow.groupby(["noise", "step"])[["measured", "predicted"]].mean().reset_index()
        )
    return StudyResult(claims=claims(t, nt, follow), figures=figures, tables=tables)


STUDY = register(
    Study(
        name="labels",
        title="True vs random labels: convergence speed and test error against y^T H^-1 y",
        source=SOURCE,
        plan=plan,
        analyze=analyze,
        measure=measure,
        description=(
            "Full-batch GD on digits (0-4 vs 5-9) with a fraction of random training labels, "
            "for the two-layer relu network of Arora et al.: steps to 10% of the initial loss "
            "against y^T (H^inf)^-1 y, the loss curve against its linearized prediction, and the "
            "test error against Arora et al.'s and Cao & Gu's kernel bounds."
        ),
    )
)
