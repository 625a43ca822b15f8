"""Study ``no-critical-points``: along real GD trajectories, the gradient is large whenever the
loss is (no critical point to stall at) and the loss is almost smooth along the step taken.

* [allen-zhu-2019, Theorem 3] (sum loss F = sum_i 1/2 ||f(x_i) - y_i||^2, d outputs):
  Omega(delta m / (d n^2)) <= ||grad F||_F^2 / F <= O(L n m / d) near initialization;
* [zou-gu-2019, Lemma 4.1] (mean loss L = F / n, k outputs): ||grad L||_F^2 / L >= m phi / (k n^2);
* [allen-zhu-2019, Theorem 4] / [zou-gu-2019, Lemma 4.4] (semi-smoothness): for the step W'
  GD takes, F(W + W') - F(W) - <grad F(W), W'> <=
  sqrt(n F) omega^(1/3) L^2 sqrt(m log m / d) ||W'||_2 + (n L^2 m / d) ||W'||_2^2.

The ``gradient_ratio`` and ``semi_smoothness`` probes (:mod:`overparam.probes.gradient`,
:mod:`overparam.probes.smoothness`) measure both sides at log-spaced steps, with every hidden
constant set to 1, in the papers' units; here they run on the allen-zhu network (checked against
Allen-Zhu et al.'s Theorems 3-4) and the zou-gu network (against Zou & Gu's Lemmas 4.1 and 4.4),
L = 2, trained by GD with the measured stable step until the loss is 1e-4 L(0). float64, since
the semi-smoothness residual is a difference of losses. Both gradient bounds grow like m, so the
measured ratio should too (slope 1 in m).
"""

from __future__ import annotations

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
    per_run,
    probe_rows,
    ratio_claim,
    slope_claim,
)
from overparam.report.study import Claim, FigureSpec, Study, StudyData, StudyResult, register

SOURCE = "allen-zhu-2019, Theorems 3 and 4; zou-gu-2019, Lemmas 4.1 and 4.4 (seeds 000, 003)"
PARAMETERIZATIONS = ("allen-zhu", "zou-gu")
N, D, DEPTH = 16, 16, 2
TARGET_RATIO = 1e-4  # "along training": down to 1e-4 L(0), where a critical point would stall GD
STEPS = 200  # a ceiling: the runs reach the target in ~40-80 steps
# gradient_ratio reads the loop's own gradient (free), so it keeps the default ~50 points;
# semi_smoothness pays a spectral norm of the step per evaluation, so fewer.
PROBES = ("gradient_ratio", "semi_smoothness:points=12")

#: (parameterization, gradient-ratio quantity its paper bounds from below, its source, units)
LOWER = {
    "allen-zhu": ("lower_allen_zhu", "allen-zhu-2019, Theorem 3", "||∇F||²/F (sum loss)"),
    "zou-gu": ("lower_zou_gu", "zou-gu-2019, Lemma 4.1", "||∇L||²/L (mean loss)"),
}
SMOOTH_SOURCE = {
    "allen-zhu": "allen-zhu-2019, Theorem 4",
    "zou-gu": "zou-gu-2019, Lemma 4.4",
}


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
        dtype="float64",
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


def _rows(data: StudyData, quantity: str, probe: str = "gradient_ratio") -> pd.DataFrame:
    return probe_rows(data, probe, quantity)


def per_run_table(data: StudyData) -> pd.DataFrame:
    """One row per finished run: the minimum over training of the paper's gradient ratio
    (``grad_ratio_min``, in its own loss's units) and of its ratio to the lower bound, the
    maximum ratio to Allen-Zhu's upper bound, the worst semi-smoothness residual / bound, and
    whether GD reached the target."""
    runs = done_runs(data.runs)
    if runs.empty:
        return pd.DataFrame()
    out = runs[["run_id", "parameterization", "width", "seed"]].copy()
    if "train_status" in runs:
        out["converged"] = runs["train_status"].eq("converged").to_numpy()
    if "steps_run" in runs:
        out["steps"] = runs["steps_run"].to_numpy()

    def by_run(rows: pd.DataFrame, column: str, how: str) -> dict:
        r = per_run(rows, column=column, how=how)
        return dict(zip(r["run_id"], r[column], strict=True))

    values: dict[str, dict] = {"grad_ratio_min": {}, "lower": {}}
    for p, (quantity, _, _) in LOWER.items():
        rows = _rows(data, quantity)
        rows = rows[rows["parameterization"] == p]  # each network against its own paper
        values["grad_ratio_min"].update(by_run(rows, "value", "min"))
        values["lower"].update(by_run(rows, "ratio", "min"))
    values["upper"] = by_run(_rows(data, "upper_allen_zhu"), "ratio", "max")
    values["smooth"] = by_run(_rows(data, "residual", "semi_smoothness"), "ratio", "max")
    for name, by_id in values.items():
        out[name] = out["run_id"].map(by_id).astype(float)
    return out.sort_values(["parameterization", "width", "seed"]).reset_index(drop=True)


def _claims(data: StudyData, t: pd.DataFrame) -> list[Claim]:
    claims: list[Claim] = []
    for p in PARAMETERIZATIONS:
        sub = t[t["parameterization"] == p]
        if sub.empty:
            continue
        quantity, source, units = LOWER[p]
        rows = _rows(data, quantity)
        rows = rows[rows["parameterization"] == p]
        formula = "delta m / (d n^2)" if p == "allen-zhu" else "m phi / (k n^2)"
        claims.append(
            ratio_claim(
                rows,
                "lower",
                claim=f"{p}: gradient lower bound {units} >= {formula} along training",
                source=source,
                theory="measured / bound >= 1",
                note=f"constant 1; L={DEPTH}, n={N}, GD to {TARGET_RATIO:g} L(0)",
            )
        )
        if p == "allen-zhu":
            up = _rows(data, "upper_allen_zhu")
            claims.append(
                ratio_claim(
                    up[up["parameterization"] == p],
                    "upper",
                    claim=f"{p}: gradient upper bound ||∇F||²/F <= L n m / d along training",
                    source=source,
                    theory="measured / bound <= 1",
                    note="constant 1",
                )
            )
        claim, _ = slope_claim(
            sub,
            "grad_ratio_min",
            1.0,
            claim=f"{p}: min over training of {units} grows like m",
            source=f"{source} (both bounds are proportional to m)",
            bound="exact",
            note="minimum over each run's evaluated steps",
        )
        claims.append(claim)
        res = _rows(data, "residual", "semi_smoothness")
        res = res[res["parameterization"] == p]
        where = SMOOTH_SOURCE[p].split(", ")[1]
        claims.append(
            ratio_claim(
                res,
                "upper",
                claim=f"{p}: semi-smoothness, L(W+W') - L(W) - <∇L, W'> <= {where}'s bound",
                source=SMOOTH_SOURCE[p],
                theory="residual / (sublinear + quadratic term) <= 1",
                note="W' = the GD step taken; omega = measured distance from init",
            )
        )
    if "converged" in t:
        ok = int(t["converged"].sum())
        claims.append(
            Claim(
                f"GD never stalls: every run reaches L <= {TARGET_RATIO:g} L(0)",
                "allen-zhu-2019, Theorem 1 (via Theorems 3-4); zou-gu-2019, Theorem 3.3",
                f"{ok} of {len(t)} runs reached the target",
                "all runs (no critical point near init)",
                HOLDS if ok == len(t) else FAILS,
                f"median steps {float(t['steps'].median()):g}" if "steps" in t else "",
            )
        )
    return claims


def _figures(data: StudyData, t: pd.DataFrame) -> list[FigureSpec]:
    from overparam.report.plots import (
        COLORS,
        bound_line,
        fitted_line,
        loglog,
        mean_band,
        new_figure,
        plot_band,
        theory_through,
    )

    params = [p for p in PARAMETERIZATIONS if (t["parameterization"] == p).any()]
    widths = sorted(t["width"].unique())
    color = {w: COLORS[i % len(COLORS)] for i, w in enumerate(widths)}
    figures = []

    fig, axes = new_figure(len(params))
    for ax, p in zip(axes, params, strict=True):
        quantity, source, units = LOWER[p]
        rows = _rows(data, quantity)
        rows = rows[rows["parameterization"] == p]
        upper = _rows(data, "upper_allen_zhu")
        upper = upper[upper["parameterization"] == p]
        for w in widths:
            sub = rows[rows["width"] == w]
            if sub.empty:
                continue
            plot_band(ax, mean_band(sub, "step", "value"), "step", label=f"m={w}",
                      color=color[w], marker="")  # fmt: skip
            ax.axhline(float(sub["bound"].mean()), color=color[w], linestyle="--", lw=1.0)
            up = upper[upper["width"] == w]
            if p == "allen-zhu" and not up.empty:
                ax.axhline(float(up["bound"].mean()), color=color[w], linestyle="-.", lw=1.0)
        ax.plot([], [], color="0.3", linestyle="--", label="lower bound (dashed)")
        if p == "allen-zhu":
            ax.plot([], [], color="0.3", linestyle="-.", label="upper bound L n m / d")
        ax.set_yscale("log")
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_xlim(left=0)
        ax.set_xlabel("GD step t")
        ax.set_ylabel(units)
        ax.set_title(f"{p} ({source.split(', ')[1]})")
        ax.legend(loc="best", fontsize=7)
    figures.append(
        FigureSpec(
            "gradient_ratio",
            "The gradient ratio along GD against its bounds (constants 1), in each paper's "
            "units: ||grad F||^2 / F against delta m/(d n^2) and L n m/d "
            "[allen-zhu-2019, Theorem 3] for the allen-zhu network, ||grad L||^2 / L against "
            "m phi/(k n^2) [zou-gu-2019, Lemma 4.1] for the zou-gu network. Bound lines dashed "
            "in each width's colour; bands: min-max over seeds.",
            fig,
        )
    )

    fig, (ax,) = new_figure()
    for i, p in enumerate(params):
        sub = t[t["parameterization"] == p]
        stats = mean_band(sub, "width", "grad_ratio_min")
        fit = fit_or_none(sub, "grad_ratio_min")
        label = p if fit is None else f"{p}: slope {fit.exponent:.2f}"
        plot_band(ax, stats, "width", label=label, color=COLORS[i])
        if fit is not None:
            fitted_line(ax, widths, fit.exponent, fit.intercept, color=COLORS[i])
        theory_through(ax, stats, "width", 1.0, label="theory: m^1" if i == 0 else "_")
    loglog(ax, "width m", "min over training of the gradient ratio")
    ax.legend(loc="best")
    figures.append(
        FigureSpec(
            "gradient_ratio_vs_width",
            "Minimum over training of the gradient ratio (each paper's units) against m, "
            "log-log; dashed: slope 1, the m of both bounds of [allen-zhu-2019, Theorem 3] and "
            "[zou-gu-2019, Lemma 4.1]; dotted: fitted slopes.",
            fig,
        )
    )

    res = _rows(data, "residual", "semi_smoothness")
    if not res.empty:
        fig, axes = new_figure(len(params))
        dropped = int((res["ratio"] <= 0).sum())
        for ax, p in zip(axes, params, strict=True):
            rp = res[(res["parameterization"] == p) & (res["ratio"] > 0)]
            for w in widths:
                sub = rp[rp["width"] == w]
                if not sub.empty:
                    plot_band(ax, mean_band(sub, "step", "ratio"), "step", label=f"m={w}",
                              color=color[w], marker=".")  # fmt: skip
            bound_line(ax, 1.0, label="bound (ratio 1)")
            ax.set_yscale("log")
            ax.set_xscale("symlog", linthresh=1.0)
            ax.set_xlim(left=0)
            ax.set_xlabel("GD step t")
            ax.set_ylabel("residual / bound")
            ax.set_title(f"{p} ({SMOOTH_SOURCE[p].split(', ')[1]})")
            ax.legend(loc="best", fontsize=7)
        figures.append(
            FigureSpec(
                "semi_smoothness",
                "Second-order residual of the GD step, L(W+W') - L(W) - <grad L(W), W'>, over "
                "the semi-smoothness bound sqrt(n F) omega^(1/3) L^2 sqrt(m log m/d) ||W'||_2 + "
                "n L^2 m/d ||W'||_2^2 (constants 1; [allen-zhu-2019, Theorem 4], "
                "[zou-gu-2019, Lemma 4.4] for the mean loss). Below the dashed line the bound "
                f"holds; {dropped} non-positive residuals (trivially within it) are not drawn.",
                fig,
            )
        )
    return figures


def analyze(data: StudyData) -> StudyResult:
    """Per-run extremes, claims (bounds, slope 1 in m, semi-smoothness, no stalling) and the
    three figures."""
    t = per_run_table(data)
    if t.empty or "grad_ratio_min" not in t or not np.isfinite(t["grad_ratio_min"]).any():
        return StudyResult(
            claims=[
                Claim("the gradient is bounded below along training", SOURCE, "", "", NOT_MEASURED)
            ]
        )
    keys = [c for c in t.columns if c not in ("run_id", "seed")]
    medians = t[keys].groupby(["parameterization", "width"]).median().reset_index()
    return StudyResult(
        claims=_claims(data, t),
        figures=_figures(data, t),
        tables={"per_width (median over seeds)": medians},
    )


STUDY = register(
    Study(
        name="no-critical-points",
        title="No critical points: the gradient lower bound and semi-smoothness along training",
        source=SOURCE,
        plan=plan,
        analyze=analyze,
        description=(
            f"allen-zhu and zou-gu networks (L={DEPTH}, n={N}, d={D}, Gaussian labels, float64) "
            f"trained by GD to {TARGET_RATIO:g} L(0); at log-spaced steps the gradient ratio "
            "||grad L||^2 / L against the lower (and Allen-Zhu's upper) bound, and the "
            "second-order residual of the actual step against the semi-smoothness bound."
        ),
    )
)
