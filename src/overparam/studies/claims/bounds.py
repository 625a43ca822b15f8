"""Bound tests: ``Ratio`` (measured ÷ bound at every point), ``Rate`` (a loss curve under a
geometric envelope) and ``Threshold`` (every value on one side of a number).

Verdict rules (answering the report's former ratio rule, under which a ratio above 1 still
"held with constant C" for any C):

* ``Ratio``: measured ÷ (constant · bound) must stay <= ``at_most`` (and/or >= ``at_least``) at
  *every* point; the constant is a stated field (1 unless the theorem states one), so a violation
  is *contradicted*, never absorbed into a hidden constant. A point whose bound is at or beyond
  its ``trivial`` value (e.g. 1 for a bound on a probability or an error rate) cannot fail: it
  is left out, and a claim with only such points is *vacuous*.
* ``Rate``: L_t <= constant · rho^(t - t0) · L_t0 on the *worst* step of every run, late steps
  included (not a median, not a tail fit); runs whose rho >= 1 claim no decay (vacuous).
* ``Threshold``: every value >= ``at_least`` / <= ``at_most``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from overparam.errors import ConfigError
from overparam.studies.claims.base import ClaimTest, fmt, numeric
from overparam.studies.claims.verdicts import (
    CONSISTENT,
    CONTRADICTED,
    INCONCLUSIVE,
    VACUOUS,
    Outcome,
)


def _rows_note(left_out: int) -> str:
    return f"; {left_out} rows with a missing value left out" if left_out else ""


@dataclass(frozen=True)
class Ratio(ClaimTest):
    """measured ÷ (constant · bound) <= at_most (default 1) and/or >= at_least, at every row.

    Attributes:
        bound: the column holding the bound evaluated at each row (hidden constants 1).
        at_most, at_least: the limits on the ratio (neither given: at_most = 1).
        constant: the theorem's stated constant multiplying the bound (1 unless stated).
        trivial: the bound's trivial value: an upper bound with constant · bound >= trivial
            (a lower bound with constant · bound <= trivial) cannot fail.
    """

    bound: str
    at_most: float | None = None
    at_least: float | None = None
    constant: float = 1.0
    trivial: float | None = None

    def __post_init__(self) -> None:
        if self.at_most is None and self.at_least is None:
            object.__setattr__(self, "at_most", 1.0)
        if self.at_most is not None and not self.at_most > 0:
            raise ConfigError("at_most", self.at_most, "a ratio limit > 0")
        if self.at_least is not None and self.at_most is not None:
            if not self.at_least < self.at_most:
                raise ConfigError("at_least", self.at_least, f"a number < at_most={self.at_most}")
            if self.trivial is not None:
                raise ConfigError("trivial", self.trivial, "None for a two-sided ratio")
        if not (self.constant > 0 and math.isfinite(self.constant)):
            raise ConfigError("constant", self.constant, "a finite number > 0")
        if self.trivial is not None and self.at_least is None and not self.trivial > 0:
            raise ConfigError("trivial", self.trivial, "a number > 0 for an upper bound")

    @property
    def upper(self) -> bool:
        return self.at_most is not None

    def describe(self) -> str:
        c = "" if self.constant == 1 else f"{fmt(self.constant)}·"
        parts = []
        if self.at_least is not None:
            parts.append(f"{fmt(self.at_least)} ≤")
        parts.append(f"measured / ({c}{self.bound})" if c else f"measured / {self.bound}")
        if self.at_most is not None:
            parts.append(f"≤ {fmt(self.at_most)}")
        out = " ".join(parts) + " at every point"
        if self.constant == 1:
            out += " (constants 1)"
        if self.trivial is not None:
            side = "≥" if self.upper else "≤"
            out += f"; vacuous where {c}{self.bound} {side} {fmt(self.trivial)}"
        return out

    def columns(self, y: str) -> tuple[str, ...]:
        return (y, self.bound)

    def evaluate(self, frame: pd.DataFrame, y: str) -> Outcome:
        m, b = numeric(frame, y), numeric(frame, self.bound)
        ok = ~np.isnan(m) & ~np.isnan(b)
        left_out = int((~ok).sum())
        m, b = m[ok], b[ok]
        with np.errstate(divide="ignore", invalid="ignore"):
            raw = m / b
        cb = self.constant * b
        vac = np.zeros(m.shape, dtype=bool)
        if self.trivial is not None:
            vac = cb >= self.trivial if self.upper else cb <= self.trivial
        keep = ~vac & ~np.isnan(raw)
        n_vac = int(vac.sum())
        if not keep.any():
            if n_vac and self.trivial is not None:  # rows are vacuous only with a trivial value
                side = "≥" if self.upper else "≤"
                return Outcome(
                    VACUOUS,
                    f"{n_vac} rows, every {self.bound} at or beyond its trivial value",
                    f"constant · bound {side} {fmt(self.trivial)} at every point: it cannot fail",
                )
            return Outcome(INCONCLUSIVE, "no rows", "no row has both the value and the bound")
        raw, ratio = raw[keep], raw[keep] / self.constant
        hi, lo = float(ratio.max()), float(ratio.min())
        parts = []
        if self.at_least is not None:
            parts.append(f"min measured/bound {fmt(float(raw.min()))}")
        if self.at_most is not None:
            parts.append(f"max measured/bound {fmt(float(raw.max()))}")
        measured = f"{', '.join(parts)} over {int(keep.sum())} rows" + _rows_note(left_out)
        if n_vac:
            measured += f"; {n_vac} vacuous rows (bound at its trivial value) left out"
        tight = float(raw.max()) if self.upper else float(raw.min())
        bad = []
        if self.at_most is not None and hi > self.at_most:
            bad.append(f"{int((ratio > self.at_most).sum())} rows above {fmt(self.at_most)}")
        if self.at_least is not None and lo < self.at_least:
            bad.append(f"{int((ratio < self.at_least).sum())} rows below {fmt(self.at_least)}")
        if bad:
            return Outcome(CONTRADICTED, measured, "; ".join(bad), tight)
        return Outcome(CONSISTENT, measured, "", tight)

    def synthesize(self, satisfy: bool, rng: np.random.Generator, y: str = "value") -> pd.DataFrame:
        n, c = 12, self.constant
        if self.trivial is not None and self.upper:
            b = self.trivial / c * rng.uniform(0.05, 0.5, n)
        elif self.trivial is not None:
            b = max(self.trivial / c, 0.0) * 2.0 + rng.uniform(0.5, 2.0, n)
        else:
            b = np.exp(rng.uniform(-1.0, 1.0, n))
        u = rng.uniform(0.2, 0.8, n)
        if self.at_most is not None and self.at_least is not None:
            lo, hi = self.at_least, self.at_most
            r = lo + (hi - lo) * u if satisfy else hi * (2.0 + 8.0 * u)
        elif self.at_most is not None:
            r = self.at_most * u if satisfy else self.at_most * (2.0 + 8.0 * u)
        else:
            assert self.at_least is not None  # __post_init__: at_most = 1 when neither is given
            a = float(self.at_least)
            below = a * u / 10.0 if a > 0 else a - 1.0 - u
            r = a + (abs(a) + 1.0) * u if satisfy else below
        return pd.DataFrame({y: r * c * b, self.bound: b})


@dataclass(frozen=True)
class Rate(ClaimTest):
    """L_t <= constant · rho^(t - t0) · L_t0 for every step t of every run (worst step).

    Attributes:
        rho: a column holding each row's contraction factor (e.g. 1 - eta lambda_0 / 2), or a
            number. constant: the stated constant C (1 unless the theorem states one).
        step: the step column. run: the column naming runs (None: one run).
        min_steps: the fewest steps after t0 that a run needs to be judged.
    """

    rho: str | float
    constant: float = 1.0
    step: str = "step"
    run: str | None = "run_id"
    min_steps: int = 3

    def __post_init__(self) -> None:
        if not isinstance(self.rho, str) and not 0 < self.rho < 1:
            raise ConfigError("rho", self.rho, "a column name or a number in (0, 1)")
        if not (self.constant >= 1 and math.isfinite(self.constant)):
            raise ConfigError("constant", self.constant, "a finite number >= 1")
        if self.min_steps < 1:
            raise ConfigError("min_steps", self.min_steps, "an integer >= 1")

    def describe(self) -> str:
        c = "" if self.constant == 1 else f"{fmt(self.constant)}·"
        rho = self.rho if isinstance(self.rho, str) else fmt(self.rho)
        return (
            f"L_t ≤ {c}{rho}^t · L_0 at every step of every run (worst step, late steps "
            f"included; ≥ {self.min_steps} steps per run)"
        )

    def columns(self, y: str) -> tuple[str, ...]:
        cols = [y, self.step]
        cols += [self.rho] if isinstance(self.rho, str) else []
        return tuple(cols + ([self.run] if self.run else []))

    def evaluate(self, frame: pd.DataFrame, y: str) -> Outcome:
        d = pd.DataFrame(
            {
                "run": frame[self.run].to_numpy() if self.run else 0,
                "t": numeric(frame, self.step),
                "loss": numeric(frame, y),
                "rho": numeric(frame, self.rho) if isinstance(self.rho, str) else self.rho,
            }
        )
        d = d.dropna()
        d = d[(d["loss"] >= 0) & (d["rho"] > 0)]
        worst, where, judged, short, flat, steps = -math.inf, "", 0, 0, 0, 0
        for run, g in d.groupby("run", sort=True):
            g = g.sort_values("t")
            t0, l0 = float(g["t"].iloc[0]), float(g["loss"].iloc[0])
            g = g.iloc[1:]
            if len(g) < self.min_steps or l0 <= 0:
                short += 1
                continue
            if (g["rho"] >= 1).all():
                flat += 1
                continue
            g = g[g["rho"] < 1]
            with np.errstate(divide="ignore"):
                log_r = np.log(g["loss"]) - math.log(l0) - (g["t"] - t0) * np.log(g["rho"])
            i = int(np.argmax(log_r.to_numpy()))
            judged, steps = judged + 1, steps + len(g)
            if float(log_r.iloc[i]) > worst:
                worst = float(log_r.iloc[i])
                where = f"run {run}, step {fmt(float(g['t'].iloc[i]))}"
        notes = []
        if short:
            notes.append(f"{short} run(s) with under {self.min_steps} steps left out")
        if flat:
            notes.append(f"{flat} run(s) with rho ≥ 1 (no decay claimed) left out")
        if not judged:
            verdict = VACUOUS if flat and not short else INCONCLUSIVE
            why = "every run has rho ≥ 1: the envelope does not decay"
            why = why if verdict == VACUOUS else "no run has enough steps to judge"
            return Outcome(verdict, f"{len(d)} rows", "; ".join([why, *notes]))
        ratio = math.exp(worst)
        measured = f"max_t L_t/(rho^t L_0) = {fmt(ratio)} at {where}; {judged} runs, {steps} steps"
        if ratio > self.constant:
            why = f"the worst step exceeds the envelope by {fmt(ratio / self.constant)}x"
            return Outcome(CONTRADICTED, measured, "; ".join([why, *notes]), ratio)
        return Outcome(CONSISTENT, measured, "; ".join(notes), ratio)

    def synthesize(self, satisfy: bool, rng: np.random.Generator, y: str = "value") -> pd.DataFrame:
        rho = float(rng.uniform(0.8, 0.95)) if isinstance(self.rho, str) else float(self.rho)
        t = np.arange(0, 41, dtype=float)
        frames = []
        for r in range(3):
            l0 = float(rng.uniform(0.5, 2.0))
            # satisfy: 3% faster than rho every step; violate: 10% above C rho^t from step 1 on
            loss = l0 * (0.97 * rho) ** t if satisfy else l0 * self.constant * (1.1 * rho) ** t
            loss[0] = l0
            f = pd.DataFrame({self.step: t, y: loss})
            if isinstance(self.rho, str):
                f[self.rho] = rho
            if self.run:
                f[self.run] = f"run{r}"
            frames.append(f)
        if not self.run:
            return frames[0]
        return pd.concat(frames, ignore_index=True)


@dataclass(frozen=True)
class Threshold(ClaimTest):
    """Every value >= at_least and/or <= at_most (e.g. lambda_min >= 0: positive definite)."""

    at_least: float | None = None
    at_most: float | None = None

    def __post_init__(self) -> None:
        if self.at_least is None and self.at_most is None:
            raise ConfigError("at_least", None, "at_least and/or at_most")
        if (
            self.at_least is not None
            and self.at_most is not None
            and not self.at_least < self.at_most
        ):
            raise ConfigError("at_least", self.at_least, f"a number < at_most={self.at_most}")

    def describe(self) -> str:
        parts = []
        if self.at_least is not None:
            parts.append(f"≥ {fmt(self.at_least)}")
        if self.at_most is not None:
            parts.append(f"≤ {fmt(self.at_most)}")
        return f"every value {' and '.join(parts)}"

    def columns(self, y: str) -> tuple[str, ...]:
        return (y,)

    def evaluate(self, frame: pd.DataFrame, y: str) -> Outcome:
        v = numeric(frame, y)
        left_out = int(np.isnan(v).sum())
        v = v[~np.isnan(v)]
        if v.size == 0:
            return Outcome(INCONCLUSIVE, "no values", "no row holds a value")
        lo, hi = float(v.min()), float(v.max())
        measured = f"min {fmt(lo)}, max {fmt(hi)} over {v.size} rows" + _rows_note(left_out)
        tight = math.nan
        if self.at_most is not None and self.at_most != 0:
            tight = hi / self.at_most
        elif self.at_least is not None and self.at_least != 0:
            tight = lo / self.at_least
        bad = []
        if self.at_least is not None and lo < self.at_least:
            bad.append(f"{int((v < self.at_least).sum())} rows below {fmt(self.at_least)}")
        if self.at_most is not None and hi > self.at_most:
            bad.append(f"{int((v > self.at_most).sum())} rows above {fmt(self.at_most)}")
        return Outcome(CONTRADICTED if bad else CONSISTENT, measured, "; ".join(bad), tight)

    def synthesize(self, satisfy: bool, rng: np.random.Generator, y: str = "value") -> pd.DataFrame:
        u = rng.uniform(0.1, 0.9, 10)
        a, b = self.at_least, self.at_most
        if a is not None and b is not None:
            v = a + (b - a) * u if satisfy else b + (b - a) * (1.0 + u)
        elif a is not None:
            v = a + 1.0 + u if satisfy else a - 1.0 - u
        else:
            assert b is not None  # __post_init__: at_least and/or at_most
            v = b - 1.0 - u if satisfy else b + 1.0 + u
        return pd.DataFrame({y: v})
