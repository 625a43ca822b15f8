"""``Slope``: a claimed power law y ~ x^p judged by a log-log least-squares fit with a seeded
pairs-bootstrap interval, against an allowed region whose tolerance is a stated field.

Verdict rules (each answers a leniency of the report's former slope rule, which let a slope
"hold" when it was steeper than an upper bound at its point estimate or within a hidden 0.15):

* fewer than ``min_x`` (3) distinct x values: *inconclusive* (two points always fit a line);
* the allowed region is [p - tol, p + tol] (``kind="equal"``), (-inf, p + tol] (``"at_most"``)
  or [p - tol, inf) (``"at_least"``); the tolerance is a field, printed by :meth:`describe`;
* the whole interval outside the region: *contradicted*;
* a claimed non-zero slope whose interval contains 0: *inconclusive* (a flat quantity cannot
  confirm a trend), unless the interval already lies outside the region;
* an upper-bound slope is *consistent* only when the whole interval lies below the bound plus
  the stated tolerance (likewise above for a lower bound, inside for "equal"); an interval that
  straddles the boundary is *inconclusive*.

Grid-resolution rule (``grid=Grid(step, low, high)``): y is a threshold found on a geometric
grid low, low·step, ..., high (a critical width on a doubling grid), so every y is known only to
a factor ``step`` and lies in [low, high]. Over the data's x span a fitted exponent can then be
at most

    p_max = log(high / low) / log(x_max / x_min),

the slope of a quantity that runs from the bottom of the grid at x_min to its top at x_max. A
theory exponent with |p| > p_max cannot be measured (an upper bound could not fail): the verdict
is *inconclusive*, stating p_max. Otherwise the interval is widened on both sides by the grid's
exponent step log(step) / log(x_max / x_min) (one grid step across the span). Values above
``high`` (or infinite: no grid value succeeded) are censored above and enter at high·step, values
at ``low`` are censored below (the true threshold may be smaller); censoring pulls the fitted
exponent toward 0, so with any censored value the interval is extended to ±inf on the side away
from 0: such data can contradict an upper bound or confirm a lower bound, never the reverse.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from overparam.errors import ConfigError
from overparam.studies.claims.base import (
    ClaimTest,
    LogLogFit,
    fmt,
    fmt_exponent,
    loglog_fit,
    numeric,
)
from overparam.studies.claims.verdicts import (
    CONSISTENT,
    CONTRADICTED,
    INCONCLUSIVE,
    Outcome,
    Verdict,
)

SlopeKind = Literal["equal", "at_most", "at_least"]
KINDS = ("equal", "at_most", "at_least")


@dataclass(frozen=True)
class Grid:
    """The geometric grid a threshold quantity was measured on: low, low·step, ..., high."""

    step: float
    low: float
    high: float

    def __post_init__(self) -> None:
        if not self.step > 1:
            raise ConfigError("grid.step", self.step, "a grid factor > 1 (2 for a doubling grid)")
        if not 0 < self.low < self.high:
            raise ConfigError("grid.low", self.low, f"a number in (0, high = {self.high})")
        if self.high < self.low * self.step**2:
            raise ConfigError("grid.high", self.high, "at least low·step² (three grid values)")

    def describe(self) -> str:
        return f"grid ×{fmt(self.step)} on [{fmt(self.low)}, {fmt(self.high)}]"


@dataclass(frozen=True)
class Slope(ClaimTest):
    """y ~ x^expected (log-log slope), judged by the rules of this module's docstring.

    Attributes:
        expected: the theory's exponent. tolerance: the stated margin (exponent units).
        kind: "equal", "at_most" (an O(x^p) upper bound) or "at_least".
        x: the scaling column. y: the measured column; None = the claim's quantity.
        grid: the grid a threshold quantity was found on (grid-resolution rule), or None.
        n_boot, level, seed: the bootstrap (seeded: same data, same interval).
        min_x: the fewest distinct x values that can decide.
    """

    expected: float
    tolerance: float
    kind: SlopeKind = "equal"
    x: str = "width"
    y: str | None = None
    grid: Grid | None = None
    n_boot: int = 2000
    level: float = 0.95
    seed: int = 0
    min_x: int = 3

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError("kind", self.kind, "equal, at_most or at_least")
        if not (self.tolerance >= 0 and math.isfinite(self.tolerance)):
            raise ConfigError("tolerance", self.tolerance, "a finite number >= 0")
        if self.kind == "equal" and self.tolerance == 0:
            raise ConfigError("tolerance", 0, "> 0 for kind='equal' (an interval has a width)")
        if not 0 < self.level < 1:
            raise ConfigError("level", self.level, "a number in (0, 1)")
        if self.n_boot < 100:
            raise ConfigError("n_boot", self.n_boot, "an integer >= 100")
        if self.min_x < 3:
            raise ConfigError("min_x", self.min_x, "an integer >= 3")

    # -- description ------------------------------------------------------------------------

    def region(self) -> tuple[float, float]:
        """The allowed slopes, widened by the tolerance."""
        e, t = self.expected, self.tolerance
        lo = -math.inf if self.kind == "at_most" else e - t
        hi = math.inf if self.kind == "at_least" else e + t
        return lo, hi

    def describe(self) -> str:
        tol = self.tolerance
        p, t = fmt_exponent(self.expected), f"{tol:.2f}" if round(tol, 2) == tol else f"{tol:.3g}"
        claim = {
            "equal": f"{p} ± {t}",
            "at_most": f"≤ {p} + {t}",
            "at_least": f"≥ {p} - {t}",
        }[self.kind]
        out = f"log-log slope in {self.x} {claim} ({self.level:.0%} bootstrap interval inside)"
        return out + (f"; {self.grid.describe()}" if self.grid else "")

    def columns(self, y: str) -> tuple[str, ...]:
        return (self.x, self.y or y)

    # -- verdict ----------------------------------------------------------------------------

    def evaluate(self, frame: pd.DataFrame, y: str) -> Outcome:
        xs, ys = numeric(frame, self.x), numeric(frame, self.y or y)
        censored = np.zeros(ys.shape, dtype=bool)
        g = self.grid
        if g is not None:
            above = (ys > g.high) & ~np.isnan(ys)
            censored = above | (ys <= g.low)
            ys = np.where(above, g.high * g.step, ys)
        keep = np.isfinite(xs) & np.isfinite(ys) & (xs > 0) & (ys > 0)
        left_out = int((~keep).sum())
        distinct = int(np.unique(xs[keep]).size)
        if distinct < self.min_x:
            return Outcome(
                INCONCLUSIVE,
                f"{int(keep.sum())} usable rows at {distinct} distinct {self.x}",
                f"fewer than {self.min_x} distinct {self.x} values cannot resolve a slope",
            )
        fit = loglog_fit(xs[keep], ys[keep], n_boot=self.n_boot, level=self.level, seed=self.seed)
        tight = fit.slope / self.expected if self.expected != 0 else math.nan
        measured = self._measured(fit, left_out)
        low, high, notes = fit.low, fit.high, []
        if g is not None:
            span = math.log(fit.x_max / fit.x_min)
            p_max = math.log(g.high / g.low) / span
            if abs(self.expected) > p_max:
                why = (
                    f"the grid resolves exponents up to p_max = log(high/low)/log(x_max/x_min) "
                    f"= {p_max:.2f} over {self.x} {fmt(fit.x_min)}..{fmt(fit.x_max)}, below the "
                    f"theory's |{fmt_exponent(self.expected)}|"
                )
                return Outcome(INCONCLUSIVE, measured, why, tight)
            widen = math.log(g.step) / span
            low, high = low - widen, high + widen
            notes.append(f"interval widened by the grid's exponent step ±{widen:.2f}")
            n_cens = int(censored[keep].sum())
            if n_cens:
                if fit.slope >= 0:
                    high = math.inf
                else:
                    low = -math.inf
                notes.append(f"{n_cens} censored value(s): interval extended to ±inf away from 0")
        measured += f"; judged on [{fmt(low)}, {fmt(high)}]" if notes else ""
        verdict, why = self._rule(low, high)
        return Outcome(verdict, measured, "; ".join([why, *notes]), tight)

    def _measured(self, fit: LogLogFit, left_out: int) -> str:
        text = (
            f"slope {fit.slope:.3f} [{fit.low:.3f}, {fit.high:.3f}] ({self.level:.0%} bootstrap), "
            f"{fit.n} rows at {fit.distinct_x} {self.x} in {fmt(fit.x_min)}..{fmt(fit.x_max)}"
        )
        return text + (f"; {left_out} non-positive or non-finite rows left out" if left_out else "")

    def _rule(self, low: float, high: float) -> tuple[Verdict, str]:
        r_lo, r_hi = self.region()
        if low > r_hi:
            return CONTRADICTED, f"the whole interval lies above {fmt(r_hi)}"
        if high < r_lo:
            return CONTRADICTED, f"the whole interval lies below {fmt(r_lo)}"
        if self.expected != 0 and low <= 0 <= high:
            return INCONCLUSIVE, "the interval contains 0: no trend resolved at this scale"
        if r_lo <= low and high <= r_hi:
            return CONSISTENT, "the whole interval lies in the allowed region"
        edge = r_hi if high > r_hi else r_lo
        return INCONCLUSIVE, f"the interval straddles the boundary {fmt(edge)}"

    # -- falsifiability ---------------------------------------------------------------------

    def _half_width(self, p: float) -> float:
        """A conservative half-width of the judged interval of a synthesized frame."""
        if self.grid is None:
            return 0.05  # noise 1% on 18 rows: the bootstrap interval is about ±0.005
        g = self.grid
        r = math.log(g.step) / math.log(g.high / g.low)
        return 4.0 * r * (max(abs(self.expected), abs(p)) + 0.5)  # widening + rounding + boot

    def target(self, satisfy: bool) -> float:
        """The slope of a synthesized frame: inside the region (away from 0 for a non-zero
        claim) or shifted by at least 1 + the tolerance to the wrong side."""
        e, t = self.expected, self.tolerance
        r_lo, r_hi = self.region()
        if satisfy and self.kind == "equal":
            return e
        sign = -1.0 if (self.kind == "at_most") == satisfy else 1.0
        if not satisfy and self.kind == "equal":
            sign = 1.0
        start = e + sign * (0.5 if satisfy else t + 1.0)
        for d in np.arange(0.0, 60.0, 0.05):
            p = start + sign * d
            w = self._half_width(p)
            lo, hi = p - w, p + w
            if satisfy:
                ok = r_lo <= lo and hi <= r_hi and (e == 0 or not lo <= 0 <= hi)
            else:
                ok = lo > r_hi or hi < r_lo
            if ok:
                return float(p)
        return float(start)

    def synthesize(self, satisfy: bool, rng: np.random.Generator, y: str = "value") -> pd.DataFrame:
        p = self.target(satisfy)
        if self.grid is None:
            x = np.repeat(np.geomspace(2.0, 64.0, 6), 3)
            ys = (x / 8.0) ** p * np.exp(0.01 * rng.standard_normal(x.size))
            return pd.DataFrame({self.x: x, self.y or y: ys})
        g = self.grid
        span = math.log(g.high / g.low) / (max(abs(self.expected), abs(p)) + 0.5)
        x = 2.0 * np.exp(np.linspace(0.0, span, 12))
        mid = math.exp(span / 2.0) * 2.0
        y_true = math.sqrt(g.high * g.low) * (x / mid) ** p
        top = math.floor(math.log(g.high / g.low) / math.log(g.step) + 1e-9)
        j = np.clip(np.round(np.log(y_true / g.low) / math.log(g.step)), 1, top)
        return pd.DataFrame({self.x: x, self.y or y: g.low * g.step**j})
