"""Study ``scaling-laws``: the width m* and the iterations T* that GD and SGD really need,
against n, L, 1/phi and the minibatch size B, under the theorem's own step size and a measured
one, beside every theory's exponent.

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

* **m\\*(B) and T\\*(B) for SGD** ([zou-gu-2019, Theorem 3.8]: m = Omega~(n^17 L^12 / (B^4
  phi^8)), T = O~(n^5 / (B phi^2)), eta = O(k B phi / (n^3 m log m))) at one point (n = the
  scale's ``batch_n``, L = 1, phi = 0.4), B from 1 to n. Theorem 3.8's own step with constant 1
  is about 1e-9 there and its T about 1e9 steps, so SGD runs at the measured stable step scaled
  by B / n (the linear scaling Theorem 3.8's eta has in B; B = n is GD at ``lr = auto``), with
  the GD budget times n / B. The target is checked on the full training loss.
* **Lemmas 4.1 and 4.2 along n and phi** (:mod:`overparam.studies.lemma_tightness`): the T*
  runs of the n and phi sweeps carry the ``gradient_ratio`` and ``movement`` probes, so the
  gradient ratio ||grad L||^2 / L at initialization and the movement by the target are fitted
  against the lemmas' n^-2 phi and n sqrt(log n) / sqrt(phi).
* **lambda_0, ||X||_2 and lambda_min(K^(L))** of every point's data (``measure``), which put the
  rows of Du et al. and Oymak-Soltanolkotabi on the same sweeps, and Proposition 3.6's constant
  C = lambda_0 n^2 / phi measured.

Data: ``close-pair`` (n unit inputs in d = 16 whose closest pair is exactly phi apart, the
others >= 0.8 apart, :func:`overparam.data.close_pair`), Gaussian labels, the ``zou-gu``
network. Three GD sweeps through (n, L, phi) = (16, 1, 0.4), and the batch sweep. The claims
(Theorem 3.3's exponents under its own step size, Theorem 3.8's in B) are judged by
:class:`~overparam.studies.claims.Slope`'s grid-resolution rule: an exponent larger than the
measured range can show is inconclusive, with the largest resolvable exponent stated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from overparam.errors import ConfigError
from overparam.studies import lemma_tightness as lemmas
from overparam.studies.claims import Claim, Grid, Hypothesis, Slope
from overparam.studies.exponent_summary import summary
from overparam.studies.hypotheses import RELU, ZOU_GU_NETWORK, ZOU_GU_STEP
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
RULES = ("theory", "auto")  # the GD step-size rules; SGD runs under "sgd"
SGD_THM = "zou-gu-2019, Theorem 3.8"
RULE_LABELS = {"theory": r"$\eta = 1/(L^2 m)$ (Thm 3.3)", "auto": r"$\eta$ = auto",
               "sgd": r"SGD, $\eta = \eta_{auto} B / n$"}  # fmt: skip
POINT = ["n", "depth", "phi"]
#: (symbol, x column, the sweep's name in the plan, theory_exponents key)
SYMBOLS = (("n", "n", "n", "n"), ("L", "depth", "depth", "L"), ("1/phi", "inv_phi", "phi", "1/phi"))
#: the SGD sweep's symbol: (symbol, x column, sweep name, theory_exponents key)
BATCH = ("B", "batch", "batch", "B")
#: Theorem 3.3's iteration exponents, T = O(n^2 L^2 log(1/eps) / phi), and Theorem 3.8's in B
#: (T = O~(n^5 / (B phi^2))).
T_EXPONENTS = {"n": 2.0, "L": 2.0, "1/phi": 1.0, "B": -1.0}
BOOT: dict[str, Any] = dict(n_boot=1000, level=0.95, seed=0)


@dataclass(frozen=True)
class Size:
    ns: tuple[int, ...]
    depths: tuple[int, ...]
    phis: tuple[float, ...]
    seeds: int
    time_width: int  # the fixed width of the T* runs at L = 1 (the n and phi sweeps)
    time_width_deep: int  # ... and along the depth sweep
    cap: int  # the largest GD step budget
    batch_n: int  # n of the SGD sweep (L = 1, phi = 0.4)
    batches: tuple[int, ...]  # its minibatch sizes B (the last is batch_n: GD)
    sgd_cap: int  # the largest SGD step budget


#: The bisection's upper end at L = 1 and along the depth sweep (m x m layers), at every
#: scale: the claims' grids (and so the resolvable exponents) are the same at every scale.
WIDTH_MAX = 4096
WIDTH_MAX_DEEP = 1024


SIZES: dict[str, Size] = {
    "quick": Size(ns=(8, 16, 32), depths=(1, 2, 3), phis=(0.4, 0.2, 0.1), seeds=3,
                  time_width=512, time_width_deep=256, cap=1000,
                  batch_n=16, batches=(1, 4, 16), sgd_cap=4000),
    "laptop": Size(ns=(8, 16, 32, 64, 128), depths=(1, 2, 4, 8),
                   phis=(0.4, 0.28, 0.2, 0.14, 0.1), seeds=8, time_width=1024,
                   time_width_deep=512, cap=20000, batch_n=32, batches=(1, 4, 16, 32),
                   sgd_cap=48000),
    "cluster": Size(ns=(8, 16, 32, 64, 128, 256, 512), depths=(1, 2, 4, 8, 16),
                    phis=(0.4, 0.28, 0.2, 0.14, 0.1, 0.07), seeds=8, time_width=4096,
                    time_width_deep=1024, cap=60000, batch_n=64, batches=(1, 4, 16, 64),
                    sgd_cap=240000),
}  # fmt: skip
#: ``reproduce --scale full`` runs the laptop sizes (at most an hour on 2 cores).
SCALE_SIZES: dict[Scale, Scale] = {"quick": "quick", "laptop": "laptop", "full": "laptop",
                               "cluster": "cluster"}  # fmt: skip


def theorem_steps(n: int, depth: int, phi: float) -> float:
    """T = n^2 L^2 ln(1/eps) / phi, [zou-gu-2019, Theorem 3.3] with its constant 1."""
    return n**2 * depth**2 * math.log(1.0 / TARGET_RATIO) / phi


def budget(size: Size, n: int, depth: int, phi: float) -> int:
    """The step budget of the m* search at a point: the theorem's T (constants 1), at least
    :data:`MIN_BUDGET`, at most the scale's cap."""
    return int(min(size.cap, max(MIN_BUDGET, math.ceil(theorem_steps(n, depth, phi)))))


def sgd_budget(size: Size, batch: int) -> int:
    """The SGD step budget at minibatch size B: the GD budget of the batch sweep's point times
    n / B (Theorem 3.8's T grows as 1 / B), at most the scale's ``sgd_cap``."""
    n, L, phi = size.batch_n, BASE[1], BASE[2]
    return int(min(size.sgd_cap, budget(size, n, L, phi) * n // batch))


def sweep_points(size: Size) -> dict[str, list[tuple[int, int, float]]]:
    """{sweep name: its (n, L, phi) points}; the base point is on all three."""
    n0, l0, p0 = BASE
    return {
        "n": [(n, l0, p0) for n in size.ns],
        "depth": [(n0, L, p0) for L in size.depths],
        "phi": [(n0, l0, phi) for phi in size.phis],
    }


def base_config() -> dict:
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
                               base={**base_config(), "n": n, "depth": L, "phi": phi},
                               grid={"lr": list(RULES)}, critical=critical))  # fmt: skip
    n0, l0, p0 = BASE
    fixed: dict[str, dict[str, Any]] = {"n": {"depth": l0, "phi": p0},
                                        "depth": {"n": n0, "phi": p0},
                                        "phi": {"n": n0, "depth": l0}}  # fmt: skip
    values: dict[str, list[Any]] = {"n": list(s.ns), "depth": list(s.depths),
                                    "phi": list(s.phis)}  # fmt: skip
    for name in ("n", "depth", "phi"):
        base = {**base_config(), **fixed[name], "width": time_width(s, name), "steps": s.cap}
        if name in lemmas.SWEEPS:  # Lemmas 4.1 and 4.2 measured along n and phi
            base["probes"] = list(lemmas.PROBES)
        grid: dict[str, list[Any]] = {name: values[name], "lr": list(RULES), "seed": seeds}
        specs.append(sweep(NAME, scale, part=f"time/{name}", base=base, grid=grid))
    specs.extend(plan_sgd(s, scale))
    return specs


def sgd_base(size: Size, batch: int) -> dict[str, Any]:
    """The config of the SGD sweep at minibatch size ``batch``: lr = auto times B / n."""
    n = size.batch_n
    return {**base_config(), "n": n, "depth": BASE[1], "phi": BASE[2], "algorithm": "sgd",
            "batch": batch, "lr": "auto", "lr_scale": batch / n}  # fmt: skip


def plan_sgd(s: Size, scale: Scale) -> list[SweepSpec]:
    """Per minibatch size B: a critical-width search, and the T* runs at the fixed width."""
    specs = []
    for B in s.batches:
        critical = dict(
            target_ratio=TARGET_RATIO, success=SUCCESS, seeds=s.seeds, width_min=WIDTH_MIN,
            width_max=WIDTH_MAX, rel_tol=RESOLUTION, method="bisect", max_steps=sgd_budget(s, B),
        )  # fmt: skip
        specs.append(sweep(NAME, scale, part=f"sgd-width/B{B}", base=sgd_base(s, B),
                           critical=critical))  # fmt: skip
        base = {**sgd_base(s, B), "width": s.time_width, "steps": sgd_budget(s, B)}
        specs.append(sweep(NAME, scale, part=f"sgd-time/B{B}", base=base,
                           grid={"seed": list(range(s.seeds))}))  # fmt: skip
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

    s = SIZES["cluster"]
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
        hypotheses=(RELU, ZOU_GU_NETWORK, ZOU_GU_STEP),
    )


def _time_claim(symbol: str, x: str) -> Claim:
    p = T_EXPONENTS[symbol]
    # per-seed first-passage times are exact integers; a censored one lies above the budget
    grid = Grid(1.01, 0.5, float(max(s.cap for s in SIZES.values())))
    return Claim(
        f"iterations-{'phi' if symbol == '1/phi' else symbol}",
        f"the iterations $T^*$ to $\\epsilon L(0)$ grow no faster in ${_tex(symbol)}$ than "
        r"$T = O(n^2 L^2 \log(1/\epsilon) / \phi)$, at the theorem's step size and a fixed width",
        cite=THM,
        quantity="steps_to_target",
        test=Slope(p, 0.0, kind="at_most", x=x, grid=grid),
        hypotheses=(RELU, ZOU_GU_NETWORK, ZOU_GU_STEP),
    )


SGD = Hypothesis("algorithm", allowed=("sgd",), reason=f"{SGD_THM}: SGD with minibatch B")
PROP = "zou-gu-2019, Proposition 3.6"


def _batch_claims() -> tuple[Claim, Claim]:
    """Theorem 3.8's exponents in B: m = Omega~(... / B^4), T = O~(... / B)."""
    from overparam.theory import theory_exponents

    p = theory_exponents("zou-gu-2019/thm-3.8")["B"]
    grid = Grid(1.0 + RESOLUTION, float(WIDTH_MIN), float(WIDTH_MAX))
    width = Claim(
        "width-B",
        r"the critical width $m^*$ of SGD falls no faster in the minibatch size $B$ than the "
        r"width condition $m = \tilde\Omega(n^{17} L^{12} / (B^4 \phi^8))$, at "
        r"$\eta = \eta_{auto} B / n$",
        cite=SGD_THM,
        quantity="critical_width",
        test=Slope(p, 0.0, kind="at_least", x="batch", grid=grid),
        hypotheses=(RELU, ZOU_GU_NETWORK, SGD),
    )
    top = float(max(s.sgd_cap for s in SIZES.values()))
    time = Claim(
        "iterations-B",
        r"the iterations $T^*$ of SGD fall no faster in $B$ than "
        r"$T = \tilde O(n^5 / (B \phi^2))$, at $\eta = \eta_{auto} B / n$ and a fixed width",
        cite=SGD_THM,
        quantity="steps_to_target",
        test=Slope(T_EXPONENTS["B"], 0.0, kind="at_least", x="batch", grid=Grid(1.01, 0.5, top)),
        hypotheses=(RELU, ZOU_GU_NETWORK, SGD),
    )
    return width, time


EXPONENT_CLAIMS = (
    tuple(_width_claim(sym, x) for sym, x, _, _ in SYMBOLS)
    + tuple(_time_claim(sym, x) for sym, x, _, _ in SYMBOLS)
    + _batch_claims()
)
CLAIMS = EXPONENT_CLAIMS + lemmas.CLAIMS
#: claim key suffix -> (the sweep it is judged on, the rule)
CLAIM_SWEEPS = {"n": ("n", "theory"), "L": ("depth", "theory"), "phi": ("phi", "theory"),
                "B": ("batch", "sgd")}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# m* and T* from the stored runs
# ---------------------------------------------------------------------------------------------


def _runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Stored runs with typed point columns, ``rule`` (theory, auto or sgd), ``batch`` (n for
    GD) and the outcome of each."""
    out = runs.copy()
    for c in ("n", "depth", "width", "seed", "steps"):
        out[c] = out[c].astype(int)
    out["phi"] = out["phi"].astype(float)
    out["lr"] = out["lr"].astype(str)
    for c, default in (("activation", "relu"), ("parameterization", "zou-gu"),
                       ("algorithm", "gd")):  # fmt: skip
        out[c] = out[c].fillna(default).astype(str) if c in out else default
    sgd = out["algorithm"] == "sgd"
    out["rule"] = np.where(sgd, "sgd", out["lr"])
    batch = out["batch"] if "batch" in out else pd.Series(np.nan, index=out.index)
    out["batch"] = np.where(sgd, pd.to_numeric(batch, errors="coerce"), out["n"]).astype(int)
    out["outcome"] = [outcome(s, t) for s, t in zip(out["status"], out["train_status"],
                                                     strict=True)]  # fmt: skip
    return out


def _on_sweep(df: pd.DataFrame, name: str, size: Size) -> pd.Series:
    n0, l0, p0 = BASE
    gd = df["rule"] != "sgd"
    return {
        "n": gd & (df["depth"] == l0) & np.isclose(df["phi"], p0),
        "depth": gd & (df["n"] == n0) & np.isclose(df["phi"], p0),
        "phi": gd & (df["n"] == n0) & (df["depth"] == l0),
        "batch": ~gd & (df["n"] == size.batch_n),
    }[name]


def _in_sweep(df: pd.DataFrame, name: str, size: Size) -> pd.Series:
    """Rows of sweep ``name``: by the ``sweep`` column where there is one (T*), else by
    position on the sweep (m*)."""
    return df["sweep"] == name if "sweep" in df else _on_sweep(df, name, size)


def _search_budget(size: Size, n: int, depth: int, phi: float, rule: str, batch: int) -> int:
    return sgd_budget(size, batch) if rule == "sgd" else budget(size, n, depth, phi)


def width_table(runs: pd.DataFrame, size: Size) -> pd.DataFrame:
    """Per (point, rule, B): m* with its bootstrap interval, resolution, budget and flags."""
    rows = []
    for (n, L, phi, rule, B), g in runs.groupby([*POINT, "rule", "batch"]):
        b = _search_budget(size, int(n), int(L), float(phi), str(rule), int(B))
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
            n=int(n), depth=int(L), phi=float(phi), inv_phi=1.0 / float(phi), rule=rule,
            lr=g["lr"].iloc[0], batch=int(B), algorithm=g["algorithm"].iloc[0],
            critical_width=est.value, low=est.low, high=est.high, resolution=est.resolution,
            at_budget=est.censored, at_min=est.at_min, found=math.isfinite(est.value),
            widths_evaluated=len(table), seeds=len(seeds), budget=b,
            theorem_steps=theorem_steps(int(n), int(L), float(phi)),
            activation=g["activation"].iloc[0], parameterization=g["parameterization"].iloc[0],
        ))  # fmt: skip
    return pd.DataFrame(rows)


def seed_times(runs: pd.DataFrame, size: Size) -> pd.DataFrame:
    """Per T* run and the sweep it belongs to: its first-passage step (inf when censored or
    failed) and its budget. The base point's runs appear once per sweep (each sweep has its own
    width)."""
    keep = ["sweep", *POINT, "inv_phi", "rule", "lr", "batch", "algorithm", "seed",
            "steps_to_target", "budget", "outcome", "activation", "parameterization",
            "lr_used", *(["run_id"] if "run_id" in runs else [])]  # fmt: skip
    parts = []
    for name in ("n", "depth", "phi", "batch"):
        on = _on_sweep(runs, name, size) & (runs["width"] == time_width(size, name))
        if name == "batch":
            cap = runs["batch"].map(lambda b: sgd_budget(size, int(b)))
        else:
            cap = pd.Series(size.cap, index=runs.index)
        g = runs[on & (runs["steps"] == cap)].copy()
        if g.empty:
            continue
        g["sweep"] = name
        g["budget"] = cap[g.index]
        g["steps_to_target"] = np.where(g["outcome"] == "reached",
                                        g["steps_run"].astype(float), math.inf)  # fmt: skip
        g["inv_phi"] = 1.0 / g["phi"]
        parts.append(g[keep])
    if not parts:
        return pd.DataFrame(columns=keep)
    return pd.concat(parts, ignore_index=True)


def time_table(st: pd.DataFrame, size: Size) -> pd.DataFrame:
    """Per (point, rule, B): T* (90% of the seeds) with its bootstrap interval."""
    rows = []
    for (name, n, L, phi, rule, B), g in st.groupby(["sweep", *POINT, "rule", "batch"]):
        cap = int(g["budget"].iloc[0])
        times = [None if not math.isfinite(t) else t for t in g["steps_to_target"]]
        est = time_estimate(times, budget=cap, q=SUCCESS, **BOOT)
        rows.append(dict(
            sweep=name, width=time_width(size, str(name)), n=int(n), depth=int(L),
            phi=float(phi), inv_phi=1.0 / float(phi), rule=rule, batch=int(B),
            lr=g["lr"].iloc[0], algorithm=g["algorithm"].iloc[0],
            steps=est.value, low=est.low, high=est.high, censored=est.censored,
            seeds=est.seeds, failed=int((g["outcome"] == "failed").sum()), budget=cap,
            theorem_steps=theorem_steps(int(n), int(L), float(phi)),
            lr_used=float(np.median(g["lr_used"].astype(float))),
        ))  # fmt: skip
    return pd.DataFrame(rows)


def _capped(values: pd.Series, top: float) -> np.ndarray:
    v = values.to_numpy(dtype=float)
    return np.where(np.isfinite(v), v, 2.0 * top)


def measured_inputs(meas: pd.DataFrame) -> dict[tuple[int, int, float], dict[str, float]]:
    """{(n, L, phi): the median over seeds of the measured phi, lambda_0, lambda_min(K^(L))
    and ||X||_2} from ``measure``'s rows (empty without them)."""
    if meas.empty or "lambda0" not in meas:
        return {}
    cols = ["phi_measured", "lambda0", "lambda_min_K", "x_norm"]
    med = meas.groupby(POINT)[cols].median()
    return {(int(n), int(L), round(float(phi), 6)): dict(r) for (n, L, phi), r in med.iterrows()}


def _bounds_at(point: tuple[int, int, float], inputs: dict, batch: int | None = None) -> dict:
    from overparam.theory import bounds

    n, L, phi = point
    m = inputs.get((n, L, round(phi, 6)), {})

    def pos(key: str) -> float | None:
        v = m.get(key)
        return float(v) if v is not None and math.isfinite(v) and v > 0 else None

    got = bounds(
        n=n, depth=L, phi=pos("phi_measured") or phi, batch=batch, lambda0=pos("lambda0"),
        lambda_min_K=pos("lambda_min_K"), x_norm=pos("x_norm"),
    )  # fmt: skip
    return {b.key: b for b in got}


def theory_slopes(size: Size, meas: pd.DataFrame | None = None) -> pd.DataFrame:
    """Each bounds row's width and iteration exponents along each sweep of ``size`` (the
    log-log slope between the sweep's ends, log factors included). The rows that need
    lambda_0, ||X||_2 or lambda_min(K^(L)) use the values measured on the ends' data
    (``meas``); the SGD rows appear along the batch sweep."""
    inputs = measured_inputs(meas if meas is not None else pd.DataFrame())
    rows: dict[str, dict] = {}
    ends: list[tuple[str, Any, Any, tuple[int, int] | None]] = [
        (sym, *_ends(size, sym), None) for sym, *_ in SYMBOLS
    ]
    b_lo, b_hi = min(size.batches), max(size.batches)
    point = (size.batch_n, BASE[1], BASE[2])
    ends.append(("B", point, point, (b_lo, b_hi)))
    for symbol, lo, hi, batches in ends:
        if batches is None:
            span = math.log(_x(hi, symbol) / _x(lo, symbol))
            a, z = _bounds_at(lo, inputs), _bounds_at(hi, inputs)
        else:
            span = math.log(batches[1] / batches[0])
            a, z = _bounds_at(lo, inputs, batches[0]), _bounds_at(hi, inputs, batches[1])
        for key, b in a.items():
            if not (math.isfinite(b.width_log10) and math.isfinite(z[key].width_log10)):
                continue
            if batches is not None and b.algorithm.upper() == "GD":
                continue  # B enters only the SGD rows
            row = rows.setdefault(key, {"result": key, "paper": b.paper, "theorem": b.theorem,
                                        "algorithm": b.algorithm})  # fmt: skip
            row[f"m_{symbol}"] = (z[key].width_log10 - b.width_log10) * math.log(10) / span
            row[f"T_{symbol}"] = (
                (z[key].iterations_log10 - b.iterations_log10) * math.log(10) / span
            )
    return pd.DataFrame(list(rows.values()))


def _sweeps() -> tuple[tuple[str, str, str, tuple[str, ...]], ...]:
    """(symbol, x column, sweep name, rules) of every sweep, the batch sweep last."""
    gd = tuple((sym, x, name, RULES) for sym, x, name, _ in SYMBOLS)
    return (*gd, (BATCH[0], BATCH[1], BATCH[2], ("sgd",)))


def exponent_table(
    wt: pd.DataFrame, tt: pd.DataFrame, st: pd.DataFrame, size: Size
) -> pd.DataFrame:
    """Per (quantity, rule, symbol): the fitted exponent with its 95% bootstrap interval and
    the largest exponent the measured range can resolve."""
    from overparam.studies.claims import loglog_fit

    rows = []
    for symbol, x, sweep_name, rules in _sweeps():
        for rule in rules:
            for quantity, df, col, top in (
                ("m*", wt, "critical_width", WIDTH_MAX_DEEP if symbol == "L" else WIDTH_MAX),
                ("T*", st, "steps_to_target", _time_top(size, symbol)),
            ):
                if df.empty:
                    continue
                d = df[(df["rule"] == rule) & _in_sweep(df, sweep_name, size)]
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


def _time_top(size: Size, symbol: str) -> float:
    return float(size.sgd_cap if symbol == "B" else size.cap)


def theory_practice(wt: pd.DataFrame, tt: pd.DataFrame) -> pd.DataFrame:
    """Per point and rule: log10 of the theorem's width and T (constants 1) over the measured
    m* and T*: Theorem 3.3 for GD, Theorem 3.8 (at the run's B) for SGD."""
    from overparam.theory import bounds

    keys = [*POINT, "rule", "batch"]
    # the base point's T* is measured on every sweep (at its width): the n sweep's is shown
    order = tt["sweep"].map({"n": 0, "phi": 1, "depth": 2, "batch": 3})
    times = tt.assign(_o=order).sort_values("_o").drop_duplicates(subset=keys)[[*keys, "steps"]]
    out = wt[[*keys, "critical_width"]].merge(times, on=keys, how="outer")
    th_w, th_t, names = [], [], []
    for r in out.itertuples():
        n, L, phi = int(r.n), int(r.depth), float(r.phi)
        if r.rule == "sgd":
            b = {x.key: x for x in bounds(n=n, depth=L, phi=phi, batch=int(r.batch),
                                          eps=TARGET_RATIO)}["zou-gu-2019/thm-3.8"]  # fmt: skip
            th_w.append(b.width_log10)
            th_t.append(b.iterations_log10)
            names.append(SGD_THM)
            continue
        b = {x.key: x for x in bounds(n=n, depth=L, phi=phi)}["zou-gu-2019/thm-3.3"]
        th_w.append(b.width_log10)
        th_t.append(math.log10(theorem_steps(n, L, phi)))
        names.append(THM)
    out["theorem"] = names
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
    t = f[f["rule"] == "theory"]["steps_factor_log10"].dropna()
    if not t.empty:
        out.append(Context(
            r"Theorem 3.3's $T = n^2 L^2 \ln(1/\epsilon)/\phi$ (constant 1) / measured $T^*$, "
            r"at $\eta = 1/(L^2 m)$",
            f"10^{t.min():.1f} to 10^{t.max():.1f} over {len(t)} points", cite=THM,
            why="T = O(...) leaves its constant open: a ratio below 1 would not contradict it",
        ))  # fmt: skip
    if not tt.empty:
        both = tt.pivot_table(index=["sweep", *POINT], columns="rule",
                              values="lr_used").dropna()  # fmt: skip
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
    if data.scale not in SIZES:
        raise ConfigError("scale", data.scale, ", ".join(SIZES))
    size = SIZES[data.scale]
    r = _runs(runs)
    wt, st = width_table(r, size), seed_times(r, size)
    tt = time_table(st, size)
    lemma_runs = lemmas.per_run(data, st)
    frames = lemmas.frames(lemma_runs)
    for claim in EXPONENT_CLAIMS:
        sweep_name, rule = CLAIM_SWEEPS[claim.key.split("-", 1)[1]]
        df = wt if claim.key.startswith("width") else st
        if not df.empty:
            d = df[(df["rule"] == rule) & _in_sweep(df, sweep_name, size)]
            frames[claim.key] = d.reset_index(drop=True)
    tp = theory_practice(wt, tt) if not (wt.empty or tt.empty) else pd.DataFrame()
    figures = []
    if not wt.empty:
        figures.append(figure_widths(wt, size))
    if not tt.empty:
        figures.append(figure_times(tt, size))
    meas = data.measurements
    tables = {
        "widths": wt, "times": tt, "exponents": exponent_table(wt, tt, st, size),
        "theory-exponents": theory_slopes(size, meas), "theory-practice": tp,
        "prop-3.6": proposition_constant(meas), "lemmas": lemmas.table(lemma_runs),
        "lemma-exponents": lemmas.exponents(lemma_runs),
    }  # fmt: skip
    tables = {"summary": summary(tables["exponents"], tables["lemma-exponents"]), **tables}
    ctx = context(tp, tt) if not tp.empty else []
    ctx += constant_context(tables["prop-3.6"]) + lemmas.context(tables["lemmas"])
    return Evidence(frames=frames, figures=figures, tables=tables, context=ctx)


# ---------------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------------

XLABELS = {"n": "$n$ (samples)", "L": "$L$ (hidden layers)", "1/phi": r"$1/\phi$",
           "B": "$B$ (minibatch, SGD)"}  # fmt: skip
COLOR_OF = {"theory": 0, "auto": 1, "sgd": 2}


def _panels(df: pd.DataFrame, col: str, tops: dict[str, float], theory: dict[str, float],
            ylabel: str, theory_labels: dict[str, str], size: Size):  # fmt: skip
    from matplotlib.ticker import FixedLocator, NullLocator

    from overparam.studies.plots import COLORS, THEORY, loglog, new_figure, shared_legend

    fig, axes = new_figure(4)
    for ax, (symbol, x, sweep_name, rules) in zip(axes, _sweeps(), strict=True):
        d = df[_in_sweep(df, sweep_name, size)]
        top = tops[symbol]
        for j, rule in enumerate(rules):
            g = d[d["rule"] == rule].sort_values(x)
            if g.empty:
                continue
            xs, ys = g[x].to_numpy(float), _capped(g[col], top)
            lo = np.minimum(_capped(g["low"], top), ys)
            hi = np.maximum(_capped(g["high"], top), ys)
            c = COLOR_OF[rule]
            ax.errorbar(xs, ys, yerr=[ys - lo, hi - ys], marker="osD"[c], ms=5, capsize=3,
                        color=COLORS[c], label=RULE_LABELS[rule])  # fmt: skip
            cens = ~np.isfinite(g[col].to_numpy(float))
            if cens.any():
                ax.scatter(xs[cens], ys[cens], marker="^", s=60, color=COLORS[3], zorder=4,
                           label="censored (above the range)")  # fmt: skip
            if j == 0 and len(xs):
                p = theory[symbol]
                label = theory_labels["B" if symbol == "B" else "gd"]
                ax.plot(xs, ys[0] * (xs / xs[0]) ** p, label=label, **THEORY)
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

    tops = {sym: float(WIDTH_MAX_DEEP if sym == "L" else WIDTH_MAX) for sym, *_ in _sweeps()}
    theory = {**theory_exponents("zou-gu-2019"), "B": theory_exponents("zou-gu-2019/thm-3.8")["B"]}
    labels = {"gd": r"Thm 3.3 exponent ($n^8 L^{12} / \phi^4$)",
              "B": r"Thm 3.8 exponent ($B^{-4}$)"}  # fmt: skip
    fig = _panels(wt, "critical_width", tops, theory, "critical width $m^*$", labels, size)
    return FigureSpec(
        "scaling_laws_widths",
        f"Critical width $m^*$ (the smallest width at which {SUCCESS:.0%} of the seeds reach "
        f"{TARGET_RATIO:.0%} of $L(0)$ within the budget $T = n^2 L^2 \\ln(1/\\epsilon)/\\phi$, "
        "found by bisection in log-width to 10%) against $n$, $L$ and $1/\\phi$ under the "
        "theorem's step size and the measured one, and against the minibatch size $B$ of SGD "
        f"at $n = {size.batch_n}$ (budget times $n/B$); bars: 95% bootstrap over seeds; "
        "dashed: the exponents of the width conditions of [zou-gu-2019, Theorems 3.3 and 3.8] "
        "from the first point (the axis is clipped to the searched range, so they leave the "
        "panel).",
        fig,
    )


def figure_times(tt: pd.DataFrame, size: Size) -> FigureSpec:
    tops = {sym: _time_top(size, sym) for sym, *_ in _sweeps()}
    labels = {"gd": r"Thm 3.3 exponent ($n^2 L^2 / \phi$)", "B": r"Thm 3.8 exponent ($B^{-1}$)"}
    fig = _panels(tt, "steps", tops, T_EXPONENTS, r"iterations $T^*$ to $\epsilon L(0)$",
                  labels, size)  # fmt: skip
    return FigureSpec(
        "scaling_laws_iterations",
        f"Iterations $T^*$ by which {SUCCESS:.0%} of the seeds reached {TARGET_RATIO:.0%} of "
        f"$L(0)$ at a fixed width per sweep ($m = {size.time_width}$ at $L = 1$ and for SGD, "
        f"${size.time_width_deep}$ along $L$), against $n$, $L$, $1/\\phi$ and SGD's $B$; bars: "
        "95% bootstrap over seeds; dashed: the exponents of $T = O(n^2 L^2 \\log(1/\\epsilon)"
        "/\\phi)$ [zou-gu-2019, Theorem 3.3] and of Theorem 3.8's $1/B$ from the first point.",
        fig,
    )


# ---------------------------------------------------------------------------------------------
# measured inputs: lambda_0, ||X||_2, lambda_min(K^(L)) and Proposition 3.6's constant
# ---------------------------------------------------------------------------------------------


def measure(scale: Scale) -> pd.DataFrame:
    """Per (point, seed) of every sweep: the data's measured phi, lambda_0 = lambda_min(H^inf)
    [zou-gu-2019, Proposition 3.6], lambda_min(K^(L)) [du-2019-deep, eq. (7)] and ||X||_2, in
    float64 (:func:`overparam.theory.measure_inputs`), and C = lambda_0 n^2 / phi. No
    training."""
    from overparam.config import build_config
    from overparam.run import build_data
    from overparam.theory import measure_inputs

    s = SIZES[scale]
    points = {p for pts in sweep_points(s).values() for p in pts}
    points.add((s.batch_n, BASE[1], BASE[2]))
    rows = []
    for n, L, phi in sorted(points):
        for seed in range(s.seeds):
            cfg = build_config({**base_config(), "n": n, "depth": L, "phi": phi, "seed": seed,
                                "width": WIDTH_MIN})  # fmt: skip
            train, _ = build_data(cfg)
            m = measure_inputs(train, L)
            rows.append(dict(
                n=n, depth=L, phi=phi, seed=seed, phi_measured=m.phi, lambda0=m.lambda0,
                lambda_min_K=m.lambda_min_K, x_norm=m.x_norm,
                prop_constant=m.lambda0 * n**2 / m.phi,
            ))  # fmt: skip
    return pd.DataFrame(rows)


def proposition_constant(meas: pd.DataFrame) -> pd.DataFrame:
    """Per point: the median and smallest over seeds of C = lambda_0 n^2 / phi, the constant of
    [zou-gu-2019, Proposition 3.6] (lambda_0 >= C phi / n^2), with the median lambda_0."""
    if meas.empty or "prop_constant" not in meas:
        return pd.DataFrame()
    g = meas.groupby(POINT)
    out = pd.DataFrame({"lambda0": g["lambda0"].median(), "x_norm": g["x_norm"].median(),
                        "C_median": g["prop_constant"].median(),
                        "C_min": g["prop_constant"].min(), "seeds": g.size()})  # fmt: skip
    return out.reset_index()


def constant_context(pc: pd.DataFrame) -> list[Context]:
    if pc.empty:
        return []
    return [Context(
        r"Proposition 3.6's constant $C = \lambda_0 n^2 / \phi$ on this data",
        f"{pc['C_min'].min():.3g} to {pc['C_median'].max():.3g} over {len(pc)} points "
        f"(n {pc['n'].min()}..{pc['n'].max()})", cite=PROP,
        why=r"the proposition states $C > 0$ without its value: no measured $C > 0$ could fail "
            r"it; its growth with $n$ is how loose the $\phi / n^2$ factor is here",
    )]  # fmt: skip


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
        "stated, beside every bounds row's exponents. SGD's $m^*$ and $T^*$ against the "
        "minibatch size $B$ [zou-gu-2019, Theorem 3.8], and the tightness in $n$ and $1/\\phi$ "
        "of the gradient lower bound (Lemma 4.1) and the movement radius (Lemma 4.2) on the "
        "$T^*$ runs."
    ),
    claims=CLAIMS,
    plan=plan,
    evidence=evidence,
    measure=measure,
    hypotheses=(RELU,),
    scale_sizes=SCALE_SIZES,
)
