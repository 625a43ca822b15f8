"""Study ``du-two-layer``: [du-2019-two-layer, Section 5] at CPU scale -- loss curves, the
fraction of ReLU activation patterns that changed, and the largest distance any neuron moved,
all against the width m.

Du, Zhai, Poczos & Singh train f(x) = m^(-1/2) sum_r a_r relu(w_r^T x) (w_r(0) ~ N(0, I),
a_r fixed) by full-batch GD on 1/2 sum_i (f(x_i) - y_i)^2, inputs on the unit sphere, labels
N(0, 1). Their Section 5 plots, for several m with one fixed step size, (a) the loss, (b) the
fraction of patterns changed sum_{i,r} 1{sign w_r(k)^T x_i != sign w_r(0)^T x_i} / (m n),
(c) max_r ||w_r(k) - w_r(0)||, and finds all three improve with m. The proof says why:

* [du-2019-two-layer, Theorem 4.1]: with lambda_0 = lambda_min(H^inf) > 0, m large and
  eta = O(lambda_0 / n^2), ||u(k) - y||^2 <= (1 - eta lambda_0 / 2)^k ||u(0) - y||^2;
* its proof (Lemma 4.1 / Corollary 4.1): every neuron stays within
  R' = 4 sqrt(n) ||y - u(0)|| / (sqrt(m) lambda_0) of its init, i.e. movement ~ m^(-1/2);
* [du-2019-two-layer, Lemma 3.2, proof]: a pattern (i, r) can change only if
  |w_r(0)^T x_i| <= R, which has probability <= 2 R / sqrt(2 pi) under w_r(0) ~ N(0, I): the
  fraction of changed patterns is <= sqrt(2/pi) R, so it falls like m^(-1/2) too.

Here: the ``du`` parameterization with depth 1 and ``trainable="W1"`` (first layer trained,
output weights fixed), f(x) = sqrt(c_sigma/m) a^T relu(W x), c_sigma = 2, W, a ~ N(0, 1). It is
Du et al.'s network with a_r' = sqrt(2) a_r Gaussian instead of +-1, so its infinite-width Gram
is Theta^inf = E[a'^2] H^inf = 2 H^inf and R' carries max_r |a_r'|; both are measured
(``measure``) and used in the bounds. One step size per data seed, eta = 1 / lambda_max(2 H^inf),
shared by every width as in Section 5. Inputs: x = (sqrt(1 - mu^2) u, mu) with u uniform on the
sphere of R^(d-1) and mu = 1/sqrt(d) (the sphere generator's last coordinate at its typical
uniform-sphere size). float64, so pattern flips are not rounding.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from overparam.config import RunConfig, build_config
from overparam.report.studies._common import (
    FAILS,
    HOLDS,
    NOT_MEASURED,
    done_runs,
    fit_or_none,
    fmt_fit,
    loss_curves,
    per_run,
    probe_rows,
    rate_claim,
    rate_summary,
    ratio_claim,
    slope_claim,
    spearman,
    trajectory,
)
from overparam.report.study import Claim, FigureSpec, Study, StudyData, StudyResult, register

SOURCE = "du-2019-two-layer, Section 5 (Figure 1), Theorem 4.1, Lemma 3.2 and the R' of its proof"
N, D = 32, 16
MU = 1.0 / math.sqrt(D)
C_SIGMA = 2.0  # relu's c_sigma = 1 / E[relu(z)^2], z ~ N(0, 1)
# Steps to L <= 1e-6 L(0) measure "convergence rate" (Section 5, Figure 1a); float64 resolves it.
TARGET = 1e-6


@dataclass(frozen=True)
class Scale:
    widths: tuple[int, ...]
    seeds: tuple[int, ...]
    steps: int


# Widths span 64x (full) and 16x (quick); the full range matches Figure 1's 100..1600 in ratio.
FULL = Scale(widths=(64, 128, 256, 512, 1024, 2048, 4096), seeds=(0, 1, 2), steps=300)
QUICK = Scale(widths=(64, 256, 1024), seeds=(0, 1), steps=200)


def scale_of(quick: bool) -> Scale:
    return QUICK if quick else FULL


# ---------------------------------------------------------------------------------------------
# plan / measure
# ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def gram_spectrum(seed: int) -> tuple[float, float]:
    """(lambda_min, lambda_max) of Theta^inf = c_sigma H^inf on the data of ``seed``
    ([du-2019-two-layer, eq. (3)]; :func:`overparam.ntk.gram.h_infinity`)."""
    from overparam.ntk.gram import h_infinity
    from overparam.train.run import build_data

    train, _ = build_data(_config(64, seed, 1, 1.0))
    ev = np.linalg.eigvalsh(C_SIGMA * h_infinity(train.X))
    return float(ev[0]), float(ev[-1])


def step_size(seed: int) -> float:
    """eta = 1 / lambda_max(Theta^inf): one step for every width (Section 5: a fixed step)."""
    return 1.0 / gram_spectrum(seed)[1]


def _config(width: int, seed: int, steps: int, lr: float) -> RunConfig:
    return build_config(
        parameterization="du",
        depth=1,
        trainable="W1",
        n=N,
        d=D,
        mu=MU,
        width=width,
        seed=seed,
        steps=steps,
        lr=lr,
        dtype="float64",
        probes=("flips", "movement"),
    )


def config(width: int, seed: int, steps: int) -> RunConfig:
    """One run: first layer trained by GD at the seed's shared step size."""
    return _config(width, seed, steps, step_size(seed))


def plan_for(s: Scale) -> list[RunConfig]:
    """Every (seed, width) run of a scale."""
    return [config(w, seed, s.steps) for seed in s.seeds for w in s.widths]


def plan(quick: bool) -> list[RunConfig]:
    return plan_for(scale_of(quick))


def measure_for(s: Scale) -> pd.DataFrame:
    """Per (width, seed): lambda_0 = lambda_min(Theta^inf) and lambda_max, and max_r |a_r'|
    (a_r' = sqrt(c_sigma) a_r, the output weights in Du et al.'s normalization) of the run's
    init, which the bound R' needs. No training."""
    from overparam.train.run import build_data, build_model

    rows = []
    for seed in s.seeds:
        lam_min, lam_max = gram_spectrum(seed)
        train, _ = build_data(config(s.widths[0], seed, s.steps))
        for w in s.widths:
            model = build_model(config(w, seed, s.steps), train.d, train.k)
            a = next(layer.weight for layer in model.layers if layer.spec.name == "a")
            rows.append(
                {
                    "width": w,
                    "seed": seed,
                    "lambda0": lam_min,
                    "lambda_max": lam_max,
                    "a_max": math.sqrt(C_SIGMA) * float(a.detach().abs().max()),
                }
            )
    return pd.DataFrame(rows)


def measure(quick: bool) -> pd.DataFrame:
    """:func:`measure_for` at the quick or full scale."""
    return measure_for(scale_of(quick))


# ---------------------------------------------------------------------------------------------
# analyze
# ---------------------------------------------------------------------------------------------


def per_run_table(data: StudyData) -> pd.DataFrame:
    """One row per finished run: width, seed, eta, lambda_0, steps to L <= TARGET L(0), the
    worst ratio to Theorem 4.1's curve, the largest pattern-change fraction and neuron distance
    (Du et al.'s units), R' and the Lemma 3.2 flip bound sqrt(2/pi) R."""
    runs = done_runs(data.runs)
    if runs.empty:
        return pd.DataFrame()
    curves = loss_curves(data)
    meas = data.measurements
    lam = (
        meas.set_index(["width", "seed"])
        if not meas.empty and {"lambda0", "a_max"} <= set(meas.columns)
        else None
    )
    flips = per_run(probe_rows(data, "flips", "fraction", layer="W1"))
    dist = per_run(probe_rows(data, "movement", "max_row", layer="W1"))
    rows = []
    for _, r in runs.iterrows():
        rid, w, seed = r["run_id"], int(r["width"]), int(r["seed"])
        c = curves[curves["run_id"] == rid]
        row = {"run_id": rid, "width": w, "seed": seed, "eta": float(r["lr_used"])}
        if not c.empty:
            ratio = c["ratio"].to_numpy(dtype=float)
            hit = np.nonzero(ratio <= TARGET)[0]
            row["steps_to_target"] = int(c["step"].iloc[hit[0]]) if hit.size else math.inf
            row["final_ratio"] = float(ratio[-1])
            row["initial_loss"] = float(c["loss"].iloc[0])
        if lam is not None and (w, seed) in lam.index:
            lam0, a_max = float(lam.loc[(w, seed), "lambda0"]), float(lam.loc[(w, seed), "a_max"])
            row["lambda0"], row["a_max"] = lam0, a_max
            if not c.empty:
                rho = 1.0 - row["eta"] * lam0 / 2.0
                row["rho"] = rho
                row["rate_ratio"], row["tail"] = rate_summary(
                    c["step"].to_numpy(), c["ratio"].to_numpy(dtype=float), rho
                )
                resid = math.sqrt(2.0 * row["initial_loss"])  # ||y - u(0)||, loss 1/2 sum
                row["R_prime"] = 4.0 * math.sqrt(N) * a_max * resid / (math.sqrt(w) * lam0)
        f = flips[flips["run_id"] == rid]
        if not f.empty:
            row["flip_fraction"] = float(f["value"].iloc[0])
        dd = dist[dist["run_id"] == rid]
        if not dd.empty:
            # papers' units (sqrt(c_sigma / m) W) -> Du et al.'s w_r: times sqrt(m / c_sigma)
            row["max_distance"] = float(dd["value"].iloc[0]) * math.sqrt(w / C_SIGMA)
        rows.append(row)
    out = pd.DataFrame(rows).sort_values(["width", "seed"]).reset_index(drop=True)
    if {"max_distance", "flip_fraction"} <= set(out.columns):
        out["flip_bound"] = math.sqrt(2.0 / math.pi) * out["max_distance"]
    return out


def _claims(t: pd.DataFrame) -> list[Claim]:
    claims: list[Claim] = []
    scale_note = f"n={N}, d={D}, widths {t['width'].min()}..{t['width'].max()}"
    if "rate_ratio" in t:
        claims.append(
            rate_claim(
                t,
                claim="GD converges linearly: L_k <= (1 - eta lambda_0/2)^k L_0",
                source="du-2019-two-layer, Theorem 4.1",
                note=f"lambda_0 = lambda_min(2 H^inf); {scale_note}",
            )
        )
    if "steps_to_target" in t:
        med = t.groupby("width")["steps_to_target"].median()
        rho = spearman(med.index, med.to_numpy())  # a run that never gets there ranks last
        reached = math.isfinite(float(med.iloc[-1]))  # the widest network must get there
        verdict = HOLDS if reached and rho <= -0.8 else FAILS
        if len(med) < 3:
            verdict = NOT_MEASURED
        steps = ", ".join(f"m={w}: {s:g}" for w, s in med.items())
        claims.append(
            Claim(
                f"wider networks converge faster (steps to L <= {TARGET:g} L_0)",
                "du-2019-two-layer, Section 5 (Figure 1a)",
                f"median steps {steps}; Spearman {rho:.2f}",
                "decreasing in m (Spearman -1)",
                verdict,
                "one step size for every width, as in Section 5; verdict: Spearman <= -0.8",
            )
        )
    if "flip_fraction" in t:
        claim, _ = slope_claim(
            t,
            "flip_fraction",
            -0.5,
            claim="fraction of changed activation patterns is O(m^(-1/2))",
            source="du-2019-two-layer, Lemma 3.2 (proof) with R' ~ m^(-1/2)",
            note="max over training of sum 1{pattern changed} / (m n)",
        )
        claims.append(claim)
    if {"flip_fraction", "flip_bound"} <= set(t.columns):
        claims.append(
            ratio_claim(
                t.assign(ratio=t["flip_fraction"] / t["flip_bound"]),
                "upper",
                claim="changed patterns <= P(|w_r(0)^T x_i| <= R) <= sqrt(2/pi) R",
                source="du-2019-two-layer, Lemma 3.2 (proof)",
                theory="fraction / (sqrt(2/pi) R) <= 1, R = measured max_r ||w_r - w_r(0)||",
                rows="runs",
            )
        )
    if "max_distance" in t:
        note = "max over training, Du et al.'s units (w_r(0) ~ N(0, I))"
        if "a_max" in t:
            # With Gaussian a_r the fastest neuron is the one with the largest |a_r|, which
            # grows like sqrt(2 log m): R' carries that factor, the m^(-1/2) does not.
            scaled = fit_or_none(t.assign(d=t["max_distance"] / t["a_max"]), "d")
            if scaled is not None:
                note += (
                    f"; divided by max_r |a_r| (which grows like sqrt(log m)): {fmt_fit(scaled)}"
                )
        claim, _ = slope_claim(
            t,
            "max_distance",
            -0.5,
            claim="max_r ||w_r(k) - w_r(0)|| is O(m^(-1/2))",
            source="du-2019-two-layer, Lemma 4.1 / Corollary 4.1 (R')",
            note=note,
        )
        claims.append(claim)
    if {"max_distance", "R_prime"} <= set(t.columns):
        claims.append(
            ratio_claim(
                t.assign(ratio=t["max_distance"] / t["R_prime"]),
                "upper",
                claim="every neuron stays within R' = 4 sqrt(n) ||y - u(0)|| / (sqrt(m) lambda_0)",
                source="du-2019-two-layer, Lemma 4.1 / Corollary 4.1",
                theory="max_r ||w_r(k) - w_r(0)|| / R' <= 1",
                note="R' times max_r |a_r'| (Gaussian output weights instead of +-1)",
                rows="runs",
            )
        )
    return claims


def _figures(data: StudyData, t: pd.DataFrame) -> list[FigureSpec]:
    from overparam.report.plots import (
        COLORS,
        fitted_line,
        loglog,
        mean_band,
        new_figure,
        plot_band,
        theory_through,
    )

    figures = []
    widths = sorted(t["width"].unique())
    color = {w: COLORS[i % len(COLORS)] for i, w in enumerate(widths)}
    curves = loss_curves(data)
    if not curves.empty:
        fig, (ax,) = new_figure()
        for w in widths:
            plot_band(
                ax,
                mean_band(curves[curves["width"] == w], "step", "ratio"),
                "step",
                label=f"m={w}",
                color=color[w],
                marker="",
            )
        if "rho" in t:
            rho = float(t["rho"].max())
            steps = np.arange(int(curves["step"].max()) + 1)
            ax.plot(steps, rho**steps, label="(1 - ηλ₀/2)^k, Thm 4.1 (slowest seed)",
                    linestyle="--", color="0.3", linewidth=1.2)  # fmt: skip
        ax.set_yscale("log")
        ax.set_xlabel("GD step k")
        ax.set_ylabel("L_k / L_0")
        ax.set_title(f"two-layer relu, n={N}, d={D}")
        ax.legend(loc="best")
        figures.append(
            FigureSpec(
                "loss",
                "Training loss of GD on the first layer of a two-layer relu net (output weights "
                "fixed), one step size eta = 1/lambda_max(2H^inf) for every width, as in "
                "[du-2019-two-layer, Section 5, Figure 1a]; lines are geometric means over seeds, "
                "bands the min-max. The dashed curve is Theorem 4.1's guaranteed rate "
                "(1 - eta lambda_0/2)^k with lambda_0 = lambda_min(2H^inf).",
                fig,
            )
        )

    panels = [
        ("flips", "fraction", "flip_fraction", "fraction of patterns changed"),
        ("movement", "max_row", "max_distance", "max_r ||w_r(k) - w_r(0)||"),
    ]
    captions = {
        "flip_fraction": (
            "pattern_changes",
            "Fraction of relu activation patterns 1{w_r^T x_i >= 0} changed since init, over "
            "training (left) and its maximum against m (right, log-log), as in "
            "[du-2019-two-layer, Section 5, Figure 1b]. Dashed: slope -1/2, the rate of the "
            "Lemma 3.2 argument (a pattern flips only if |w_r(0)^T x_i| <= R, R ~ m^(-1/2)); "
            "dotted: the fitted slope; bands: min-max over seeds.",
        ),
        "max_distance": (
            "distance",
            "Largest distance of a neuron from its init, max_r ||w_r(k) - w_r(0)||, in Du et al.'s "
            "units (w_r(0) ~ N(0, I)), over training (left) and against m (right), as in "
            "[du-2019-two-layer, Section 5, Figure 1c]. Dashed grey: slope -1/2; dash-dot: the "
            "proof's radius R' = 4 sqrt(n) max|a_r| ||y - u(0)|| / (sqrt(m) lambda_0) "
            "(Lemma 4.1 / Corollary 4.1); dotted: the fitted slope.",
        ),
    }
    for probe, quantity, col, ylabel in panels:
        if col not in t:
            continue
        rows = probe_rows(data, probe, quantity, layer="W1")
        traj = trajectory(rows)
        if col == "max_distance":
            traj["value"] = traj["value"] * np.sqrt(traj["width"].astype(float) / C_SIGMA)
        fig, (left, right) = new_figure(2)
        for w in widths:
            sub = traj[(traj["width"] == w) & (traj["step"] > 0)]
            plot_band(left, mean_band(sub, "step", "value"), "step", label=f"m={w}",
                      color=color[w], marker="")  # fmt: skip
        left.set_xscale("log")
        left.set_yscale("log")
        left.set_xlabel("GD step k")
        left.set_ylabel(ylabel)
        left.legend(loc="best")
        stats = mean_band(t, "width", col)
        plot_band(right, stats, "width", label="measured", color=COLORS[0])
        theory_through(right, stats, "width", -0.5, label="theory: m^(-1/2)")
        if col == "max_distance" and "R_prime" in t:
            rp = mean_band(t, "width", "R_prime")
            right.plot(rp["width"], rp["mean"], linestyle="-.", color="0.3", marker="s", ms=3,
                       label="R' (Cor. 4.1)")  # fmt: skip
        fit = fit_or_none(t, col)
        if fit is not None:
            fitted_line(right, widths, fit.exponent, fit.intercept, color=COLORS[0],
                        label=f"fit: slope {fit.exponent:.2f}")  # fmt: skip
        loglog(right, "width m", ylabel)
        right.legend(loc="best")
        name, caption = captions[col]
        figures.append(FigureSpec(name, caption, fig))
    return figures


def analyze(data: StudyData) -> StudyResult:
    """Per-run table, claims (Theorem 4.1's rate, faster with m, flips and distance ~ m^(-1/2)
    and under their bounds) and the three figures of Section 5."""
    t = per_run_table(data)
    if t.empty:
        return StudyResult(
            claims=[
                Claim(
                    "GD converges linearly", "du-2019-two-layer, Theorem 4.1", "", "", NOT_MEASURED
                )
            ]
        )
    cols = [c for c in t.columns if c != "run_id"]
    by_width = t[cols].groupby("width").median(numeric_only=True).reset_index()
    return StudyResult(
        claims=_claims(t),
        figures=_figures(data, t),
        tables={"per_width (median over seeds)": by_width.drop(columns=["seed"])},
    )


STUDY = register(
    Study(
        name="du-two-layer",
        title="Two-layer relu net (Du et al. 2019, Section 5): loss, pattern changes, distance",
        source=SOURCE,
        plan=plan,
        analyze=analyze,
        measure=measure,
        description=(
            "Full-batch GD on the first layer of f(x) = sqrt(2/m) a^T relu(W x) (a fixed), "
            f"n={N} unit inputs in d={D}, Gaussian labels, one step size for every width. "
            "Loss curves against Theorem 4.1's rate, and the fraction of activation patterns "
            "changed and the largest neuron distance against m, against the m^(-1/2) of the "
            "proof and its explicit radii."
        ),
    )
)
