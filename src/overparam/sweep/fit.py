"""Scaling fits: measured exponents, with bootstrap intervals, next to the theorems' exponents.

A power law y = C x^p is a line in log-log coordinates, log y = log C + p log x; ``fit_exponent``
returns the least-squares slope p and a pairs-bootstrap percentile interval for it. Typical uses:

- critical width (:func:`overparam.sweep.critical_width`) against n, L and 1/phi, next to
  the width conditions' exponents: (8, 12, 4) for m = Omega(k n^8 L^12 log^3(m) / phi^4)
  [zou-gu-2019, Theorem 3.3] and (24, 12, 8) for m = Omega~(n^24 L^12 / phi^8)
  [allen-zhu-2019] (via [zou-gu-2019, Table 1]); see :func:`overparam.theory.theory_exponents`;
- weight movement, ReLU sign flips and NTK drift against the width m (probe records).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from overparam.errors import ConfigError

#: Theory symbols and the column expression each is measured against ("1/c" = reciprocal).
SYMBOL_COLUMNS: dict[str, str] = {"n": "n", "L": "depth", "1/phi": "1/phi"}
#: The papers whose width exponents are reported next to measured ones.
PAPERS = ("zou-gu-2019", "allen-zhu-2019")


@dataclass(frozen=True)
class ExponentFit:
    """A log-log least-squares fit y = exp(intercept) * x^exponent.

    Attributes:
        exponent: the slope p. low, high: its bootstrap percentile interval at ``level``.
        intercept: log C (natural log). r2: coefficient of determination in log-log space.
        n: rows used (positive, finite x and y). n_boot: bootstrap resamples.
    """

    x: str
    y: str
    exponent: float
    intercept: float
    low: float
    high: float
    level: float
    r2: float
    n: int
    n_boot: int

    def covers(self, value: float) -> bool:
        """Whether ``value`` lies in the interval [low, high]."""
        return self.low <= value <= self.high

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def column(df: pd.DataFrame, expr: str) -> np.ndarray:
    """Values of a column, or of its reciprocal for ``"1/<column>"``."""
    name = expr.removeprefix("1/")
    if name not in df.columns:
        allowed = ", ".join(map(str, df.columns)) or "(no columns)"
        raise ConfigError("column", expr, f"a column (or 1/column) of: {allowed}")
    values = pd.to_numeric(df[name], errors="coerce").to_numpy(dtype=float)
    if expr.startswith("1/"):
        with np.errstate(divide="ignore"):
            values = 1.0 / values
    return values


def _slopes(lx: np.ndarray, ly: np.ndarray) -> np.ndarray:
    """Least-squares slopes of each row of (B, n) samples; NaN where x does not vary."""
    mx = lx.mean(axis=-1, keepdims=True)
    my = ly.mean(axis=-1, keepdims=True)
    sxx = ((lx - mx) ** 2).sum(axis=-1)
    sxy = ((lx - mx) * (ly - my)).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sxx > 0, sxy / np.where(sxx > 0, sxx, 1.0), np.nan)


def fit_exponent(
    df: pd.DataFrame,
    x: str,
    y: str,
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> ExponentFit:
    """Fit y ~ C x^p by least squares on (log x, log y), with a bootstrap interval for p.

    Args:
        df: one row per observation (several seeds per x are fine; rows are resampled).
        x: the column of the scaling variable, or ``"1/<column>"`` (e.g. ``"1/phi"``).
        y: the column of the measured quantity (critical width, movement, ...).
        n_boot: bootstrap resamples of the rows (with replacement).
        level: the interval's coverage (percentile interval).
        seed: the bootstrap's random seed.

    Returns:
        An :class:`ExponentFit`.

    Raises:
        ConfigError: missing columns, fewer than 3 usable rows or 2 distinct x values, or an
            invalid ``n_boot`` / ``level``.
    """
    if not 0 < level < 1:
        raise ConfigError("level", level, "a number in (0, 1)")
    if n_boot < 10:
        raise ConfigError("n_boot", n_boot, "an integer >= 10")
    xs, ys = column(df, x), column(df, y)
    keep = np.isfinite(xs) & np.isfinite(ys) & (xs > 0) & (ys > 0)
    lx, ly = np.log(xs[keep]), np.log(ys[keep])
    n = int(keep.sum())
    if n < 3 or np.unique(lx).size < 2:
        raise ConfigError(
            "df", f"{n} usable rows", f"at least 3 rows with positive {x}, {y} and 2 distinct {x}"
        )
    slope = float(_slopes(lx[None], ly[None])[0])
    intercept = float(ly.mean() - slope * lx.mean())
    resid = ly - (intercept + slope * lx)
    total = float(((ly - ly.mean()) ** 2).sum())
    r2 = 1.0 - float((resid**2).sum()) / total if total > 0 else 1.0
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    boot = _slopes(lx[idx], ly[idx])
    boot = boot[np.isfinite(boot)]
    alpha = (1.0 - level) / 2.0
    low, high = (float(q) for q in np.quantile(boot, [alpha, 1.0 - alpha]))
    return ExponentFit(x, y, slope, intercept, low, high, level, r2, n, n_boot)


def exponent_table(
    df: pd.DataFrame,
    y: str = "width",
    *,
    symbols: Mapping[str, str] | None = None,
    papers: Sequence[str] = PAPERS,
    **fit_kwargs: Any,
) -> pd.DataFrame:
    """Measured exponents of ``y`` in each theory symbol that varies in ``df``, next to the
    papers' width-condition exponents.

    Args:
        df: e.g. ``load(path).critical`` (one row per grid point, columns n, depth, ...).
        y: the measured column. symbols: {symbol: column expression}; default
            :data:`SYMBOL_COLUMNS` (n, L = depth, 1/phi).
        papers: reference keys for :func:`overparam.theory.theory_exponents`.

    Returns:
        One row per fitted symbol: symbol, x, exponent, low, high, r2, n, then one column per
        paper with its exponent.
    """
    from overparam.theory import theory_exponents

    theory = {p: theory_exponents(p) for p in papers}
    rows = []
    for symbol, expr in (symbols or SYMBOL_COLUMNS).items():
        if expr.removeprefix("1/") not in df.columns:
            continue
        if pd.to_numeric(df[expr.removeprefix("1/")], errors="coerce").nunique() < 2:
            continue
        fit = fit_exponent(df, expr, y, **fit_kwargs)
        row: dict[str, Any] = {
            "symbol": symbol,
            "x": expr,
            "exponent": fit.exponent,
            "low": fit.low,
            "high": fit.high,
            "r2": fit.r2,
            "n": fit.n,
        }
        for p in papers:
            row[p] = theory[p].get(symbol, math.nan)
        rows.append(row)
    return pd.DataFrame(
        rows, columns=["symbol", "x", "exponent", "low", "high", "r2", "n", *papers]
    )
