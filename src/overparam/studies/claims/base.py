"""What every test object shares: the interface :func:`judge` calls, number formatting, and the
two statistics the tests build on (a log-log least-squares fit with a seeded bootstrap interval,
and rank agreement with its range over tie-breakings)."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import kendalltau, rankdata

from overparam.studies.claims.verdicts import Outcome


class ClaimTest(ABC):
    """A test object: a frozen dataclass whose fields are all its margins.

    ``y`` below is the claim's measured column (:attr:`Claim.quantity`)."""

    @abstractmethod
    def describe(self) -> str:
        """The theory column: the claimed value with every margin stated."""

    @abstractmethod
    def columns(self, y: str) -> tuple[str, ...]:
        """Every column :meth:`evaluate` reads."""

    @abstractmethod
    def evaluate(self, frame: pd.DataFrame, y: str) -> Outcome:
        """The verdict on ``frame`` (hypotheses and dtype resolution already applied)."""

    @abstractmethod
    def synthesize(self, satisfy: bool, rng: np.random.Generator, y: str = "value") -> pd.DataFrame:
        """A frame on which :meth:`evaluate` must say consistent (``satisfy``) or
        contradicted (not ``satisfy``): the falsifiability check of every claim."""


def fmt(v: float) -> str:
    """A number in 3 significant digits (inf and NaN as words)."""
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:.3g}"


def fmt_exponent(p: float) -> str:
    """An exponent as the papers write it: -1/2, -1/3, 8; else 3 significant digits."""
    for den in (1, 2, 3, 4, 6):
        num = p * den
        if abs(num - round(num)) < 1e-9:
            return f"{round(num)}" if den == 1 else f"{round(num)}/{den}"
    return f"{p:.3g}"


def numeric(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A column as float64 (non-numbers become NaN)."""
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)


# ---------------------------------------------------------------------------------------------
# log-log fit with a bootstrap interval
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogLogFit:
    """Least-squares fit log y = intercept + slope log x; [low, high] is the percentile
    interval of the slope over ``n_boot`` pairs-bootstrap resamples of the rows."""

    slope: float
    intercept: float
    low: float
    high: float
    n: int
    distinct_x: int
    x_min: float
    x_max: float


def _slopes(lx: np.ndarray, ly: np.ndarray) -> np.ndarray:
    """Least-squares slopes of each row of (B, n) samples; NaN where x does not vary."""
    dx = lx - lx.mean(axis=-1, keepdims=True)
    dy = ly - ly.mean(axis=-1, keepdims=True)
    sxx = (dx**2).sum(axis=-1)
    sxy = (dx * dy).sum(axis=-1)
    ok = sxx > 1e-300
    return np.where(ok, sxy / np.where(ok, sxx, 1.0), np.nan)


def loglog_fit(x: np.ndarray, y: np.ndarray, *, n_boot: int, level: float, seed: int) -> LogLogFit:
    """Fit positive finite (x, y) pairs (the caller drops the others) in log-log space.

    The rows are sorted by (x, y) before resampling, so the interval depends on the data
    and the seed only, not on the order of the rows (same data -> same numbers)."""
    order = np.lexsort((y, x))
    lx, ly = np.log(x[order]), np.log(y[order])
    slope = float(_slopes(lx[None], ly[None])[0])
    intercept = float(ly.mean() - slope * lx.mean())
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, lx.size, size=(n_boot, lx.size))
    boot = _slopes(lx[idx], ly[idx])
    boot = boot[np.isfinite(boot)]
    alpha = (1.0 - level) / 2.0
    low, high = (float(q) for q in np.quantile(boot, [alpha, 1.0 - alpha]))
    return LogLogFit(
        slope,
        intercept,
        min(low, slope),
        max(high, slope),
        int(lx.size),
        int(np.unique(lx).size),
        float(x.min()),
        float(x.max()),
    )


# ---------------------------------------------------------------------------------------------
# rank agreement
# ---------------------------------------------------------------------------------------------


def _ordinal(b: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Ranks of b with ties broken by a (ascending)."""
    ranks = np.empty(b.size)
    ranks[np.lexsort((a, b))] = np.arange(1, b.size + 1)
    return ranks


def _statistic(ra: np.ndarray, rb: np.ndarray, method: str) -> float:
    if np.unique(ra).size < 2 or np.unique(rb).size < 2:
        return math.nan
    if method == "kendall":
        return float(kendalltau(ra, rb).statistic)
    return float(np.corrcoef(ra, rb)[0, 1])


def rank_agreement(a: np.ndarray, b: np.ndarray, method: str = "spearman") -> tuple[float, ...]:
    """(statistic, lowest, highest): Spearman's rho or Kendall's tau-b of a against b with
    average ranks for ties (scipy's convention), and its range over every way of breaking the
    ties in b (ties in a, e.g. seeds at one width, keep their average rank). A range that
    straddles a threshold means the ties decide the verdict."""
    ra = rankdata(a)
    stat = _statistic(ra, rankdata(b), method)
    best = _statistic(ra, _ordinal(b, ra), method)
    worst = _statistic(ra, _ordinal(b, -ra), method)
    return stat, worst, best
