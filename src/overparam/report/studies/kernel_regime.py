"""Study ``kernel-regime``: the empirical NTK converging to the analytic kernel, and Du et al.'s
Gram K^(H) against depth.

Three measurements, all at initialization (``measure``; no training runs):

* ``ntk_error`` [jacot-2018, Theorem 1], [lee-2019]: the relative error
  ||Theta_m / s(m) - Theta_inf||_F / ||Theta_inf||_F of the empirical NTK of a width-m network
  (:func:`overparam.ntk.empirical`, s = :func:`overparam.models.kernel_scale`) against the
  analytic limit (:func:`overparam.ntk.analytic.analytic`, same parameterization and trained
  layers). Each entry of Theta_m is an average over m units, so the error falls like m^(-1/2).
* ``du_gram`` [du-2019-deep, Definition 5.1 / eq. (7)]: lambda_min(K^(H)) against the depth H for
  relu and the smooth activations (:func:`overparam.ntk.gram.du_gram`). Theorem 5.1 needs
  lambda_min(K^(H)) > 0 (Condition 5.1's analytic, non-polynomial sigma on non-parallel inputs)
  and its width m = Omega(2^O(H) n^4 / lambda_min^4(K^(H))) carries the depth through this
  eigenvalue as well as through 2^O(H).
* ``du_gram_init``: the finite-width Gram G^(H)(0) of the gradients with respect to W^(H) of Du
  et al.'s network x^(h) = sqrt(c_sigma / m) sigma(W^(h) x^(h-1)) at init, against K^(H). The
  proof of Theorem 5.1 starts from ||G^(H)(0) - K^(H)||_2 <= lambda_min(K^(H)) / 4, hence
  lambda_min(G^(H)(0)) >= (3/4) lambda_min(K^(H)), for m large enough; the study reports the
  smallest grid width from which the 3/4 holds for every seed.

Inputs: n = 16 unit-norm sphere points in d = 8 (mu = 0.5, seed 0), float64 throughout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from overparam.config import RunConfig
from overparam.report.study import Claim, FigureSpec, Study, StudyData, StudyResult, register

SOURCE = (
    "jacot-2018, Theorem 1 and lee-2019 (empirical -> analytic NTK); du-2019-deep, Definition "
    "5.1 and Theorem 5.1 (K^(H), lambda_min > 0) (seed 004)"
)
N, D = 16, 8
DEPTH = 2  # the networks of the ntk_error sweep: two hidden layers
# (parameterization, activation) of the ntk_error sweep: Zou & Gu's relu network (hidden layers
# trained) and Du et al.'s (all layers trained) with relu and a smooth activation.
KERNELS = (("zou-gu", "relu"), ("du", "relu"), ("du", "tanh"))
INIT_ACTIVATIONS = ("relu", "tanh")  # du_gram_init: one non-smooth and one smooth activation
SLOPE = -0.5  # the Monte-Carlo rate of an average over m units
# A measured slope within this of -1/2 counts as -1/2 even when its bootstrap interval is
# narrower (the interval reflects seed noise, not the curvature of a finite-width correction).
SLOPE_TOL = 0.05
INIT_FRACTION = 0.75  # lambda_min(G^(H)(0)) >= (3/4) lambda_min(K^(H)) (proof of Theorem 5.1)
# lambda_min / lambda_max below this is numerically zero for a float64 eigensolver on n = 16
# (backward error ~ n eps ||K|| ~ 4e-15 ||K||, with a margin).
LAMBDA_FLOOR = 1e-12


@dataclass(frozen=True)
class Scale:
    widths: tuple[int, ...]
    seeds: tuple[int, ...]
    activations: tuple[str, ...]
    du_depths: tuple[int, ...]
    init_depths: tuple[int, ...]
    init_widths: tuple[int, ...]


FULL = Scale(
    widths=tuple(2**k for k in range(6, 13)),  # 64 .. 4096
    seeds=(0, 1, 2),
    activations=("relu", "softplus", "sigmoid", "tanh", "gelu", "swish"),
    du_depths=(1, 2, 4, 8, 16, 32),
    init_depths=(1, 2, 4),
    init_widths=tuple(2**k for k in range(6, 12)),  # 64 .. 2048
)
QUICK = Scale(
    widths=tuple(2**k for k in range(6, 11)),  # 64 .. 1024
    seeds=(0, 1),
    activations=("relu", "softplus", "tanh"),
    du_depths=(1, 2, 4, 8),
    init_depths=(1, 2),
    init_widths=tuple(4**k for k in range(3, 6)),  # 64, 256, 1024
)


def scale_of(quick: bool) -> Scale:
    return QUICK if quick else FULL


def plan(quick: bool) -> list[RunConfig]:
    """No training runs: every quantity is measured at initialization."""
    return []


# ---------------------------------------------------------------------------------------------
# measure
# ---------------------------------------------------------------------------------------------


def inputs():
    """The (N, D) float64 inputs shared by every measurement."""
    import torch

    from overparam.data import sphere

    return sphere(N, D, seed=0).X.to(torch.float64)


def ntk_error_rows(X, s: Scale) -> list[dict]:
    """Relative Frobenius error of Theta_m / kernel_scale against the analytic NTK."""
    import torch

    from overparam.models import FullyConnected, kernel_scale
    from overparam.ntk import empirical
    from overparam.ntk.analytic import analytic

    rows = []
    for p, act in KERNELS:
        K = analytic(X, depth=DEPTH, parameterization=p, activation=act).ntk
        norm = float(np.linalg.norm(K))
        for m in s.widths:
            for seed in s.seeds:
                net = FullyConnected(
                    X.shape[1],
                    m,
                    DEPTH,
                    parameterization=p,
                    activation=act,
                    dtype=torch.float64,
                    seed=seed,
                )
                theta = empirical(net, X).detach().numpy() / kernel_scale(p, m)
                rows.append(
                    {
                        "quantity": "ntk_error",
                        "parameterization": p,
                        "activation": act,
                        "depth": DEPTH,
                        "width": m,
                        "seed": seed,
                        "value": float(np.linalg.norm(theta - K)) / norm,
                    }
                )
    return rows


def du_gram_rows(X, s: Scale) -> list[dict]:
    """lambda_min and lambda_max of K^(H) per activation and depth."""
    from overparam.ntk.gram import du_gram, lambda_max, lambda_min

    rows = []
    for act in s.activations:
        for H in s.du_depths:
            K = du_gram(X, depth=H, activation=act)
            rows.append(
                {
                    "quantity": "du_gram",
                    "parameterization": "du",
                    "activation": act,
                    "depth": H,
                    "value": lambda_min(K),
                    "lambda_max": lambda_max(K),
                }
            )
    return rows


def du_init_rows(X, s: Scale) -> list[dict]:
    """lambda_min(G^(H)(0)) / lambda_min(K^(H)) and ||G^(H)(0) - K^(H)||_2 / lambda_min(K^(H)),
    with G^(H)(0) the empirical NTK of the du network with only W^(H) trained."""
    import torch

    from overparam.models import FullyConnected
    from overparam.ntk import empirical
    from overparam.ntk.gram import du_gram, lambda_min

    rows = []
    for act in INIT_ACTIVATIONS:
        for H in s.init_depths:
            K = du_gram(X, depth=H, activation=act)
            lam = lambda_min(K)
            for m in s.init_widths:
                for seed in s.seeds:
                    net = FullyConnected(
                        X.shape[1],
                        m,
                        H,
                        parameterization="du",
                        activation=act,
                        trainable=[f"W{H}"],
                        dtype=torch.float64,
                        seed=seed,
                    )
                    G = empirical(net, X).detach().numpy()
                    rows.append(
                        {
                            "quantity": "du_gram_init",
                            "parameterization": "du",
                            "activation": act,
                            "depth": H,
                            "width": m,
                            "seed": seed,
                            "value": lambda_min(G) / lam,
                            "spectral_error": float(np.linalg.norm(G - K, 2)) / lam,
                            "lambda_min_K": lam,
                        }
                    )
    return rows


def measure_scale(s: Scale) -> pd.DataFrame:
    X = inputs()
    rows = ntk_error_rows(X, s) + du_gram_rows(X, s) + du_init_rows(X, s)
    return pd.DataFrame.from_records(rows)


def measure(quick: bool) -> pd.DataFrame:
    """Tidy rows (quantity, parameterization, activation, depth, width, seed, value, ...):
    ``ntk_error``, ``du_gram`` (value = lambda_min, plus lambda_max) and ``du_gram_init``
    (value = lambda_min(G) / lambda_min(K), plus spectral_error)."""
    return measure_scale(scale_of(quick))


# ---------------------------------------------------------------------------------------------
# analysis
# ---------------------------------------------------------------------------------------------


def _rows(meas: pd.DataFrame, quantity: str) -> pd.DataFrame:
    if meas.empty or "quantity" not in meas:
        return pd.DataFrame()
    return meas[meas["quantity"] == quantity].copy()


def slope_table(err: pd.DataFrame) -> pd.DataFrame:
    """Per (parameterization, activation): the log-log slope of the error against width with
    its bootstrap interval (:func:`overparam.sweep.fit_exponent`)."""
    from overparam.sweep import fit_exponent

    rows = []
    for (p, act), g in err.groupby(["parameterization", "activation"], sort=False):
        fit = fit_exponent(g, "width", "value")
        rows.append(
            {
                "parameterization": p,
                "activation": act,
                "slope": fit.exponent,
                "low": fit.low,
                "high": fit.high,
                "r2": fit.r2,
                "rows": fit.n,
                "width_min": int(g["width"].min()),
                "width_max": int(g["width"].max()),
                "error_at_max": float(g.loc[g["width"] == g["width"].max(), "value"].mean()),
            }
        )
    return pd.DataFrame(rows)


def slope_verdict(r: pd.Series) -> str:
    ok = (r["low"] <= SLOPE <= r["high"]) or abs(r["slope"] - SLOPE) <= SLOPE_TOL
    return "holds" if ok else "does not hold at this scale"


def init_table(init: pd.DataFrame) -> pd.DataFrame:
    """Per (activation, depth): the smallest grid width from which every seed has
    lambda_min(G) >= (3/4) lambda_min(K) at every larger width (inf: none), and the slope of
    ||G - K||_2 against width."""
    rows = []
    for (act, H), g in init.groupby(["activation", "depth"], sort=False):
        ok = (g.groupby("width")["value"].min() >= INIT_FRACTION).sort_index()
        needed = math.inf
        for w in reversed(ok.index.tolist()):
            if not ok[w]:
                break
            needed = float(w)
        lx, ly = np.log(g["width"].to_numpy(float)), np.log(g["spectral_error"].to_numpy(float))
        slope = float(np.polyfit(lx, ly, 1)[0]) if np.ptp(lx) > 0 else math.nan
        rows.append(
            {
                "activation": act,
                "depth": int(H),
                "width_needed": needed,
                "width_max": int(g["width"].max()),
                "spectral_error_slope": slope,
                "ratio_at_max": float(g.loc[g["width"] == g["width"].max(), "value"].min()),
            }
        )
    return pd.DataFrame(rows)


def claims(err: pd.DataFrame, du: pd.DataFrame, init: pd.DataFrame) -> list[Claim]:
    out = []
    if not err.empty:
        for _, r in slope_table(err).iterrows():
            out.append(
                Claim(
                    claim=f"empirical NTK -> analytic kernel like m^(-1/2) ({r['parameterization']}"
                    f", {r['activation']}, L={DEPTH})",
                    source="jacot-2018, Theorem 1; lee-2019",
                    measured=f"slope {r['slope']:.3f} [{r['low']:.3f}, {r['high']:.3f}]",
                    theory=f"{SLOPE:g}",
                    verdict=slope_verdict(r),
                    note=f"relative Frobenius error {r['error_at_max']:.3g} at m="
                    f"{r['width_max']}; m = {r['width_min']}..{r['width_max']}, {r['rows']} "
                    f"(width, seed) rows; -1/2 if inside the interval or within {SLOPE_TOL}",
                )
            )
    if not du.empty:
        for act, g in du.groupby("activation", sort=False):
            g = g.sort_values("depth")
            ratio = (g["value"] / g["lambda_max"]).to_numpy()
            worst = int(np.argmin(ratio))
            zero = g["depth"][ratio <= LAMBDA_FLOOR].tolist()
            out.append(
                Claim(
                    claim=f"lambda_min(K^(H)) > 0 at every depth ({act})",
                    source="du-2019-deep, Theorem 5.1 (assumption) and Definition 5.1",
                    measured=f"min lambda_min/lambda_max {ratio[worst]:.2g} at H="
                    f"{int(g['depth'].iloc[worst])}; lambda_min {g['value'].iloc[0]:.3g} (H="
                    f"{int(g['depth'].iloc[0])}) -> {g['value'].iloc[-1]:.3g} (H="
                    f"{int(g['depth'].iloc[-1])})",
                    theory="> 0 (assumed by Theorem 5.1; Condition 5.1 asks for an analytic "
                    "non-polynomial sigma)",
                    verdict="holds" if not zero else "does not hold at this scale",
                    note=(
                        f"numerically zero (lambda_min/lambda_max <= {LAMBDA_FLOOR:g}) at H = "
                        f"{', '.join(map(str, zero))}: the width term n^4/lambda_min^4 is then "
                        "infinite in float64"
                        if zero
                        else f"n={N}, d={D}; Theorem 5.1's width term n^4/lambda_min^4 changes by "
                        f"a factor {(g['value'].iloc[0] / g['value'].iloc[-1]) ** 4:.3g} from H="
                        f"{int(g['depth'].iloc[0])} to H={int(g['depth'].iloc[-1])}"
                    ),
                )
            )
    if not init.empty:
        t = init_table(init)
        found = bool(np.isfinite(t["width_needed"]).all())
        parts = [
            f"{r.activation} H={r.depth}: "
            + (f"m>={int(r.width_needed)}" if np.isfinite(r.width_needed) else f">{r.width_max}")
            for r in t.itertuples()
        ]
        out.append(
            Claim(
                claim="at init, lambda_min(G^(H)(0)) >= 3/4 lambda_min(K^(H)) once m is large",
                source="du-2019-deep, proof of Theorem 5.1 (the Gram at initialization)",
                measured="; ".join(parts),
                theory="holds for m >= poly(n, 1/lambda_min) 2^O(H)",
                verdict="holds" if found else "does not hold at this scale",
                note="smallest grid width from which every seed satisfies it; ||G - K||_2 "
                "falls like m^"
                + "/".join(f"{v:.2f}" for v in t["spectral_error_slope"])
                + " (per activation and depth)",
            )
        )
    return out


# ---------------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------------


def figure_ntk(err: pd.DataFrame) -> FigureSpec:
    from overparam.report.plots import COLORS, loglog, mean_band, new_figure, plot_band, theory_line

    fig, (ax,) = new_figure()
    first = None
    for i, ((p, act), g) in enumerate(err.groupby(["parameterization", "activation"], sort=False)):
        stats = mean_band(g, "width", "value")
        plot_band(ax, stats, "width", label=f"{p}, {act}", color=COLORS[i % len(COLORS)])
        first = first or (float(stats["width"].iloc[0]), float(stats["mean"].iloc[0]))
    theory_line(ax, err["width"].unique(), SLOPE, first, label="m^(-1/2)")
    loglog(
        ax,
        "width m",
        "||Θ_m / s(m) - Θ_∞||_F / ||Θ_∞||_F",
        f"empirical vs analytic NTK at init (L={DEPTH}, n={N})",
    )
    ax.set_xscale("log", base=2)
    ax.legend()
    return FigureSpec(
        "kernel_ntk_convergence",
        "Relative error of the empirical NTK (scaled by kernel_scale) against its infinite-width "
        "limit, against width, log-log; band: geometric mean and range over init seeds. The "
        "dashed line is the m^(-1/2) rate of [jacot-2018, Theorem 1] / [lee-2019], through the "
        "first point.",
        fig,
    )


def figure_du(du: pd.DataFrame) -> FigureSpec:
    from overparam.report.plots import COLORS, loglog, new_figure

    fig, (ax,) = new_figure()
    for i, (act, g) in enumerate(du.groupby("activation", sort=False)):
        g = g.sort_values("depth")
        ratio = g["value"] / g["lambda_max"]
        shown = ratio.where(ratio > LAMBDA_FLOOR, np.nan)  # numerically zero: not drawn
        ax.plot(g["depth"], shown, marker="o", ms=4, color=COLORS[i % len(COLORS)], label=act)
    ax.axhline(LAMBDA_FLOOR, color="0.5", lw=0.8, ls=":", label="float64 floor")
    loglog(ax, "depth H", "λ_min(K^(H)) / λ_max(K^(H))", f"Du et al.'s K^(H), n={N}")
    ax.set_xscale("log", base=2)
    ax.legend(ncol=2)
    return FigureSpec(
        "kernel_du_lambda_min",
        "Smallest eigenvalue of Du et al.'s Gram K^(H) [du-2019-deep, Definition 5.1], relative "
        "to its largest, against depth for relu and smooth activations (c_sigma-normalized). "
        "Theorem 5.1 needs it positive; its width grows like 2^O(H) / lambda_min^4. Points below "
        "the dotted float64 floor are not drawn.",
        fig,
    )


def figure_init(init: pd.DataFrame) -> FigureSpec:
    from overparam.report.plots import COLORS, mean_band, new_figure, plot_band

    fig, (ax,) = new_figure()
    for i, ((act, H), g) in enumerate(init.groupby(["activation", "depth"], sort=False)):
        stats = mean_band(g, "width", "value", log=False)
        plot_band(ax, stats, "width", label=f"{act}, H={H}", color=COLORS[i % len(COLORS)])
    ax.axhline(INIT_FRACTION, color="0.3", ls="--", lw=1.2, label="3/4 (proof of Thm 5.1)")
    ax.axhline(1.0, color="0.6", lw=0.8)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("width m")
    ax.set_ylabel("λ_min(G^(H)(0)) / λ_min(K^(H))")
    ax.set_title("Du et al.'s Gram at initialization")
    ax.legend(ncol=2)
    return FigureSpec(
        "kernel_du_init",
        "lambda_min of the finite-width Gram G^(H)(0) (gradients with respect to W^(H) of Du et "
        "al.'s network at init) over lambda_min(K^(H)), against width; band: mean and range "
        "over seeds. The proof of [du-2019-deep, Theorem 5.1] needs it >= 3/4 (dashed).",
        fig,
    )


def analyze(data: StudyData) -> StudyResult:
    meas = data.measurements
    err, du, init = (_rows(meas, q) for q in ("ntk_error", "du_gram", "du_gram_init"))
    if err.empty and du.empty and init.empty:
        return StudyResult(
            claims=[
                Claim(
                    "empirical NTK -> analytic kernel like m^(-1/2)",
                    "jacot-2018",
                    "",
                    "",
                    "not measured",
                )
            ]
        )
    figures, tables = [], {}
    if not err.empty:
        figures.append(figure_ntk(err))
        tables["ntk_slopes"] = slope_table(err)
    if not du.empty:
        figures.append(figure_du(du))
        tables["du_lambda_min"] = du.pivot_table(
            index="depth", columns="activation", values="value", sort=False
        ).reset_index()
    if not init.empty:
        figures.append(figure_init(init))
        tables["du_init"] = init_table(init)
    return StudyResult(claims=claims(err, du, init), figures=figures, tables=tables)


STUDY = register(
    Study(
        name="kernel-regime",
        title="The kernel regime: empirical NTK -> analytic, and Du et al.'s K^(H) against depth",
        source=SOURCE,
        plan=plan,
        analyze=analyze,
        measure=measure,
        description=(
            "At initialization: the empirical NTK's distance to its analytic limit against width "
            "(rate m^(-1/2)); lambda_min of Du et al.'s K^(H) against depth for relu and smooth "
            "activations; and the finite-width Gram G^(H)(0) against K^(H) (the 3/4 of the proof "
            "of Theorem 5.1)."
        ),
    )
)
