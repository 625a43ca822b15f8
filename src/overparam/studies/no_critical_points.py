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
L = 2, ReLU, trained by GD with the measured stable step until the loss is 1e-4 L(0). float64,
since the semi-smoothness residual is a difference of losses (a residual within round-off of the
loss is left out). Allen-Zhu et al.'s two gradient bounds are both proportional to m, so the
measured ratio should grow like m (slope 1); Zou & Gu's lower bound alone says at least like m.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from overparam.studies.claims import Claim, Fraction, Ratio, Resolution, Slope
from overparam.studies.frames import done_runs, loss_curves, per_run, probe_rows
from overparam.studies.hypotheses import RELU
from overparam.studies.plan import sweep
from overparam.studies.study import Evidence, FigureSpec, Scale, Study, StudyData
from overparam.sweep.spec import SweepSpec

NAME = "no-critical-points"
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
#: The residual is a difference of losses: within a few eps of the loss it is round-off.
RESIDUAL_RESOLUTION = Resolution(dtype="dtype", scale="loss")


@dataclass(frozen=True)
class Size:
    widths: tuple[int, ...]
    seeds: tuple[int, ...]
    steps: int = STEPS


SIZES: dict[str, Size] = {
    "quick": Size(widths=(64, 256, 1024), seeds=(0, 1)),
    "full": Size(widths=(64, 128, 256, 512, 1024, 2048), seeds=(0, 1, 2)),
}


def plan_for(s: Size, scale: Scale) -> list[SweepSpec]:
    """Every (parameterization, seed, width) run of a size, width fastest."""
    base = dict(depth=DEPTH, n=N, d=D, steps=s.steps, lr="auto", target_ratio=TARGET_RATIO)
    base["dtype"] = "float64"
    grid: dict[str, list[Any]] = {
        "parameterization": list(PARAMETERIZATIONS),
        "seed": list(s.seeds),
        "width": list(s.widths),
    }
    return [sweep(NAME, scale, base=base, grid=grid, probes=PROBES)]


def plan(scale: Scale) -> list[SweepSpec]:
    return plan_for(SIZES[scale], scale)


# ---------------------------------------------------------------------------------------------
# claims
# ---------------------------------------------------------------------------------------------

CLAIMS = (
    Claim(
        "lower-allen-zhu",
        r"allen-zhu: gradient lower bound $\|\nabla F\|^2 / F \ge \delta m / (d n^2)$ along "
        "training",
        cite="allen-zhu-2019, Theorem 3",
        quantity="grad_ratio",
        test=Ratio(bound="bound", at_least=1.0),
        hypotheses=(RELU,),
    ),
    Claim(
        "upper-allen-zhu",
        r"allen-zhu: gradient upper bound $\|\nabla F\|^2 / F \le L n m / d$ along training",
        cite="allen-zhu-2019, Theorem 3",
        quantity="grad_ratio",
        test=Ratio(bound="bound", at_most=1.0),
        hypotheses=(RELU,),
    ),
    Claim(
        "grows-allen-zhu",
        r"allen-zhu: min over training of $\|\nabla F\|^2 / F$ grows like $m$ (both bounds "
        r"$\propto m$)",
        cite="allen-zhu-2019, Theorem 3",
        quantity="grad_ratio_min",
        test=Slope(1.0, 0.1, kind="equal"),
        hypotheses=(RELU,),
    ),
    Claim(
        "semi-smooth-allen-zhu",
        r"allen-zhu: semi-smoothness, $F(W+W') - F(W) - \langle \nabla F, W' \rangle \le$ "
        "Theorem 4's bound",
        cite="allen-zhu-2019, Theorem 4",
        quantity="residual",
        test=Ratio(bound="bound", at_most=1.0),
        hypotheses=(RELU,),
        resolution=RESIDUAL_RESOLUTION,
    ),
    Claim(
        "lower-zou-gu",
        r"zou-gu: gradient lower bound $\|\nabla L\|^2 / L \ge m \phi / (k n^2)$ along training",
        cite="zou-gu-2019, Lemma 4.1",
        quantity="grad_ratio",
        test=Ratio(bound="bound", at_least=1.0),
        hypotheses=(RELU,),
    ),
    Claim(
        "grows-zou-gu",
        r"zou-gu: min over training of $\|\nabla L\|^2 / L$ grows at least like $m$ (lower bound "
        r"$\propto m$)",
        cite="zou-gu-2019, Lemma 4.1",
        quantity="grad_ratio_min",
        test=Slope(1.0, 0.1, kind="at_least"),
        hypotheses=(RELU,),
    ),
    Claim(
        "semi-smooth-zou-gu",
        r"zou-gu: semi-smoothness, $L(W+W') - L(W) - \langle \nabla L, W' \rangle \le$ "
        "Lemma 4.4's bound",
        cite="zou-gu-2019, Lemma 4.4",
        quantity="residual",
        test=Ratio(bound="bound", at_most=1.0),
        hypotheses=(RELU,),
        resolution=RESIDUAL_RESOLUTION,
    ),
    Claim(
        "never-stalls",
        f"GD never stalls: every run reaches $L \\le {TARGET_RATIO:g} L(0)$ within {STEPS} steps",
        cite="allen-zhu-2019, Theorem 1 (via Theorems 3-4)",
        quantity="converged",
        test=Fraction(1.0),
        hypotheses=(RELU,),
    ),
)


# ---------------------------------------------------------------------------------------------
# evidence
# ---------------------------------------------------------------------------------------------


def _own(rows: pd.DataFrame, parameterization: str) -> pd.DataFrame:
    """The rows of one parameterization's runs (each network against its own paper)."""
    return rows[rows["parameterization"] == parameterization] if not rows.empty else rows


def gradient_rows(data: StudyData, quantity: str, parameterization: str) -> pd.DataFrame:
    """``gradient_ratio`` rows of one quantity on one parameterization's runs; value renamed
    grad_ratio."""
    rows = _own(probe_rows(data, "gradient_ratio", quantity), parameterization)
    return rows.rename(columns={"value": "grad_ratio"})


def residual_rows(data: StudyData, parameterization: str) -> pd.DataFrame:
    """``semi_smoothness`` residual rows of one parameterization's runs, with the loss at the
    same step (the scale of the residual's round-off)."""
    rows = _own(probe_rows(data, "semi_smoothness", "residual"), parameterization)
    rows = rows.rename(columns={"value": "residual"})
    if rows.empty:
        return rows.assign(loss=pd.Series(dtype=float))
    curves = loss_curves(data)[["run_id", "step", "loss"]]
    return rows.merge(curves, on=["run_id", "step"], how="left")


def per_run_table(data: StudyData) -> pd.DataFrame:
    """One row per finished run: the minimum over training of the paper's gradient ratio
    (``grad_ratio_min``, in its own loss's units) and of its ratio to the lower bound, the
    maximum ratio to Allen-Zhu's upper bound, the worst semi-smoothness residual / bound, and
    whether GD reached the target (``converged``, 1 / 0)."""
    runs = done_runs(data.runs)
    cols = ["run_id", "parameterization", "activation", "width", "seed"]
    if runs.empty:
        return pd.DataFrame(columns=[*cols, "grad_ratio_min", "converged"])
    out = runs[[c for c in cols if c in runs]].copy()
    if "train_status" in runs:
        out["converged"] = runs["train_status"].eq("converged").astype(float).to_numpy()
    if "steps_run" in runs:
        out["steps"] = runs["steps_run"].to_numpy()

    def by_run(rows: pd.DataFrame, column: str, how: str) -> dict:
        if rows.empty:
            return {}
        r = per_run(rows, column=column, how=how)
        return dict(zip(r["run_id"], r[column], strict=True))

    values: dict[str, dict] = {"grad_ratio_min": {}, "lower": {}, "upper": {}, "smooth": {}}
    for p, (quantity, _, _) in LOWER.items():
        rows = gradient_rows(data, quantity, p)
        values["grad_ratio_min"].update(by_run(rows, "grad_ratio", "min"))
        values["lower"].update(by_run(rows, "ratio", "min"))
        values["smooth"].update(by_run(residual_rows(data, p), "ratio", "max"))
    values["upper"] = by_run(gradient_rows(data, "upper_allen_zhu", "allen-zhu"), "ratio", "max")
    for name, by_id in values.items():
        out[name] = out["run_id"].map(by_id).astype(float)
    return out.sort_values(["parameterization", "width", "seed"]).reset_index(drop=True)


def evidence(data: StudyData) -> Evidence:
    t = per_run_table(data)
    frames: dict[str, pd.DataFrame] = {}
    for p in PARAMETERIZATIONS:
        frames[f"lower-{p}"] = gradient_rows(data, LOWER[p][0], p)
        frames[f"grows-{p}"] = _own(t, p).dropna(subset=["grad_ratio_min"])
        frames[f"semi-smooth-{p}"] = residual_rows(data, p)
    frames["upper-allen-zhu"] = gradient_rows(data, "upper_allen_zhu", "allen-zhu")
    if "converged" in t:
        frames["never-stalls"] = t
    tables = {}
    if not t.empty:
        keys = [c for c in t.columns if c not in ("run_id", "seed", "activation")]
        tables["per_width (median over seeds)"] = (
            t[keys].groupby(["parameterization", "width"]).median().reset_index()
        )
    figures = _figures(data, t) if not t.empty and t["grad_ratio_min"].notna().any() else []
    return Evidence(frames=frames, figures=figures, tables=tables)


# ---------------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------------


#: The gradient ratio's axis label in each paper's units (mathtext).
UNITS = {
    "allen-zhu": r"$\|\nabla F\|^2 / F$ (sum loss)",
    "zou-gu": r"$\|\nabla L\|^2 / L$ (mean loss)",
}


def _figures(data: StudyData, t: pd.DataFrame) -> list[FigureSpec]:
    from overparam.studies.claims import loglog_fit
    from overparam.studies.plots import (
        COLORS,
        bound_line,
        fitted_line,
        loglog,
        mean_band,
        new_figure,
        place_legend,
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
        rows = gradient_rows(data, quantity, p)
        upper = gradient_rows(data, "upper_allen_zhu", p)
        for w in widths:
            sub = rows[rows["width"] == w]
            if sub.empty:
                continue
            plot_band(ax, mean_band(sub, "step", "grad_ratio"), "step", label=f"$m={w}$",
                      color=color[w], marker="")  # fmt: skip
            ax.axhline(float(sub["bound"].mean()), color=color[w], linestyle="--", lw=1.0)
            up = upper[upper["width"] == w]
            if p == "allen-zhu" and not up.empty:
                ax.axhline(float(up["bound"].mean()), color=color[w], linestyle="-.", lw=1.0)
        ax.plot([], [], color="0.3", linestyle="--", label="lower bound (dashed)")
        if p == "allen-zhu":
            ax.plot(
                [], [], color="0.3", linestyle="-.", label=r"upper bound $L\,n\,m/d$ (dash-dot)"
            )
        ax.set_yscale("log")
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_xlim(left=0)
        ax.set_xlabel("GD step $t$")
        ax.set_ylabel(UNITS.get(p, units))
        ax.set_title(f"{p} ({source.split(', ')[1]})")
        place_legend(ax)
    figures.append(
        FigureSpec(
            "gradient_ratio",
            "The gradient ratio along GD against its bounds (constants 1), in each paper's "
            r"units: $\|\nabla F\|^2 / F$ against $\delta m/(d n^2)$ and $L n m/d$ "
            r"[allen-zhu-2019, Theorem 3] for the `allen-zhu` network, $\|\nabla L\|^2 / L$ "
            r"against $m \phi/(k n^2)$ [zou-gu-2019, Lemma 4.1] for the `zou-gu` network. Bound "
            "lines dashed "
            "in each width's colour; bands: min-max over seeds.",
            fig,
        )
    )

    fig, (ax,) = new_figure()
    for i, p in enumerate(params):
        sub = t[(t["parameterization"] == p) & (t["grad_ratio_min"] > 0)]
        stats = mean_band(sub, "width", "grad_ratio_min")
        label = p
        if sub["width"].nunique() >= 2:
            x, y = sub["width"].to_numpy(float), sub["grad_ratio_min"].to_numpy(float)
            fit = loglog_fit(x, y, n_boot=200, level=0.95, seed=0)
            label = f"{p}: slope {fit.slope:.2f}"
            fitted_line(ax, widths, fit.slope, fit.intercept, color=COLORS[i])
        plot_band(ax, stats, "width", label=label, color=COLORS[i])
        theory_through(ax, stats, "width", 1.0, label="theory: $m^1$" if i == 0 else "_")
    loglog(ax, "width $m$", "min over training of the gradient ratio")
    place_legend(ax)
    figures.append(
        FigureSpec(
            "gradient_ratio_vs_width",
            "Minimum over training of the gradient ratio (each paper's units) against $m$, "
            "log-log; dashed: slope 1, the $m$ of both bounds of [allen-zhu-2019, Theorem 3] and "
            "[zou-gu-2019, Lemma 4.1]; dotted: fitted slopes.",
            fig,
        )
    )

    res = pd.concat([residual_rows(data, p) for p in params], ignore_index=True)
    if not res.empty:
        fig, axes = new_figure(len(params))
        dropped = int((res["ratio"] <= 0).sum())
        for ax, p in zip(axes, params, strict=True):
            rp = res[(res["parameterization"] == p) & (res["ratio"] > 0)]
            for w in widths:
                sub = rp[rp["width"] == w]
                if not sub.empty:
                    plot_band(ax, mean_band(sub, "step", "ratio"), "step", label=f"$m={w}$",
                              color=color[w], marker=".")  # fmt: skip
            bound_line(ax, 1.0, label="bound (ratio 1)")
            ax.set_yscale("log")
            ax.set_xscale("symlog", linthresh=1.0)
            ax.set_xlim(left=0)
            ax.set_xlabel("GD step $t$")
            ax.set_ylabel("residual / bound")
            ax.set_title(f"{p} ({SMOOTH_SOURCE[p].split(', ')[1]})")
            place_legend(ax)
        figures.append(
            FigureSpec(
                "semi_smoothness",
                "Second-order residual of the GD step, "
                r"$L(W+W') - L(W) - \langle \nabla L(W), W' \rangle$, over the semi-smoothness "
                r"bound $\sqrt{n F}\, \omega^{1/3} L^2 \sqrt{m \log m / d}\, \|W'\|_2 "
                r"+ n L^2 m / d\, \|W'\|_2^2$ (constants 1; [allen-zhu-2019, Theorem 4], "
                "[zou-gu-2019, Lemma 4.4] for the mean loss). Below the dashed line the bound "
                f"holds; {dropped} non-positive residuals (within it) are not drawn.",
                fig,
            )
        )
    return figures


STUDY = Study(
    name=NAME,
    title="No critical points: the gradient lower bound and semi-smoothness along training",
    cites=("allen-zhu-2019", "zou-gu-2019"),
    description=(
        f"`allen-zhu` and `zou-gu` networks ($L={DEPTH}$, ReLU, $n={N}$, $d={D}$, Gaussian "
        f"labels, float64) trained by GD to ${TARGET_RATIO:g}\\, L(0)$; at log-spaced steps the "
        r"gradient ratio $\|\nabla L\|^2 / L$ against the lower (and Allen-Zhu's upper) bound "
        "[allen-zhu-2019, Theorem 3; zou-gu-2019, Lemma 4.1], and the second-order residual of "
        "the actual step against the semi-smoothness bound."
    ),
    claims=CLAIMS,
    plan=plan,
    evidence=evidence,
    hypotheses=(RELU,),
)
