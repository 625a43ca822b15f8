"""Study ``gnn-skip``: linear GNNs with and without skip connections, at several depths, on
community-labelled and randomly labelled SBM graphs: measured convergence speed next to the rate
the tangent kernel predicts.

[xu-2021-gnn] (seed 004, "Extension: Convergence of Linearized GNN"): gradient descent on the
linear GNN f = W X_(H), X_(l) = B_(l) X_(l-1) S (Definition 1) converges linearly to the best
loss L* of its function class, at a rate set by the smallest eigenvalue of its (time-varying)
tangent kernel; the skip-connection (JK-Net) variant f = sum_l W_(l) X_(l) converges too, and
training is accelerated by skip connections, by more depth and by a label distribution correlated
with the features. Every comparison here is at the *same* step size (within a graph seed).

Setup: SBM graphs with N = 24 nodes and d = 32 features (feature dimension >= nodes, so both
GNNs can fit any labels and L* ~ 0 -- the over-parameterized regime of the seed papers), two
communities, hidden width 16, the ``standard`` init, full-batch GD on the mean square loss.
Labels: the communities (noise 0, correlated with the features) or uniformly random (noise 1,
independent of graph and features) on the same graph and features. Step size, per graph seed:
half the linearized stability limit of the stiffest network in the grid, eta = 0.5 / max
lambda_max(c Theta) (c = 1/N, Theta the empirical NTK at init).

Speed: the first step t at which the excess loss ratio (L_t - L*) / (L_0 - L*) <= 0.1, with L*
the least-squares floor of the function class (plain: features (S^T)^H X; skip: [X, S^T X, ...,
(S^T)^H X]). Prediction: the same step for the model linearized at init,
r_t = (I - eta c Theta_0)^t r_0 (every eigencomponent of the residual decays at its own rate:
the label-aware rate), and the worst-case bound log(1/0.1) / (2 eta lambda_min^+) from the
smallest positive eigenvalue (the linear rate's guarantee).
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
    "xu-2021-gnn, Definition 1 and the skip-connection (JK-Net) GNN; acceleration by skips, "
    "depth and label distribution (seed 004, 'Extension: Convergence of Linearized GNN')"
)
NODES, FEATURES, WIDTH = 24, 32, 16  # d >= N: both GNNs reach L* ~ 0 (over-parameterized)
FEATURE_NOISE = 1.0  # half of E||x_v||^2 = 1 is the community mean
LABEL_NOISE = (0.0, 1.0)  # community labels vs random labels (same graph and features)
EPS = 0.1  # converged once the excess loss ratio (L - L*) / (L_0 - L*) <= EPS
LR_FRACTION = 0.5  # eta = LR_FRACTION / max lambda_max(c Theta_0) over a seed's grid
KEYS = ["depth", "skip", "noise", "seed"]


@dataclass(frozen=True)
class Scale:
    depths: tuple[int, ...]
    seeds: tuple[int, ...]
    steps: int


FULL = Scale(depths=(1, 2, 4, 8), seeds=(0, 1, 2), steps=400)
QUICK = Scale(depths=(1, 4), seeds=(0,), steps=300)


def scale_of(quick: bool) -> Scale:
    return QUICK if quick else FULL


def config(depth: int, skip: bool, noise: float, seed: int, steps: int, lr: float) -> RunConfig:
    """One run of the study (all nodes labelled: the study is about optimization)."""
    return build_config(
        arch="gnn",
        data="sbm",
        parameterization="standard",
        n=NODES,
        d=FEATURES,
        width=WIDTH,
        depth=depth,
        skip=skip,
        noise=noise,
        feature_noise=FEATURE_NOISE,
        test_fraction=0.0,
        seed=seed,
        lr=lr,
        steps=steps,
        dtype="float64",
    )


# -- kernels and floors (no training) ----------------------------------------------------------


def _setup(cfg: RunConfig):
    from overparam.train.run import setup

    return setup(cfg)


def gn_spectrum(cfg: RunConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(eigenvalues of c Theta_0, eigenvectors, initial residual f_0 - y) for a config, with
    Theta_0 the structured empirical NTK over the training nodes [jacot-2018]."""
    from overparam.ntk import empirical

    s = _setup(cfg)
    X = s.train.X
    theta = empirical(s.model, X).detach().double()
    with torch.no_grad():
        r0 = (s.model(X) - s.train.y).double().flatten()
    c = s.objective.scale(s.train.n)
    ev, vec = torch.linalg.eigh(c * theta)
    return ev.numpy(), vec.numpy(), r0.numpy()


def shared_lr(seed: int, scale: Scale) -> float:
    """eta = LR_FRACTION / max over (depth, skip) of lambda_max(c Theta_0) for graph ``seed``
    (labels do not enter the kernel)."""
    top = max(
        gn_spectrum(config(h, skip, 0.0, seed, 1, 1.0))[0][-1]
        for h in scale.depths
        for skip in (False, True)
    )
    return LR_FRACTION / top


def least_squares_floor(cfg: RunConfig) -> float:
    """L* = min over the GNN's function class of the objective: least squares of the training
    targets on (S^T)^H X (plain) or [X, S^T X, ..., (S^T)^H X] (skip), times the reduction.
    (Hidden widths >= the output dimension impose no rank constraint here.)"""
    from overparam.train.run import build_data, build_graph

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


def measure_scale(scale: Scale) -> pd.DataFrame:
    """One row per planned run: its lr, L*, kernel extremes, predicted and bound steps."""
    rows = []
    for seed in scale.seeds:
        lr = shared_lr(seed, scale)
        for depth in scale.depths:
            for skip in (False, True):
                ev, vec, _ = gn_spectrum(config(depth, skip, 0.0, seed, 1, lr))
                positive = ev[ev > 1e-10 * ev[-1]]
                lam_min = float(positive.min())
                for noise in LABEL_NOISE:
                    cfg = config(depth, skip, noise, seed, scale.steps, lr)
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


def plan(quick: bool) -> list[RunConfig]:
    s = scale_of(quick)
    out = []
    for seed in s.seeds:
        lr = shared_lr(seed, s)
        for depth in s.depths:
            for skip in (False, True):
                for noise in LABEL_NOISE:
                    out.append(config(depth, skip, noise, seed, s.steps, lr))
    return out


def measure(quick: bool) -> pd.DataFrame:
    return measure_scale(scale_of(quick))


# -- analysis (pure functions of the stored frames) --------------------------------------------


def _normalize(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out["depth"] = out["depth"].astype(int)
    out["seed"] = out["seed"].astype(int)
    out["noise"] = out["noise"].astype(float)
    out["skip"] = out["skip"].map(lambda v: str(v).lower() in ("true", "1", "1.0"))
    return out


def _run_id(runs: pd.DataFrame) -> str:
    return "run_id" if "run_id" in runs else "id"


def convergence_table(runs: pd.DataFrame, losses: pd.DataFrame, meas: pd.DataFrame) -> pd.DataFrame:
    """One row per run: keys, measured steps to EPS (inf if not within the budget), final excess
    ratio, and the measurement's L*, prediction and bound."""
    rid = _run_id(runs)
    r = _normalize(runs)
    m = _normalize(meas)
    r = r.merge(m, on=KEYS, how="inner", suffixes=("", "_meas"))
    rows = []
    for _, row in r.iterrows():
        curve = losses[losses["run_id"] == row[rid]].sort_values("step")
        L = curve["loss"].to_numpy(dtype=float)
        if len(L) == 0:
            continue
        L_star = float(row["L_star"])
        excess = (L - L_star) / max(L[0] - L_star, 1e-300)
        hit = np.nonzero(excess <= EPS)[0]
        rows.append(
            {
                **{k: row[k] for k in KEYS},
                "steps_to_eps": float(curve["step"].to_numpy()[hit[0]]) if len(hit) else math.inf,
                "budget": float(curve["step"].max()),
                "final_excess": float(excess[-1]),
                "pred_steps": float(row["pred_steps"]),
                "bound_steps": float(row["bound_steps"]),
                "lambda_min": float(row["lambda_min"]),
                "lambda_max": float(row["lambda_max"]),
            }
        )
    return pd.DataFrame(rows)


def _speed_key(row: pd.Series) -> tuple[float, float]:
    """Order runs by steps to EPS, then (for runs that never got there) by final excess."""
    return (row["steps_to_eps"], row["final_excess"])


def _faster(a: pd.Series, b: pd.Series) -> bool:
    return _speed_key(a) < _speed_key(b)


def pair_wins(table: pd.DataFrame, axis: str, better, worse, fixed: list[str]) -> tuple[int, int]:
    """(wins, pairs): how often the ``better`` value of ``axis`` converged faster than the
    ``worse`` one with every ``fixed`` key equal."""
    wins = pairs = 0
    for _, group in table.groupby(fixed):
        a = group[group[axis] == better]
        b = group[group[axis] == worse]
        if len(a) == 1 and len(b) == 1:
            pairs += 1
            wins += _faster(a.iloc[0], b.iloc[0])
    return wins, pairs


def _spearman(a: pd.Series, b: pd.Series) -> float:
    ok = np.isfinite(a.to_numpy(dtype=float)) & np.isfinite(b.to_numpy(dtype=float))
    if ok.sum() < 3:
        return math.nan
    ra = pd.Series(a.to_numpy(dtype=float)[ok]).rank()
    rb = pd.Series(b.to_numpy(dtype=float)[ok]).rank()
    return float(np.corrcoef(ra, rb)[0, 1])


def _verdict_fraction(wins: int, pairs: int, threshold: float = 0.75) -> str:
    if pairs == 0:
        return "not measured"
    return "holds" if wins / pairs >= threshold else "does not hold at this scale"


def claims(table: pd.DataFrame) -> list[Claim]:
    out = []
    others = [k for k in KEYS if k != "skip"]
    w, p = pair_wins(table, "skip", True, False, others)
    out.append(
        Claim(
            claim="skip connections accelerate GD (same step size)",
            source="xu-2021-gnn, skip-connection (JK-Net) GNN; seed 004",
            measured=f"skip faster in {w}/{p} (depth, labels, seed) pairs",
            theory="skip faster",
            verdict=_verdict_fraction(w, p),
            note=f"speed: steps until (L - L*)/(L_0 - L*) <= {EPS}",
        )
    )
    depths = sorted(table["depth"].unique())
    if len(depths) >= 2:
        lo, hi = depths[0], depths[-1]
        sub = table[table["depth"].isin([lo, hi])]
        notes = []
        for skip in (True, False):
            w, p = pair_wins(sub[sub["skip"] == skip], "depth", hi, lo, ["skip", "noise", "seed"])
            notes.append((skip, w, p))
        (_, w_s, p_s), (_, w_p, p_p) = notes
        pred = sub[sub["skip"]].pivot_table(index=["noise", "seed"], columns="depth",
                                            values="pred_steps")  # fmt: skip
        pred_w = int((pred[hi] < pred[lo]).sum()) if len(pred) else 0
        out.append(
            Claim(
                claim=f"more depth accelerates the skip GNN (depth {hi} vs {lo})",
                source="xu-2021-gnn, acceleration by depth; seed 004",
                measured=f"deeper faster in {w_s}/{p_s} pairs (plain GNN: {w_p}/{p_p})",
                theory="deeper faster",
                verdict=_verdict_fraction(w_s, p_s),
                note=f"the linearized kernel predicts deeper faster in {pred_w}/{len(pred)}",
            )
        )
    w, p = pair_wins(table, "noise", 0.0, 1.0, ["depth", "skip", "seed"])
    out.append(
        Claim(
            claim="labels correlated with the features accelerate GD",
            source="xu-2021-gnn, acceleration by the label distribution; seed 004",
            measured=f"community labels faster than random labels in {w}/{p} pairs",
            theory="correlated labels faster",
            verdict=_verdict_fraction(w, p),
        )
    )
    rho = _spearman(table["pred_steps"], table["steps_to_eps"])
    ok = np.isfinite(table["steps_to_eps"]) & np.isfinite(table["pred_steps"])
    ratio = (table.loc[ok, "steps_to_eps"] / table.loc[ok, "pred_steps"].clip(lower=1)).median()
    out.append(
        Claim(
            claim="the tangent kernel at init predicts the convergence speed (rank order)",
            source="xu-2021-gnn, linear rate from the kernel's eigenvalues; jacot-2018",
            measured=f"Spearman rho = {rho:.2f} (median measured/predicted steps {ratio:.2f})"
            if math.isfinite(rho)
            else "fewer than 3 converged runs",
            theory="rho near 1",
            verdict="not measured"
            if not math.isfinite(rho)
            else ("holds" if rho >= 0.7 else "does not hold at this scale"),
            note="the prediction uses Theta_0; a width-16 linear GNN's kernel moves in training",
        )
    )
    bound_ok = table[np.isfinite(table["steps_to_eps"])]
    held = int((bound_ok["steps_to_eps"] <= bound_ok["bound_steps"]).sum())
    out.append(
        Claim(
            claim="steps to converge <= the lambda_min worst-case bound log(1/eps)/(2 eta lambda)",
            source="xu-2021-gnn, linear convergence rate; seed 004",
            measured=f"{held}/{len(bound_ok)} converged runs within the bound",
            theory="all",
            verdict="holds"
            if len(bound_ok) and held == len(bound_ok)
            else ("not measured" if not len(bound_ok) else "does not hold at this scale"),
            note=f"median bound {table['bound_steps'].median():.3g} steps",
        )
    )
    return out


# -- figures -----------------------------------------------------------------------------------


def _depth_axis(ax) -> None:
    """Log-2 depth axis labelled 1, 2, 4, ... (plain numbers, no minor labels)."""
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())


def figure_curves(runs: pd.DataFrame, losses: pd.DataFrame, meas: pd.DataFrame) -> FigureSpec:
    """Excess-loss curves of one graph seed, community labels: plain vs skip at every depth,
    with the linearized prediction dashed."""
    from overparam.report.plots import COLORS, THEORY, new_figure

    rid = _run_id(runs)
    r = _normalize(runs).merge(_normalize(meas), on=KEYS, how="inner", suffixes=("", "_meas"))
    seed = int(r["seed"].min())
    r = r[(r["seed"] == seed) & (r["noise"] == 0.0)]
    fig, (ax,) = new_figure()
    for i, depth in enumerate(sorted(r["depth"].unique())):
        for skip, style in ((False, ":"), (True, "-")):
            row = r[(r["depth"] == depth) & (r["skip"] == skip)]
            if row.empty:
                continue
            row = row.iloc[0]
            curve = losses[losses["run_id"] == row[rid]].sort_values("step")
            L = curve["loss"].to_numpy(dtype=float)
            excess = (L - row["L_star"]) / max(L[0] - row["L_star"], 1e-300)
            label = f"H={depth} {'skip' if skip else 'plain'}"
            ax.plot(curve["step"], np.maximum(excess, 1e-12), style, color=COLORS[i % 10],
                    label=label)  # fmt: skip
    ax.axhline(EPS, **{**THEORY, "linewidth": 0.8})
    ax.set_yscale("log")
    ax.set_xlabel("GD step t")
    ax.set_ylabel("(L_t - L*) / (L_0 - L*)")
    ax.set_title(f"linear GNN on an SBM graph (seed {seed}), same step size")
    ax.legend(ncol=2)
    return FigureSpec(
        "gnn_skip_curves",
        "Excess training loss of the linear GNN [xu-2021-gnn, Definition 1] (dotted) and its "
        f"skip-connection variant (solid) at every depth; dashed: the convergence threshold {EPS}.",
        fig,
    )


def figure_speed(table: pd.DataFrame) -> FigureSpec:
    """Steps to EPS against depth: plain / skip x community / random labels, measured (markers)
    and linearized prediction (dashed)."""
    from overparam.report.plots import COLORS, THEORY, new_figure

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
    ax.set_xlabel("depth H")
    ax.set_ylabel(f"steps until excess ratio <= {EPS} (median over seeds)")
    ax.set_title("convergence speed; dashed: linearized kernel prediction")
    ax.legend()
    return FigureSpec(
        "gnn_skip_speed",
        "Steps to converge against depth at one step size per graph: skip connections, depth "
        "and community labels against random labels [xu-2021-gnn]; dashed lines: the same "
        "quantity for the network linearized at init (Theta_0). Missing markers: not converged "
        "within the budget.",
        fig,
    )


def figure_prediction(table: pd.DataFrame) -> FigureSpec:
    from overparam.report.plots import THEORY, new_figure

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
    ax.legend()
    return FigureSpec(
        "gnn_skip_prediction",
        "Measured steps to converge against the linearized (Theta_0) prediction, every "
        "converged run [xu-2021-gnn; jacot-2018].",
        fig,
    )


def analyze(data: StudyData) -> StudyResult:
    table = convergence_table(data.runs, data.losses, data.measurements)
    if table.empty:
        return StudyResult(
            claims=[Claim("linear GNN runs", SOURCE, "no runs stored", "-", "not measured")]
        )
    return StudyResult(
        claims=claims(table),
        figures=[
            figure_curves(data.runs, data.losses, data.measurements),
            figure_speed(table),
            figure_prediction(table),
        ],
        tables={"convergence": table},
    )


STUDY = register(
    Study(
        name="gnn-skip",
        title="Linear GNNs: skip connections, depth and labels accelerate GD",
        source=SOURCE,
        plan=plan,
        analyze=analyze,
        measure=measure,
        description=__doc__ or "",
    )
)
