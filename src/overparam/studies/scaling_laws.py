"""Study ``scaling-laws``: the width m* and the iterations T* that GD really needs, against n, L
and 1/phi, under the theorem's own step size and a measured one, beside every theory's exponent.

[zou-gu-2019, Theorem 3.3]: with eta = O(k / (L^2 m)), GD reaches eps training loss within
T = O(n^2 L^2 log(1/eps) / phi) iterations once m = Omega(k n^8 L^12 log^3(m) / phi^4);
[allen-zhu-2019] needs m = Omega~(n^24 L^12 / phi^8) and T = O(n^6 L^2 log(1/eps) / phi^2)
([zou-gu-2019, Table 1]). Both are sufficient conditions: a measured m* or T* growing faster in
a variable than the theorem's exponent would, at large enough values, contradict the theorem;
one growing more slowly says by how much the bound is loose.

Measured (every run an ordinary stored run, so every scale resumes from the store):

* **m\\*(n, L, phi)**, the critical width (:mod:`overparam.sweep.threshold`): the smallest width
  at which at least ``SUCCESS`` = 90% of the seeds reach eps L(0) (eps = ``TARGET_RATIO``)
  within the step budget, found by bisection in log-width to a 10% resolution, with a
  percentile bootstrap over seeds. The budget is the theorem's own T with constants 1
  (n^2 L^2 ln(1/eps) / phi, at least ``MIN_BUDGET``), capped per scale and stated in the
  table; runs that use it up are censored, not failures, and a critical width whose failing
  bracket end failed by censoring only is marked "at this budget".
* **T\\*(n, L, phi)**, the steps by which 90% of the seeds reached eps L(0) at one fixed,
  generous width per sweep (the 90% quantile of the per-seed first-passage times, censored at
  the budget), with the same bootstrap.
* Both under the two step-size rules: ``lr = theory`` (Theorem 3.3's eta = k / (L^2 m) with
  constant 1: 6 to 11 times smaller than the measured stable step at L = 1 and 21 times at
  L = 3 at the quick scale, so T* is that much larger) and ``lr = auto`` (1 / lambda_max of
  the Gauss-Newton matrix, :func:`overparam.train.step_size.auto_lr`).

Data: ``close-pair`` (n unit inputs in d = 16 whose closest pair is exactly phi apart, the
others >= 0.8 apart, :func:`overparam.data.close_pair`), Gaussian labels, the ``zou-gu``
network. Three sweeps through (n, L, phi) = (16, 1, 0.4). The claims (Theorem 3.3's exponents,
under its own step size) are judged by :class:`~overparam.studies.claims.Slope`'s
grid-resolution rule: an exponent larger than the measured range can show is inconclusive, with
the largest resolvable exponent stated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from overparam.studies.claims import Claim, Grid, Hypothesis, Slope
from overparam.studies.hypotheses import RELU
from overparam.studies.plan import sweep
from overparam.studies.study import Context, Evidence, FigureSpec, Scale, Study, StudyData
from overparam.sweep.spec import SweepSpec
from overparam.sweep.threshold import outcome, resolvable_exponent, time_estimate, width_estimate

NAME = "scaling-laws"
THM = "zou-gu-2019, Theorem 3.3"
D = 16
MIN_SEPARATION = 0.8  # the other inputs' separation: phi <= 0.4 is exactly the data's phi
TARGET_RATIO = 1e-2  # eps: success is L(W_t) <= 1% of L(W_0)
SUCCESS = 0.9
RESOLUTION = 0.1  # the bisection stops at hi <= 1.1 lo
WIDTH_MIN = 4
MIN_BUDGET = 200  # the theorem's T with constants 1 is below this only at tiny n / phi
BASE = (16, 1, 0.4)
RULES = ("theory", "auto")
RULE_LABELS = {"theory": r"$\eta = 1/(L^2 m)$ (Thm 3.3)", "auto": r"$\eta$ = auto"}
POINT = ["n", "depth", "phi"]
#: (symbol, x column, the sweep's name in the plan, theory_exponents key)
SYMBOLS = (("n", "n", "n", "n"), ("L", "depth", "depth", "L"), ("1/phi", "inv_phi", "phi", "1/phi"))
#: Theorem 3.3's iteration exponents, T = O(n^2 L^2 log(1/eps) / phi).
T_EXPONENTS = {"n": 2.0, "L": 2.0, "1/phi": 1.0}
BOOT: dict[str, Any] = dict(n_boot=1000, level=0.95, seed=0)


@dataclass(frozen=True)
class Size:
    ns: tuple[int, ...]
    depths: tuple[int, ...]
    phis: tuple[float, ...]
    seeds: int
    time_width: int  # the fixed width of the T* runs at L = 1 (the n and phi sweeps)
    time_width_deep: int  # ... and along the depth sweep
    cap: int  # the largest step budget


#: The bisection's upper end at L = 1 and along the depth sweep (m x m layers), at every
#: scale: the claims' grids (and so the resolvable exponents) are the same at every scale.
WIDTH_MAX = 4096
WIDTH_MAX_DEEP = 1024


SIZES: dict[str, Size] = {
    "quick": Size(ns=(8, 16, 32), depths=(1, 2, 3), phis=(0.4, 0.2, 0.1), seeds=3,
                  time_width=512, time_width_deep=256, cap=1000),
    "full": Size(ns=(8, 16, 32, 64, 128, 256), depths=(1, 2, 4, 8),
                 phis=(0.4, 0.28, 0.2, 0.14, 0.1), seeds=8, time_width=4096,
                 time_width_deep=1024, cap=8000),
}  # fmt: skip


def theorem_steps(n: int, depth: int, phi: float) -> float:
    """T = n^2 L^2 ln(1/eps) / phi, [zou-gu-2019, Theorem 3.3] with its constant 1."""
    return n**2 * depth**2 * math.log(1.0 / TARGET_RATIO) / phi


def budget(size: Size, n: int, depth: int, phi: float) -> int:
    """The step budget of the m* search at a point: the theorem's T (constants 1), at least
    :data:`MIN_BUDGET`, at most the scale's cap."""
    return int(min(size.cap, max(MIN_BUDGET, math.ceil(theorem_steps(n, depth, phi)))))


def sweep_points(size: Size) -> dict[str, list[tuple[int, int, float]]]:
    """{sweep name: its (n, L, phi) points}; the base point is on all three."""
    n0, l0, p0 = BASE
    return {
        "n": [(n, l0, p0) for n in size.ns],
        "depth": [(n0, L, p0) for L in size.depths],
        "phi": [(n0, l0, phi) for phi in size.phis],
    }


def _base() -> dict:
    return dict(
        data="close-pair", d=D, min_separation=MIN_SEPARATION, labels="gaussian",
        parameterization="zou-gu", algorithm="gd", target_ratio=TARGET_RATIO, dtype="float32",
    )  # fmt: skip


def plan(scale: Scale) -> list[SweepSpec]:
    """One critical-width search per (point, rule) (its budget is the point's own), then one
    T* grid per sweep (swept variable x rule x seed at the fixed width)."""
    s = SIZES[scale]
    seeds = list(range(s.seeds))
    specs: list[SweepSpec] = []
    searched: set[tuple[int, int, float]] = set()
    for pts in sweep_points(s).values():
        for n, L, phi in pts:
            if (n, L, phi) in searched:
                continue
            searched.add((n, L, phi))
            critical = dict(
                target_ratio=TARGET_RATIO, success=SUCCESS, seeds=s.seeds, width_min=WIDTH_MIN,
                width_max=width_max(n, L, phi), rel_tol=RESOLUTION, method="bisect",
                max_steps=budget(s, n, L, phi),
            )  # fmt: skip
            specs.append(sweep(NAME, scale, part=f"width/n{n}-L{L}-phi{phi:g}",
                               base={**_base(), "n": n, "depth": L, "phi": phi},
                               grid={"lr": list(RULES)}, critical=critical))  # fmt: skip
    n0, l0, p0 = BASE
    fixed: dict[str, dict[str, Any]] = {"n": {"depth": l0, "phi": p0},
                                        "depth": {"n": n0, "phi": p0},
                                        "phi": {"n": n0, "depth": l0}}  # fmt: skip
    values: dict[str, list[Any]] = {"n": list(s.ns), "depth": list(s.depths),
                                    "phi": list(s.phis)}  # fmt: skip
    for name in ("n", "depth", "phi"):
        base = {**_base(), **fixed[name], "width": time_width(s, name), "steps": s.cap}
        grid: dict[str, list[Any]] = {name: values[name], "lr": list(RULES), "seed": seeds}
        specs.append(sweep(NAME, scale, part=f"time/{name}", base=base, grid=grid))
    return specs


def width_max(n: int, depth: int, phi: float) -> int:
    """The bisection's upper end: :data:`WIDTH_MAX_DEEP` on the depth sweep's L >= 2 points,
    else :data:`WIDTH_MAX` (the base point's m* enters the depth claim as censored if it is
    above the deep range)."""
    n0, _, p0 = BASE
    return WIDTH_MAX_DEEP if n == n0 and phi == p0 and depth != 1 else WIDTH_MAX


def time_width(size: Size, sweep_name: str) -> int:
    """The fixed width of a sweep's T* runs."""
    return size.time_width_deep if sweep_name == "depth" else size.time_width


# ---------------------------------------------------------------------------------------------
# claims
# ---------------------------------------------------------------------------------------------


def _width_tolerance(symbol: str) -> float:
    """Theorem 3.3's log^3(m) factor's share of its width's slope along the full scale's sweep
    (rounded up to 0.05): the sufficient width grows that much faster than its polynomial."""
    from overparam.theory import bounds, theory_exponents

    s = SIZES["full"]
    lo, hi = _ends(s, symbol)
    w = [{b.key: b for b in bounds(n=n, depth=L, phi=phi)}["zou-gu-2019/thm-3.3"].width_log10
         for n, L, phi in (lo, hi)]  # fmt: skip
    slope = (w[1] - w[0]) * math.log(10.0) / math.log(_x(hi, symbol) / _x(lo, symbol))
    extra = slope - theory_exponents("zou-gu-2019")[symbol]
    return math.ceil(max(extra, 0.0) / 0.05 - 1e-9) * 0.05


def _ends(s: Size, symbol: str) -> tuple[tuple[int, int, float], tuple[int, int, float]]:
    pts = sweep_points(s)[{"n": "n", "L": "depth", "1/phi": "phi"}[symbol]]
    pts = sorted(pts, key=lambda p: _x(p, symbol))
    return pts[0], pts[-1]


def _x(point: tuple[int, int, float], symbol: str) -> float:
    n, L, phi = point
    return {"n": float(n), "L": float(L), "1/phi": 1.0 / phi}[symbol]


def _tex(symbol: str) -> str:
    return {"1/phi": r"1/\phi"}.get(symbol, symbol)


THEOREM_RULE = Hypothesis("lr", allowed=("theory",), reason=f"{THM}: $\\eta = k / (L^2 m)$")
ZOU_GU = Hypothesis("parameterization", allowed=("zou-gu",), reason=THM)


def _width_claim(symbol: str, x: str) -> Claim:
    from overparam.theory import theory_exponents

    p = theory_exponents("zou-gu-2019")[symbol]
    top = WIDTH_MAX_DEEP if symbol == "L" else WIDTH_MAX
    grid = Grid(1.0 + RESOLUTION, float(WIDTH_MIN), float(top))
    return Claim(
        f"width-{'phi' if symbol == '1/phi' else symbol}",
        f"the critical width $m^*$ grows no faster in ${_tex(symbol)}$ than the width condition "
        r"$m = \Omega(n^8 L^{12} \log^3 m / \phi^4)$, at the theorem's step size "
        r"(tolerance: its $\log^3 m$ factor)",
        cite=THM,
        quantity="critical_width",
        test=Slope(p, round(_width_tolerance(symbol), 2), kind="at_most", x=x, grid=grid),
        hypotheses=(RELU, ZOU_GU, THEOREM_RULE),
    )


def _time_claim(symbol: str, x: str) -> Claim:
    p = T_EXPONENTS[symbol]
    # per-seed first-passage times are exact integers; a censored one lies above the budget
    grid = Grid(1.01, 0.5, float(SIZES["full"].cap))
    return Claim(
        f"iterations-{'phi' if symbol == '1/phi' else symbol}",
        f"the iterations $T^*$ to $\\epsilon L(0)$ grow no faster in ${_tex(symbol)}$ than "
        r"$T = O(n^2 L^2 \log(1/\epsilon) / \phi)$, at the theorem's step size and a fixed width",
        cite=THM,
        quantity="steps_to_target",
        test=Slope(p, 0.0, kind="at_most", x=x, grid=grid),
        hypotheses=(RELU, ZOU_GU, THEOREM_RULE),
    )


CLAIMS = tuple(_width_claim(sym, x) for sym, x, _, _ in SYMBOLS) + tuple(
    _time_claim(sym, x) for sym, x, _, _ in SYMBOLS
)


# ---------------------------------------------------------------------------------------------
# m* and T* from the stored runs
# ---------------------------------------------------------------------------------------------


def _runs(runs: pd.DataFrame) -> pd.DataFrame:
    out = runs.copy()
    for c in ("n", "depth", "width", "seed", "steps"):
        out[c] = out[c].astype(int)
    out["phi"] = out["phi"].astype(float)
    out["lr"] = out["lr"].astype(str)
    for c, default in (("activation", "relu"), ("parameterization", "zou-gu")):
        out[c] = out[c].astype(str) if c in out else default
    out["outcome"] = [outcome(s, t) for s, t in zip(out["status"], out["train_status"],
                                                     strict=True)]  # fmt: skip
    return out


def _on_sweep(df: pd.DataFrame, name: str) -> pd.Series:
    n0, l0, p0 = BASE
    return {
        "n": (df["depth"] == l0) & np.isclose(df["phi"], p0),
        "depth": (df["n"] == n0) & np.isclose(df["phi"], p0),
        "phi": (df["n"] == n0) & (df["depth"] == l0),
    }[name]


def _in_sweep(df: pd.DataFrame, name: str) -> pd.Series:
    """Rows of sweep ``name``: by the ``sweep`` column where there is one (T*), else by
    position on the sweep (m*)."""
    return df["sweep"] == name if "sweep" in df else _on_sweep(df, name)


def width_table(runs: pd.DataFrame, size: Size) -> pd.DataFrame:
    """Per (point, rule): m* with its bootstrap interval, resolution, budget and flags."""
    rows = []
    for (n, L, phi, rule), g in runs.groupby([*POINT, "lr"]):
        b = budget(size, int(n), int(L), float(phi))
        g = g[g["steps"] == b]
        if g.empty:
            continue
        seeds = sorted(g["seed"].unique())
        table = g.pivot_table(index="width", columns="seed", values="outcome", aggfunc="first")
        table = table.dropna()  # a width with a seed still missing (interrupted) is left out
        if table.empty:
            continue
        est = width_estimate({int(w): list(r) for w, r in table.iterrows()}, success=SUCCESS,
                             **BOOT)  # fmt: skip
        rows.append(dict(
            n=int(n), depth=int(L), phi=float(phi), inv_phi=1.0 / float(phi), lr=rule,
            critical_width=est.value, low=est.low, high=est.high, resolution=est.resolution,
            at_budget=est.censored, at_min=est.at_min, found=math.isfinite(est.value),
            widths_evaluated=len(table), seeds=len(seeds), budget=b,
            theorem_steps=theorem_steps(int(n), int(L), float(phi)),
            activation=g["activation"].iloc[0], parameterization=g["parameterization"].iloc[0],
        ))  # fmt: skip
    return pd.DataFrame(rows)


def seed_times(runs: pd.DataFrame, size: Size) -> pd.DataFrame:
    """Per T* run and the sweep it belongs to: its first-passage step (inf when censored or
    failed). The base point's runs appear once per sweep (each sweep has its own width)."""
    keep = ["sweep", *POINT, "inv_phi", "lr", "seed", "steps_to_target", "outcome",
            "activation", "parameterization", "lr_used"]  # fmt: skip
    parts = []
    for name in ("n", "depth", "phi"):
        on = _on_sweep(runs, name) & (runs["width"] == time_width(size, name))
        g = runs[on & (runs["steps"] == size.cap)].copy()
        if g.empty:
            continue
        g["sweep"] = name
        g["steps_to_target"] = np.where(g["outcome"] == "reached",
                                        g["steps_run"].astype(float), math.inf)  # fmt: skip
        g["inv_phi"] = 1.0 / g["phi"]
        parts.append(g[keep])
    if not parts:
        return pd.DataFrame(columns=keep)
    return pd.concat(parts, ignore_index=True)


def time_table(st: pd.DataFrame, size: Size) -> pd.DataFrame:
    """Per (point, rule): T* (90% of the seeds) with its bootstrap interval."""
    rows = []
    for (name, n, L, phi, rule), g in st.groupby(["sweep", *POINT, "lr"]):
        times = [None if not math.isfinite(t) else t for t in g["steps_to_target"]]
        est = time_estimate(times, budget=size.cap, q=SUCCESS, **BOOT)
        rows.append(dict(
            sweep=name, width=time_width(size, str(name)), n=int(n), depth=int(L),
            phi=float(phi), inv_phi=1.0 / float(phi), lr=rule,
            steps=est.value, low=est.low, high=est.high, censored=est.censored,
            seeds=est.seeds, failed=int((g["outcome"] == "failed").sum()), budget=size.cap,
            theorem_steps=theorem_steps(int(n), int(L), float(phi)),
            lr_used=float(np.median(g["lr_used"].astype(float))),
        ))  # fmt: skip
    return pd.DataFrame(rows)


def _capped(values: pd.Series, top: float) -> np.ndarray:
    v = values.to_numpy(dtype=float)
    return np.where(np.isfinite(v), v, 2.0 * top)


def theory_slopes(size: Size) -> pd.DataFrame:
    """Each bounds row's width and iteration exponents along each sweep of ``size`` (the
    log-log slope between the sweep's ends, log factors included; rows that need lambda_0,
    ||X||_2 or a batch are left out)."""
    from overparam.theory import bounds

    rows: dict[str, dict] = {}
    for symbol, _, _, _ in SYMBOLS:
        lo, hi = _ends(size, symbol)
        span = math.log(_x(hi, symbol) / _x(lo, symbol))
        a = {b.key: b for b in bounds(n=lo[0], depth=lo[1], phi=lo[2])}
        z = {b.key: b for b in bounds(n=hi[0], depth=hi[1], phi=hi[2])}
        for key, b in a.items():
            if not (math.isfinite(b.width_log10) and math.isfinite(z[key].width_log10)):
                continue
            row = rows.setdefault(key, {"result": key, "paper": b.paper, "theorem": b.theorem,
                                        "algorithm": b.algorithm})  # fmt: skip
            row[f"m_{symbol}"] = (z[key].width_log10 - b.width_log10) * math.log(10) / span
            row[f"T_{symbol}"] = (
                (z[key].iterations_log10 - b.iterations_log10) * math.log(10) / span
            )
    return pd.DataFrame(list(rows.values()))


def exponent_table(
    wt: pd.DataFrame, tt: pd.DataFrame, st: pd.DataFrame, size: Size
) -> pd.DataFrame:
    """Per (quantity, rule, symbol): the fitted exponent with its 95% bootstrap interval and
    the largest exponent the measured range can resolve."""
    from overparam.studies.claims import loglog_fit

    rows = []
    for symbol, x, sweep_name, _ in SYMBOLS:
        for rule in RULES:
            for quantity, df, col, top in (
                ("m*", wt, "critical_width", WIDTH_MAX_DEEP if symbol == "L" else WIDTH_MAX),
                ("T*", st, "steps_to_target", size.cap),
            ):
                if df.empty:
                    continue
                d = df[(df["lr"] == rule) & _in_sweep(df, sweep_name)]
                xs = d[x].to_numpy(float)
                if np.unique(xs).size < 2:
                    continue
                ys = _capped(d[col], top)
                fit = loglog_fit(xs, ys, **BOOT)
                low = WIDTH_MIN if quantity == "m*" else 1.0
                rows.append(dict(
                    quantity=quantity, rule=rule, symbol=symbol, exponent=fit.slope,
                    low=fit.low, high=fit.high, points=fit.distinct_x,
                    resolvable=resolvable_exponent(low, top, fit.x_min, fit.x_max),
                    censored=int((~np.isfinite(d[col].to_numpy(float))).sum()),
                ))  # fmt: skip
    return pd.DataFrame(rows)


def theory_practice(wt: pd.DataFrame, tt: pd.DataFrame) -> pd.DataFrame:
    """Per point and rule: log10 of Theorem 3.3's width and T (constants 1) over the measured
    m* and T*."""
    from overparam.theory import bounds

    keys = [*POINT, "lr"]
    # the base point's T* is measured on every sweep (at its width): the n sweep's is shown
    order = tt["sweep"].map({"n": 0, "phi": 1, "depth": 2})
    times = tt.assign(_o=order).sort_values("_o").drop_duplicates(subset=keys)[[*keys, "steps"]]
    out = wt[[*keys, "critical_width"]].merge(times, on=keys, how="outer")
    th_w, th_t = [], []
    for r in out.itertuples():
        b = {x.key: x for x in bounds(n=int(r.n), depth=int(r.depth), phi=float(r.phi))}
        th_w.append(b["zou-gu-2019/thm-3.3"].width_log10)
        th_t.append(math.log10(theorem_steps(int(r.n), int(r.depth), float(r.phi))))
    out["theory_width_log10"] = th_w
    out["theory_steps_log10"] = th_t
    with np.errstate(divide="ignore", invalid="ignore"):
        out["width_factor_log10"] = out["theory_width_log10"] - np.log10(out["critical_width"])
        out["steps_factor_log10"] = out["theory_steps_log10"] - np.log10(out["steps"])
    return out


def context(tp: pd.DataFrame, tt: pd.DataFrame) -> list[Context]:
    out: list[Context] = []
    f = tp.replace([np.inf, -np.inf], np.nan)
    w = f["width_factor_log10"].dropna()
    if not w.empty:
        out.append(Context(
            r"Theorem 3.3's width (constants 1, $\log^3 m$ solved) / measured $m^*$",
            f"10^{w.min():.1f} to 10^{w.max():.1f} over {len(w)} (point, rule) pairs", cite=THM,
            why="the theorem's width exceeds every width a search here can reach: no outcome "
                "could exceed it",
        ))  # fmt: skip
    t = f[f["lr"] == "theory"]["steps_factor_log10"].dropna()
    if not t.empty:
        out.append(Context(
            r"Theorem 3.3's $T = n^2 L^2 \ln(1/\epsilon)/\phi$ (constant 1) / measured $T^*$, "
            r"at $\eta = 1/(L^2 m)$",
            f"10^{t.min():.1f} to 10^{t.max():.1f} over {len(t)} points", cite=THM,
            why="T = O(...) leaves its constant open: a ratio below 1 would not contradict it",
        ))  # fmt: skip
    if not tt.empty:
        both = tt.pivot_table(index=["sweep", *POINT], columns="lr", values="lr_used").dropna()
        if {"theory", "auto"} <= set(both.columns) and not both.empty:
            r = both["auto"] / both["theory"]
            out.append(Context(
                r"measured stable step (auto) / the theorem's $\eta = 1/(L^2 m)$, "
                r"at the $T^*$ widths",
                f"{r.min():.1f} to {r.max():.1f}", cite=THM,
                why="a property of the step-size rules, not a measured requirement",
            ))  # fmt: skip
    return out


def evidence(data: StudyData) -> Evidence:
    runs = data.runs
    if runs.empty or not {*POINT, "width", "lr", "steps", "train_status"} <= set(runs.columns):
        return Evidence()
    size = SIZES[data.scale]
    r = _runs(runs)
    wt, st = width_table(r, size), seed_times(r, size)
    tt = time_table(st, size)
    frames = {}
    for claim in CLAIMS:
        symbol = claim.key.split("-", 1)[1]
        sweep_name = {"n": "n", "L": "depth", "phi": "phi"}[symbol]
        df = wt if claim.key.startswith("width") else st
        if not df.empty:
            d = df[(df["lr"] == "theory") & _in_sweep(df, sweep_name)]
            frames[claim.key] = d.reset_index(drop=True)
    tp = theory_practice(wt, tt) if not (wt.empty or tt.empty) else pd.DataFrame()
    figures = []
    if not wt.empty:
        figures.append(figure_widths(wt, size))
    if not tt.empty:
        figures.append(figure_times(tt, size))
    tables = {
        "widths": wt, "times": tt, "exponents": exponent_table(wt, tt, st, size),
        "theory-exponents": theory_slopes(size), "theory-practice": tp,
    }  # fmt: skip
    return Evidence(frames=frames, figures=figures, tables=tables,
                    context=context(tp, tt) if not tp.empty else [])  # fmt: skip


# ---------------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------------

XLABELS = {"n": "$n$ (samples)", "L": "$L$ (hidden layers)", "1/phi": r"$1/\phi$"}


def _panels(df: pd.DataFrame, col: str, tops: dict[str, float], theory: dict[str, float],
            ylabel: str, theory_label: str):  # fmt: skip
    from matplotlib.ticker import FixedLocator, NullLocator

    from overparam.studies.plots import COLORS, THEORY, loglog, new_figure, shared_legend

    fig, axes = new_figure(3)
    for ax, (symbol, x, sweep_name, _) in zip(axes, SYMBOLS, strict=True):
        d = df[_in_sweep(df, sweep_name)]
        top = tops[symbol]
        for j, rule in enumerate(RULES):
            g = d[d["lr"] == rule].sort_values(x)
            if g.empty:
                continue
            xs, ys = g[x].to_numpy(float), _capped(g[col], top)
            lo = np.minimum(_capped(g["low"], top), ys)
            hi = np.maximum(_capped(g["high"], top), ys)
            ax.errorbar(xs, ys, yerr=[ys - lo, hi - ys], marker="os"[j], ms=5, capsize=3,
                        color=COLORS[j], label=RULE_LABELS[rule])  # fmt: skip
            cens = ~np.isfinite(g[col].to_numpy(float))
            if cens.any():
                ax.scatter(xs[cens], ys[cens], marker="^", s=60, color=COLORS[3], zorder=4,
                           label="censored (above the range)")  # fmt: skip
            if j == 0 and len(xs):
                p = theory[symbol]
                ax.plot(xs, ys[0] * (xs / xs[0]) ** p, label=theory_label, **THEORY)
        loglog(ax, XLABELS[symbol], ylabel)
        ax.set_ylim(0.5 * (WIDTH_MIN if col == "critical_width" else 1.0), 4.0 * top)
        xs_all = sorted(set(np.round(d[x].to_numpy(float), 6)))
        ax.xaxis.set_major_locator(FixedLocator(xs_all))
        ax.xaxis.set_major_formatter(lambda v, _: f"{v:.3g}")
        ax.xaxis.set_minor_locator(NullLocator())
    shared_legend(fig)
    return fig


def figure_widths(wt: pd.DataFrame, size: Size) -> FigureSpec:
    from overparam.theory import theory_exponents

    tops = {sym: float(WIDTH_MAX_DEEP if sym == "L" else WIDTH_MAX) for sym, *_ in SYMBOLS}
    fig = _panels(wt, "critical_width", tops, theory_exponents("zou-gu-2019"),
                  "critical width $m^*$", r"Thm 3.3 exponent ($n^8 L^{12} / \phi^4$)")  # fmt: skip
    return FigureSpec(
        "scaling_laws_widths",
        f"Critical width $m^*$ (the smallest width at which {SUCCESS:.0%} of the seeds reach "
        f"{TARGET_RATIO:.0%} of $L(0)$ within the budget $T = n^2 L^2 \\ln(1/\\epsilon)/\\phi$, "
        "found by bisection in log-width to 10%) against $n$, $L$ and $1/\\phi$, under the "
        "theorem's step size and the measured one; bars: 95% bootstrap over seeds; dashed: "
        "the exponent of the width condition of [zou-gu-2019, Theorem 3.3] from the first point "
        "(the axis is clipped to the searched range, so it leaves the panel).",
        fig,
    )


def figure_times(tt: pd.DataFrame, size: Size) -> FigureSpec:
    tops = {sym: float(size.cap) for sym, *_ in SYMBOLS}
    fig = _panels(tt, "steps", tops, T_EXPONENTS, r"iterations $T^*$ to $\epsilon L(0)$",
                  r"Thm 3.3 exponent ($n^2 L^2 / \phi$)")  # fmt: skip
    return FigureSpec(
        "scaling_laws_iterations",
        f"Iterations $T^*$ by which {SUCCESS:.0%} of the seeds reached {TARGET_RATIO:.0%} of "
        f"$L(0)$ at a fixed width per sweep ($m = {size.time_width}$ at $L = 1$, "
        f"${size.time_width_deep}$ along $L$), against $n$, $L$ and $1/\\phi$; bars: "
        "95% bootstrap over seeds; dashed: the exponents of $T = O(n^2 L^2 \\log(1/\\epsilon)"
        "/\\phi)$ [zou-gu-2019, Theorem 3.3] from the first point.",
        fig,
    )


STUDY = Study(
    name=NAME,
    title=r"Scaling laws: the width $m^*$ and iterations $T^*$ GD needs against $n$, $L$, $1/\phi$",
    cites=("zou-gu-2019", "allen-zhu-2019"),
    description=(
        "The critical width $m^*$ (bisection in log-width to 10%, at least 90% of the seeds "
        "reaching 1% of $L(0)$ within the theorem's own $T$ with constants 1) and the "
        "iterations $T^*$ at a fixed width, each with a bootstrap interval over seeds, on "
        r"close-pair sphere data along three sweeps through $n = 16$, $L = 1$, $\phi = 0.4$, "
        r"under Theorem 3.3's step size $\eta = 1/(L^2 m)$ and the measured stable step; "
        "exponents judged against [zou-gu-2019, Theorem 3.3] with the resolvable range "
        "stated, beside every bounds row's exponents."
    ),
    claims=CLAIMS,
    plan=plan,
    evidence=evidence,
    hypotheses=(RELU,),
)
