"""Study ``linear-rate``: measured GD loss curves against the linear rate (1 - eta lambda_0/2)^t
and against the kernel regime's prediction of the whole curve.

* [du-2019-deep, Theorem 5.1]: for Du et al.'s deep network (``du``: x^(h) =
  sqrt(c_sigma/m) relu(W^(h) x^(h-1)), f = a^T x^(H), sum square loss), wide enough, GD with
  step eta satisfies L(t) <= (1 - eta lambda_0 / 2)^t L(0); the proof keeps
  lambda_min(Theta_t) >= lambda_0 / 2 along the trajectory.
* [arora-2019, Section 4] / [lee-2019, Theorem 2.1]: the residuals follow the kernel dynamics
  u_t - y = (I - eta Theta_0)^t (u_0 - y) up to O(m^(-1/2)), so the loss curve is predicted by
  Theta_0 alone: L_t^pred = 1/2 ||(I - eta Theta_0)^t (u_0 - y)||^2.

The ``rate`` probe (:class:`overparam.probes.kernel.Rate`) records L_t^pred and the relative
error of the predicted curve, with lambda_0 = lambda_min(Theta_0) of the empirical kernel at
init over every trained parameter (Du et al. use the last layer's Gram, whose lambda_min is
smaller, so the rate checked here is the stricter one); ``ntk_drift`` records lambda_min(Theta_t).
Du's network with H = 2 hidden layers, all layers trained, n = 16 sphere points in d = 16,
Gaussian labels, eta = 1/lambda_max of the Gauss-Newton matrix (lr="auto"), a fixed number of
steps, float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from overparam.config import RunConfig, build_config
from overparam.report.studies._common import (
    NOT_MEASURED,
    done_runs,
    fit_or_none,
    loss_curves,
    per_run,
    probe_rows,
    rate_claim,
    rate_summary,
    ratio_claim,
    slope_claim,
)
from overparam.report.study import Claim, FigureSpec, Study, StudyData, StudyResult, register

SOURCE = "du-2019-deep, Theorem 5.1; arora-2019, Section 4; lee-2019, Theorem 2.1 (seed 004)"
N, D, DEPTH = 16, 16, 2
# rate's prediction is cheap (one eigendecomposition at init), so ~30 points; the kernel's
# lambda_min needs the empirical NTK at each evaluation, so a handful.
PROBES = ("rate:points=30", "ntk_drift:points=6")


@dataclass(frozen=True)
class Scale:
    widths: tuple[int, ...]
    seeds: tuple[int, ...]
    steps: int


FULL = Scale(widths=(64, 128, 256, 512, 1024, 2048), seeds=(0, 1, 2), steps=300)
# Three seeds even in quick: the curve's prediction error varies ~3x between seeds at n = 16.
QUICK = Scale(widths=(64, 256, 1024), seeds=(0, 1, 2), steps=150)


def scale_of(quick: bool) -> Scale:
    return QUICK if quick else FULL


def config(width: int, seed: int, steps: int) -> RunConfig:
    return build_config(
        parameterization="du",
        depth=DEPTH,
        n=N,
        d=D,
        width=width,
        seed=seed,
        steps=steps,
        lr="auto",
        dtype="float64",
        probes=PROBES,
    )


def plan_for(s: Scale) -> list[RunConfig]:
    """Every (seed, width) run of a scale."""
    return [config(w, seed, s.steps) for seed in s.seeds for w in s.widths]


def plan(quick: bool) -> list[RunConfig]:
    return plan_for(scale_of(quick))


# ---------------------------------------------------------------------------------------------
# analyze
# ---------------------------------------------------------------------------------------------


def rho_by_run(data: StudyData) -> dict:
    """{run_id: 1 - eta lambda_0 / 2}, the bound of the probe's ``contraction`` rows."""
    rows = probe_rows(data, "rate", "contraction")
    rows = rows[np.isfinite(rows["bound"].to_numpy(dtype=float))]
    return rows.groupby("run_id")["bound"].first().to_dict()


def per_run_table(data: StudyData) -> pd.DataFrame:
    """One row per finished run: rho = 1 - eta lambda_0/2, the worst L_t / (rho^t L_0) over
    t >= 1 (``rate_ratio``) and the measured per-step contraction at the end (``tail``; see
    :func:`overparam.report.studies._common.rate_summary`), the predicted curve's relative
    error at the last step and min_t lambda_min(Theta_t) / lambda_0."""
    runs = done_runs(data.runs)
    if runs.empty:
        return pd.DataFrame()
    out = runs[["run_id", "width", "seed"]].copy()
    rho = rho_by_run(data)
    out["rho"] = out["run_id"].map(rho).astype(float)
    curves = loss_curves(data)
    worst, tail = {}, {}
    for rid, c in curves.groupby("run_id"):
        if rid in rho:
            worst[rid], tail[rid] = rate_summary(
                c["step"].to_numpy(), c["ratio"].to_numpy(dtype=float), rho[rid]
            )
    out["rate_ratio"] = out["run_id"].map(worst).astype(float)
    out["tail"] = out["run_id"].map(tail).astype(float)
    err = per_run(probe_rows(data, "rate", "loss_curve_error"), how="last")
    out["prediction_error"] = out["run_id"].map(dict(zip(err["run_id"], err["value"], strict=True)))
    lam = per_run(probe_rows(data, "ntk_drift", "lambda_min"), column="ratio", how="min")
    # the row's ratio is lambda_min(Theta_t) / (lambda_0 / 2); halve it for lambda_t / lambda_0
    lam_map = dict(zip(lam["run_id"], lam["ratio"] / 2.0, strict=True))
    out["lambda_ratio"] = out["run_id"].map(lam_map).astype(float)
    return out.sort_values(["width", "seed"]).reset_index(drop=True)


def _claims(data: StudyData, t: pd.DataFrame) -> list[Claim]:
    claims = []
    scale = f"H={DEPTH}, n={N}, widths {t['width'].min()}..{t['width'].max()}"
    if t["rate_ratio"].notna().any():
        claims.append(
            rate_claim(
                t,
                claim="GD converges linearly: L_t <= (1 - eta lambda_0/2)^t L_0",
                source="du-2019-deep, Theorem 5.1",
                note=f"lambda_0 = lambda_min(Theta_0) (all trained layers); {scale}",
            )
        )
    lam = probe_rows(data, "ntk_drift", "lambda_min")
    if not lam.empty:
        claims.append(
            ratio_claim(
                lam,
                "lower",
                claim="the kernel stays well-conditioned: lambda_min(Theta_t) >= lambda_0 / 2",
                source="du-2019-deep, Theorem 5.1 (proof)",
                theory="lambda_min(Theta_t) / (lambda_0 / 2) >= 1",
                note=scale,
            )
        )
    if t["prediction_error"].notna().any():
        claim, _ = slope_claim(
            t,
            "prediction_error",
            -0.5,
            claim="the kernel prediction (I - eta Theta_0)^t r_0 matches the loss curve, "
            "error O(m^(-1/2))",
            source="lee-2019, Theorem 2.1; arora-2019, Section 4",
            note="relative L2 error of the predicted loss curve over the whole run",
        )
        claims.append(claim)
    return claims


def _figures(data: StudyData, t: pd.DataFrame) -> list[FigureSpec]:
    from overparam.report.plots import (
        COLORS,
        THEORY,
        bound_line,
        fitted_line,
        loglog,
        mean_band,
        new_figure,
        plot_band,
        theory_through,
    )

    widths = sorted(t["width"].unique())
    shown = sorted({widths[0], widths[len(widths) // 2], widths[-1]})
    curves = loss_curves(data)
    pred = probe_rows(data, "rate", "predicted_loss")
    rho = rho_by_run(data)
    figures = []
    if not curves.empty:
        fig, axes = new_figure(len(shown), width=4.0)
        for i, (ax, w) in enumerate(zip(axes, shown, strict=True)):
            cw = curves[curves["width"] == w]
            plot_band(ax, mean_band(cw, "step", "loss"), "step", label="measured L_t",
                      color=COLORS[0], marker="")  # fmt: skip
            pw = pred[pred["width"] == w]
            if not pw.empty:
                stats = mean_band(pw, "step", "value")
                ax.plot(stats["step"], stats["mean"], linestyle="--", color=COLORS[1],
                        label="kernel prediction")  # fmt: skip
            bounds = [
                c.assign(bound=c["loss"].iloc[0] * rho[rid] ** c["step"])
                for rid, c in cw.groupby("run_id")
                if rid in rho
            ]
            if bounds:
                b = mean_band(pd.concat(bounds), "step", "bound")
                ax.plot(b["step"], b["mean"], label="(1 − ηλ₀/2)^t L_0", **THEORY)
            ax.set_yscale("log")
            ax.set_xlabel("GD step t")
            if i == 0:
                ax.set_ylabel("training loss")
            ax.set_title(f"m = {w}")
            ax.legend(loc="best", fontsize=7)
        figures.append(
            FigureSpec(
                "loss_curves",
                "Measured GD loss (solid, geometric mean and min-max over seeds) of Du et al.'s "
                f"deep network (H={DEPTH}) against the linear-rate guarantee "
                "(1 - eta lambda_0/2)^t L_0 of [du-2019-deep, Theorem 5.1] (grey dashed) and the "
                "kernel prediction 1/2 ||(I - eta Theta_0)^t (u_0 - y)||^2 "
                "[arora-2019, Section 4] (dashed), at the smallest, a middle and the largest "
                "width.",
                fig,
            )
        )
    panels = [c for c in ("prediction_error", "lambda_ratio") if t[c].notna().any()]
    if panels:
        fig, axes = new_figure(len(panels))
        for ax, col in zip(axes, panels, strict=True):
            stats = mean_band(t, "width", col)
            if col == "prediction_error":
                fit = fit_or_none(t, col)
                label = "measured" if fit is None else f"measured: slope {fit.exponent:.2f}"
                plot_band(ax, stats, "width", label=label, color=COLORS[0])
                if fit is not None:
                    fitted_line(ax, widths, fit.exponent, fit.intercept, color=COLORS[0])
                theory_through(ax, stats, "width", -0.5, label="theory: m^(-1/2)")
                loglog(ax, "width m", "relative error of predicted loss curve")
            else:
                plot_band(ax, stats, "width", label="min_t λ_min(Θ_t) / λ_0", color=COLORS[0])
                bound_line(ax, 0.5, label="λ_0 / 2 (Theorem 5.1 proof)")
                ax.set_xscale("log")
                ax.set_xlabel("width m")
                ax.set_ylabel("min_t λ_min(Θ_t) / λ_min(Θ_0)")
            ax.legend(loc="best")
        figures.append(
            FigureSpec(
                "kernel_regime",
                "Left: relative L2 error of the kernel-predicted loss curve against m, "
                "log-log, with the m^(-1/2) of [lee-2019, Theorem 2.1] dashed and the fitted "
                "slope dotted. Right: the smallest eigenvalue of the empirical NTK along "
                "training over its value at init, against the lambda_0/2 the proof of "
                "[du-2019-deep, Theorem 5.1] needs (dashed). Bands: min-max over seeds.",
                fig,
            )
        )
    return figures


def analyze(data: StudyData) -> StudyResult:
    """Per-run rate ratios, prediction errors and kernel conditioning; three claims; the loss
    curves and the kernel-regime figure."""
    t = per_run_table(data)
    if t.empty or not t["rho"].notna().any():
        return StudyResult(
            claims=[
                Claim(
                    "GD loss decays at the linear rate",
                    "du-2019-deep, Theorem 5.1",
                    "",
                    "",
                    NOT_MEASURED,
                )
            ]
        )
    medians = t.drop(columns=["run_id", "seed"]).groupby("width").median().reset_index()
    return StudyResult(
        claims=_claims(data, t),
        figures=_figures(data, t),
        tables={"per_width (median over seeds)": medians},
    )


STUDY = register(
    Study(
        name="linear-rate",
        title="Linear convergence: loss curves against (1 - eta lambda_0/2)^t and the kernel",
        source=SOURCE,
        plan=plan,
        analyze=analyze,
        description=(
            f"Du et al.'s deep network (H={DEPTH}, all layers trained, n={N}, d={D}, Gaussian "
            "labels, float64) trained by GD with eta = 1/lambda_max of the Gauss-Newton matrix: "
            "each loss curve against the linear-rate guarantee and the kernel prediction "
            "computed from Theta_0, and lambda_min(Theta_t) along training."
        ),
    )
)
