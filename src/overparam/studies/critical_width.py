"""Study ``critical-width``: the smallest width at which GD trains, against n, L and 1/phi, next
to the width conditions of the theorems.

[zou-gu-2019, Theorem 3.3]: GD on the zou-gu network reaches loss eps once

    m = Omega(k n^8 L^12 log^3(m) / phi^4),

and [allen-zhu-2019] needs m = Omega~(n^24 L^12 / phi^8) ([zou-gu-2019, Table 1]); n is the number
of samples, L the number of hidden layers (``depth``), phi = min_{i != j} ||x_i - x_j||
(Assumption 3.2) and k = 1. Both are *sufficient* widths: a measured critical width growing more
slowly than the condition means the bound is not tight; one growing faster would contradict it.

Definition (that of :func:`overparam.sweep.critical_width`, evaluated on a fixed grid): width m
*succeeds* for a seed when L(W_t) <= 1% L(W_0) within ``STEPS`` GD steps (lr = "auto"); a seed's
critical width is the smallest grid width from which every larger grid width succeeds (so a lucky
narrow width does not count), inf when the largest fails (censored). A point's critical width
asks the same of at least ``SUCCESS`` = 90% of the seeds (every seed for <= 9 seeds).

Data: ``close-pair`` (n unit inputs in d = 16 whose closest pair is exactly phi apart; the other
points are >= 2 max(phi) apart, see :func:`overparam.data.close_pair`), Gaussian labels. The
sweeps form a star around n = 16, L = 1, phi = 0.4: n varies at (L, phi) = (1, 0.4), L at
(n, phi) = (16, 0.4), phi at (n, L) = (16, 1). L = 1 keeps wide networks cheap (no m x m layer).

Both scales use the same doubling width grid (4 .. 2^14 at L = 1, 4 .. 2^10 at L >= 2), so one
:class:`~overparam.studies.claims.Grid` describes every stored critical width: the exponent
claims are judged by the grid-resolution rule of :class:`~overparam.studies.claims.Slope`, and an
exponent larger than the grid can resolve over the sweep (p_max = log(high/low) / log(x_max /
x_min), e.g. n^8 over n = 8..64 or L^12 over L = 1..4) comes out inconclusive.

The theories' absolute widths (:func:`overparam.theory.bounds`, constants 1, log^3(m) fixed point)
exceed the grid's largest width by many orders of magnitude at every point, so the ratio theory /
practice is shown as context: no critical width this grid can measure could exceed them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from overparam.studies.claims import Claim, Grid, Hypothesis, Slope
from overparam.studies.frames import converged
from overparam.studies.hypotheses import RELU
from overparam.studies.plan import sweep
from overparam.studies.study import Context, Evidence, FigureSpec, Scale, Study, StudyData
from overparam.sweep.spec import SweepSpec

NAME = "critical-width"
THM = "zou-gu-2019, Theorem 3.3"
D = 16
# The largest phi of any sweep is 0.4: inputs other than the close pair are >= 0.8 apart, so the
# data's separation is exactly phi (close_pair's triangle-inequality argument).
MIN_SEPARATION = 0.8
TARGET_RATIO = 1e-2  # success: L(W_t) <= 1% of L(W_0)
# A fixed step budget (part of the definition of the critical width). phi = 0.05 is left out:
# there a seed reached the target at no width up to 2^14, since the close pair's direction is a
# small eigenvalue of the kernel that wide networks fit no faster -- a budget effect.
STEPS = 300
SUCCESS = 0.9  # fraction of seeds that must succeed (all of them for <= 9 seeds)
BASE = (16, 1, 0.4)  # (n, L, phi) shared by the three sweeps
WIDTHS_SHALLOW = tuple(2**k for k in range(2, 15))  # 4 .. 16384, the grid at L = 1
WIDTHS_DEEP = tuple(2**k for k in range(2, 11))  # 4 .. 1024 (m x m layers) at L >= 2
GRID_SHALLOW = Grid(2.0, float(WIDTHS_SHALLOW[0]), float(WIDTHS_SHALLOW[-1]))
# The L sweep mixes both grids; its common part is the deep grid (an L = 1 critical width above
# 2^10 enters as censored: the conservative reading).
GRID_DEEP = Grid(2.0, float(WIDTHS_DEEP[0]), float(WIDTHS_DEEP[-1]))
POINT = ["n", "depth", "phi"]
# (claim symbol, x column, theory_exponents name)
SYMBOLS = (("n", "n", "n"), ("L", "depth", "L"), ("1/phi", "inv_phi", "1/phi"))
THEORIES = (
    ("zou-gu-2019/thm-3.3", "zou-gu-2019", "Zou & Gu Thm 3.3", THM),
    ("allen-zhu-2019/table-1", "allen-zhu-2019", "Allen-Zhu et al.", "zou-gu-2019, Table 1"),
)


@dataclass(frozen=True)
class Size:
    ns: tuple[int, ...]
    depths: tuple[int, ...]
    phis: tuple[float, ...]
    seeds: tuple[int, ...]


SIZES: dict[str, Size] = {
    "quick": Size(ns=(8, 16, 64), depths=(1, 2, 3), phis=(0.4, 0.2, 0.1), seeds=(0, 1)),
    "full": Size(
        ns=(8, 16, 32, 64), depths=(1, 2, 3, 4), phis=(0.4, 0.28, 0.2, 0.14, 0.1), seeds=(0, 1, 2)
    ),
}


def points(s: Size) -> list[tuple[int, int, float]]:
    """The (n, L, phi) points of the three sweeps, base point once, in sweep order."""
    n0, l0, p0 = BASE
    pts = [(n, l0, p0) for n in s.ns] + [(n0, L, p0) for L in s.depths]
    pts += [(n0, l0, phi) for phi in s.phis]
    return list(dict.fromkeys(pts))


def plan(scale: Scale) -> list[SweepSpec]:
    """Three specs: the n sweep (with the base point), the L >= 2 points, the phi != 0.4 points;
    each the whole width grid x seeds (every run an ordinary stored run)."""
    s = SIZES[scale]
    n0, l0, p0 = BASE
    base = dict(
        data="close-pair",
        d=D,
        min_separation=MIN_SEPARATION,
        labels="gaussian",
        parameterization="zou-gu",
        algorithm="gd",
        lr="auto",
        steps=STEPS,
        target_ratio=TARGET_RATIO,
        dtype="float32",  # a 1% target needs no float64
    )
    seeds = list(s.seeds)
    specs = [
        sweep(NAME, scale, part="n", base={**base, "depth": l0, "phi": p0},
              grid={"n": list(s.ns), "width": list(WIDTHS_SHALLOW), "seed": seeds}),
        sweep(NAME, scale, part="depth", base={**base, "n": n0, "phi": p0},
              grid={"depth": [h for h in s.depths if h != l0], "width": list(WIDTHS_DEEP),
                    "seed": seeds}),
        sweep(NAME, scale, part="phi", base={**base, "n": n0, "depth": l0},
              grid={"phi": [p for p in s.phis if p != p0], "width": list(WIDTHS_SHALLOW),
                    "seed": seeds}),
    ]  # fmt: skip
    return specs


def _bound_slope(key: str, symbol: str) -> float:
    """The log-log slope of a theory's width (constants 1, log^3 m solved) along the full
    scale's sweep of ``symbol``: the polynomial exponent plus the log^3(m) factor's share."""
    from overparam.theory import bounds

    s = SIZES["full"]
    n0, l0, p0 = BASE
    ends = {
        "n": ((min(s.ns), l0, p0), (max(s.ns), l0, p0), max(s.ns) / min(s.ns)),
        "L": ((n0, min(s.depths), p0), (n0, max(s.depths), p0), max(s.depths) / min(s.depths)),
        "1/phi": ((n0, l0, max(s.phis)), (n0, l0, min(s.phis)), max(s.phis) / min(s.phis)),
    }[symbol]
    w = [
        {b.key: b for b in bounds(n=n, depth=L, phi=phi)}[key].width_log10 for n, L, phi in ends[:2]
    ]
    return (w[1] - w[0]) * math.log(10.0) / math.log(ends[2])


def _exponent_claim(symbol: str, x: str, name: str) -> Claim:
    from overparam.theory import theory_exponents

    p = theory_exponents("zou-gu-2019")[name]
    # the stated tolerance: the log^3(m) factor of the condition, which makes the sufficient
    # width grow faster than its polynomial part (rounded up to 0.05)
    tol = math.ceil(max(_bound_slope(THEORIES[0][0], symbol) - p, 0.0) / 0.05) * 0.05
    grid = GRID_DEEP if symbol == "L" else GRID_SHALLOW
    return Claim(
        f"exponent-{'phi' if symbol == '1/phi' else symbol}",
        "the critical width grows no faster in $"
        + {"1/phi": r"1/\phi"}.get(symbol, symbol)
        + r"$ than the width condition $m = \Omega(n^8 L^{12} \log^3 m / \phi^4)$ "
        r"(tolerance: its $\log^3 m$ factor)",
        cite=THM,
        quantity="critical_width",
        test=Slope(float(p), round(tol, 2), kind="at_most", x=x, grid=grid),
        hypotheses=(RELU, Hypothesis("parameterization", allowed=("zou-gu",), reason=THM)),
    )


CLAIMS = tuple(_exponent_claim(*s) for s in SYMBOLS)


# ---------------------------------------------------------------------------------------------
# critical widths from the stored runs
# ---------------------------------------------------------------------------------------------


def run_table(runs: pd.DataFrame) -> pd.DataFrame:
    """(n, depth, phi, width, seed, activation, parameterization, converged): one row per
    stored run; a failed or diverged run counts as not converged."""
    out = runs[[*POINT, "width", "seed"]].copy()
    for c in ("n", "depth", "width", "seed"):
        out[c] = out[c].astype(int)
    out["phi"] = out["phi"].astype(float)
    for c, default in (("activation", "relu"), ("parameterization", "zou-gu")):
        out[c] = runs[c].astype(str).to_numpy() if c in runs else default
    out["converged"] = converged(runs)
    return out.reset_index(drop=True)


def smallest_stable(widths: np.ndarray, ok: np.ndarray) -> float:
    """The smallest width from which ``ok`` holds at every larger width (widths ascending);
    inf when the largest width is not ok."""
    from overparam.sweep.threshold import stable_threshold

    return stable_threshold(widths, np.asarray(ok, dtype=float), 1.0)


def _config(g: pd.DataFrame) -> dict:
    return {
        "activation": g["activation"].iloc[0],
        "parameterization": g["parameterization"].iloc[0],
    }


def seed_widths(table: pd.DataFrame) -> pd.DataFrame:
    """Per (point, seed): critical_width (inf if censored), inv_phi, width_min, width_max,
    censored, and the config columns the claims' hypotheses read."""
    rows = []
    for (n, depth, phi, seed), g in table.groupby([*POINT, "seed"]):
        g = g.sort_values("width")
        w = g["width"].to_numpy()
        cw = smallest_stable(w, g["converged"].to_numpy())
        rows.append(
            dict(n=int(n), depth=int(depth), phi=float(phi), inv_phi=1.0 / float(phi),
                 seed=int(seed), critical_width=cw, width_min=int(w.min()),
                 width_max=int(w.max()), censored=not math.isfinite(cw), **_config(g))
        )  # fmt: skip
    return pd.DataFrame(rows)


def point_widths(table: pd.DataFrame, success: float = SUCCESS) -> pd.DataFrame:
    """Per point: the critical width at success rate >= ``success`` over seeds (inf if
    censored), the seeds, grid ends, and whether the smallest grid width already succeeded."""
    rows = []
    for (n, depth, phi), g in table.groupby(POINT):
        rate = g.groupby("width")["converged"].mean().sort_index()
        w = rate.index.to_numpy()
        cw = smallest_stable(w, rate.to_numpy() >= success)
        rows.append(
            dict(n=int(n), depth=int(depth), phi=float(phi), inv_phi=1.0 / float(phi),
                 critical_width=cw, seeds=int(g["seed"].nunique()), width_min=int(w.min()),
                 width_max=int(w.max()), censored=not math.isfinite(cw), at_min=cw == w.min(),
                 **_config(g))
        )  # fmt: skip
    return pd.DataFrame(rows)


def sweep_rows(df: pd.DataFrame, symbol: str) -> pd.DataFrame:
    """Rows of ``df`` on the sweep of ``symbol`` ("n", "L" or "1/phi") through :data:`BASE`."""
    n0, l0, p0 = BASE
    fixed = {
        "n": (df["depth"] == l0) & np.isclose(df["phi"], p0),
        "L": (df["n"] == n0) & np.isclose(df["phi"], p0),
        "1/phi": (df["n"] == n0) & (df["depth"] == l0),
    }[symbol]
    return df[fixed]


def _capped(df: pd.DataFrame) -> pd.DataFrame:
    """critical_width with censored rows at twice the grid's largest width (a lower bound)."""
    out = df.copy()
    out["critical_width"] = np.where(
        out["censored"], 2.0 * out["width_max"], out["critical_width"]
    ).astype(float)
    return out


def theory_rows(pw: pd.DataFrame) -> pd.DataFrame:
    """Per point: log10 of each theory's width (constants 1) and log10(theory / practice)."""
    from overparam.theory import bounds

    out = pw.copy()
    measured = _capped(pw)["critical_width"].to_numpy(dtype=float)
    for key, col, _, _ in THEORIES:
        widths = [
            {b.key: b for b in bounds(n=int(n), depth=int(L), phi=float(phi))}[key].width_log10
            for n, L, phi in zip(pw["n"], pw["depth"], pw["phi"], strict=True)
        ]
        out[f"{col}_log10"] = widths
        # censored: the measured width is above 2 * width_max, so the factor is an upper bound
        out[f"{col}_factor_log10"] = np.asarray(widths, dtype=float) - np.log10(measured)
    return out


def theory_context(tp: pd.DataFrame) -> list[Context]:
    """theory / practice per theory, as context: the grid cannot measure a width near them."""
    out: list[Context] = []
    if tp.empty:
        return out
    top = float(2.0 * tp["width_max"].max())
    for _, col, label, cite in THEORIES:
        f = tp[f"{col}_factor_log10"].dropna()
        if f.empty:
            continue
        theory_min = float(tp[f"{col}_log10"].min())
        cens = int(tp.loc[f.index, "censored"].sum())
        value = f"10^{f.min():.1f} to 10^{f.max():.1f} over {len(f)} points"
        value += f" ({cens} censored: upper bounds)" if cens else ""
        out.append(
            Context(
                rf"{label}: width (constants 1, $\log^3 m$ solved) / measured critical width",
                value,
                cite=cite,
                why=(
                    f"the theory's width is at least $10^{{{theory_min:.1f}}}$ at every point, "
                    f"above any width this grid can measure ($< {top:.0f}$): no outcome could "
                    "exceed it"
                ),
            )
        )
    return out


def exponent_table(pw: pd.DataFrame, sw: pd.DataFrame) -> pd.DataFrame:
    """Per symbol: the least-squares exponent of the point and the per-seed critical widths
    (censored at twice the largest width), beside the theories' exponents (display only; the
    claims are judged by their Slope test)."""
    from overparam.studies.claims import loglog_fit
    from overparam.theory import theory_exponents

    rows = []
    for symbol, x, name in SYMBOLS:
        row: dict = {"symbol": symbol}
        for label, df in (("point", pw), ("seed", sw)):
            d = _capped(sweep_rows(df, symbol))
            xs, ys = d[x].to_numpy(float), d["critical_width"].to_numpy(float)
            if np.unique(xs).size < 2:
                row[f"{label}_exponent"] = math.nan
                continue
            fit = loglog_fit(xs, ys, n_boot=200, level=0.95, seed=0)
            row[f"{label}_exponent"] = fit.slope
        for _, paper, _, _ in THEORIES:
            row[paper] = theory_exponents(paper)[name]
        rows.append(row)
    return pd.DataFrame(rows)


def evidence(data: StudyData) -> Evidence:
    runs = data.runs
    if runs.empty or not {*POINT, "width", "train_status"} <= set(runs.columns):
        return Evidence()
    table = run_table(runs)
    sw, pw = seed_widths(table), point_widths(table)
    tp = theory_rows(pw)
    frames = {c.key: sweep_rows(sw, s).reset_index(drop=True) for c, (s, _, _) in
              zip(CLAIMS, SYMBOLS, strict=True)}  # fmt: skip
    figures = [figure_scaling(sw, pw), figure_theory_practice(tp), figure_success(table)]
    tables = {"points": tp, "exponents": exponent_table(pw, sw), "seeds": sw}
    return Evidence(frames=frames, figures=figures, tables=tables, context=theory_context(tp))


# ---------------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------------


def _plain_ticks(ax, x: np.ndarray) -> None:
    """Label a log x-axis at the measured values, as plain numbers."""
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator

    ax.xaxis.set_major_locator(FixedLocator(sorted(set(np.round(x, 6)))))
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:.3g}")
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())


def _dashed(ax, xs, slope: float, anchor: tuple[float, float], label: str, color: str) -> None:
    xs = np.asarray(sorted(set(xs)), dtype=float)
    ax.plot(xs, anchor[1] * (xs / anchor[0]) ** slope, ls="--", lw=1.2, color=color, label=label)


#: Each sweep's variable in mathtext (theory-line labels and axis labels).
MATH = {"n": "n", "L": "L", "1/phi": r"(1/\phi)"}


def figure_scaling(sw: pd.DataFrame, pw: pd.DataFrame) -> FigureSpec:
    from overparam.studies.plots import (
        COLORS,
        THEORY,
        loglog,
        mean_band,
        new_figure,
        place_legend,
        plot_band,
    )
    from overparam.theory import theory_exponents

    fig, axes = new_figure(3)
    exps = {p: theory_exponents(p) for _, p, _, _ in THEORIES}
    n0, l0, p0 = BASE
    for ax, (symbol, col, name) in zip(axes, SYMBOLS, strict=True):
        seeds = _capped(sweep_rows(sw, symbol))
        pts = _capped(sweep_rows(pw, symbol)).sort_values(col)
        if pts.empty:
            ax.set_axis_off()
            continue
        plot_band(ax, mean_band(seeds, col, "critical_width"), col, label="per seed (band)",
                  color=COLORS[0], marker=".")  # fmt: skip
        x, y = pts[col].to_numpy(float), pts["critical_width"].to_numpy(float)
        ax.plot(x, y, marker="o", ms=5, color=COLORS[1], label=f"$\\geq$ {SUCCESS:.0%} of seeds")
        cens = pts["censored"].to_numpy(bool)
        if cens.any():
            ax.scatter(x[cens], y[cens], marker="^", s=50, color=COLORS[3], zorder=3,
                       label="censored (> grid)")  # fmt: skip
        anchor = (float(x[0]), float(y[0]))  # the theory lines start at the smallest x
        for paper, color, who in (
            ("zou-gu-2019", THEORY["color"], "Zou & Gu"),
            ("allen-zhu-2019", COLORS[2], "Allen-Zhu"),
        ):
            p = exps[paper][name]
            _dashed(ax, x, p, anchor, f"${MATH[symbol]}^{{{p:g}}}$ ({who})", color)
        top = 4.0 * max(float(np.nanmax(pts["width_max"])), float(np.nanmax(y)))
        ax.set_ylim(0.5 * float(pts["width_min"].min()), top)
        fixed = {"n": f"$L={l0}$, $\\phi={p0:g}$", "L": f"$n={n0}$, $\\phi={p0:g}$",
                 "1/phi": f"$n={n0}$, $L={l0}$"}[symbol]  # fmt: skip
        xlabel = {"n": "$n$ (samples)", "L": "$L$ (hidden layers)", "1/phi": r"$1/\phi$"}[symbol]
        loglog(ax, xlabel, "critical width $m$", fixed)
        _plain_ticks(ax, x)
        place_legend(ax, loc="upper left")
    return FigureSpec(
        "critical_width_scaling",
        "Measured critical width (smallest grid width from which GD reaches 1% of $L(0)$ "
        f"within {STEPS} steps for every larger width) against $n$, $L$ and "
        r"$1/\phi$, log-log. Band: geometric "
        "mean and range over seeds; dashed: the exponents of the sufficient widths of "
        "[zou-gu-2019, Theorem 3.3] and of [allen-zhu-2019] ([zou-gu-2019, Table 1]), anchored "
        "at the first point (the y-axis is clipped to the grid, so they leave the panel).",
        fig,
    )


def figure_theory_practice(tp: pd.DataFrame) -> FigureSpec:
    from overparam.studies.plots import COLORS, new_figure, place_legend

    fig, (ax,) = new_figure()
    xs = np.arange(len(tp))
    labels = [f"$n={r.n}$\n$L={r.depth}$\n$\\phi={r.phi:g}$" for r in tp.itertuples()]
    measured = np.log10(_capped(tp)["critical_width"].to_numpy(float))
    ax.scatter(xs, measured, marker="o", color=COLORS[1], label="measured critical width", zorder=3)
    cens = tp["censored"].to_numpy(bool)
    if cens.any():
        ax.scatter(xs[cens], measured[cens], marker="^", s=60, color=COLORS[3],
                   label="censored (> grid)", zorder=4)  # fmt: skip
    for j, (_, paper, label, _) in enumerate(THEORIES):
        ax.scatter(xs, tp[f"{paper}_log10"], marker=("s", "D")[j], color=("0.3", COLORS[2])[j],
                   label=f"{label} (constants 1)")  # fmt: skip
    ax.set_xticks(xs, labels)
    ax.set_ylabel(r"$\log_{10}$ width $m$")
    ax.set_title(r"theory / practice: required width ($\log_{10}$) at each point")
    place_legend(ax, loc="upper left")
    return FigureSpec(
        "critical_width_theory_practice",
        "Absolute widths: the measured critical width against the widths of "
        "[zou-gu-2019, Theorem 3.3] and [allen-zhu-2019] (via [zou-gu-2019, Table 1]) computed "
        r"by the bounds calculator with every hidden constant 1 at the same $(n, L, \phi)$; the "
        r"vertical gap is $\log_{10}(\text{theory} / \text{practice})$.",
        fig,
    )


def figure_success(table: pd.DataFrame) -> FigureSpec:
    from overparam.studies.plots import COLORS, new_figure, place_legend

    fig, (ax,) = new_figure()
    rate = table.groupby([*POINT, "width"])["converged"].mean().reset_index()
    for i, ((n, depth, phi), g) in enumerate(rate.groupby(POINT)):
        ax.plot(g["width"], g["converged"], marker="o", ms=3, color=COLORS[i % len(COLORS)],
                label=f"$n={n}$, $L={depth}$, $\\phi={phi:g}$")  # fmt: skip
    ax.axhline(SUCCESS, color="0.5", lw=0.8, ls=":")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("width $m$")
    ax.set_ylabel("fraction of seeds reaching 1% of $L(0)$")
    ax.set_title("success rate against width")
    place_legend(ax, loc="lower right", ncols=2)
    return FigureSpec(
        "critical_width_success",
        f"Fraction of seeds that reach 1% of the initial loss within {STEPS} GD steps, against "
        "width, at every point: the critical width is where a curve last rises to the dotted "
        f"{SUCCESS:.0%} line [zou-gu-2019, Theorem 3.3 bounds where all curves must reach 1].",
        fig,
    )


STUDY = Study(
    name=NAME,
    title=r"Critical width against $n$, $L$ and $1/\phi$: measured exponents and theory / practice",
    cites=("zou-gu-2019", "allen-zhu-2019"),
    description=(
        "The smallest width from which GD (`zou-gu`, `lr = auto`) reaches 1% of its initial "
        f"loss within {STEPS} steps (per seed; for at least {SUCCESS:.0%} of the seeds per "
        r"point), on close-pair sphere data, along three sweeps through $n = 16$, $L = 1$, "
        r"$\phi = 0.4$, on a doubling width grid; exponents judged against the sufficient width "
        "of Zou & Gu [zou-gu-2019, Theorem 3.3] with the grid-resolution rule, and the bounds "
        "calculator's absolute widths shown beside them."
    ),
    claims=CLAIMS,
    plan=plan,
    evidence=evidence,
    hypotheses=(RELU,),
)
