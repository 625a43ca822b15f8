"""Where the width gap comes from: the tightness in n and 1/phi of the two lemmas that
[zou-gu-2019]'s Theorem 3.3 chains together, measured on the T* runs of ``scaling-laws``'s n and
phi sweeps (one fixed width, L = 1).

* [zou-gu-2019, Lemma 4.1]: near initialization ||grad L(W)||_F^2 >= C m phi L(W) / (k n^2). At a
  fixed width the ratio ||grad L||^2 / L may fall no faster than n^-2 in n and than phi in
  1/phi; a faster fall would cross the bound at large enough n or 1/phi. It is judged at
  initialization (step 0 of every run: no censoring, identical under both step-size rules) and
  its minimum along the trajectory is shown beside it.
* [zou-gu-2019, Lemma 4.2]: with eta = O(k / (L^2 m)), ||W_l^t - W_l^0||_2 <= sqrt(C k n^2 log(n)
  / (m phi)). The movement omega at the end of a run may grow no faster than n sqrt(log n) in n
  and than phi^-1/2 in 1/phi. Only runs that reached the target count, because a run cut off by
  its budget has not finished moving.

The measured / bound ratio at each point (constants 1) says how loose each lemma is there. The
gap between its exponent and the measured one is the part of Theorem 3.3's n^8 / phi^4 that the
lemma contributes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from overparam.probes.movement import movement_bound
from overparam.studies.claims import Claim, Hypothesis, Slope, loglog_fit
from overparam.studies.frames import probe_rows
from overparam.studies.hypotheses import RELU, ZOU_GU_NETWORK, ZOU_GU_STEP
from overparam.studies.study import Context, StudyData

#: the probes the T* runs of the n and phi sweeps carry
PROBES = ("gradient_ratio", "movement")
SWEEPS = ("n", "phi")
#: the columns :func:`per_run` measures
MEASURED = ("grad_ratio_init", "grad_bound", "grad_ratio_min", "movement", "movement_bound")
GRADIENT = "zou-gu-2019, Lemma 4.1"
MOVEMENT = "zou-gu-2019, Lemma 4.2"
#: the lemmas' exponents (their polynomial part) in n and 1/phi at a fixed width
EXPONENTS = {("grad_ratio_init", "n"): -2.0, ("grad_ratio_init", "1/phi"): -1.0,
             ("movement", "n"): 1.0, ("movement", "1/phi"): 0.5}  # fmt: skip
X = {"n": "n", "1/phi": "inv_phi"}
SWEEP_OF = {"n": "n", "1/phi": "phi"}
BOOT: dict[str, Any] = dict(n_boot=1000, level=0.95, seed=0)
#: the largest n a scale sweeps: Lemma 4.2's sqrt(log n) factor's share of the slope is
#: taken between n = 8 and it
N_RANGE = (8, 512)


def log_tolerance(n_lo: int = N_RANGE[0], n_hi: int = N_RANGE[1]) -> float:
    """The sqrt(log n) factor's share of Lemma 4.2's slope in n between n_lo and n_hi,
    rounded up to 0.05 (the bound grows that much faster than n)."""
    b = [movement_bound(n, 1, 1, 1.0) for n in (n_lo, n_hi)]
    extra = math.log(b[1] / b[0]) / math.log(n_hi / n_lo) - 1.0
    return math.ceil(max(extra, 0.0) / 0.05 - 1e-9) * 0.05


def per_run(data: StudyData, seed_times: pd.DataFrame) -> pd.DataFrame:
    """One row per T* run on the n and phi sweeps: the gradient ratio ||grad L||^2 / L at step
    0 (``grad_ratio_init``) and its minimum over the run (``grad_ratio_min``), each with
    Lemma 4.1's bound m phi / (k n^2), and the movement omega at the run's last evaluation with
    Lemma 4.2's bound (``movement``: NaN unless the run reached the target)."""
    cols = ["sweep", "n", "depth", "phi", "inv_phi", "rule", "lr", "seed", "outcome", "run_id",
            "activation", "parameterization"]  # fmt: skip
    st = seed_times[seed_times["sweep"].isin(SWEEPS)]
    g = probe_rows(data, "gradient_ratio", "lower_zou_gu")
    m = probe_rows(data, "movement", "omega")
    if st.empty or "run_id" not in st or (g.empty and m.empty):
        return pd.DataFrame(columns=[*cols, *MEASURED])
    out = st[cols].copy()
    init = g[g["step"] == 0].groupby("run_id")[["value", "bound"]].first()
    out["grad_ratio_init"] = out["run_id"].map(init["value"])
    out["grad_bound"] = out["run_id"].map(init["bound"])
    out["grad_ratio_min"] = out["run_id"].map(g.groupby("run_id")["value"].min())
    last = m[m["step"] == m.groupby("run_id")["step"].transform("max")]
    end = last.groupby("run_id")[["value", "bound"]].max()
    reached = out["outcome"] == "reached"
    out["movement"] = np.where(reached, out["run_id"].map(end["value"]), np.nan)
    out["movement_bound"] = out["run_id"].map(end["bound"])
    return out.reset_index(drop=True)


def table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (sweep, point, rule): medians over seeds of each measured quantity, its bound and
    measured / bound (the lemma's tightness there)."""
    if runs.empty:
        return pd.DataFrame()
    rows = []
    for (name, n, phi, rule), g in runs.groupby(["sweep", "n", "phi", "rule"]):
        row = dict(sweep=name, n=int(n), phi=float(phi), inv_phi=1.0 / float(phi), rule=rule,
                   seeds=len(g), reached=int((g["outcome"] == "reached").sum()))  # fmt: skip
        for col, bound in (("grad_ratio_init", "grad_bound"), ("grad_ratio_min", "grad_bound"),
                           ("movement", "movement_bound")):  # fmt: skip
            row[col] = _median(g[col])
            row[f"{col}_over_bound"] = _median(g[col] / g[bound])
        row["grad_bound"] = _median(g["grad_bound"])
        row["movement_bound"] = _median(g["movement_bound"])
        rows.append(row)
    return pd.DataFrame(rows)


def _median(v: pd.Series) -> float:
    x = pd.to_numeric(v, errors="coerce").to_numpy(float)
    x = x[np.isfinite(x)]
    return float(np.median(x)) if x.size else math.nan


def exponents(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (quantity, rule, symbol): the fitted exponent over seeds with its 95% bootstrap
    interval, beside the lemma's."""
    rows = []
    if runs.empty:
        return pd.DataFrame()
    for (quantity, symbol), lemma in EXPONENTS.items():
        for rule, g in runs[runs["sweep"] == SWEEP_OF[symbol]].groupby("rule"):
            xs, ys = g[X[symbol]].to_numpy(float), g[quantity].to_numpy(float)
            keep = np.isfinite(ys) & (ys > 0)
            if np.unique(xs[keep]).size < 2:
                continue
            fit = loglog_fit(xs[keep], ys[keep], **BOOT)
            rows.append(dict(quantity=quantity, rule=rule, symbol=symbol, exponent=fit.slope,
                             low=fit.low, high=fit.high, lemma=lemma,
                             cite=GRADIENT if quantity.startswith("grad") else MOVEMENT,
                             rows=int(keep.sum()), left_out=int((~keep).sum())))  # fmt: skip
    return pd.DataFrame(rows)


def frames(runs: pd.DataFrame, rule: str = "theory") -> dict[str, pd.DataFrame]:
    """{claim key: the per-run rows it is judged on}: the n or phi sweep under ``rule``."""
    out: dict[str, pd.DataFrame] = {}
    if runs.empty:
        return out
    for claim in CLAIMS:
        symbol = claim.key.split("-", 1)[1].replace("phi", "1/phi")
        d = runs[(runs["sweep"] == SWEEP_OF[symbol]) & (runs["rule"] == rule)]
        out[claim.key] = d.reset_index(drop=True)
    return out


def context(tab: pd.DataFrame, rule: str = "theory") -> list[Context]:
    """How loose each lemma is along the n sweep: measured / bound (constants 1) at its ends."""
    if tab.empty:
        return []
    d = tab[(tab["sweep"] == "n") & (tab["rule"] == rule)].sort_values("n")
    out = []
    ratio = r"$(\|\nabla L\|^2 / L) / (m \phi / (k n^2))$"
    for col, label, cite in (
        ("grad_ratio_init", f"Lemma 4.1: {ratio} at initialization", GRADIENT),
        ("grad_ratio_min", f"Lemma 4.1: {ratio}, its minimum along training", GRADIENT),
        ("movement", r"Lemma 4.2: $\omega / \sqrt{k n^2 \log n / (m \phi)}$ by the target",
         MOVEMENT),
    ):  # fmt: skip
        v = d[["n", f"{col}_over_bound"]].dropna()
        if v.empty:
            continue
        a, z = v.iloc[0], v.iloc[-1]
        out.append(Context(
            label, f"{a.iloc[1]:.3g} at n = {int(a['n'])} to {z.iloc[1]:.3g} at n = {int(z['n'])}",
            cite=cite,
            why="a ratio to a bound with constant 1: the lemma fixes no constant, so no value of "
                "it could fail; its trend in n is judged by the claims",
        ))  # fmt: skip
    return out


def _claims(network: tuple[Hypothesis, ...], step: Hypothesis) -> tuple[Claim, ...]:
    """Lemma 4.1 holds for every W near initialization; Lemma 4.2 needs its step size."""
    tex = {"n": "n", "1/phi": r"1/\phi"}
    out = []
    for symbol in ("n", "1/phi"):
        key = "phi" if symbol == "1/phi" else symbol
        out.append(Claim(
            f"gradient-{key}",
            rf"at a fixed width, the gradient ratio $\|\nabla L\|_F^2 / L$ at initialization "
            rf"falls in ${tex[symbol]}$ no faster than the lower bound $m \phi / (k n^2)$",
            cite=GRADIENT,
            quantity="grad_ratio_init",
            test=Slope(EXPONENTS[("grad_ratio_init", symbol)], 0.0, kind="at_least",
                       x=X[symbol]),
            hypotheses=network,
        ))  # fmt: skip
        tol = log_tolerance() if symbol == "n" else 0.0
        out.append(Claim(
            f"movement-{key}",
            rf"the movement $\max_l \|W_l^{{(t)}} - W_l^{{(0)}}\|_2$ by the target grows in "
            rf"${tex[symbol]}$ no faster than $\sqrt{{k n^2 \log n / (m \phi)}}$"
            + (r" (tolerance: its $\sqrt{\log n}$ factor)" if tol else ""),
            cite=MOVEMENT,
            quantity="movement",
            test=Slope(EXPONENTS[("movement", symbol)], tol, kind="at_most", x=X[symbol]),
            hypotheses=(*network, step),
        ))  # fmt: skip
    return tuple(out)


CLAIMS = _claims((RELU, ZOU_GU_NETWORK), ZOU_GU_STEP)
