"""Study ``kernel-regime``: the empirical NTK converging to the analytic kernel, and Du et al.'s
Gram K^(H) against depth.

Three measurements, all at initialization (``measure``; no training runs), each a Monte Carlo
over widths and seeds by :func:`overparam.ntk.monte_carlo.kernel_errors`:

* ``ntk_error`` [jacot-2018, Theorem 1]: the relative error ||Theta_m / s(m) - Theta_inf||_F /
  ||Theta_inf||_F of the empirical NTK of a width-m network (s = kernel_scale) against its
  analytic limit (same parameterization and trained layers). Each entry of Theta_m is an
  average over m units, so the error falls like m^(-1/2).
* ``du_gram`` [du-2019-deep, Definition 5.1]: lambda_min(K^(H)) against the depth H for relu and
  the smooth activations (:func:`overparam.ntk.gram.du_gram`). Theorem 5.1 assumes
  lambda_0 = lambda_min(K^(H)) > 0, which holds for the activations of Condition 3.1 (analytic,
  non-polynomial, Lipschitz and smooth: softplus, tanh; relu is not) on non-parallel inputs; a
  value within float64 round-off of 0 cannot be told from 0 (inconclusive).
* ``du_gram_init``: the finite-width Gram G^(H)(0) of the gradients with respect to W^(H) of Du
  et al.'s network at init against K^(H) (its m -> infinity limit).
* ``cnn_ntk_error`` and ``cnn_lambda`` [du-2019-deep, Section 7]: the empirical NTK of the
  plain relu CNN (allen-zhu) and of Du et al.'s convolutional ResNet (tanh) against the
  infinite-width Gram of :func:`overparam.ntk.cnn_gram.cnn_ntk` (error ~ m^(-1/2)), and
  lambda_min of that Gram against depth, on 8 unit-norm signals of length 8 (1-D patches of 3,
  circular padding). The proof of Theorem 5.1
  starts from ||G^(H)(0) - K^(H)||_2 <= lambda_0 / 4, hence lambda_min(G^(H)(0)) >= (3/4)
  lambda_0, for m large enough; both are judged at the largest width measured.

The claims on K^(H) and G^(H)(0) are judged on softplus and tanh (the theorem's setting); the
relu rows are judged too and come out *outside assumptions*. Inputs: n = 16 unit-norm sphere
points in d = 8 (mu = 0.5, seed 0), float64 throughout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from overparam.studies.claims import Claim, Hypothesis, Resolution, Slope, Threshold
from overparam.studies.hypotheses import DU_SMOOTH
from overparam.studies.study import Context, Evidence, FigureSpec, Scale, Study, StudyData
from overparam.sweep.spec import SweepSpec

NAME = "kernel-regime"
N, D = 16, 8
DEPTH = 2  # the networks of the ntk_error measurement: two hidden layers
# (parameterization, activation) of the ntk_error measurement: Zou & Gu's relu network (hidden
# layers trained) and Du et al.'s (all layers trained) with relu and a smooth activation.
KERNELS = (("zou-gu", "relu"), ("du", "relu"), ("du", "tanh"))
INIT_FRACTION = 0.75  # lambda_min(G^(H)(0)) >= (3/4) lambda_0 (proof of Theorem 5.1)
SPECTRAL_FRACTION = 0.25  # ||G^(H)(0) - K^(H)||_2 <= lambda_0 / 4 (proof of Theorem 5.1)
THM = "du-2019-deep, Theorem 5.1"
CNN_THM = "du-2019-deep, Section 7"
# (form, activation) of the CNN measurements: the plain relu CNN and Du et al.'s convolutional
# ResNet with a smooth activation; 1-D signals of length CNN_LENGTH, patches of CNN_KERNEL.
CNN_KERNELS = (("allen-zhu", "relu"), ("du", "tanh"))
CNN_N, CNN_LENGTH, CNN_KERNEL, CNN_DEPTH = 8, 8, 3, 2
#: lambda_min(K^(H)) within this of 0 (relative to lambda_max) is below float64's resolution.
RESOLUTION = Resolution(dtype="float64", scale="lambda_max")


@dataclass(frozen=True)
class Size:
    widths: tuple[int, ...]
    seeds: tuple[int, ...]
    activations: tuple[str, ...]
    du_depths: tuple[int, ...]
    init_activations: tuple[str, ...]
    init_depths: tuple[int, ...]
    init_widths: tuple[int, ...]
    cnn_widths: tuple[int, ...]
    cnn_seeds: tuple[int, ...]
    cnn_depths: tuple[int, ...]


SIZES: dict[str, Size] = {
    "quick": Size(
        widths=tuple(2**k for k in range(6, 11)),  # 64 .. 1024
        seeds=(0, 1),
        activations=("relu", "softplus", "tanh"),
        du_depths=(1, 2, 4, 8),
        init_activations=("relu", "softplus", "tanh"),
        init_depths=(1, 2),
        init_widths=tuple(4**k for k in range(3, 6)),  # 64, 256, 1024
        cnn_widths=tuple(2**k for k in range(4, 9)),  # 16 .. 256
        cnn_seeds=(0, 1, 2, 3),
        cnn_depths=(1, 2, 4),
    ),
    "full": Size(
        widths=tuple(2**k for k in range(6, 13)),  # 64 .. 4096
        seeds=(0, 1, 2),
        activations=("relu", "softplus", "sigmoid", "tanh", "gelu", "swish"),
        du_depths=(1, 2, 4, 8, 16, 32),
        init_activations=("relu", "softplus", "tanh"),
        init_depths=(1, 2, 4),
        init_widths=tuple(2**k for k in range(6, 12)),  # 64 .. 2048
        cnn_widths=tuple(2**k for k in range(4, 11)),  # 16 .. 1024
        cnn_seeds=tuple(range(8)),
        cnn_depths=(1, 2, 4, 8),
    ),
}


def plan(scale: Scale) -> list[SweepSpec]:
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


def ntk_error_rows(X, s: Size) -> pd.DataFrame:
    """Relative Frobenius error of Theta_m / kernel_scale against the analytic NTK (value), and
    the same for the NNGP of the last hidden layer (nngp_error)."""
    from overparam.ntk.monte_carlo import kernel_errors

    frames = []
    for p, act in KERNELS:
        e = kernel_errors(
            X, depth=DEPTH, widths=s.widths, seeds=s.seeds, parameterization=p, activation=act
        )
        frames.append(
            pd.DataFrame(
                {
                    "quantity": "ntk_error",
                    "parameterization": p,
                    "activation": act,
                    "depth": DEPTH,
                    "width": e["width"],
                    "seed": e["seed"],
                    "value": e["ntk_error"],
                    "nngp_error": e["nngp_error"],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def du_gram_rows(X, s: Size) -> pd.DataFrame:
    """lambda_min (value) and lambda_max of K^(H) per activation and depth."""
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
    return pd.DataFrame.from_records(rows)


def du_init_rows(X, s: Size) -> pd.DataFrame:
    """lambda_min(G^(H)(0)) / lambda_min(K^(H)) (value) and ||G^(H)(0) - K^(H)||_2 /
    lambda_min(K^(H)) (spectral_error), G^(H)(0) the empirical NTK of the du network with only
    W^(H) trained (its limit is K^(H))."""
    from overparam.ntk.monte_carlo import kernel_errors

    frames = []
    for act in s.init_activations:
        for H in s.init_depths:
            e = kernel_errors(
                X,
                depth=H,
                widths=s.init_widths,
                seeds=s.seeds,
                parameterization="du",
                activation=act,
                trainable=[f"W{H}"],
            )
            frames.append(
                pd.DataFrame(
                    {
                        "quantity": "du_gram_init",
                        "parameterization": "du",
                        "activation": act,
                        "depth": H,
                        "width": e["width"],
                        "seed": e["seed"],
                        "value": e["lambda_ratio"],
                        "spectral_error": e["spectral_error"],
                        "lambda_min_K": e["lambda_min_limit"],
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def cnn_inputs():
    """(CNN_N, CNN_LENGTH) float64 unit-norm signals (one channel)."""
    import torch

    from overparam.data import sphere

    return sphere(CNN_N, CNN_LENGTH, seed=0).X.to(torch.float64)


def cnn_error_rows(s: Size) -> pd.DataFrame:
    """||Theta_m / kernel_scale - K||_F / ||K||_F of the CNN's empirical NTK against
    :func:`overparam.ntk.cnn_gram.cnn_ntk` (value), per form, width and seed."""
    import torch

    from overparam.models import CNN, kernel_scale
    from overparam.ntk.cnn_gram import cnn_ntk
    from overparam.ntk.empirical import empirical

    X = cnn_inputs()
    rows = []
    for form, act in CNN_KERNELS:
        kw: dict[str, Any] = {
            "kernel_size": CNN_KERNEL,
            "parameterization": form,
            "activation": act,
        }
        K = cnn_ntk(X, (1, CNN_LENGTH), CNN_DEPTH, **kw)
        for m in s.cnn_widths:
            for seed in s.cnn_seeds:
                net = CNN((1, CNN_LENGTH), m, CNN_DEPTH, dtype=torch.float64, seed=seed, **kw)
                theta = empirical(net, X).detach().numpy() / kernel_scale(form, m)
                err = float(np.linalg.norm(theta - K) / np.linalg.norm(K))
                rows.append(
                    {
                        "quantity": "cnn_ntk_error",
                        "parameterization": form,
                        "activation": act,
                        "depth": CNN_DEPTH,
                        "width": m,
                        "seed": seed,
                        "value": err,
                    }
                )
    return pd.DataFrame.from_records(rows)


def cnn_lambda_rows(s: Size) -> pd.DataFrame:
    """lambda_min (value) and lambda_max of the CNN's infinite-width NTK per form and depth."""
    from overparam.ntk.cnn_gram import cnn_ntk
    from overparam.ntk.gram import lambda_max, lambda_min

    X = cnn_inputs()
    rows = []
    for form, act in CNN_KERNELS:
        for depth in s.cnn_depths:
            K = cnn_ntk(
                X,
                (1, CNN_LENGTH),
                depth,
                kernel_size=CNN_KERNEL,
                parameterization=form,
                activation=act,
            )
            rows.append(
                {
                    "quantity": "cnn_lambda",
                    "parameterization": form,
                    "activation": act,
                    "depth": depth,
                    "value": lambda_min(K),
                    "lambda_max": lambda_max(K),
                }
            )
    return pd.DataFrame.from_records(rows)


def measure_size(s: Size) -> pd.DataFrame:
    """Every measurement of a size, as tidy rows (see :func:`measure`)."""
    X = inputs()
    parts = [
        ntk_error_rows(X, s),
        du_gram_rows(X, s),
        du_init_rows(X, s),
        cnn_error_rows(s),
        cnn_lambda_rows(s),
    ]
    return pd.concat(parts, ignore_index=True)


def measure(scale: Scale) -> pd.DataFrame:
    """Tidy rows (quantity, parameterization, activation, depth, width, seed, value, ...):
    ``ntk_error`` (plus nngp_error), ``du_gram`` (value = lambda_min, plus lambda_max) and
    ``du_gram_init`` (value = lambda_min(G) / lambda_min(K), plus spectral_error),
    ``cnn_ntk_error`` and ``cnn_lambda`` (value = lambda_min, plus lambda_max)."""
    return measure_size(SIZES[scale])


# ---------------------------------------------------------------------------------------------
# claims
# ---------------------------------------------------------------------------------------------


def rate_key(parameterization: str, activation: str) -> str:
    return f"ntk-rate-{parameterization}-{activation}"


def cnn_rate_key(parameterization: str, activation: str) -> str:
    return f"cnn-rate-{parameterization}-{activation}"


CLAIMS = (
    *(
        Claim(
            rate_key(p, act),
            rf"empirical NTK $\to$ analytic NTK like $m^{{-1/2}}$ ({p}, {act}, $L={DEPTH}$): "
            r"$\|\Theta_m/s(m) - \Theta_\infty\|_F / \|\Theta_\infty\|_F$, each entry an average "
            "over $m$ units",
            cite="jacot-2018, Theorem 1",
            quantity="ntk_error",
            test=Slope(-0.5, 0.1, kind="equal"),
        )
        for p, act in KERNELS
    ),
    *(
        Claim(
            cnn_rate_key(p, act),
            rf"CNN empirical NTK $\to$ its infinite-width Gram like $m^{{-1/2}}$ ({p}, {act}, "
            f"$L={CNN_DEPTH}$, 1-D patches of {CNN_KERNEL})",
            cite=f"{CNN_THM} (the convolutional Gram; jacot-2018, Theorem 1)",
            quantity="cnn_ntk_error",
            test=Slope(-0.5, 0.1, kind="equal"),
        )
        for p, act in CNN_KERNELS
    ),
    Claim(
        "cnn-lambda-positive",
        r"$\lambda_{\min}$ of the convolutional ResNet's infinite-width NTK $> 0$ at every depth "
        r"(smooth $\sigma$)",
        cite=f"{CNN_THM} (assumption λ_0 > 0 for the CNN)",
        quantity="lambda_min",
        test=Threshold(at_least=0.0),
        hypotheses=(DU_SMOOTH,),
        resolution=RESOLUTION,
    ),
    Claim(
        "lambda-positive",
        r"$\lambda_0 = \lambda_{\min}(K^{(H)}) > 0$ at every depth (smooth $\sigma$)",
        cite=f"{THM} (assumption λ_0 > 0; K^(H) of Definition 5.1)",
        quantity="lambda_min",
        test=Threshold(at_least=0.0),
        hypotheses=(DU_SMOOTH,),
        resolution=RESOLUTION,
    ),
    Claim(
        "lambda-positive-relu",
        r"$\lambda_0 = \lambda_{\min}(K^{(H)}) > 0$ at every depth (ReLU)",
        cite=f"{THM} (assumption λ_0 > 0; K^(H) of Definition 5.1)",
        quantity="lambda_min",
        test=Threshold(at_least=0.0),
        hypotheses=(DU_SMOOTH,),
        resolution=RESOLUTION,
    ),
    Claim(
        "gram-init",
        r"at init, $\lambda_{\min}(G^{(H)}(0)) \ge (3/4)\, \lambda_0$ at the largest width, "
        r"every seed (smooth $\sigma$)",
        cite=f"{THM} (proof)",
        quantity="lambda_ratio",
        test=Threshold(at_least=INIT_FRACTION),
        hypotheses=(DU_SMOOTH,),
    ),
    Claim(
        "gram-init-relu",
        r"at init, $\lambda_{\min}(G^{(H)}(0)) \ge (3/4)\, \lambda_0$ at the largest width, "
        "every seed (ReLU)",
        cite=f"{THM} (proof)",
        quantity="lambda_ratio",
        test=Threshold(at_least=INIT_FRACTION),
        hypotheses=(DU_SMOOTH,),
    ),
    Claim(
        "gram-init-spectral",
        r"at init, $\|G^{(H)}(0) - K^{(H)}\|_2 \le \lambda_0/4$ at the largest width, every seed "
        r"(smooth $\sigma$)",
        cite=f"{THM} (proof)",
        quantity="spectral_error",
        test=Threshold(at_most=SPECTRAL_FRACTION),
        hypotheses=(
            DU_SMOOTH,
            Hypothesis(
                "width",
                at_least="required_width",
                reason=rf"{THM} (proof): $m \ge n^2/\lambda_0^2$ with constants, log and "
                "$2^{O(H)}$ set to 1",
            ),
        ),
    ),
)


# ---------------------------------------------------------------------------------------------
# evidence
# ---------------------------------------------------------------------------------------------


def _rows(meas: pd.DataFrame, quantity: str) -> pd.DataFrame:
    if meas.empty or "quantity" not in meas:
        return pd.DataFrame(columns=["quantity", "parameterization", "activation", "value"])
    return meas[meas["quantity"] == quantity].dropna(axis=1, how="all").copy()


def init_table(init: pd.DataFrame) -> pd.DataFrame:
    """Per (activation, depth): the smallest grid width from which every seed has
    lambda_min(G) >= (3/4) lambda_min(K) at every larger width (inf: none), the log-log
    least-squares slope of ||G - K||_2 against width, and the worst ratio at the largest width."""
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
        top = g[g["width"] == g["width"].max()]
        rows.append(
            {
                "activation": act,
                "depth": int(H),
                "width_needed": needed,
                "width_max": int(g["width"].max()),
                "spectral_error_slope": slope,
                "ratio_at_max": float(top["value"].min()),
                "spectral_error_at_max": float(top["spectral_error"].max()),
            }
        )
    return pd.DataFrame(rows)


def ntk_table(err: pd.DataFrame) -> pd.DataFrame:
    """Per (parameterization, activation, width): mean NTK and NNGP errors over seeds."""
    cols = [c for c in ("value", "nngp_error") if c in err]
    out = err.groupby(["parameterization", "activation", "width"], sort=False)[cols].mean()
    return out.reset_index().rename(columns={"value": "ntk_error"})


def width_term_context(du: pd.DataFrame) -> list[Context]:
    """Per smooth activation: the factor by which Theorem 5.1's width term n^4 / lambda_0^4
    changes from the shallowest to the deepest K^(H) measured (resolved values only)."""
    out = []
    for act, g in du.groupby("activation", sort=False):
        g = g.sort_values("depth")
        g = g[np.abs(g["value"].to_numpy(float)) > RESOLUTION.floor(g)]
        if act == "relu" or len(g) < 2:
            continue
        lo, hi = g.iloc[0], g.iloc[-1]
        out.append(
            Context(
                rf"change of $n^4/\lambda_0^4$ in Theorem 5.1's width, {act}, "
                rf"$H={int(lo['depth'])} \to H={int(hi['depth'])}$",
                f"× {(float(lo['value']) / float(hi['value'])) ** 4:.3g} (λ_0 "
                f"{float(lo['value']):.3g} → {float(hi['value']):.3g})",
                cite=f"{THM} (width m = Ω(2^O(H) n^4 / λ_0^4))",
                why="a computed factor of the theorem's width requirement, not a claim",
            )
        )
    return out


def required_width_context(init: pd.DataFrame) -> Context:
    """The width the proof of Theorem 5.1 asks for ||G^(H)(0) - K^(H)||_2 <= lambda_0 / 4,
    n^2 / lambda_0^2 with its constants, log and 2^O(H) factors set to 1, against the widths
    measured (smooth activations)."""
    smooth = init[init["activation"] != "relu"]
    smooth = smooth if not smooth.empty else init
    need = N**2 / smooth["lambda_min_K"].to_numpy(float) ** 2
    return Context(
        r"width the proof asks for $\|G^{(H)}(0) - K^{(H)}\|_2 \le \lambda_0/4$: "
        r"$n^2/\lambda_0^2$ (constants, log and $2^{O(H)}$ set to 1)",
        f"{np.min(need):.3g} .. {np.max(need):.3g} (widths measured up to "
        f"{int(init['width'].max())})",
        cite=f"{THM} (proof)",
        why="the theorem's width requirement, computed; the claims are judged at the widths run",
    )


def evidence(data: StudyData) -> Evidence:
    meas = data.measurements
    err, du, init = (_rows(meas, q) for q in ("ntk_error", "du_gram", "du_gram_init"))
    cnn_err, cnn_lam = (_rows(meas, q) for q in ("cnn_ntk_error", "cnn_lambda"))
    frames: dict[str, pd.DataFrame] = {}
    if not cnn_err.empty:
        e = cnn_err.rename(columns={"value": "cnn_ntk_error"})
        for p, act in CNN_KERNELS:
            frames[cnn_rate_key(p, act)] = e[
                (e["parameterization"] == p) & (e["activation"] == act)
            ]
    if not cnn_lam.empty:
        lam = cnn_lam.rename(columns={"value": "lambda_min"})
        frames["cnn-lambda-positive"] = lam[lam["parameterization"] == "du"]
    if not err.empty:
        err_frame = err.rename(columns={"value": "ntk_error"})
        for p, act in KERNELS:
            sel = (err_frame["parameterization"] == p) & (err_frame["activation"] == act)
            frames[rate_key(p, act)] = err_frame[sel]
    if not du.empty:
        lam = du.rename(columns={"value": "lambda_min"})
        relu = lam["activation"] == "relu"
        frames["lambda-positive"] = lam[~relu]
        frames["lambda-positive-relu"] = lam[relu]
    if not init.empty:
        top = init[init["width"] == init["width"].max()].rename(columns={"value": "lambda_ratio"})
        relu = top["activation"] == "relu"
        frames["gram-init"] = top[~relu]
        frames["gram-init-relu"] = top[relu]
        need = N**2 / top["lambda_min_K"].astype(float) ** 2
        frames["gram-init-spectral"] = top[~relu].assign(required_width=need[~relu])
    figures, tables = [], {}
    if not err.empty:
        figures.append(figure_ntk(err))
        tables["ntk_errors (mean over seeds)"] = ntk_table(err)
    if not du.empty:
        figures.append(figure_du(du))
        tables["du_lambda_min"] = du.pivot_table(
            index="depth", columns="activation", values="value", sort=False
        ).reset_index()
    if not init.empty:
        figures.append(figure_init(init))
        tables["du_init"] = init_table(init)
    if not cnn_err.empty:
        figures.append(figure_cnn(cnn_err))
        tables["cnn_ntk_errors (mean over seeds)"] = ntk_table(cnn_err)
    if not cnn_lam.empty:
        tables["cnn_lambda_min"] = cnn_lam.pivot_table(
            index="depth", columns=["parameterization", "activation"], values="value", sort=False
        ).reset_index()
    context = width_term_context(du) if not du.empty else []
    if not init.empty:
        context.append(required_width_context(init))
    return Evidence(frames=frames, figures=figures, tables=tables, context=context)


# ---------------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------------


def _convergence(err: pd.DataFrame, xlabel: str, title: str, name: str, caption: str):
    """Error against width per (parameterization, activation), log-log, with m^(-1/2)."""
    from overparam.studies.plots import (
        COLORS,
        loglog,
        mean_band,
        new_figure,
        place_legend,
        plot_band,
        theory_line,
    )

    fig, (ax,) = new_figure()
    first: tuple[float, float] | None = None
    for i, ((p, act), g) in enumerate(err.groupby(["parameterization", "activation"], sort=False)):
        stats = mean_band(g, "width", "value")
        plot_band(ax, stats, "width", label=f"{p}, {act}", color=COLORS[i % len(COLORS)])
        first = first or (float(stats["width"].iloc[0]), float(stats["mean"].iloc[0]))
    assert first is not None, "the CNN kernel figure needs at least one measured row"
    theory_line(ax, err["width"].unique(), -0.5, first, label="$m^{-1/2}$")
    ylabel = r"$\|\Theta_m / s(m) - \Theta_\infty\|_F \,/\, \|\Theta_\infty\|_F$"
    loglog(ax, xlabel, ylabel, title)
    ax.set_xscale("log", base=2)
    place_legend(ax)
    return FigureSpec(name, caption, fig)


def figure_ntk(err: pd.DataFrame) -> FigureSpec:
    return _convergence(
        err,
        "width $m$",
        f"empirical vs analytic NTK at init ($L={DEPTH}$, $n={N}$)",
        "kernel_ntk_convergence",
        "Relative error of the empirical NTK (scaled by `kernel_scale`) against its "
        "infinite-width limit [jacot-2018, Theorem 1], against width, log-log; band: geometric "
        "mean and range over init seeds. The dashed line is the $m^{-1/2}$ rate of an average "
        "over $m$ units, through the first point.",
    )


def figure_cnn(err: pd.DataFrame) -> FigureSpec:
    return _convergence(
        err,
        "channels $m$",
        f"CNN: empirical vs infinite-width NTK ($L={CNN_DEPTH}$, $n={CNN_N}$)",
        "kernel_cnn_convergence",
        "Relative error of the empirical NTK of the plain ReLU CNN and of Du et al.'s "
        "convolutional ResNet (tanh) against the infinite-width convolutional Gram "
        f"[{CNN_THM}], against the number of channels, log-log; band: geometric mean and range "
        "over init seeds; dashed: $m^{-1/2}$ through the first point.",
    )


def figure_du(du: pd.DataFrame) -> FigureSpec:
    from overparam.studies.claims import EPS
    from overparam.studies.plots import COLORS, loglog, new_figure, place_legend

    floor = RESOLUTION.factor * EPS[RESOLUTION.dtype]
    fig, (ax,) = new_figure()
    for i, (act, g) in enumerate(du.groupby("activation", sort=False)):
        g = g.sort_values("depth")
        ratio = g["value"] / g["lambda_max"]
        shown = ratio.where(ratio > floor, np.nan)  # below float64's resolution: not drawn
        ax.plot(g["depth"], shown, marker="o", ms=4, color=COLORS[i % len(COLORS)], label=act)
    ax.axhline(floor, color="0.5", lw=0.8, ls=":", label="float64 resolution")
    ylabel = r"$\lambda_{\min}(K^{(H)}) \,/\, \lambda_{\max}(K^{(H)})$"
    loglog(ax, "depth $H$", ylabel, f"Du et al.'s $K^{{(H)}}$, $n={N}$")
    ax.set_xscale("log", base=2)
    depths = du["depth"].astype(float)
    ax.set_xlim(depths.min() / 1.2, depths.max() * 1.2)  # every depth, drawn or not
    place_legend(ax, ncols=2)
    return FigureSpec(
        "kernel_du_lambda_min",
        "Smallest eigenvalue of Du et al.'s Gram $K^{(H)}$ [du-2019-deep, Definition 5.1], "
        "relative to its largest, against depth for ReLU and smooth activations "
        r"($c_\sigma$-normalized). Theorem 5.1 assumes it positive; its width grows like "
        r"$2^{O(H)} / \lambda_0^4$. Points below the dotted float64 resolution "
        f"(`{RESOLUTION.describe()}`) are not drawn.",
        fig,
    )


def figure_init(init: pd.DataFrame) -> FigureSpec:
    from overparam.studies.plots import COLORS, mean_band, new_figure, place_legend, plot_band

    fig, (ax,) = new_figure()
    for i, ((act, H), g) in enumerate(init.groupby(["activation", "depth"], sort=False)):
        stats = mean_band(g, "width", "value", log=False)
        plot_band(ax, stats, "width", label=f"{act}, $H={H}$", color=COLORS[i % len(COLORS)])
    ax.axhline(INIT_FRACTION, color="0.3", ls="--", lw=1.2, label="$3/4$ (proof of Thm 5.1)")
    ax.axhline(1.0, color="0.6", lw=0.8)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("width $m$")
    ax.set_ylabel(r"$\lambda_{\min}(G^{(H)}(0)) \,/\, \lambda_{\min}(K^{(H)})$")
    ax.set_title("Du et al.'s Gram at initialization")
    place_legend(ax, ncols=2)
    return FigureSpec(
        "kernel_du_init",
        r"$\lambda_{\min}$ of the finite-width Gram $G^{(H)}(0)$ (gradients with respect to "
        r"$W^{(H)}$ of Du et al.'s network at init) over $\lambda_{\min}(K^{(H)})$, against width; "
        "band: mean and range over seeds. The proof of [du-2019-deep, Theorem 5.1] needs it "
        r"$\ge 3/4$ (dashed).",
        fig,
    )


STUDY = Study(
    name=NAME,
    title=(
        "The kernel regime: empirical NTK to analytic (FC and CNN), and Du et al.'s $K^{(H)}$ "
        "against depth"
    ),
    cites=("jacot-2018", "du-2019-deep"),
    description=(
        "At initialization: the empirical NTK's distance to its analytic limit against width "
        r"(rate $m^{-1/2}$) [jacot-2018]; $\lambda_{\min}$ of Du et al.'s $K^{(H)}$ against depth "
        "for ReLU and the smooth activations of Condition 3.1 [du-2019-deep]; the finite-width "
        r"Gram $G^{(H)}(0)$ against $K^{(H)}$ (the $\lambda_0/4$ and $3/4$ of the proof of "
        "Theorem 5.1), judged at the largest width; and the same $m^{-1/2}$ convergence and "
        r"$\lambda_{\min} > 0$ for the CNN and the convolutional ResNet of Section 7."
    ),
    claims=CLAIMS,
    plan=plan,
    evidence=evidence,
    measure=measure,
    hypotheses=(DU_SMOOTH,),
)
