"""Study ``gnn-skip``: linear GNNs with and without skip connections, at several depths, on
community-labelled and randomly labelled SBM graphs: measured convergence speed next to the rate
the tangent kernel predicts.

[xu-2021-gnn]: gradient descent on the linear GNN f = W X_(H), X_(l) = B_(l) X_(l-1) S
(Definition 1) converges linearly to the best loss L* of its function class, at a rate set by
the smallest eigenvalue of its (time-varying) tangent kernel; the skip-connection (JK-Net)
variant f = sum_l W_(l) X_(l) converges too, and training is accelerated by skip connections, by
more depth and by a label distribution correlated with the features. Every comparison here is
at the *same* step size (within a graph seed).

Setup: SBM graphs with N = 24 nodes and d = 32 features (feature dimension >= nodes, so both
GNNs can fit any labels and L* ~ 0: the over-parameterized regime), two communities, hidden
width 16, the ``standard`` init, full-batch GD on the mean square loss, float64. Labels: the
communities (noise 0, correlated with the features) or uniformly random (noise 1, independent of
graph and features) on the same graph and features. Step size, per graph seed: half the
linearized stability limit of the stiffest network in the grid, eta = 0.5 / max
lambda_max(c Theta) (c = 1/N, Theta the empirical NTK at init), so each graph seed is one
sweep spec (``part="seed-<s>"``) with its own ``lr``.

Speed: the first step t at which the excess loss ratio (L_t - L*) / (L_0 - L*) <= 0.1, with L*
the least-squares floor of the function class (plain: features (S^T)^H X; skip: [X, S^T X, ...,
(S^T)^H X]); inf when the run never gets there within its steps (censored). Prediction: the same
step for the model linearized at init, r_t = (I - eta c Theta_0)^t r_0 (each eigencomponent of
the residual decays at its own rate: the label-aware rate; ranked against the measured steps with
both censored at the run's steps, ties left to the claim engine), and the worst-case bound
log(1/0.1) / (2 eta lambda_min^+) from the smallest positive eigenvalue (as a fraction of the
run's steps: a bound beyond them cannot fail, so such runs are vacuous). A pair in which neither
run converged cannot tell which is faster: it is counted apart (undefined), never as support.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from overparam.config import RunConfig, build_config
from overparam.studies.claims import Claim, Fraction, Hypothesis, Monotone, Rank, Ratio
from overparam.studies.frames import done_runs, first_step_below
from overparam.studies.plan import sweep
from overparam.studies.study import Context, Evidence, FigureSpec, Scale, Study, StudyData
from overparam.sweep.spec import SweepSpec

NAME = "gnn-skip"
NODES, FEATURES, WIDTH = 24, 32, 16  # d >= N: both GNNs reach L* ~ 0 (over-parameterized)
FEATURE_NOISE = 1.0  # half of E||x_v||^2 = 1 is the community mean
LABEL_NOISE = (0.0, 1.0)  # community labels vs random labels (same graph and features)
EPS = 0.1  # converged once the excess loss ratio (L - L*) / (L_0 - L*) <= EPS
LR_FRACTION = 0.5  # eta = LR_FRACTION / max lambda_max(c Theta_0) over a seed's grid
KEYS = ["depth", "skip", "noise", "seed"]
ACCEL = "xu-2021-gnn, Section 4"  # implicit acceleration: skip connections, depth, labels
RATE = "xu-2021-gnn, Section 3"  # linear convergence at a rate set by the kernel's eigenvalues


@dataclass(frozen=True)
class Size:
    depths: tuple[int, ...]
    seeds: tuple[int, ...]
    steps: int


SIZES: dict[str, Size] = {
    "quick": Size(depths=(1, 4), seeds=(0,), steps=300),
    "full": Size(depths=(1, 2, 4, 8), seeds=(0, 1, 2), steps=400),
}


def base_fields(seed: int, steps: int, lr: float) -> dict:
    """The config fields every run of graph ``seed`` shares (all nodes labelled: the study is
    about optimization)."""
    return dict(
        arch="gnn",
        data="sbm",
        parameterization="standard",
        n=NODES,
        d=FEATURES,
        width=WIDTH,
        feature_noise=FEATURE_NOISE,
        test_fraction=0.0,
        seed=seed,
        lr=lr,
        steps=steps,
        dtype="float64",
    )


def config(depth: int, skip: bool, noise: float, seed: int, steps: int, lr: float) -> RunConfig:
    """One run of the study."""
    return build_config(base_fields(seed, steps, lr), depth=depth, skip=skip, noise=noise)


# -- kernels and floors (no training) ----------------------------------------------------------


def gn_spectrum(cfg: RunConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(eigenvalues of c Theta_0, eigenvectors, initial residual f_0 - y) for a config, with
    Theta_0 the structured empirical NTK over the training nodes [jacot-2018]."""
    from overparam.ntk import empirical
    from overparam.run import setup

    s = setup(cfg)
    X = s.train.X
    theta = empirical(s.model, X).detach().double()
    with torch.no_grad():
        r0 = (s.model(X) - s.train.y).double().flatten()
    c = s.objective.scale(s.train.n)
    ev, vec = torch.linalg.eigh(c * theta)
    return ev.numpy(), vec.numpy(), r0.numpy()


def shared_lr(seed: int, depths: tuple[int, ...]) -> float:
    """eta = LR_FRACTION / max over (depth, skip) of lambda_max(c Theta_0) for graph ``seed``
    (labels do not enter the kernel)."""
    top = max(
        gn_spectrum(config(h, skip, 0.0, seed, 1, 1.0))[0][-1]
        for h in depths
        for skip in (False, True)
    )
    return LR_FRACTION / top


def least_squares_floor(cfg: RunConfig) -> float:
    """L* = min over the GNN's function class of the objective: least squares of the training
    targets on (S^T)^H X (plain) or [X, S^T X, ..., (S^T)^H X] (skip), times the reduction.
    (Hidden widths >= the output dimension impose no rank constraint here.)"""
    from overparam.run import build_data, build_graph

    graph = build_graph(cfg)
    train, _ = build_data(cfg)
    Z, feats = graph.X, [graph.X]
    for _ in range(cfg.depth):
        Z = graph.S.T @ Z
        feats.append(Z)
    Phi = torch.cat(feats, 1) if cfg.skip else feats[-1]
    Phi = Phi[train.X.argmax(1)]
    coef = torch.linalg.lstsq(Phi, train.y, driver="gelsd").solution
    resid = train.y - Phi @ coef
    c = 1.0 / train.n  # the standard parameterization's mean reduction
    return float(c * 0.5 * (resid**2).sum())


def linearized_steps(
    ev: np.ndarray, vec: np.ndarray, r0: np.ndarray, lr: float, eps: float = EPS
) -> float:
    """First t with sum_i (1 - lr ev_i)^(2t) p_i^2 <= eps sum_i p_i^2 over the kernel's range
    (p = V^T r_0; null-space components are the linearized floor); inf if never."""
    tol = 1e-10 * max(float(ev[-1]), 1e-300)
    keep = ev > tol
    p2 = (vec.T @ r0)[keep] ** 2
    factor = (1.0 - lr * ev[keep]) ** 2
    if not p2.sum() > 0 or np.any(factor >= 1.0):  # nothing to fit, or lr beyond 2 / lambda
        return math.inf
    total = p2.sum()

    def ratio(t: float) -> float:
        return float((p2 * factor**t).sum() / total)

    hi = 1
    while ratio(hi) > eps:
        hi *= 2
        if hi > 2**40:
            return math.inf
    lo = hi // 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if ratio(mid) > eps else (lo, mid)
    return float(hi if ratio(lo) > eps else lo)


def measure(scale: Scale) -> pd.DataFrame:
    """One row per planned run: its lr, L*, kernel extremes, predicted and bound steps."""
    s = SIZES[scale]
    rows = []
    for seed in s.seeds:
        lr = shared_lr(seed, s.depths)
        for depth in s.depths:
            for skip in (False, True):
                ev, vec, _ = gn_spectrum(config(depth, skip, 0.0, seed, 1, lr))
                positive = ev[ev > 1e-10 * ev[-1]]
                lam_min = float(positive.min())
                for noise in LABEL_NOISE:
                    cfg = config(depth, skip, noise, seed, s.steps, lr)
                    _, _, r0 = gn_spectrum(cfg)
                    rows.append(
                        {
                            "depth": depth,
                            "skip": skip,
                            "noise": noise,
                            "seed": seed,
                            "lr": lr,
                            "L_star": least_squares_floor(cfg),
                            "lambda_max": float(ev[-1]),
                            "lambda_min": lam_min,
                            "pred_steps": linearized_steps(ev, vec, r0, lr),
                            "bound_steps": math.log(1.0 / EPS) / (2.0 * lr * lam_min),
                        }
                    )
    return pd.DataFrame(rows)


def plan(scale: Scale) -> list[SweepSpec]:
    """One spec per graph seed (its own shared step size); grid depth x skip x labels."""
    s = SIZES[scale]
    grid: dict[str, list[Any]] = {
        "depth": list(s.depths),
        "skip": [False, True],
        "noise": list(LABEL_NOISE),
    }
    return [
        sweep(
            NAME,
            scale,
            base=base_fields(seed, s.steps, shared_lr(seed, s.depths)),
            grid=grid,
            part=f"seed-{seed}",
            description=f"linear GNN on SBM graph seed {seed}: depth x skip x label noise",
        )
        for seed in s.seeds
    ]


# -- claims ------------------------------------------------------------------------------------

#: GD on the linearized model contracts every eigencomponent only when eta lambda_max < 2.
STABLE = Hypothesis(
    "eta_lambda_max",
    at_most=2.0,
    reason=r"GD on the model linearized at init contracts only for "
    r"$\eta\, \lambda_{\max}(c\Theta_0) < 2$",
)

CLAIMS = (
    Claim(
        "skip",
        "skip connections accelerate GD: the skip GNN reaches the excess-loss ratio 0.1 in fewer "
        "steps than the plain GNN (same depth, labels, graph and step size)",
        cite=ACCEL + " (acceleration by skip connections)",
        quantity="steps_skip",
        test=Fraction(0.75, other="steps_plain", op="<"),
    ),
    Claim(
        "depth",
        "more depth accelerates the skip GNN: steps to converge (relative to its labels and "
        "graph) fall with depth",
        cite=ACCEL + " (acceleration by more depth)",
        quantity="relative_steps",
        test=Monotone("decreasing", x="depth", threshold=0.7),
    ),
    Claim(
        "depth-plain",
        "more depth accelerates the plain GNN: steps to converge (relative to its labels and "
        "graph) fall with depth",
        cite=ACCEL + " (acceleration by more depth)",
        quantity="relative_steps",
        test=Monotone("decreasing", x="depth", threshold=0.7),
    ),
    Claim(
        "labels",
        "labels correlated with the features accelerate GD: community labels converge in fewer "
        "steps than random labels (same network, graph and step size)",
        cite=ACCEL + " (acceleration by the label distribution)",
        quantity="steps_community",
        test=Fraction(0.75, other="steps_random", op="<"),
    ),
    Claim(
        "prediction",
        "the tangent kernel at init predicts the convergence speed: measured steps rank like the "
        "steps of the model linearized at init (both censored at the run's steps)",
        cite=RATE + " (rate set by the tangent kernel's eigenvalues)",
        quantity="steps_to_eps",
        test=Rank(0.7, predicted="pred_censored"),
        hypotheses=(STABLE,),
    ),
    Claim(
        "bound",
        r"steps to converge $\le$ the worst-case linear-rate bound "
        r"$\log(1/0.1) / (2 \eta\, \lambda_{\min}^{+}(c\Theta_0))$ (both as fractions of the "
        "run's steps)",
        cite=RATE + " (linear convergence rate)",
        quantity="steps_over_budget",
        test=Ratio(bound="bound_over_budget", trivial=1.0),
        hypotheses=(STABLE,),
    ),
)


# -- evidence (pure functions of the stored frames) --------------------------------------------


def _as_bool(v: object) -> bool:
    return str(v).strip().lower() in ("true", "1", "1.0")


def _normalize(df: pd.DataFrame) -> pd.DataFrame:
    """Key columns with one type each (stores may hand booleans back as 0/1 or 'True')."""
    out = df.copy()
    out["depth"] = pd.to_numeric(out["depth"]).astype(int)
    out["seed"] = pd.to_numeric(out["seed"]).astype(int)
    out["noise"] = pd.to_numeric(out["noise"]).astype(float)
    out["skip"] = out["skip"].map(_as_bool)
    return out


TABLE_COLUMNS = [
    *KEYS,
    "run_id",
    "steps_to_eps",
    "budget",
    "final_excess",
    "L_star",
    "pred_steps",
    "bound_steps",
    "lambda_min",
    "lambda_max",
    "eta",
]


def convergence_table(data: StudyData) -> pd.DataFrame:
    """One row per finished run: keys, measured steps to EPS (inf if not within the stored
    steps), the stored steps (budget), final excess ratio, and the measurement's L*,
    prediction, bound and kernel extremes; eta is the run's step size (lr_used, else lr)."""
    runs, losses, meas = done_runs(data.runs), data.losses, data.measurements
    if runs.empty or losses.empty or meas.empty or not set(KEYS) <= set(meas.columns):
        return pd.DataFrame(columns=TABLE_COLUMNS)
    r = _normalize(runs).merge(_normalize(meas), on=KEYS, how="inner", suffixes=("", "_meas"))
    curves = {k: g.sort_values("step") for k, g in losses.groupby("run_id")}
    rows = []
    for _, row in r.iterrows():
        curve = curves.get(row["run_id"])
        if curve is None or curve.empty:
            continue
        loss = curve["loss"].to_numpy(dtype=float)
        L_star = float(row["L_star"])
        excess = (loss - L_star) / max(loss[0] - L_star, 1e-300)
        eta = row.get("lr_used", math.nan)
        eta = float(row["lr"]) if eta is None or not np.isfinite(float(eta)) else float(eta)
        rows.append(
            {
                **{k: row[k] for k in KEYS},
                "run_id": row["run_id"],
                "steps_to_eps": first_step_below(curve["step"].to_numpy(), excess, EPS),
                "budget": float(curve["step"].max()),
                "final_excess": float(excess[-1]),
                "L_star": L_star,
                "pred_steps": float(row["pred_steps"]),
                "bound_steps": float(row["bound_steps"]),
                "lambda_min": float(row["lambda_min"]),
                "lambda_max": float(row["lambda_max"]),
                "eta": eta,
            }
        )
    if not rows:
        return pd.DataFrame(columns=TABLE_COLUMNS)
    return pd.DataFrame(rows).sort_values(KEYS).reset_index(drop=True)


def pairs(table: pd.DataFrame, axis: str, names: dict, fixed: list[str]) -> pd.DataFrame:
    """One row per group of ``fixed`` keys holding one run at each value of ``axis``: the
    fixed keys and steps_to_eps of each value, in the column ``names[value]``."""
    cols = [*fixed, *names.values()]
    if table.empty:
        return pd.DataFrame(columns=cols)
    out = []
    for key, group in table.groupby(fixed):
        row = dict(zip(fixed, key if isinstance(key, tuple) else (key,), strict=True))
        for value, name in names.items():
            hit = group[group[axis] == value]
            if len(hit) != 1:
                break
            row[name] = float(hit["steps_to_eps"].iloc[0])
        else:
            out.append(row)
    return pd.DataFrame(out, columns=cols)


def relative_steps(table: pd.DataFrame) -> pd.DataFrame:
    """Steps to EPS over the geometric mean of the finite steps of the same (skip, labels,
    graph seed) group across depths: the depth trend with the labels' scale removed (inf:
    censored; NaN: no run of the group converged, nothing to compare)."""
    if table.empty:
        return table.assign(relative_steps=pd.Series(dtype=float))

    def scale(s: pd.Series) -> float:
        finite = s[np.isfinite(s) & (s > 0)]
        return float(np.exp(np.log(finite).mean())) if len(finite) else math.nan

    ref = table.groupby(["skip", "noise", "seed"])["steps_to_eps"].transform(scale)
    return table.assign(relative_steps=table["steps_to_eps"] / ref)


def evidence(data: StudyData) -> Evidence:
    t = convergence_table(data)
    rel = relative_steps(t)
    frame = t.assign(
        eta_lambda_max=t["eta"] * t["lambda_max"],
        # beyond the stored steps neither the run nor the prediction can be told apart
        pred_censored=t["pred_steps"].where(t["pred_steps"] <= t["budget"], math.inf),
        steps_over_budget=t["steps_to_eps"] / t["budget"],
        bound_over_budget=t["bound_steps"] / t["budget"],
    )
    by_skip = {True: "steps_skip", False: "steps_plain"}
    by_labels = {0.0: "steps_community", 1.0: "steps_random"}
    frames = {
        "skip": pairs(t, "skip", by_skip, ["depth", "noise", "seed"]),
        "depth": rel[rel["skip"].astype(bool)],
        "depth-plain": rel[~rel["skip"].astype(bool)],
        "labels": pairs(t, "noise", by_labels, ["depth", "skip", "seed"]),
        "prediction": frame,
        "bound": frame,
    }
    if t.empty:
        return Evidence(frames=frames)
    figures = [figure_curves(data), figure_speed(t), figure_prediction(t)]
    return Evidence(
        frames=frames,
        figures=figures,
        tables={"convergence": t.drop(columns=["run_id"])},
        context=_context(t),
    )


def _context(t: pd.DataFrame) -> list[Context]:
    """Numbers computed without training, shown beside the claims."""
    out = [
        Context(
            "least-squares floor $L^*$ of the function class",
            f"{t['L_star'].min():.3g} .. {t['L_star'].max():.3g}",
            "xu-2021-gnn, Section 3",
            r"computed from the graph and labels (no training): $d \ge N$ makes $L^* \approx 0$",
        )
    ]
    lo, hi = int(t["depth"].min()), int(t["depth"].max())
    skip = t[t["skip"].astype(bool)].assign(steps_to_eps=t["pred_steps"])
    pred = pairs(skip, "depth", {hi: "deep", lo: "shallow"}, ["noise", "seed"])
    if hi > lo and len(pred):
        k = int((pred["deep"] < pred["shallow"]).sum())
        out.append(
            Context(
                f"the kernel at init predicts the skip GNN of depth {hi} faster than depth {lo}",
                f"{k} of {len(pred)} (labels, graph) pairs",
                "xu-2021-gnn, Section 4",
                r"a property of $\Theta_0$ (no training), shown beside the measured depth trend",
            )
        )
    return out


# -- figures -----------------------------------------------------------------------------------


def _depth_axis(ax) -> None:
    """Log-2 depth axis labelled 1, 2, 4, ... (plain numbers, no minor labels)."""
    from matplotlib.ticker import NullFormatter

    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:g}")
    ax.xaxis.set_minor_formatter(NullFormatter())


def figure_curves(data: StudyData) -> FigureSpec:
    """Excess-loss curves of one graph seed, community labels: plain vs skip at every depth."""
    from overparam.studies.plots import COLORS, THEORY, new_figure, place_legend

    r = _normalize(done_runs(data.runs)).merge(
        _normalize(data.measurements), on=KEYS, how="inner", suffixes=("", "_meas")
    )
    seed = int(r["seed"].min())
    r = r[(r["seed"] == seed) & (r["noise"] == 0.0)]
    losses = data.losses
    fig, (ax,) = new_figure()
    for i, depth in enumerate(sorted(r["depth"].unique())):
        for skip, style in ((False, ":"), (True, "-")):
            row = r[(r["depth"] == depth) & (r["skip"] == skip)]
            if row.empty:
                continue
            row = row.iloc[0]
            curve = losses[losses["run_id"] == row["run_id"]].sort_values("step")
            loss = curve["loss"].to_numpy(dtype=float)
            excess = (loss - row["L_star"]) / max(loss[0] - row["L_star"], 1e-300)
            label = f"$H={depth}$ {'skip' if skip else 'plain'}"
            ax.plot(curve["step"], np.maximum(excess, 1e-12), style, color=COLORS[i % 10],
                    label=label)  # fmt: skip
    ax.axhline(EPS, **{**THEORY, "linewidth": 0.8})
    ax.set_yscale("log")
    ax.set_xlabel("GD step $t$")
    ax.set_ylabel(r"$(L_t - L^*) \,/\, (L_0 - L^*)$")
    ax.set_title(f"linear GNN on an SBM graph (seed {seed}), same step size")
    place_legend(ax, ncols=2)
    return FigureSpec(
        "gnn_skip_curves",
        "Excess training loss of the linear GNN [xu-2021-gnn, Definition 1] (dotted) and its "
        "skip-connection variant (solid) at every depth; dashed: the convergence threshold "
        f"{EPS}.",
        fig,
    )


def figure_speed(table: pd.DataFrame) -> FigureSpec:
    """Steps to EPS against depth: plain / skip x community / random labels, measured (markers)
    and linearized prediction (dashed)."""
    from overparam.studies.plots import COLORS, THEORY, new_figure, place_legend

    fig, (ax,) = new_figure()
    i = 0
    for skip in (False, True):
        for noise in sorted(table["noise"].unique()):
            sub = table[(table["skip"] == skip) & (table["noise"] == noise)]
            if sub.empty:
                continue
            g = sub.groupby("depth")
            shown = g["steps_to_eps"].median().replace(math.inf, np.nan)
            label = f"{'skip' if skip else 'plain'}, {'random' if noise else 'community'} labels"
            ax.plot(shown.index, shown.values, marker="o", ms=4, color=COLORS[i], label=label)
            pred = g["pred_steps"].median().replace(math.inf, np.nan)
            ax.plot(pred.index, pred.values, **{**THEORY, "color": COLORS[i]})
            i += 1
    _depth_axis(ax)
    ax.set_yscale("log")
    ax.set_xlabel("depth $H$")
    ax.set_ylabel(f"steps until excess ratio $\\leq$ {EPS}\n(median over seeds)")
    ax.set_title("convergence speed; dashed: linearized kernel prediction")
    place_legend(ax)
    return FigureSpec(
        "gnn_skip_speed",
        "Steps to converge against depth at one step size per graph: skip connections, depth "
        "and community labels against random labels [xu-2021-gnn]; dashed lines: the same "
        r"quantity for the network linearized at init ($\Theta_0$). Missing markers: not converged "
        "within the budget.",
        fig,
    )


def figure_prediction(table: pd.DataFrame) -> FigureSpec:
    """Measured against predicted steps, every converged run."""
    from overparam.studies.plots import THEORY, new_figure, place_legend

    fig, (ax,) = new_figure()
    ok = table[np.isfinite(table["steps_to_eps"]) & np.isfinite(table["pred_steps"])]
    for skip, marker in ((False, "s"), (True, "o")):
        sub = ok[ok["skip"] == skip]
        ax.scatter(sub["pred_steps"].clip(lower=1), sub["steps_to_eps"].clip(lower=1),
                   marker=marker, s=18, label="skip" if skip else "plain")  # fmt: skip
    if len(ok):
        lo = max(1.0, float(min(ok["pred_steps"].min(), ok["steps_to_eps"].min())))
        hi = float(max(ok["pred_steps"].max(), ok["steps_to_eps"].max(), lo * 10))
        ax.plot([lo, hi], [lo, hi], label="measured = predicted", **THEORY)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("predicted steps (kernel at init)")
    ax.set_ylabel("measured steps")
    place_legend(ax)
    return FigureSpec(
        "gnn_skip_prediction",
        r"Measured steps to converge against the linearized ($\Theta_0$) prediction, every "
        "converged run [xu-2021-gnn; jacot-2018].",
        fig,
    )


STUDY = Study(
    name=NAME,
    title="Linear GNNs: skip connections, depth and labels accelerate GD",
    cites=("xu-2021-gnn", "jacot-2018"),
    description=(
        f"Linear GNNs (plain and skip-connection / JK-Net, hidden width {WIDTH}) on SBM graphs "
        f"with $N={NODES}$ nodes and $d={FEATURES}$ features, community and random labels, "
        "trained by full-batch GD at one step size per graph (half the linearized stability "
        "limit of the stiffest network), float64: steps until "
        rf"$(L - L^*)/(L_0 - L^*) \le {EPS}$ against skip, depth and labels "
        "[xu-2021-gnn, Section 4], next to the model linearized at init [jacot-2018] and the "
        r"worst-case linear-rate bound from $\lambda_{\min}(c\Theta_0)$ [xu-2021-gnn, Section 3]."
    ),
    claims=CLAIMS,
    plan=plan,
    evidence=evidence,
    measure=measure,
    hypotheses=(STABLE,),
)
