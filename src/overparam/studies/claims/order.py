"""Order tests: ``Monotone`` (a trend in x), ``Rank`` (predicted vs measured order) and
``Fraction`` (k of n pairs or runs satisfy a predicate).

Verdict rules (answering the report's former order rules, which read one Spearman value and
counted a pair where neither run converged like any other):

* ``Monotone`` / ``Rank``: the rank statistic (Spearman's rho or Kendall's tau-b, average ranks
  for ties) must reach a stated ``threshold``; fewer than ``min_points`` points or ``min_x``
  distinct x values are *inconclusive*. Ties in the measured values are broken both ways:
  *consistent* only when the least favourable breaking still reaches the threshold,
  *contradicted* only when the most favourable one does not, *inconclusive* when the ties
  decide (a constant y, e.g. every run censored at the step budget, is always inconclusive).
* ``Fraction``: a pair whose predicate is undefined (a NaN, or both sides infinite: neither run
  converged) is its own count, reported, and counted neither as support nor against; the
  fraction is k / (defined pairs), and fewer than ``min_defined`` defined pairs is
  *inconclusive*.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from overparam.errors import ConfigError
from overparam.studies.claims.base import ClaimTest, numeric, rank_agreement
from overparam.studies.claims.verdicts import CONSISTENT, CONTRADICTED, INCONCLUSIVE, Outcome

Method = Literal["spearman", "kendall"]
OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
NAMES = {"spearman": "Spearman", "kendall": "Kendall tau"}


def _check_rank_fields(threshold: float, method: str, min_points: int) -> None:
    if not 0 < threshold <= 1:
        raise ConfigError("threshold", threshold, "a number in (0, 1]")
    if method not in NAMES:
        raise ConfigError("method", method, "spearman or kendall")
    if min_points < 3:
        raise ConfigError("min_points", min_points, "an integer >= 3")


def _agreement(
    a: np.ndarray,
    b: np.ndarray,
    *,
    sign: float,
    threshold: float,
    method: str,
    min_points: int,
    min_x: int,
    label: str,
) -> Outcome:
    """The shared verdict of Monotone and Rank: sign * statistic of (a, b) against threshold;
    the tightness is sign * statistic / threshold (>= 1: the threshold is met)."""
    ok = ~np.isnan(a) & ~np.isnan(b)
    a, b = a[ok], b[ok]
    distinct = int(np.unique(a).size)
    if a.size < min_points or distinct < min_x:
        return Outcome(
            INCONCLUSIVE,
            f"{a.size} points at {distinct} distinct {label}",
            f"needs at least {min_points} points at {min_x} distinct {label}",
        )
    stat, worst, best = (sign * v for v in rank_agreement(a, b, method))
    worst, best = min(worst, best), max(worst, best)
    name = NAMES[method]
    measured = f"{name} {sign * stat:.2f} over {a.size} points at {distinct} {label}"
    if best - worst > 1e-12:
        lo, hi = sorted((sign * worst, sign * best))
        measured += f" (ties broken either way: {lo:.2f}..{hi:.2f})"
    tight = stat / threshold if math.isfinite(stat) else math.nan
    if not math.isfinite(worst) or not math.isfinite(best):
        return Outcome(INCONCLUSIVE, measured, f"{name} undefined (a constant input)")
    if worst >= threshold - 1e-12:  # rounding of a perfect agreement must not fail
        return Outcome(CONSISTENT, measured, "", tight)
    if best < threshold - 1e-12:
        why = f"{name} short of the threshold {sign * threshold:.2f}"
        return Outcome(CONTRADICTED, measured, why, tight)
    why = f"ties in the measured values decide whether {name} reaches {sign * threshold:.2f}"
    return Outcome(INCONCLUSIVE, measured, why, tight)


@dataclass(frozen=True)
class Monotone(ClaimTest):
    """y increases (decreases) with x: the rank statistic reaches +threshold (-threshold).

    Attributes:
        direction: "increasing" or "decreasing". x: the ordering column. y: the measured
            column (None: the claim's quantity). threshold: the rank statistic required.
        min_points, min_x: the fewest points and distinct x values that can decide.
        method: "spearman" or "kendall".
    """

    direction: Literal["increasing", "decreasing"]
    x: str = "width"
    y: str | None = None
    threshold: float = 0.8
    min_points: int = 4
    min_x: int = 3
    method: Method = "spearman"

    def __post_init__(self) -> None:
        if self.direction not in ("increasing", "decreasing"):
            raise ConfigError("direction", self.direction, "increasing or decreasing")
        _check_rank_fields(self.threshold, self.method, self.min_points)
        if self.min_x < 3:
            raise ConfigError("min_x", self.min_x, "an integer >= 3")

    @property
    def sign(self) -> float:
        return 1.0 if self.direction == "increasing" else -1.0

    def describe(self) -> str:
        op = "≥" if self.sign > 0 else "≤"
        return (
            f"{self.direction} in {self.x}: {NAMES[self.method]} {op} "
            f"{self.sign * self.threshold:.2f} (≥ {self.min_points} points at ≥ {self.min_x} "
            f"distinct {self.x}; ties must not decide)"
        )

    def columns(self, y: str) -> tuple[str, ...]:
        return (self.x, self.y or y)

    def evaluate(self, frame: pd.DataFrame, y: str) -> Outcome:
        return _agreement(
            numeric(frame, self.x),
            numeric(frame, self.y or y),
            sign=self.sign,
            threshold=self.threshold,
            method=self.method,
            min_points=self.min_points,
            min_x=self.min_x,
            label=self.x,
        )

    def synthesize(self, satisfy: bool, rng: np.random.Generator, y: str = "value") -> pd.DataFrame:
        n = max(8, self.min_points)
        x = np.geomspace(4.0, 512.0, n)
        s = self.sign if satisfy else -self.sign
        v = x**s * np.exp(0.01 * rng.standard_normal(n))
        return pd.DataFrame({self.x: x, self.y or y: v})


@dataclass(frozen=True)
class Rank(ClaimTest):
    """The measured values rank like the predicted ones: rank statistic >= threshold.

    Attributes:
        threshold: the rank statistic required, in (0, 1].
        predicted: the column of predictions (e.g. steps predicted by the kernel).
        method, min_points: as for :class:`Monotone`.
    """

    threshold: float
    predicted: str
    method: Method = "spearman"
    min_points: int = 4

    def __post_init__(self) -> None:
        _check_rank_fields(self.threshold, self.method, self.min_points)

    def describe(self) -> str:
        return (
            f"rank agreement with {self.predicted}: {NAMES[self.method]} ≥ "
            f"{self.threshold:.2f} (≥ {self.min_points} points; ties must not decide)"
        )

    def columns(self, y: str) -> tuple[str, ...]:
        return (self.predicted, y)

    def evaluate(self, frame: pd.DataFrame, y: str) -> Outcome:
        return _agreement(
            numeric(frame, self.predicted),
            numeric(frame, y),
            sign=1.0,
            threshold=self.threshold,
            method=self.method,
            min_points=self.min_points,
            min_x=3,
            label=self.predicted,
        )

    def synthesize(self, satisfy: bool, rng: np.random.Generator, y: str = "value") -> pd.DataFrame:
        n = max(8, self.min_points)
        pred = rng.permutation(n).astype(float) + 1.0
        meas = 3.0 * pred + 1.0 if satisfy else 100.0 - 3.0 * pred
        return pd.DataFrame({self.predicted: pred, y: meas})


@dataclass(frozen=True)
class Fraction(ClaimTest):
    """At least ``min_fraction`` of the defined pairs / runs satisfy a predicate.

    The predicate is ``y op other`` row by row (e.g. steps with skip < steps without), or,
    with ``other=None``, the truth of the measured column itself (1 / 0, NaN = undefined).

    Attributes:
        min_fraction: the required fraction in (0, 1]. other: the compared column or None.
        op: "<", "<=", ">" or ">=". min_defined: the fewest defined pairs that can decide.
    """

    min_fraction: float
    other: str | None = None
    op: str = "<"
    min_defined: int = 3

    def __post_init__(self) -> None:
        if not 0 < self.min_fraction <= 1:
            raise ConfigError("min_fraction", self.min_fraction, "a number in (0, 1]")
        if self.op not in OPS:
            raise ConfigError("op", self.op, ", ".join(OPS))
        if self.min_defined < 1:
            raise ConfigError("min_defined", self.min_defined, "an integer >= 1")

    def describe(self) -> str:
        pred = "the predicate" if self.other is None else f"value {self.op} {self.other}"
        return (
            f"at least {self.min_fraction:.0%} of the defined pairs satisfy {pred} "
            f"(≥ {self.min_defined} defined; undefined pairs counted apart)"
        )

    def columns(self, y: str) -> tuple[str, ...]:
        return (y,) if self.other is None else (y, self.other)

    def truth(self, frame: pd.DataFrame, y: str) -> tuple[np.ndarray, np.ndarray]:
        """(defined, satisfied) per row."""
        a = numeric(frame, y)
        if self.other is None:
            return ~np.isnan(a), ~np.isnan(a) & (a != 0)
        b = numeric(frame, self.other)
        both_inf = np.isinf(a) & np.isinf(b) & (np.sign(a) == np.sign(b))
        defined = ~np.isnan(a) & ~np.isnan(b) & ~both_inf
        with np.errstate(invalid="ignore"):
            return defined, defined & OPS[self.op](a, b)

    def evaluate(self, frame: pd.DataFrame, y: str) -> Outcome:
        defined, sat = self.truth(frame, y)
        n, k, undefined = int(defined.sum()), int(sat.sum()), int((~defined).sum())
        measured = f"{k} of {n} defined pairs satisfy it; {undefined} undefined (not support)"
        if n < self.min_defined:
            why = f"{n} defined pairs, fewer than {self.min_defined}"
            return Outcome(INCONCLUSIVE, measured, why)
        share = k / n
        measured = f"{measured}; fraction {share:.2f}"
        tight = share / self.min_fraction
        if share >= self.min_fraction:
            return Outcome(CONSISTENT, measured, "", tight)
        why = f"fraction {share:.2f} below {self.min_fraction:.2f}"
        return Outcome(CONTRADICTED, measured, why, tight)

    def synthesize(self, satisfy: bool, rng: np.random.Generator, y: str = "value") -> pd.DataFrame:
        n = max(8, self.min_defined)
        if self.other is None:
            v = np.r_[np.full(n, 1.0 if satisfy else 0.0), np.nan, np.nan]
            return pd.DataFrame({y: v})
        lo = rng.uniform(1.0, 10.0, n)
        hi = lo + rng.uniform(1.0, 5.0, n)
        small_first = self.op in ("<", "<=")
        a, b = (lo, hi) if small_first == satisfy else (hi, lo)
        a, b = np.r_[a, math.inf, np.nan], np.r_[b, math.inf, 3.0]
        return pd.DataFrame({y: a, self.other: b})
