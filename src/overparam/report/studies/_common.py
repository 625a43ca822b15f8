"""Analysis shared by the training studies (``du-two-layer``, ``width-scaling``,
``no-critical-points``, ``linear-rate``): per-run extremes of stored probe rows, power-law fits
against the width with verdicts, and verdicts for measured / bound ratios.

Verdict rules (every verdict is computed from the data):

* a **slope** claim fits log y = p log m + c over all runs (seeds are rows;
  :func:`overparam.sweep.fit_exponent`, 95% pairs-bootstrap interval). An interval that
  contains 0 resolves no trend: it *does not hold at this scale*. Otherwise it *holds* when the
  interval contains the theory's exponent or the fit is within :data:`SLOPE_TOL` of it; for an
  upper bound O(m^p) (``bound="upper"``) a quantity that falls faster than m^p also satisfies
  the bound and *holds* (the note says the bound is not tight at this scale); otherwise it *does
  not hold at this scale*.
* a **ratio** claim reads measured / bound over every run and evaluated step (the bounds are
  evaluated with their hidden constants set to 1). An upper bound *holds* when max ratio <= 1;
  it *holds with constant C* = max ratio when C > 1 but the per-width maximum does not grow
  with m (log-log slope <= :data:`SLOPE_TOL`); otherwise it *does not hold at this scale*.
  Lower bounds mirror this with the minimum ratio and C = 1 / min ratio.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from overparam.errors import ConfigError
from overparam.report.study import Claim, StudyData
from overparam.sweep.fit import ExponentFit, fit_exponent

#: How far (in exponent units) a fitted slope may sit from the theory's and still "hold":
#: five widths over a 16x range at 2-3 seeds give bootstrap intervals about this wide.
SLOPE_TOL = 0.15
#: Config columns attached to every probe / loss row (from the runs frame, the authority).
CONFIG_COLUMNS = ("width", "depth", "seed", "parameterization", "n", "lr_used", "initial_loss")
HOLDS, CONSTANT, FAILS, NOT_MEASURED = (
    "holds",
    "holds with constant C",
    "does not hold at this scale",
    "not measured",
)


# ---------------------------------------------------------------------------------------------
# Frames
# ---------------------------------------------------------------------------------------------


def done_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs that finished (status "done"; diverged and failed runs are left out)."""
    if runs.empty:
        return runs
    return runs[runs["status"] == "done"] if "status" in runs else runs


def _attach(rows: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """``rows`` (with a run_id column) restricted to finished runs, with their config columns."""
    runs = done_runs(runs)
    cols = ["run_id", *(c for c in CONFIG_COLUMNS if c in runs)]
    keep = [c for c in rows.columns if c == "run_id" or c not in cols]
    return rows[keep].merge(runs[cols], on="run_id", how="inner")


def probe_rows(
    data: StudyData, probe: str, quantity: str, *, layer: str | None = None
) -> pd.DataFrame:
    """Stored rows of one probe quantity (finished runs only, finite values), with config columns.

    Args:
        data: the study's stored frames.
        probe, quantity: e.g. ("movement", "spectral").
        layer: one layer's rows (e.g. "W1"); None keeps every layer.

    Returns:
        Columns run_id, step, layer, value, bound, ratio (NaN where missing) plus
        :data:`CONFIG_COLUMNS`; empty when nothing matches.
    """
    p = data.probes
    if p.empty or "probe" not in p or "quantity" not in p:
        return pd.DataFrame(columns=["run_id", "step", "layer", "value", "bound", "ratio"])
    rows = p[(p["probe"] == probe) & (p["quantity"] == quantity)].copy()
    if layer is not None:
        rows = rows[rows["layer"] == layer]
    for c in ("value", "bound", "ratio"):
        rows[c] = pd.to_numeric(rows[c], errors="coerce") if c in rows else np.nan
    rows = rows[np.isfinite(rows["value"].to_numpy(dtype=float))]
    return _attach(rows, data.runs)


def per_run(rows: pd.DataFrame, column: str = "value", how: str = "max") -> pd.DataFrame:
    """One row per run: ``column`` reduced over steps and layers by ``how`` ("max", "min",
    "last" = the largest step's max over layers), with the config columns kept."""
    if rows.empty:
        return pd.DataFrame(columns=["run_id", column, *CONFIG_COLUMNS])
    cfg = [c for c in CONFIG_COLUMNS if c in rows]
    r = rows[np.isfinite(rows[column].to_numpy(dtype=float))]
    if how == "last":
        r = r[r["step"] == r.groupby("run_id")["step"].transform("max")]
        how = "max"
    out = r.groupby("run_id")[column].agg(how).rename(column).reset_index()
    return out.merge(r.groupby("run_id")[cfg].first().reset_index(), on="run_id")


def trajectory(rows: pd.DataFrame, column: str = "value", how: str = "max") -> pd.DataFrame:
    """(run_id, step, column, config columns): ``column`` reduced over layers at each step."""
    if rows.empty:
        return pd.DataFrame(columns=["run_id", "step", column, *CONFIG_COLUMNS])
    cfg = [c for c in CONFIG_COLUMNS if c in rows]
    out = rows.groupby(["run_id", "step"])[column].agg(how).rename(column).reset_index()
    return out.merge(rows.groupby("run_id")[cfg].first().reset_index(), on="run_id")


def loss_curves(data: StudyData) -> pd.DataFrame:
    """(run_id, step, loss, ratio = loss / loss at step 0, config columns), finished runs."""
    losses = data.losses
    if losses.empty:
        return pd.DataFrame(columns=["run_id", "step", "loss", "ratio", *CONFIG_COLUMNS])
    out = _attach(losses[["run_id", "step", "loss"]], data.runs).sort_values(["run_id", "step"])
    first = out.groupby("run_id")["loss"].transform("first")
    return out.assign(ratio=out["loss"] / first)


# ---------------------------------------------------------------------------------------------
# Fits and verdicts
# ---------------------------------------------------------------------------------------------


def fit_or_none(df: pd.DataFrame, y: str, x: str = "width") -> ExponentFit | None:
    """:func:`fit_exponent` of y against x, or None with too few positive rows or x values."""
    try:
        return fit_exponent(df, x, y)
    except ConfigError:
        return None


def fmt_fit(fit: ExponentFit) -> str:
    return f"slope {fit.exponent:.2f} [{fit.low:.2f}, {fit.high:.2f}]"


def slope_verdict(fit: ExponentFit | None, theory: float, bound: str = "upper") -> tuple[str, str]:
    """(verdict, note) of a fitted exponent against the theory's (module docstring)."""
    if fit is None:
        return NOT_MEASURED, "fewer than 3 positive values or 2 widths"
    if theory != 0 and fit.covers(0.0):
        return FAILS, "inconclusive: the CI contains 0 (no trend resolved at this scale)"
    if fit.covers(theory):
        return HOLDS, f"the 95% bootstrap CI contains {frac(theory)}"
    if abs(fit.exponent - theory) <= SLOPE_TOL:
        return HOLDS, f"the CI excludes {frac(theory)} but the fit is within {SLOPE_TOL} of it"
    if bound == "upper" and fit.exponent < theory:
        return HOLDS, "falls faster than the bound's rate: the bound holds, not tight here"
    return FAILS, f"{frac(theory)} is outside the CI and more than {SLOPE_TOL} from the fit"


def slope_claim(
    df: pd.DataFrame,
    y: str,
    theory: float,
    *,
    claim: str,
    source: str,
    x: str = "width",
    bound: str = "upper",
    note: str = "",
) -> tuple[Claim, ExponentFit | None]:
    """A claim "y ~ x^theory" checked by a log-log fit over every run (seeds are rows)."""
    fit = fit_or_none(df, y, x)
    verdict, why = slope_verdict(fit, theory, bound)
    measured = fmt_fit(fit) if fit is not None else ""
    if fit is not None:
        xs = sorted(pd.unique(df[x]))
        why = f"{why}; {fit.n} runs, {x} {xs[0]:g}..{xs[-1]:g}, R^2 {fit.r2:.2f}"
    theory_text = f"{'<= ' if bound == 'upper' else ''}{frac(theory)}"
    detail = "; ".join(filter(None, [why, note]))
    return Claim(claim, source, measured, theory_text, verdict, detail), fit


def frac(p: float) -> str:
    """An exponent as the papers write it: -1/2, -1/3, 1."""
    for den in (1, 2, 3, 6):
        num = p * den
        if abs(num - round(num)) < 1e-9:
            return f"{round(num)}" if den == 1 else f"{round(num)}/{den}"
    return f"{p:.3g}"


def trend(df: pd.DataFrame, y: str, x: str = "width") -> float:
    """The log-log least-squares slope of y against x (NaN with under 2 distinct x)."""
    d = df[(df[x] > 0) & (df[y] > 0)]
    if d[x].nunique() < 2:
        return math.nan
    return float(np.polyfit(np.log(d[x].astype(float)), np.log(d[y].astype(float)), 1)[0])


def ratio_verdict(df: pd.DataFrame, kind: str, x: str = "width") -> tuple[str, float, float]:
    """(verdict, C, trend) for measured / bound ratios in ``df["ratio"]`` (module docstring).

    C is max ratio (upper) or 1 / min ratio (lower); trend the log-log slope of the per-width
    extreme against ``x`` (NaN with one width)."""
    r = df[np.isfinite(df["ratio"].to_numpy(dtype=float))]
    if r.empty:
        return NOT_MEASURED, math.nan, math.nan
    if kind == "upper":
        ext = r.groupby(x)["ratio"].max().reset_index()
        C = float(r["ratio"].max())
        s = trend(ext, "ratio", x)
        if C <= 1.0 + 1e-9:
            return HOLDS, C, s
        ok = not math.isfinite(s) or s <= SLOPE_TOL
        return (CONSTANT if ok else FAILS), C, s
    ext = r.groupby(x)["ratio"].min().reset_index()
    c = float(r["ratio"].min())
    s = trend(ext, "ratio", x)
    if c >= 1.0 - 1e-9:
        return HOLDS, 1.0 / c, s
    if c <= 0.0:
        return FAILS, math.inf, s
    ok = not math.isfinite(s) or s >= -SLOPE_TOL
    return (CONSTANT if ok else FAILS), 1.0 / c, s


def ratio_claim(
    df: pd.DataFrame,
    kind: str,
    *,
    claim: str,
    source: str,
    theory: str,
    x: str = "width",
    note: str = "",
    rows: str = "(run, step) rows",
) -> Claim:
    """A bound checked by measured / bound ratios (``df`` has columns ``x`` and ``ratio``;
    ``rows`` names what one row of ``df`` is, for the note)."""
    verdict, C, s = ratio_verdict(df, kind, x)
    if verdict == NOT_MEASURED:
        return Claim(claim, source, "", theory, verdict, note)
    r = df["ratio"].astype(float)
    ext = r.max() if kind == "upper" else r.min()
    measured = f"{'max' if kind == 'upper' else 'min'} measured/bound {ext:.3g}"
    if math.isfinite(s):
        measured += f"; per-{x} trend m^{s:.2f}"
    detail = {
        HOLDS: "",
        CONSTANT: f"C = {C:.3g}, not {'growing' if kind == 'upper' else 'shrinking'} with {x}",
        FAILS: f"C = {C:.3g} and the ratio drifts with {x}",
    }[verdict]
    parts = [detail, f"{len(df)} {rows}", note]
    return Claim(claim, source, measured, theory, verdict, "; ".join(p for p in parts if p))


def rate_summary(steps: np.ndarray, ratios: np.ndarray, rho: float) -> tuple[float, float]:
    """(C, tail) of one loss curve against the linear rate rho^t.

    C = max_{t >= 1} (L_t / L_0) / rho^t, the constant the curve needs to sit under rho^t;
    tail = exp(least-squares slope of log(L_t / L_0) over the second half of the run), the
    measured per-step contraction at the end. C may exceed 1 for a transient only if tail <=
    rho; a curve whose tail decays slower than rho^t has no constant C (it grows with t)."""
    keep = (steps >= 1) & (ratios > 0)
    t, r = steps[keep].astype(float), ratios[keep].astype(float)
    if t.size == 0:
        return math.nan, math.nan
    C = float(np.max(r / rho**t))
    half = t >= t.max() / 2.0
    if half.sum() >= 2:
        tail = math.exp(float(np.polyfit(t[half], np.log(r[half]), 1)[0]))
    else:  # one point: the average contraction up to it
        tail = float(r[-1] ** (1.0 / t[-1]))
    return C, tail


def rate_claim(
    df: pd.DataFrame, *, claim: str, source: str, note: str = "", rows: str = "runs"
) -> Claim:
    """L_t <= (1 - eta lambda_0/2)^t L_0 checked per run (columns width, rate_ratio = C, tail,
    rho; :func:`rate_summary`): *holds* when every C <= 1, *holds with constant C* when some
    C > 1 but every tail contracts at least as fast as rho, else *does not hold at this scale*."""
    d = df.dropna(subset=["rate_ratio", "tail", "rho"])
    theory = "L_t / ((1 - eta lambda_0/2)^t L_0) <= 1 for all t"
    if d.empty:
        return Claim(claim, source, "", theory, NOT_MEASURED, note)
    C = float(d["rate_ratio"].max())
    slow = d[d["tail"] > d["rho"] + 1e-12]
    if C <= 1.0 + 1e-9:
        verdict, detail = HOLDS, ""
    elif slow.empty:
        verdict, detail = CONSTANT, f"C = {C:.3g} (a transient; every tail contracts <= rho)"
    else:
        verdict, detail = FAILS, f"{len(slow)} run(s) contract slower than rho at the end"
    measured = (
        f"max_t L_t/(rho^t L_0) = {C:.3g}; end contraction {d['tail'].max():.4g} "
        f"vs rho {d['rho'].min():.4g}..{d['rho'].max():.4g}"
    )
    parts = [detail, f"{len(d)} {rows}", note]
    return Claim(claim, source, measured, theory, verdict, "; ".join(p for p in parts if p))


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation (NaN with under 3 points or a constant input)."""
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(a) < 3 or np.unique(a).size < 2 or np.unique(b).size < 2:
        return math.nan
    ra, rb = pd.Series(a).rank().to_numpy(), pd.Series(b).rank().to_numpy()
    return float(np.corrcoef(ra, rb)[0, 1])
