"""Study ``linear-rate``: measured GD loss curves against the linear rate (1 - eta lambda_0/2)^t
and against the kernel regime's prediction of the whole curve.

* [du-2019-deep, Theorem 5.1]: for Du et al.'s deep network (``du``: x^(h) =
  sqrt(c_sigma/m) sigma(W^(h) x^(h-1)), f = a^T x^(H), sum square loss) with an activation of
  Condition 3.1 (analytic, non-polynomial, Lipschitz and smooth: softplus, tanh; ReLU is not),
  wide enough, GD satisfies L(t) <= (1 - eta lambda_0 / 2)^t L(0); the proof keeps
  lambda_min(Theta_t) >= lambda_0 / 2 along the trajectory.
* [lee-2019, Theorem 2.1] / [arora-2019, Section 4]: the residuals follow the kernel dynamics
  u_t - y = (I - eta Theta_0)^t (u_0 - y) up to O(m^(-1/2)), so the loss curve is predicted by
  Theta_0 alone.

The runs train softplus and tanh networks (the theorem's setting) and ReLU networks beside them;
the ReLU runs are judged too, and come out *outside assumptions*. lambda_0 = lambda_min(Theta_0)
of the empirical kernel over every trained parameter (the theorem's lambda_min(K^(H)) is that of
the last layer's Gram, smaller, so the rate checked here is the stricter one). The step size is
eta = 1/lambda_max of the Gauss-Newton matrix (lr="auto"), larger than the theorem's
O(lambda_0 / (n^2 2^O(H))), whose constants the theorem leaves open.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from overparam.studies.claims import Claim, Rate, Ratio, Slope
from overparam.studies.frames import done_runs, loss_curves, per_run, probe_rows
from overparam.studies.hypotheses import DU_SMOOTH, LEE_SMOOTH
from overparam.studies.plan import sweep
from overparam.studies.study import Evidence, FigureSpec, Scale, Study, StudyData
from overparam.sweep.spec import SweepSpec

NAME = "linear-rate"
N, D, DEPTH = 16, 16, 2
# rate's prediction is cheap (one eigendecomposition at init), so ~30 points; the kernel's
# lambda_min needs the empirical NTK at each evaluation, so a handful.
PROBES = ("rate:points=30", "ntk_drift:points=6")
THM = "du-2019-deep, Theorem 5.1"


@dataclass(frozen=True)
class Size:
    widths: tuple[int, ...]
    seeds: tuple[int, ...]
    steps: int
    activations: tuple[str, ...]


SIZES: dict[str, Size] = {
    # three seeds even in quick: the curve's prediction error varies ~3x between seeds at n = 16
    "quick": Size((64, 256, 1024), (0, 1, 2), 150, ("softplus", "relu")),
    "full": Size((64, 128, 256, 512, 1024, 2048), (0, 1, 2), 300, ("softplus", "tanh", "relu")),
}


def plan_for(s: Size, scale: Scale) -> list[SweepSpec]:
    """Every (activation, seed, width) run of a size."""
    base = dict(parameterization="du", depth=DEPTH, n=N, d=D, steps=s.steps, lr="auto")
    base["dtype"] = "float64"
    grid: dict[str, list[Any]] = {
        "activation": list(s.activations),
        "seed": list(s.seeds),
        "width": list(s.widths),
    }
    return [sweep(NAME, scale, base=base, grid=grid, probes=PROBES)]


def plan(scale: Scale) -> list[SweepSpec]:
    return plan_for(SIZES[scale], scale)


CLAIMS = (
    Claim(
        "rate",
        r"GD converges linearly: $L_t \le (1 - \eta\lambda_0/2)^t L_0$ (smooth $\sigma$)",
        cite=THM,
        quantity="loss",
        test=Rate(rho="rho"),
        hypotheses=(DU_SMOOTH,),
    ),
    Claim(
        "rate-relu",
        r"GD converges linearly: $L_t \le (1 - \eta\lambda_0/2)^t L_0$ (ReLU runs)",
        cite=THM,
        quantity="loss",
        test=Rate(rho="rho"),
        hypotheses=(DU_SMOOTH,),
    ),
    Claim(
        "kernel-conditioned",
        r"the kernel stays well-conditioned: $\lambda_{\min}(\Theta_t) \ge \lambda_0/2$",
        cite="du-2019-deep, Theorem 5.1 (proof)",
        quantity="lambda_min",
        test=Ratio(bound="half_lambda0", at_least=1.0),
        hypotheses=(DU_SMOOTH,),
    ),
    Claim(
        "prediction",
        r"the kernel prediction $(I - \eta\Theta_0)^t r_0$ matches the loss curve, error "
        "$O(m^{-1/2})$",
        cite="lee-2019, Theorem 2.1",
        quantity="prediction_error",
        test=Slope(-0.5, 0.1, kind="at_most"),
        hypotheses=(LEE_SMOOTH,),
    ),
)


def rho_by_run(data: StudyData) -> dict:
    """{run_id: 1 - eta lambda_0 / 2}, the bound of the probe's ``contraction`` rows."""
    rows = probe_rows(data, "rate", "contraction")
    rows = rows[np.isfinite(rows["bound"].to_numpy(dtype=float))]
    return rows.groupby("run_id")["bound"].first().to_dict()


def per_run_table(data: StudyData, rho: dict) -> pd.DataFrame:
    """One row per finished run: rho, the predicted curve's relative error at the last step
    and min_t lambda_min(Theta_t) / lambda_0."""
    runs = done_runs(data.runs)
    if runs.empty:
        return pd.DataFrame(columns=["run_id", "width", "seed", "activation"])
    out = runs[["run_id", "width", "seed", "activation"]].copy()
    out["rho"] = out["run_id"].map(rho).astype(float)
    err = per_run(probe_rows(data, "rate", "loss_curve_error"), how="last")
    out["prediction_error"] = out["run_id"].map(dict(zip(err["run_id"], err["value"], strict=True)))
    lam = per_run(probe_rows(data, "ntk_drift", "lambda_min"), column="ratio", how="min")
    # the row's ratio is lambda_min(Theta_t) / (lambda_0 / 2); halve it for lambda_t / lambda_0
    lam_map = dict(zip(lam["run_id"], lam["ratio"] / 2.0, strict=True))
    out["lambda_ratio"] = out["run_id"].map(lam_map).astype(float)
    return out.sort_values(["activation", "width", "seed"]).reset_index(drop=True)


def evidence(data: StudyData) -> Evidence:
    rho = rho_by_run(data)
    t = per_run_table(data, rho)
    if t.empty:
        return Evidence()
    curves = loss_curves(data)
    curves = curves.assign(rho=curves["run_id"].map(rho))
    relu = curves["activation"] == "relu"
    lam = probe_rows(data, "ntk_drift", "lambda_min")
    lam = lam.rename(columns={"value": "lambda_min", "bound": "half_lambda0"})
    frames = {
        "rate": curves[~relu],
        "rate-relu": curves[relu],
        "kernel-conditioned": lam[lam["activation"] != "relu"],
        "prediction": t[t["activation"] != "relu"].dropna(subset=["prediction_error"]),
    }
    tables = {}
    if not t.empty:
        keep = t.drop(columns=["run_id", "seed"])
        tables["per width (median over seeds)"] = (
            keep.groupby(["activation", "width"]).median().reset_index()
        )
    return Evidence(frames=frames, figures=_figures(data, t, curves), tables=tables)


def _figures(data: StudyData, t: pd.DataFrame, curves: pd.DataFrame) -> list[FigureSpec]:
    from overparam.studies.plots import (
        COLORS,
        THEORY,
        bound_line,
        loglog,
        mean_band,
        new_figure,
        place_legend,
        plot_band,
        theory_through,
    )

    if t.empty or curves.empty:
        return []
    figures = []
    smooth = [a for a in pd.unique(t["activation"]) if a != "relu"]
    act = smooth[0] if smooth else "relu"
    widths = sorted(t["width"].unique())
    shown = sorted({widths[0], widths[len(widths) // 2], widths[-1]})
    pred = probe_rows(data, "rate", "predicted_loss")
    fig, axes = new_figure(len(shown))
    for i, (ax, w) in enumerate(zip(axes, shown, strict=True)):
        cw = curves[(curves["width"] == w) & (curves["activation"] == act)]
        plot_band(ax, mean_band(cw, "step", "loss"), "step", label="measured $L_t$",
                  color=COLORS[0], marker="")  # fmt: skip
        pw = pred[pred["run_id"].isin(cw["run_id"])]
        if not pw.empty:
            stats = mean_band(pw, "step", "value")
            ax.plot(stats["step"], stats["mean"], linestyle="--", color=COLORS[1],
                    label="kernel prediction")  # fmt: skip
        bounds = [
            c.assign(bound=c["loss"].iloc[0] * c["rho"] ** c["step"])
            for _, c in cw.groupby("run_id")
            if c["rho"].notna().all()
        ]
        if bounds:
            b = mean_band(pd.concat(bounds), "step", "bound")
            ax.plot(b["step"], b["mean"], label=r"$(1 - \eta\lambda_0/2)^t L_0$", **THEORY)
        ax.set_yscale("log")
        ax.set_xlabel("GD step $t$")
        if i == 0:
            ax.set_ylabel("training loss")
        ax.set_title(f"{act}, $m = {w}$")
        place_legend(ax)
    figures.append(
        FigureSpec(
            "loss_curves",
            f"Measured GD loss ({act}; geometric mean and min-max over seeds) of Du et al.'s deep "
            f"network ($H={DEPTH}$) against the linear-rate guarantee "
            rf"$(1 - \eta\lambda_0/2)^t L_0$ of [{THM}] (grey dashed) and the kernel prediction "
            r"$\frac{1}{2} \|(I - \eta\Theta_0)^t (u_0 - y)\|^2$ [arora-2019, Section 4] (dashed), "
            "at the "
            "smallest, a middle and the largest width.",
            fig,
        )
    )
    fig, axes = new_figure(2)
    for j, a in enumerate(pd.unique(t["activation"])):
        ta = t[t["activation"] == a]
        err = mean_band(ta, "width", "prediction_error")
        plot_band(axes[0], err, "width", label=a, color=COLORS[j])
        if a == act:
            theory_through(axes[0], err, "width", -0.5, label="theory: $m^{-1/2}$")
        plot_band(axes[1], mean_band(ta, "width", "lambda_ratio"), "width", label=a,
                  color=COLORS[j])  # fmt: skip
    loglog(axes[0], "width $m$", "relative error of predicted loss curve")
    place_legend(axes[0])
    bound_line(axes[1], 0.5, label=r"$\lambda_0 / 2$ (Theorem 5.1 proof)")
    axes[1].set_xscale("log")
    axes[1].set_xlabel("width $m$")
    axes[1].set_ylabel(r"$\min_t \lambda_{\min}(\Theta_t) \,/\, \lambda_{\min}(\Theta_0)$")
    place_legend(axes[1])
    figures.append(
        FigureSpec(
            "kernel_regime",
            "Left: relative $L^2$ error of the kernel-predicted loss curve against $m$, log-log, "
            "per activation, with the $m^{-1/2}$ of [lee-2019, Theorem 2.1] dashed. Right: the "
            "smallest eigenvalue of the empirical NTK along training over its value at init, "
            rf"against the $\lambda_0/2$ the proof of [{THM}] needs (dashed). Bands: min-max "
            "over seeds.",
            fig,
        )
    )
    return figures


STUDY = Study(
    name=NAME,
    title=r"Linear convergence: loss curves against $(1 - \eta\lambda_0/2)^t$ and the kernel",
    cites=("du-2019-deep", "lee-2019", "arora-2019"),
    description=(
        f"Du et al.'s deep network [du-2019-deep] ($H={DEPTH}$, all layers trained, $n={N}$, "
        f"$d={D}$, Gaussian labels, float64) with softplus and tanh (Condition 3.1) and with "
        r"ReLU (outside it), trained by GD with $\eta = 1/\lambda_{\max}$ of the Gauss-Newton "
        "matrix: each loss curve against the linear-rate guarantee and the kernel prediction "
        r"computed from $\Theta_0$ [lee-2019; arora-2019], and $\lambda_{\min}(\Theta_t)$ along "
        "training."
    ),
    claims=CLAIMS,
    plan=plan,
    evidence=evidence,
    hypotheses=(DU_SMOOTH,),
)
