"""Study ``critical-width``: the smallest width at which GD trains, against n, L and 1/phi, next
to the width conditions of the theorems.

[zou-gu-2019, Theorem 3.3] (seed 003): GD on the zou-gu network reaches loss eps once

    m = Omega(k n^8 L^12 log^3(m) / phi^4),

and [allen-zhu-2019] needs m = Omega~(n^24 L^12 / phi^8) ([zou-gu-2019, Table 1]); here n is the
number of samples, L the number of hidden layers (``depth``), phi = min_{i != j} ||x_i - x_j||
(Assumption 3.2) and k = 1. Both are *sufficient* widths, so the measured critical width can only
be compared with them from below: a measured exponent smaller than the theory's means the bound is
not tight, a larger one (with its interval above the theory's) would contradict it.

Definition (that of :func:`overparam.sweep.critical_width`, evaluated on a fixed grid): width m
*succeeds* at a point (n, L, phi) when at least ``SUCCESS`` = 90% of the seeds reach
L(W_t) <= 1% L(W_0) within ``STEPS`` GD steps (lr = "auto"). The critical width is the smallest
grid width from which every larger grid width succeeds (so a lucky narrow width does not count);
with at most 9 seeds, 90% means every seed. Per seed, the same rule gives that seed's critical
width; the exponent fits (:func:`overparam.sweep.fit_exponent`, bootstrap over (point, seed)
rows) use those. A point where even the largest width fails is *censored* (its critical width is
above the grid); it enters figures and fits at twice the largest width, a lower bound.

Data: ``close-pair`` (n unit inputs in d = 16 whose closest pair is exactly phi apart: the other
points are >= 2 max(phi) apart, see :func:`overparam.data.close_pair`), Gaussian labels. The
sweeps form a star around the base point n = 16, L = 1, phi = 0.4: n varies at (L, phi) = (1,
0.4), L at (n, phi) = (16, 0.4), phi at (n, L) = (16, 1). L = 1 keeps the wide networks cheap
(no m x m layer), so the n and phi sweeps reach widths of 2^14.

Why the runs are planned, not searched: ``plan`` returns the whole log2 grid x seeds of every
point, so every run is an ordinary stored run (resumable, keyed by its config) and ``analyze``
recomputes the critical widths, fits and figures from the stored runs alone; the bisection of
:func:`overparam.sweep.critical_width` would refine the width between grid points but its runs
depend on earlier results, which a static plan cannot express. The grid's factor of 2 (4 in
``--quick``) is the resolution of every critical width reported here.

The theory's absolute widths come from :func:`overparam.theory.bounds` (constants 1, with the
log^3(m) fixed point) at each point's (n, L, phi); ``theory / practice`` is their ratio to the
measured critical width, in log10.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from overparam.config import RunConfig, build_config
from overparam.report.study import Claim, FigureSpec, Study, StudyData, StudyResult, register

SOURCE = (
    "zou-gu-2019, Theorem 3.3 (m = Omega(k n^8 L^12 log^3 m / phi^4)); allen-zhu-2019 via "
    "zou-gu-2019, Table 1 (n^24 L^12 / phi^8) (seeds 002, 003)"
)
D = 16
# The largest phi of any sweep is 0.4: inputs other than the close pair are >= 0.8 apart, so the
# data's separation is exactly phi (close_pair's triangle-inequality argument).
MIN_SEPARATION = 0.8
TARGET_RATIO = 1e-2  # success: L(W_t) <= 1% of L(W_0)
# A fixed step budget (the library's definition of the critical width; the budget is part of the
# definition). At 300 steps the widest network of every point reaches the target for every seed,
# while narrow ones fail. phi = 0.05 is left out: there seed 0 reached it at no width up to 2^14,
# since the close pair's direction is a small eigenvalue of the kernel and the wide (kernel
# regime) networks fit it no faster -- a budget effect, not a width effect.
STEPS = 300
SUCCESS = 0.9  # fraction of seeds that must succeed (all of them for <= 9 seeds)
BASE = (16, 1, 0.4)  # (n, L, phi) shared by the three sweeps
# Theory results compared: (row key of overparam.theory.bounds, paper key of theory_exponents,
# short label, citation).
THEORIES = (
    ("zou-gu-2019/thm-3.3", "zou-gu-2019", "Zou & Gu Thm 3.3", "zou-gu-2019, Theorem 3.3"),
    (
        "allen-zhu-2019/table-1",
        "allen-zhu-2019",
        "Allen-Zhu et al.",
        "allen-zhu-2019 (zou-gu-2019, Table 1)",
    ),
)
SYMBOLS = (("n", "n", "n"), ("L", "depth", "depth"), ("1/phi", "1/phi", "phi"))


@dataclass(frozen=True)
class Scale:
    """Sizes of one mode. ``widths_shallow`` serve L = 1, ``widths_deep`` L >= 2 (m x m
    layers make wide deep networks expensive)."""

    ns: tuple[int, ...]
    depths: tuple[int, ...]
    phis: tuple[float, ...]
    seeds: tuple[int, ...]
    widths_shallow: tuple[int, ...]
    widths_deep: tuple[int, ...]


FULL = Scale(
    ns=(8, 16, 32, 64),
    depths=(1, 2, 3, 4),
    phis=(0.4, 0.28, 0.2, 0.14, 0.1),
    seeds=(0, 1, 2),
    widths_shallow=tuple(2**k for k in range(2, 15)),  # 4 .. 16384
    widths_deep=tuple(2**k for k in range(2, 11)),  # 4 .. 1024
)
QUICK = Scale(
    ns=(8, 16, 64),  # 64: the first n whose critical width leaves the grid's bottom
    depths=(1, 2, 3),
    phis=(0.4, 0.2, 0.1),
    seeds=(0, 1),
    widths_shallow=tuple(4**k for k in range(1, 7)),  # 4 .. 4096, factor 4
    widths_deep=tuple(4**k for k in range(1, 6)),  # 4 .. 1024
)


def scale_of(quick: bool) -> Scale:
    return QUICK if quick else FULL


def points(s: Scale) -> list[tuple[int, int, float]]:
    """The (n, L, phi) points of the three sweeps, base point once, in sweep order."""
    n0, l0, p0 = BASE
    pts = [(n, l0, p0) for n in s.ns] + [(n0, L, p0) for L in s.depths]
    pts += [(n0, l0, phi) for phi in s.phis]
    return list(dict.fromkeys(pts))


def config(n: int, depth: int, phi: float, width: int, seed: int) -> RunConfig:
    """One run of the grid: zou-gu GD on the close-pair data of (n, phi)."""
    return build_config(
        data="close-pair",
        n=n,
        d=D,
        phi=phi,
        min_separation=MIN_SEPARATION,
        labels="gaussian",
        parameterization="zou-gu",
        width=width,
        depth=depth,
        algorithm="gd",
        lr="auto",
        steps=STEPS,
        target_ratio=TARGET_RATIO,
        seed=seed,
        dtype="float32",  # a 1% target needs no float64; float32 halves the cost
    )


def plan(quick: bool) -> list[RunConfig]:
    """The whole width grid x seeds of every point (see the module docstring for why)."""
    s = scale_of(quick)
    out = []
    for n, depth, phi in points(s):
        widths = s.widths_shallow if depth == 1 else s.widths_deep
        out += [config(n, depth, phi, w, seed) for w in widths for seed in s.seeds]
    return out


# ---------------------------------------------------------------------------------------------
# analysis: critical widths from the stored runs
# ---------------------------------------------------------------------------------------------

POINT = ["n", "depth", "phi"]


def run_table(runs: pd.DataFrame) -> pd.DataFrame:
    """(n, depth, phi, width, seed, converged): one row per stored run; a failed or diverged
    run counts as not converged."""
    out = runs[[*POINT, "width", "seed"]].copy()
    out["n"] = out["n"].astype(int)
    out["depth"] = out["depth"].astype(int)
    out["phi"] = out["phi"].astype(float)
    out["width"] = out["width"].astype(int)
    out["seed"] = out["seed"].astype(int)
    status = runs["status"].astype(str) if "status" in runs else pd.Series("done", runs.index)
    conv = runs["train_status"].astype(str) == "converged"
    out["converged"] = ((status == "done") & conv).to_numpy()
    return out.reset_index(drop=True)


def smallest_stable(widths: np.ndarray, ok: np.ndarray) -> float:
    """The smallest width from which ``ok`` holds at every larger width (widths ascending);
    inf when the largest width is not ok."""
    best = math.inf
    for w, good in zip(widths[::-1], ok[::-1], strict=True):
        if not good:
            break
        best = float(w)
    return best


def seed_widths(table: pd.DataFrame) -> pd.DataFrame:
    """Per (point, seed): critical_width (inf if censored), width_max, width_min, censored."""
    rows = []
    for (n, depth, phi, seed), g in table.groupby([*POINT, "seed"]):
        g = g.sort_values("width")
        w = g["width"].to_numpy()
        cw = smallest_stable(w, g["converged"].to_numpy())
        rows.append(
            {
                "n": n,
                "depth": depth,
                "phi": phi,
                "seed": seed,
                "critical_width": cw,
                "width_min": int(w.min()),
                "width_max": int(w.max()),
                "censored": not math.isfinite(cw),
            }
        )
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
            {
                "n": int(n),
                "depth": int(depth),
                "phi": float(phi),
                "critical_width": cw,
                "seeds": int(g["seed"].nunique()),
                "width_min": int(w.min()),
                "width_max": int(w.max()),
                "censored": not math.isfinite(cw),
                "at_min": cw == w.min(),
            }
        )
    return pd.DataFrame(rows)


def base_point(pw: pd.DataFrame) -> tuple[int, int, float]:
    """The star's centre: the most frequent value of each coordinate (ties: :data:`BASE`)."""
    out = []
    for col, default in zip(POINT, BASE, strict=True):
        counts = pw[col].value_counts()
        top = counts[counts == counts.max()].index
        out.append(default if default in set(top) or len(top) != 1 else top[0])
    return int(out[0]), int(out[1]), float(out[2])


def sweep_rows(df: pd.DataFrame, symbol: str, base: tuple[int, int, float]) -> pd.DataFrame:
    """Rows of ``df`` on the sweep of ``symbol`` ("n", "L" or "1/phi") through ``base``."""
    n0, l0, p0 = base
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
    for key, col, _, _ in THEORIES:
        widths = []
        for n, depth, phi in zip(pw["n"], pw["depth"], pw["phi"], strict=True):
            row = {b.key: b for b in bounds(n=int(n), depth=int(depth), phi=float(phi))}[key]
            widths.append(row.width_log10)
        out[f"{col}_log10"] = widths
        measured = _capped(pw)["critical_width"].to_numpy()
        # censored: the measured width is above 2 * width_max, so the factor is an upper bound
        out[f"{col}_factor_log10"] = np.asarray(widths) - np.log10(measured)
    return out


def grid_ratio(table: pd.DataFrame) -> float:
    """The width grid's step factor (2 for a log2 grid): the resolution of a critical width."""
    w = np.sort(table["width"].unique()).astype(float)
    return float(np.median(w[1:] / w[:-1])) if len(w) > 1 else math.nan


def _fit(df: pd.DataFrame, x: str):
    from overparam.errors import ConfigError
    from overparam.sweep import fit_exponent

    try:
        return fit_exponent(_capped(df), x, "critical_width")
    except ConfigError:  # fewer than 3 rows or 2 distinct x
        return None


def exponent_table(
    pw: pd.DataFrame, sw: pd.DataFrame, base: tuple[int, int, float], ratio: float
) -> pd.DataFrame:
    """Per symbol with >= 2 distinct values: the exponent of the critical width (>= 90% of
    seeds, one row per point) with its bootstrap interval, the same fit over the per-seed
    critical widths, the exponent resolution log(grid ratio) / log(x range), censored and
    at-minimum counts, and the theories' exponents."""
    from overparam.sweep.fit import column
    from overparam.theory import theory_exponents

    rows = []
    for symbol, x, col in SYMBOLS:
        pts, seeds = sweep_rows(pw, symbol, base), sweep_rows(sw, symbol, base)
        if pts[col].nunique() < 2:
            continue
        fit, per_seed = _fit(pts, x), _fit(seeds, x)
        if fit is None:
            continue
        xs = column(pts, x)
        row = {
            "symbol": symbol,
            "x": x,
            "exponent": fit.exponent,
            "low": fit.low,
            "high": fit.high,
            "r2": fit.r2,
            "points": fit.n,
            "seed_exponent": per_seed.exponent if per_seed else math.nan,
            "seed_low": per_seed.low if per_seed else math.nan,
            "seed_high": per_seed.high if per_seed else math.nan,
            "resolution": math.log(ratio) / math.log(xs.max() / xs.min()),
            "censored": int(pts["censored"].sum()),
            "at_min": int(pts["at_min"].sum()),
        }
        for _, paper, _, _ in THEORIES:
            row[paper] = theory_exponents(paper)[symbol]
        rows.append(row)
    return pd.DataFrame(rows)


def exponent_verdict(r: pd.Series) -> tuple[str, str]:
    """(verdict, reason) for one row of :func:`exponent_table` against Theorem 3.3's exponent,
    widening the interval by the grid's resolution on both sides."""
    theory, res = float(r["zou-gu-2019"]), float(r["resolution"])
    if r["low"] - res > theory:
        return "does not hold at this scale", "the interval lies above the theory's exponent"
    if r["censored"]:
        return "not measured", (
            f"{int(r['censored'])} censored point(s) (no grid width trained) entered at twice "
            "the largest width, so the exponent is only a lower bound"
        )
    if r["high"] + res < theory:
        return "holds", "bound not tight: the measured growth is far slower than the sufficient one"
    return "holds", "the interval (widened by the grid resolution) contains the theory's exponent"


def _exponent_claim(r: pd.Series) -> Claim:
    verdict, reason = exponent_verdict(r)
    notes = [
        f"fit over {int(r['points'])} points, widths resolved to the grid (exponent resolution "
        f"+-{r['resolution']:.2f})",
        f"per-seed critical widths: {r['seed_exponent']:.2f} "
        f"[{r['seed_low']:.2f}, {r['seed_high']:.2f}]",
        f"Allen-Zhu et al.: {r['allen-zhu-2019']:g}",
    ]
    if r["at_min"]:
        notes.append(f"{int(r['at_min'])} point(s) train at the grid's smallest width")
    notes.append(reason)
    return Claim(
        claim=f"the critical width grows no faster than the width condition in {r['symbol']}",
        source="zou-gu-2019, Theorem 3.3",
        measured=f"exponent {r['exponent']:.2f} [{r['low']:.2f}, {r['high']:.2f}] (95% bootstrap)",
        theory=f"{r['symbol']}^{float(r['zou-gu-2019']):g} (sufficient)",
        verdict=verdict,
        note="; ".join(notes),
    )


def _factor_claims(tp: pd.DataFrame) -> list[Claim]:
    out = []
    for _, paper, label, source in THEORIES:
        col = f"{paper}_factor_log10"
        f = tp[col].dropna()
        if f.empty:
            continue
        lo, hi = float(f.min()), float(f.max())
        cens = int(tp.loc[f.index, "censored"].sum())
        note = (
            f"theory width {tp[f'{paper}_log10'].min():.1f} to {tp[f'{paper}_log10'].max():.1f} "
            f"(log10, constants 1, log^3 m solved) at {len(f)} points"
        )
        if cens:
            note += f"; {cens} censored point(s): their factor is an upper bound"
        if lo >= 0:
            verdict = "holds"
            note += "; the width condition is sufficient everywhere, by at least this factor"
        else:
            verdict = "holds with constant C"
            note += f"; needs its hidden constant C >= 10^{-lo:.1f}"
        out.append(
            Claim(
                claim=f"{label}: its width (constants 1) exceeds the measured critical width",
                source=source,
                measured=f"theory / practice = 10^{lo:.1f} to 10^{hi:.1f}",
                theory=">= 1 (a sufficient width)",
                verdict=verdict,
                note=note,
            )
        )
    return out


# ---------------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------------


def _xvalues(df: pd.DataFrame, col: str) -> np.ndarray:
    return 1.0 / df["phi"].to_numpy(float) if col == "phi" else df[col].to_numpy(float)


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


def figure_scaling(sw: pd.DataFrame, pw: pd.DataFrame, base) -> FigureSpec:
    from overparam.report.plots import COLORS, THEORY, loglog, mean_band, new_figure, plot_band
    from overparam.theory import theory_exponents

    fig, axes = new_figure(3, width=4.0)
    exps = {p: theory_exponents(p) for _, p, _, _ in THEORIES}
    for ax, (symbol, _, col) in zip(axes, SYMBOLS, strict=True):
        seeds = _capped(sweep_rows(sw, symbol, base))
        pts = _capped(sweep_rows(pw, symbol, base)).sort_values(col)
        xlabel = {"n": "n (samples)", "L": "L (hidden layers)", "1/phi": "1 / phi"}[symbol]
        if pts.empty:
            ax.set_axis_off()
            continue
        seeds = seeds.assign(x=_xvalues(seeds, col))
        plot_band(
            ax,
            mean_band(seeds, "x", "critical_width"),
            "x",
            label="per seed (band)",
            color=COLORS[0],
            marker=".",
        )
        x, y = _xvalues(pts, col), pts["critical_width"].to_numpy()
        order = np.argsort(x)
        x, y = x[order], y[order]
        ax.plot(x, y, marker="o", ms=5, color=COLORS[1], label=f">= {SUCCESS:.0%} of seeds")
        cens = pts["censored"].to_numpy()[order]
        if cens.any():
            ax.scatter(
                x[cens],
                y[cens],
                marker="^",
                s=50,
                color=COLORS[3],
                zorder=3,
                label="censored (> grid)",
            )
        anchor = (float(x[0]), float(y[0]))  # the theory lines start at the smallest x
        _dashed(
            ax,
            x,
            exps["zou-gu-2019"][symbol],
            anchor,
            f"{symbol}^{exps['zou-gu-2019'][symbol]:g} (Zou & Gu)",
            THEORY["color"],
        )
        _dashed(
            ax,
            x,
            exps["allen-zhu-2019"][symbol],
            anchor,
            f"{symbol}^{exps['allen-zhu-2019'][symbol]:g} (Allen-Zhu)",
            COLORS[2],
        )
        top = 4.0 * max(float(np.nanmax(pts["width_max"])), float(np.nanmax(y)))
        ax.set_ylim(0.5 * float(pts["width_min"].min()), top)
        fixed = {
            "n": f"L={base[1]}, phi={base[2]:g}",
            "L": f"n={base[0]}, phi={base[2]:g}",
            "1/phi": f"n={base[0]}, L={base[1]}",
        }[symbol]
        loglog(ax, xlabel, "critical width m", fixed)
        _plain_ticks(ax, x)
        ax.legend(loc="upper left", fontsize=7)
    return FigureSpec(
        "critical_width_scaling",
        "Measured critical width (smallest grid width from which GD reaches 1% of L(0) within "
        f"{STEPS} steps for every larger width) against n, L and 1/phi, log-log. Band: geometric "
        "mean and range over seeds; dashed: the exponents of the sufficient widths of "
        "[zou-gu-2019, Theorem 3.3] and of [allen-zhu-2019] ([zou-gu-2019, Table 1]), anchored "
        "at the first point (the y-axis is clipped to the grid, so they leave the panel).",
        fig,
    )


def figure_theory_practice(tp: pd.DataFrame, base) -> FigureSpec:
    from overparam.report.plots import COLORS, new_figure

    fig, (ax,) = new_figure(width=7.0)
    labels, xs = [], np.arange(len(tp))
    for r in tp.itertuples():
        labels.append(f"n={r.n}\nL={r.depth}\nφ={r.phi:g}")
    measured = np.log10(_capped(tp)["critical_width"].to_numpy())
    ax.scatter(xs, measured, marker="o", color=COLORS[1], label="measured critical width", zorder=3)
    cens = tp["censored"].to_numpy()
    if cens.any():
        ax.scatter(
            xs[cens],
            measured[cens],
            marker="^",
            s=60,
            color=COLORS[3],
            label="censored (> grid)",
            zorder=4,
        )
    for j, (_, paper, label, _) in enumerate(THEORIES):
        ax.scatter(
            xs,
            tp[f"{paper}_log10"],
            marker=("s", "D")[j],
            color=("0.3", COLORS[2])[j],
            label=f"{label} (constants 1)",
        )
    ax.set_xticks(xs, labels, fontsize=7)
    ax.set_ylabel("log10 width m")
    ax.set_title("theory / practice: required width (log10) at each point")
    ax.legend(loc="upper left")
    return FigureSpec(
        "critical_width_theory_practice",
        "Absolute widths: the measured critical width against the widths of "
        "[zou-gu-2019, Theorem 3.3] and [allen-zhu-2019] (via [zou-gu-2019, Table 1]) computed "
        "by the bounds calculator with every hidden constant 1 at the same (n, L, phi); the "
        "vertical gap is log10(theory / practice).",
        fig,
    )


def figure_success(table: pd.DataFrame) -> FigureSpec:
    from overparam.report.plots import COLORS, new_figure

    fig, (ax,) = new_figure(width=6.0)
    rate = table.groupby([*POINT, "width"])["converged"].mean().reset_index()
    for i, ((n, depth, phi), g) in enumerate(rate.groupby(POINT)):
        ax.plot(
            g["width"],
            g["converged"],
            marker="o",
            ms=3,
            color=COLORS[i % len(COLORS)],
            label=f"n={n}, L={depth}, φ={phi:g}",
        )
    ax.axhline(SUCCESS, color="0.5", lw=0.8, ls=":")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("width m")
    ax.set_ylabel("fraction of seeds reaching 1% of L(0)")
    ax.set_title("success rate against width")
    ax.legend(loc="lower right", ncol=2, fontsize=6)
    return FigureSpec(
        "critical_width_success",
        f"Fraction of seeds that reach 1% of the initial loss within {STEPS} GD steps, against "
        "width, at every point: the critical width is where a curve last rises to the dotted "
        f"{SUCCESS:.0%} line [zou-gu-2019, Theorem 3.3 bounds where all curves must reach 1].",
        fig,
    )


# ---------------------------------------------------------------------------------------------
# analyze
# ---------------------------------------------------------------------------------------------


def analyze(data: StudyData) -> StudyResult:
    """Critical widths per point and seed, exponent fits and theory / practice factors."""
    runs = data.runs
    if runs.empty or not {"n", "depth", "phi", "width", "train_status"} <= set(runs.columns):
        return StudyResult(
            claims=[
                Claim(
                    "the critical width grows no faster than the width condition",
                    "zou-gu-2019, Theorem 3.3",
                    "",
                    "",
                    "not measured",
                )
            ]
        )
    table = run_table(runs)
    sw = seed_widths(table)
    pw = point_widths(table)
    base = base_point(pw)
    tp = theory_rows(pw)
    ex = exponent_table(pw, sw, base, grid_ratio(table))
    claims = [_exponent_claim(r) for _, r in ex.iterrows()] + _factor_claims(tp)
    figures = [figure_scaling(sw, pw, base), figure_theory_practice(tp, base)]
    figures.append(figure_success(table))
    return StudyResult(
        claims=claims,
        figures=figures,
        tables={"points": tp, "exponents": ex, "seeds": sw},
    )


STUDY = register(
    Study(
        name="critical-width",
        title="Critical width against n, L and 1/phi: measured exponents and theory / practice",
        source=SOURCE,
        plan=plan,
        analyze=analyze,
        description=(
            "The smallest width from which GD (zou-gu, lr = auto) reaches 1% of its initial loss "
            f"within {STEPS} steps for at least {SUCCESS:.0%} of the seeds, on close-pair sphere "
            "data, along three sweeps through n = 16, L = 1, phi = 0.4; exponents fitted with "
            "bootstrap intervals beside the sufficient widths of Zou & Gu (Theorem 3.3) and "
            "Allen-Zhu et al., and the bounds calculator's absolute widths."
        ),
    )
)
