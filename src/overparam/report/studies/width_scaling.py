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
into each bound; they are upper-bound rates, so a quantity falling faster also satisfies its
bound (see :mod:`overparam.report.studies._common` for the verdict rules). f^lin is the
network's linearization at init trained by the same GD (``linearization:linear_run=true``).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from overparam.config import RunConfig, build_config
from overparam.report.studies._common import (
    NOT_MEASURED,
    fit_or_none,
    frac,
    per_run,
    probe_rows,
    ratio_claim,
    slope_claim,
)
from overparam.report.study import Claim, FigureSpec, Study, StudyData, StudyResult, register

SOURCE = (
    "zou-gu-2019, Lemma 4.2; allen-zhu-2019, Theorems 3-4 proof (Step 2) and NTK relation (b); "
    "lee-2019, Theorem 2.1 (seeds 000, 003)"
)
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


QUANTITIES = (
    Quantity(
        "movement", "movement", "omega", -0.5, "zou-gu-2019, Lemma 4.2",
        "weight movement max_l ||W_l - W_l^(0)||_2 is O(m^(-1/2))", "max_l ||W_l^t - W_l^0||_2",
    ),
    Quantity(
        "flips", "flips", "fraction", -1 / 3,
        "allen-zhu-2019, Theorems 3-4 proof, Step 2 (a), with omega ~ m^(-1/2)",
        "fraction of relu signs flipped is O(omega^(2/3) L) = O(m^(-1/3))",
        "fraction of relu signs flipped",
    ),
    Quantity(
        "hidden_drift", "hidden_drift", "max", -0.5,
        "allen-zhu-2019, Theorems 3-4 proof, Step 2 (b), with omega ~ m^(-1/2)",
        "hidden drift max ||h_{i,l} - h_{i,l}^(0)|| is O(omega L^(5/2)) = O(m^(-1/2))",
        "max_{i,l} ||h_{i,l}^t - h_{i,l}^0||",
    ),
    Quantity(
        "ntk_drift", "ntk_drift", "relative_drift", -0.5, "lee-2019, Theorem 2.1",
        "relative NTK drift ||Theta_t - Theta_0||_F / ||Theta_0||_F is O(m^(-1/2))",
        "||Θ_t − Θ_0||_F / ||Θ_0||_F",
    ),
    Quantity(
        "linear_gap", "linearization", "linear_run_gap", -0.5, "lee-2019, Theorem 2.1",
        "network vs its GD-trained linearization, sup_t ||f_t - f_t^lin||, is O(m^(-1/2))",
        "sup_t max_i |f_t − f_t^lin|",
    ),
    Quantity(
        "taylor_gap", "linearization", "max_gap", -1 / 6,
        "allen-zhu-2019, NTK relation (b), with omega ~ m^(-1/2)",
        "first-order Taylor gap is O(L^3 omega^(4/3) sqrt(m)) = O(m^(-1/6))",
        "max_i |f_t − f_0 − <∇f_0, W_t − W_0>|",
    ),
)  # fmt: skip


@dataclass(frozen=True)
class Scale:
    widths: tuple[int, ...]
    seeds: tuple[int, ...]


FULL = Scale(widths=(64, 128, 256, 512, 1024, 2048), seeds=(0, 1, 2))
QUICK = Scale(widths=(64, 256, 1024), seeds=(0, 1))


def scale_of(quick: bool) -> Scale:
    return QUICK if quick else FULL


def config(parameterization: str, width: int, seed: int) -> RunConfig:
    return build_config(
        parameterization=parameterization,
        depth=DEPTH,
        n=N,
        d=D,
        width=width,
        seed=seed,
        steps=STEPS,
        lr="auto",
        target_ratio=TARGET_RATIO,
        probes=PROBES,
    )


def plan_for(s: Scale) -> list[RunConfig]:
    """Every (parameterization, seed, width) run of a scale."""
    return [config(p, w, seed) for p in PARAMETERIZATIONS for seed in s.seeds for w in s.widths]


def plan(quick: bool) -> list[RunConfig]:
    return plan_for(scale_of(quick))


# ---------------------------------------------------------------------------------------------
# analyze
# ---------------------------------------------------------------------------------------------


def per_run_table(data: StudyData) -> pd.DataFrame:
    """One row per finished run: parameterization, width, seed and the supremum over training
    of every quantity (max over layers), plus movement / its Lemma 4.2 bound."""
    frames = []
    for q in QUANTITIES:
        r = per_run(probe_rows(data, q.probe, q.quantity))
        if not r.empty:
            frames.append(r.rename(columns={"value": q.key}).set_index("run_id"))
    ratio = per_run(probe_rows(data, "movement", "omega"), column="ratio")
    if not ratio.empty:
        ratio = ratio.rename(columns={"ratio": "movement_ratio"})
        frames.append(ratio[["run_id", "movement_ratio"]].set_index("run_id"))
    if not frames:
        return pd.DataFrame()
    out = frames[0]
    for f in frames[1:]:
        out = out.join(f[[c for c in f.columns if c not in out.columns]], how="outer")
    cols = ["parameterization", "width", "seed"]
    keys = [q.key for q in QUANTITIES if q.key in out] + (
        ["movement_ratio"] if "movement_ratio" in out else []
    )
    return out.reset_index()[["run_id", *cols, *keys]].sort_values(cols).reset_index(drop=True)


def fits_table(t: pd.DataFrame) -> tuple[pd.DataFrame, list[Claim]]:
    """One fit and one claim per (parameterization, quantity)."""
    rows, claims = [], []
    for p in PARAMETERIZATIONS:
        sub = t[t["parameterization"] == p]
        if sub.empty:
            continue
        for q in QUANTITIES:
            if q.key not in sub:
                continue
            claim, fit = slope_claim(
                sub,
                q.key,
                q.theory,
                claim=f"{p}: {q.claim}",
                source=q.source,
                note=f"L={DEPTH}, n={N}, sup over training, GD to {TARGET_RATIO:g} L(0)",
            )
            claims.append(claim)
            if fit is not None:
                rows.append(
                    {
                        "parameterization": p,
                        "quantity": q.key,
                        "slope": fit.exponent,
                        "low": fit.low,
                        "high": fit.high,
                        "theory": q.theory,
                        "r2": fit.r2,
                        "verdict": claim.verdict,
                    }
                )
        if "movement_ratio" in sub:
            claims.append(
                ratio_claim(
                    sub.rename(columns={"movement_ratio": "ratio"}),
                    "upper",
                    claim=f"{p}: movement within sqrt(k n^2 log n / (m phi)) (constant 1)",
                    source="zou-gu-2019, Lemma 4.2",
                    theory="omega / bound <= 1",
                    rows="runs (sup over training)",
                )
            )
    return pd.DataFrame(rows), claims


def _figures(t: pd.DataFrame) -> list[FigureSpec]:
    from overparam.report.plots import (
        COLORS,
        fitted_line,
        loglog,
        mean_band,
        new_figure,
        plot_band,
        theory_through,
    )

    params = [p for p in PARAMETERIZATIONS if (t["parameterization"] == p).any()]
    color = {p: COLORS[i] for i, p in enumerate(PARAMETERIZATIONS)}
    widths = sorted(t["width"].unique())

    def panel(ax, q: Quantity) -> None:
        for p in params:
            sub = t[t["parameterization"] == p]
            stats = mean_band(sub, "width", q.key)
            if stats.empty:
                continue
            fit = fit_or_none(sub, q.key)
            label = p if fit is None else f"{p}: slope {fit.exponent:.2f}"
            plot_band(ax, stats, "width", label=label, color=color[p])
            if fit is not None:
                fitted_line(ax, widths, fit.exponent, fit.intercept, color=color[p])
        stats = mean_band(t, "width", q.key)
        theory_through(ax, stats, "width", q.theory, label=f"theory: m^({frac(q.theory)})")
        loglog(ax, "width m", q.label)
        ax.legend(loc="best")

    by_key = {q.key: q for q in QUANTITIES}
    figures = []
    captions = {
        "movement": "Weight movement omega = max_l ||W_l^t - W_l^0||_2 (sup over training) "
        "against m, log-log, for zou-gu and allen-zhu (L = 2). Dashed: the m^(-1/2) of "
        "[zou-gu-2019, Lemma 4.2]; dotted: fitted slopes; bands: min-max over seeds.",
        "flips": "Fraction of relu signs D_{i,l} that differ from init (sup over training, "
        "worst layer) against m. Dashed: m^(-1/3), [allen-zhu-2019, Theorems 3-4 proof, "
        "Step 2 (a)] (||D - D^(0)||_0 <= m omega^(2/3) L) with omega ~ m^(-1/2).",
        "hidden_drift": "Largest change of a hidden vector, max_{i,l} ||h_{i,l}^t - h_{i,l}^0||, "
        "against m. Dashed: m^(-1/2), [allen-zhu-2019, Theorems 3-4 proof, Step 2 (b)] "
        "(<= omega L^(5/2)) with omega ~ m^(-1/2).",
        "ntk_drift": "Relative drift of the empirical NTK over training, "
        "||Theta_t - Theta_0||_F / ||Theta_0||_F, against m. Dashed: m^(-1/2), "
        "[lee-2019, Theorem 2.1] (the kernel regime of [jacot-2018]).",
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
                "Left: sup_t max_i |f_t(x_i) - f_t^lin(x_i)| between the network and its "
                "linearization at init trained by the same GD; dashed m^(-1/2) "
                "[lee-2019, Theorem 2.1]. Right: the first-order Taylor gap "
                "|f(W_t) - f(W_0) - <grad f(W_0), W_t - W_0>|; dashed m^(-1/6), "
                "[allen-zhu-2019, NTK relation (b)] (L^3 omega^(4/3) sqrt(m), omega ~ m^(-1/2)).",
                fig,
            )
        )
    return figures


def analyze(data: StudyData) -> StudyResult:
    """Per-run suprema, one log-log fit and claim per (parameterization, quantity), the
    movement bound's ratio, and one figure per quantity."""
    t = per_run_table(data)
    if t.empty:
        return StudyResult(
            claims=[
                Claim(
                    "weight movement is O(m^(-1/2))", "zou-gu-2019, Lemma 4.2", "", "", NOT_MEASURED
                )
            ]
        )
    fits, claims = fits_table(t)
    keys = [c for c in t.columns if c not in ("run_id", "seed")]
    medians = t[keys].groupby(["parameterization", "width"]).median().reset_index()
    return StudyResult(
        claims=claims,
        figures=_figures(t),
        tables={"fits": fits, "per_width (median over seeds)": medians},
    )


STUDY = register(
    Study(
        name="width-scaling",
        title="Width scaling of movement, flips, hidden drift, NTK drift and linearization gap",
        source=SOURCE,
        plan=plan,
        analyze=analyze,
        description=(
            f"zou-gu and allen-zhu networks (L={DEPTH}, n={N} sphere points in d={D}, Gaussian "
            f"labels) trained by GD with the measured stable step to {TARGET_RATIO:g} L(0); the "
            "supremum over training of each quantity the proofs keep small, against m on "
            "log-log axes, with fitted slopes next to the slopes the bounds imply when "
            "omega ~ m^(-1/2)."
        ),
    )
)
