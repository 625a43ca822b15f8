"""Study ``width-scaling``: how the proofs' "stay near initialization" quantities shrink with the
width m of deep relu networks, on log-log axes with fitted slopes and the theory's slopes.

Both deep parameterizations (``zou-gu``: f = V relu(W_L ... relu(W_1 x)) with mean square
loss, [zou-gu-2019, Algorithm 1]; ``allen-zhu``: f = B relu(W_L ... relu(A x)) with sum square
loss, [allen-zhu-2019, Def. 2.3]; L = 2 trained hidden layers, A / V / B fixed) are trained by
full-batch GD with the measured stable step (lr="auto") until the loss falls to 1e-3 L(0), so
every width fits the same data to the same accuracy. Per run, the supremum over training of

=================  ======================================  =========  ===========================
quantity           what                                    theory     source
=================  ======================================  =========  ===========================
movement           omega = max_l ||W_l^t - W_l^0||_2       m^(-1/2)   [zou-gu-2019, Lemma 4.2]
flips              share of relu signs changed             m^(-1/3)   [allen-zhu-2019, Thms 3-4
                                                                      proof, Step 2 (a)]:
                                                                      omega^(2/3) L
hidden drift       max_{i,l} ||h_{i,l}^t - h_{i,l}^0||     m^(-1/2)   Step 2 (b): omega L^(5/2)
NTK drift          ||Theta_t - Theta_0||_F / ||Theta_0||_F m^(-1/2)   [lee-2019, Theorem 2.1]
linear-run gap     max_i ||f_t(x_i) - f_t^lin(x_i)||       m^(-1/2)   [lee-2019, Theorem 2.1]
Taylor gap         max_i |f_t - f_0 - <grad f_0, W_t-W_0>| m^(-1/6)   [allen-zhu-2019, NTK
                                                                      relation (b)]:
                                                                      L^3 omega^(4/3) sqrt(m)
=================  ======================================  =========  ===========================

The "theory" exponents follow from omega = O(m^(-1/2)) (Lemma 4.2 at fixed n, L, phi) substituted
into each bound; they are upper-bound rates, judged as ``Slope(p, 0.1, kind="at_most")``: the
whole bootstrap interval of the fitted slope must lie at or below p + 0.1. Movement is also
judged against Lemma 4.2's bound itself (constant 1). f^lin is the network's linearization at
init trained by the same GD (``linearization:linear_run=true``). [lee-2019, Theorem 2.1] assumes
an activation with a Lipschitz derivative, which relu is not: its two claims are judged on these
relu runs and come out *outside assumptions* (the smooth-activation kernel regime is the
``linear-rate`` and ``kernel-regime`` studies' subject).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from overparam.studies.claims import Claim, Hypothesis, Ratio, Slope, fmt_exponent, loglog_fit
from overparam.studies.frames import per_run, probe_rows
from overparam.studies.hypotheses import LEE_SMOOTH, RELU
from overparam.studies.plan import sweep
from overparam.studies.study import Evidence, FigureSpec, Scale, Study, StudyData
from overparam.sweep.spec import SweepSpec

NAME = "width-scaling"
PARAMETERIZATIONS = ("zou-gu", "allen-zhu")
N, D, DEPTH = 16, 16, 2
TARGET_RATIO = 1e-3  # stop once L <= 1e-3 L(0): every width fits the data equally well
STEPS = 500  # a ceiling: the runs reach the target in ~30-60 steps
# Sparse schedules (~16 evaluations; ~8 for the kernel) keep probes under the training cost;
# the supremum over t is what the bounds speak of, and the last step is always measured.
PROBES = (
    "movement:points=16",
    "flips:points=16",
    "hidden_drift:points=16",
    "ntk_drift:points=8",
    "linearization:linear_run=true,points=16",
)
#: The stated tolerance of every slope claim (exponent units).
TOLERANCE = 0.1


@dataclass(frozen=True)
class Quantity:
    """One measured quantity: its probe row, the theory's exponent in m and the claim."""

    key: str
    probe: str
    quantity: str
    theory: float
    source: str
    claim: str
    label: str
    hypothesis: Hypothesis


QUANTITIES = (
    Quantity(
        "movement", "movement", "omega", -0.5, "zou-gu-2019, Lemma 4.2",
        r"weight movement $\max_l \|W_l - W_l^{(0)}\|_2$ is $O(m^{-1/2})$",
        "max_l ||W_l^t - W_l^0||_2", RELU,
    ),
    Quantity(
        "flips", "flips", "fraction", -1 / 3,
        "allen-zhu-2019, Theorems 3-4 proof, Step 2 (a)",
        r"fraction of ReLU signs flipped is $O(\omega^{2/3} L) = O(m^{-1/3})$",
        "fraction of relu signs flipped", RELU,
    ),
    Quantity(
        "hidden_drift", "hidden_drift", "max", -0.5,
        "allen-zhu-2019, Theorems 3-4 proof, Step 2 (b)",
        r"hidden drift $\max \|h_{i,l} - h_{i,l}^{(0)}\|$ is $O(\omega L^{5/2}) = O(m^{-1/2})$",
        "max_{i,l} ||h_{i,l}^t - h_{i,l}^0||", RELU,
    ),
    Quantity(
        "ntk_drift", "ntk_drift", "relative_drift", -0.5, "lee-2019, Theorem 2.1",
        r"relative NTK drift $\|\Theta_t - \Theta_0\|_F / \|\Theta_0\|_F$ is $O(m^{-1/2})$",
        "||Θ_t − Θ_0||_F / ||Θ_0||_F", LEE_SMOOTH,
    ),
    Quantity(
        "linear_gap", "linearization", "linear_run_gap", -0.5, "lee-2019, Theorem 2.1",
        r"network vs its GD-trained linearization, $\sup_t \|f_t - f_t^{\mathrm{lin}}\|$, is "
        "$O(m^{-1/2})$",
        "sup_t max_i |f_t − f_t^lin|", LEE_SMOOTH,
    ),
    Quantity(
        "taylor_gap", "linearization", "max_gap", -1 / 6,
        "allen-zhu-2019, NTK relation (b)",
        r"first-order Taylor gap is $O(L^3 \omega^{4/3} \sqrt{m}) = O(m^{-1/6})$",
        "max_i |f_t − f_0 − <∇f_0, W_t − W_0>|", RELU,
    ),
)  # fmt: skip


@dataclass(frozen=True)
class Size:
    widths: tuple[int, ...]
    seeds: tuple[int, ...]


SIZES: dict[str, Size] = {
    "quick": Size((64, 256, 1024), (0, 1)),
    "full": Size((64, 128, 256, 512, 1024, 2048), (0, 1, 2)),
}


def plan(scale: Scale) -> list[SweepSpec]:
    s = SIZES[scale]
    base = dict(depth=DEPTH, n=N, d=D, steps=STEPS, lr="auto", target_ratio=TARGET_RATIO)
    grid: dict[str, list[Any]] = {
        "parameterization": list(PARAMETERIZATIONS),
        "seed": list(s.seeds),
        "width": list(s.widths),
    }
    return [sweep(NAME, scale, base=base, grid=grid, probes=PROBES)]


def _slope(q: Quantity) -> Slope:
    return Slope(q.theory, TOLERANCE, kind="at_most")


def _claims() -> tuple[Claim, ...]:
    out = []
    for p in PARAMETERIZATIONS:
        for q in QUANTITIES:
            out.append(
                Claim(
                    f"{p}/{q.key}",
                    f"{p}: {q.claim}",
                    cite=q.source,
                    quantity=q.key,
                    test=_slope(q),
                    hypotheses=(q.hypothesis,),
                )
            )
        out.append(
            Claim(
                f"{p}/movement-bound",
                rf"{p}: movement within $\sqrt{{k n^2 \log n / (m \phi)}}$ (constant 1)",
                cite="zou-gu-2019, Lemma 4.2",
                quantity="movement",
                test=Ratio(bound="movement_bound"),
                hypotheses=(RELU,),
            )
        )
    return tuple(out)


CLAIMS = _claims()


# ---------------------------------------------------------------------------------------------
# evidence
# ---------------------------------------------------------------------------------------------


def per_run_table(data: StudyData) -> pd.DataFrame:
    """One row per finished run: parameterization, width, seed, activation and the supremum
    over training of every quantity (max over layers), plus the Lemma 4.2 movement bound."""
    cols = ["parameterization", "width", "seed", "activation"]
    frames = []
    for q in QUANTITIES:
        r = per_run(probe_rows(data, q.probe, q.quantity))
        if not r.empty:
            frames.append(r.rename(columns={"value": q.key}).set_index("run_id"))
    bound = per_run(probe_rows(data, "movement", "omega"), column="bound")
    if not bound.empty:
        bound = bound.rename(columns={"bound": "movement_bound"})
        frames.append(bound[["run_id", "movement_bound"]].set_index("run_id"))
    if not frames:
        return pd.DataFrame(columns=["run_id", *cols])
    out = frames[0]
    for f in frames[1:]:
        out = out.join(f[[c for c in f.columns if c not in out.columns]], how="outer")
    out = out.reset_index()
    cols = [c for c in cols if c in out]
    keys = [q.key for q in QUANTITIES if q.key in out] + (
        ["movement_bound"] if "movement_bound" in out else []
    )
    return out[["run_id", *cols, *keys]].sort_values(cols[:3]).reset_index(drop=True)


def fits_table(t: pd.DataFrame) -> pd.DataFrame:
    """The log-log fit of each (parameterization, quantity), with the same bootstrap as its
    claim (so the numbers match the judged ones), next to the theory's exponent."""
    rows = []
    for p in PARAMETERIZATIONS:
        sub = t[t["parameterization"] == p] if "parameterization" in t else t.iloc[:0]
        for q in QUANTITIES:
            if q.key not in sub:
                continue
            d = sub[(sub[q.key] > 0) & np.isfinite(sub[q.key])]
            if d["width"].nunique() < 2:
                continue
            s = _slope(q)
            x, y = d["width"].to_numpy(dtype=float), d[q.key].to_numpy(dtype=float)
            fit = loglog_fit(x, y, n_boot=s.n_boot, level=s.level, seed=s.seed)
            rows.append(
                {
                    "parameterization": p,
                    "quantity": q.key,
                    "slope": fit.slope,
                    "low": fit.low,
                    "high": fit.high,
                    "theory": q.theory,
                    "intercept": fit.intercept,
                }
            )
    return pd.DataFrame(rows)


def evidence(data: StudyData) -> Evidence:
    t = per_run_table(data)
    frames = {}
    if "parameterization" in t:
        for p in PARAMETERIZATIONS:
            sub = t[t["parameterization"] == p]
            for q in QUANTITIES:
                if q.key in sub:
                    frames[f"{p}/{q.key}"] = sub.dropna(subset=[q.key])
            if {"movement", "movement_bound"} <= set(sub.columns):
                frames[f"{p}/movement-bound"] = sub.dropna(subset=["movement", "movement_bound"])
    if t.empty:
        return Evidence(frames=frames)
    fits = fits_table(t)
    keys = [c for c in t.columns if c not in ("run_id", "seed", "activation")]
    medians = t[keys].groupby(["parameterization", "width"]).median().reset_index()
    tables = {
        "fits": fits.drop(columns=["intercept"], errors="ignore"),
        "per width (median over seeds)": medians,
    }
    return Evidence(frames=frames, figures=_figures(t, fits), tables=tables)


# ---------------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------------


#: Each quantity's y-axis label in mathtext.
AXIS_LABELS = {
    "movement": r"$\max_l \|W_l^t - W_l^0\|_2$",
    "flips": "fraction of ReLU signs flipped",
    "hidden_drift": r"$\max_{i,l} \|h_{i,l}^t - h_{i,l}^0\|$",
    "ntk_drift": r"$\|\Theta_t - \Theta_0\|_F \,/\, \|\Theta_0\|_F$",
    "linear_gap": r"$\sup_t \max_i |f_t - f_t^{\mathrm{lin}}|$",
    "taylor_gap": r"$\max_i |f_t - f_0 - \langle \nabla f_0, W_t - W_0 \rangle|$",
}


def _figures(t: pd.DataFrame, fits: pd.DataFrame) -> list[FigureSpec]:
    from overparam.studies.plots import (
        COLORS,
        fitted_line,
        loglog,
        mean_band,
        new_figure,
        place_legend,
        plot_band,
        theory_through,
    )

    params = [p for p in PARAMETERIZATIONS if (t["parameterization"] == p).any()]
    color = {p: COLORS[i] for i, p in enumerate(PARAMETERIZATIONS)}
    widths = sorted(t["width"].unique())

    def fit_of(p: str, key: str):
        if fits.empty:
            return None
        row = fits[(fits["parameterization"] == p) & (fits["quantity"] == key)]
        return None if row.empty else row.iloc[0]

    def panel(ax, q: Quantity) -> None:
        for p in params:
            sub = t[t["parameterization"] == p]
            stats = mean_band(sub, "width", q.key)
            if stats.empty:
                continue
            fit = fit_of(p, q.key)
            label = p if fit is None else f"{p}: slope {fit['slope']:.2f}"
            plot_band(ax, stats, "width", label=label, color=color[p])
            if fit is not None:
                fitted_line(ax, widths, fit["slope"], fit["intercept"], color=color[p])
        stats = mean_band(t, "width", q.key)
        label = f"theory: $m^{{{fmt_exponent(q.theory)}}}$"
        theory_through(ax, stats, "width", q.theory, label=label)
        loglog(ax, "width $m$", AXIS_LABELS.get(q.key, q.label))
        place_legend(ax)

    by_key = {q.key: q for q in QUANTITIES}
    figures = []
    captions = {
        "movement": r"Weight movement $\omega = \max_l \|W_l^t - W_l^0\|_2$ (sup over "
        "training) against $m$, log-log, for `zou-gu` and `allen-zhu` ($L = 2$). Dashed: the "
        "$m^{-1/2}$ of [zou-gu-2019, Lemma 4.2]; dotted: fitted slopes; bands: min-max over "
        "seeds.",
        "flips": "Fraction of ReLU signs $D_{i,l}$ that differ from init (sup over training, "
        "worst layer) against $m$. Dashed: $m^{-1/3}$, [allen-zhu-2019, Theorems 3-4 proof, "
        r"Step 2 (a)] ($\|D - D^{(0)}\|_0 \le m\, \omega^{2/3} L$) with $\omega \sim m^{-1/2}$.",
        "hidden_drift": "Largest change of a hidden vector, "
        r"$\max_{i,l} \|h_{i,l}^t - h_{i,l}^0\|$, against $m$. Dashed: $m^{-1/2}$, "
        "[allen-zhu-2019, Theorems 3-4 proof, Step 2 (b)] "
        r"($\le \omega L^{5/2}$) with $\omega \sim m^{-1/2}$.",
        "ntk_drift": "Relative drift of the empirical NTK over training, "
        r"$\|\Theta_t - \Theta_0\|_F / \|\Theta_0\|_F$, against $m$. Dashed: $m^{-1/2}$, "
        "[lee-2019, Theorem 2.1] (the kernel regime of [jacot-2018]; proved for activations "
        "with a Lipschitz derivative, not ReLU).",
    }
    for key in ("movement", "flips", "hidden_drift", "ntk_drift"):
        if key not in t:
            continue
        fig, (ax,) = new_figure()
        panel(ax, by_key[key])
        figures.append(FigureSpec(key, captions[key], fig))
    gaps = [k for k in ("linear_gap", "taylor_gap") if k in t]
    if gaps:
        fig, axes = new_figure(len(gaps))
        for ax, key in zip(axes, gaps, strict=True):
            panel(ax, by_key[key])
        figures.append(
            FigureSpec(
                "linearization",
                r"Left: $\sup_t \max_i |f_t(x_i) - f_t^{\mathrm{lin}}(x_i)|$ between the network "
                "and its linearization at init trained by the same GD; dashed $m^{-1/2}$ "
                "[lee-2019, Theorem 2.1]. Right: the first-order Taylor gap "
                r"$|f(W_t) - f(W_0) - \langle \nabla f(W_0), W_t - W_0 \rangle|$; dashed "
                "$m^{-1/6}$, [allen-zhu-2019, NTK relation (b)] "
                r"($L^3 \omega^{4/3} \sqrt{m}$, $\omega \sim m^{-1/2}$).",
                fig,
            )
        )
    return figures


STUDY = Study(
    name=NAME,
    title="Width scaling of movement, flips, hidden drift, NTK drift and linearization gap",
    cites=("zou-gu-2019", "allen-zhu-2019", "lee-2019"),
    description=(
        f"`zou-gu` and `allen-zhu` ReLU networks ($L={DEPTH}$, $n={N}$ sphere points in "
        f"$d={D}$, Gaussian labels) trained by GD with the measured stable step to "
        f"${TARGET_RATIO:g}\\, L(0)$; the supremum over training of each quantity the proofs "
        "keep small [zou-gu-2019; allen-zhu-2019; lee-2019], against $m$ on log-log axes, with "
        r"fitted slopes next to the slopes the bounds imply when $\omega \sim m^{-1/2}$ "
        f"(upper-bound rates, tolerance {TOLERANCE})."
    ),
    claims=CLAIMS,
    plan=plan,
    evidence=evidence,
    hypotheses=(RELU,),
)
