"""Declared claims and their judgement.

A claim is declared, not coded::

    Claim(
        "movement-slope",
        "weight movement max_l ||W_l - W_l^(0)||_2 is O(m^(-1/2))",
        cite="zou-gu-2019, Lemma 4.2",
        quantity="movement",
        test=Slope(-0.5, 0.1, kind="at_most", x="width"),
        hypotheses=(Hypothesis("activation", allowed=("relu",), reason="Lemma 4.2: relu"),),
    )

:func:`judge` checks, in order: rows present; every declared :class:`Hypothesis` against the
frame's config columns (a violation: *outside assumptions*, never support; an unrecorded
column: *inconclusive*); the columns the test reads; the dtype-resolution rule
(:class:`Resolution`); then the test object itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from overparam.errors import ConfigError
from overparam.references import REFERENCES
from overparam.studies.claims.base import ClaimTest, fmt, numeric
from overparam.studies.claims.verdicts import (
    INCONCLUSIVE,
    OUTSIDE,
    VACUOUS,
    Judgement,
    Verdict,
)

#: Machine epsilon of the dtypes runs are stored in (bfloat16: 8 significand bits).
EPS: dict[str, float] = {
    "float64": float(np.finfo(np.float64).eps),
    "float32": float(np.finfo(np.float32).eps),
    "float16": float(np.finfo(np.float16).eps),
    "bfloat16": 2.0**-7,
}


def _num_or_col(frame: pd.DataFrame, v: str | float) -> np.ndarray | float:
    return numeric(frame, v) if isinstance(v, str) else float(v)


def _name(v: str | float) -> str:
    return v if isinstance(v, str) else fmt(float(v))


@dataclass(frozen=True)
class Hypothesis:
    """A hypothesis of the cited theorem, checked on the frame's config column ``column``.

    Attributes:
        column: the config column (e.g. "activation", "lr_used").
        allowed: the values it may take (e.g. ("softplus", "tanh")), or None.
        at_most, at_least: a number or a column name (row by row), or None.
        reason: where the theorem states it (e.g. "Condition 3.1: analytic, Lipschitz σ").
    """

    column: str
    allowed: tuple[Any, ...] | None = None
    at_most: str | float | None = None
    at_least: str | float | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        if self.allowed is None and self.at_most is None and self.at_least is None:
            raise ConfigError(f"hypothesis {self.column}", None, "allowed, at_most or at_least")
        if self.allowed is not None:
            object.__setattr__(self, "allowed", tuple(self.allowed))

    def describe(self) -> str:
        parts = []
        if self.allowed is not None:
            parts.append(f"{self.column} in ({', '.join(map(str, self.allowed))})")
        if self.at_least is not None:
            parts.append(f"{self.column} ≥ {_name(self.at_least)}")
        if self.at_most is not None:
            parts.append(f"{self.column} ≤ {_name(self.at_most)}")
        text = " and ".join(parts)
        return f"{text} [{self.reason}]" if self.reason else text

    def columns(self) -> tuple[str, ...]:
        extra = [v for v in (self.at_most, self.at_least) if isinstance(v, str)]
        return (self.column, *extra)

    def check(self, frame: pd.DataFrame) -> tuple[str, str]:
        """("ok" | "unknown" | "violated", detail) on ``frame``."""
        missing = [c for c in self.columns() if c not in frame.columns]
        if missing:
            return "unknown", f"the runs do not record {', '.join(missing)}"
        col = frame[self.column]
        if col.isna().any():
            return "unknown", f"{int(col.isna().sum())} rows have no {self.column}"
        bad = np.zeros(len(frame), dtype=bool)
        if self.allowed is not None:
            bad |= ~col.isin(self.allowed).to_numpy()
        values = None
        for limit, above in ((self.at_most, True), (self.at_least, False)):
            if limit is None:
                continue
            values = numeric(frame, self.column) if values is None else values
            lim = _num_or_col(frame, limit)
            if np.isnan(values).any() or np.isnan(lim).any():
                return "unknown", f"{self.column} or its limit {_name(limit)} is not a number"
            bad |= values > lim if above else values < lim
        if not bad.any():
            return "ok", ""
        seen = sorted(map(str, pd.unique(col[bad])))[:5]
        return "violated", (
            f"{self.column} = {', '.join(seen)} in {int(bad.sum())} of {len(frame)} rows "
            f"violates {self.describe()}"
        )

    def satisfying(self, n: int) -> dict[str, Any]:
        """Columns of ``n`` rows that satisfy this hypothesis (for synthesized frames)."""
        if self.allowed is not None:
            return {self.column: [self.allowed[0]] * n}
        cols: dict[str, Any] = {}
        lo, hi = self.at_least, self.at_most
        if isinstance(lo, str):
            cols[lo] = np.zeros(n)
            lo = 0.0
        if isinstance(hi, str):
            cols[hi] = np.full(n, 1.0 if lo is None else float(lo) + 1.0)
            hi = float(cols[hi][0])
        if lo is not None and hi is not None:
            value = (float(lo) + float(hi)) / 2.0
        elif lo is not None:
            value = float(lo)
        else:
            assert hi is not None  # __post_init__: allowed, at_most or at_least
            value = float(hi)
        cols[self.column] = np.full(n, value)
        return cols


@dataclass(frozen=True)
class Resolution:
    """The dtype-resolution rule: a measured value with |value| <= factor · eps(dtype) · |scale|
    is below what the dtype resolves (e.g. a lambda_min of -4e-16 next to lambda_max = 1 in
    float64) and is neither support nor contradiction: such rows are left out, and a claim with
    only such rows is inconclusive.

    Attributes:
        dtype: "float64", "float32", "float16", "bfloat16", or a column holding one per row.
        scale: the magnitude the value is computed from (a number or a column, e.g.
            "lambda_max", or "initial_loss" for a loss curve).
        factor: the multiple of eps allowed for accumulated rounding.
    """

    dtype: str = "float64"
    scale: str | float = 1.0
    factor: float = 64.0

    def __post_init__(self) -> None:
        if not self.factor > 0:
            raise ConfigError("factor", self.factor, "a number > 0")

    def columns(self) -> tuple[str, ...]:
        cols = [] if self.dtype in EPS else [self.dtype]
        return (*cols, *([self.scale] if isinstance(self.scale, str) else []))

    def describe(self) -> str:
        return f"|value| ≤ {fmt(self.factor)}·eps({self.dtype})·|{_name(self.scale)}|"

    def floor(self, frame: pd.DataFrame) -> np.ndarray:
        """The resolution floor of each row."""
        if self.dtype in EPS:
            eps = np.full(len(frame), EPS[self.dtype])
        else:
            names = frame[self.dtype].astype(str)
            unknown = sorted(set(names) - set(EPS))
            if unknown:
                raise ConfigError(self.dtype, unknown[0], ", ".join(EPS))
            eps = names.map(EPS).to_numpy(dtype=float)
        scale = np.abs(_num_or_col(frame, self.scale))
        return self.factor * eps * scale


def _parse_cite(cite: str) -> tuple[str, str]:
    key, _, location = (part.strip() for part in cite.partition(","))
    if key not in REFERENCES:
        raise ConfigError("cite", key, f"a key of overparam.references: {', '.join(REFERENCES)}")
    if not location:
        allowed = "'<reference key>, <location>', e.g. 'zou-gu-2019, Lemma 4.2'"
        raise ConfigError("cite", cite, allowed)
    return key, location


@dataclass(frozen=True)
class Claim:
    """A declared claim of a cited theorem, judged by its test object.

    Attributes:
        key: a short unique name. text: the statement as the report prints it.
        cite: "<reference key>, <location>" (the key is checked against
            :data:`overparam.references.REFERENCES` here, at declaration).
        quantity: the measured column the test judges.
        test: a test object (:class:`Slope`, :class:`Ratio`, :class:`Rate`, ...).
        hypotheses: the theorem's hypotheses, checked on the frame before the test.
        resolution: the dtype-resolution rule for ``quantity``, or None.
        by_construction: non-empty when the claim holds by construction (e.g. a step size
            chosen so that the bound is met): the verdict is then vacuous, with this reason.
    """

    key: str
    text: str
    cite: str
    quantity: str
    test: ClaimTest
    hypotheses: Sequence[Hypothesis] = ()
    resolution: Resolution | None = None
    by_construction: str = ""

    def __post_init__(self) -> None:
        if not self.key:
            raise ConfigError("key", self.key, "a non-empty name")
        key, location = _parse_cite(self.cite)
        object.__setattr__(self, "cite", f"{key}, {location}")
        if not isinstance(self.test, ClaimTest):
            raise ConfigError("test", type(self.test).__name__, "a claim test object")
        if not self.quantity:
            raise ConfigError("quantity", self.quantity, "a measured column name")
        y = getattr(self.test, "y", None)
        if y not in (None, self.quantity):
            raise ConfigError("test.y", y, f"None or the claim's quantity {self.quantity!r}")
        object.__setattr__(self, "hypotheses", tuple(self.hypotheses))

    @property
    def reference(self) -> str:
        """The full bibliography entry of the cited paper."""
        return REFERENCES[self.cite.partition(",")[0]]

    def columns(self) -> tuple[str, ...]:
        """The columns the test and the resolution rule read (hypotheses aside)."""
        cols = self.test.columns(self.quantity)
        cols += self.resolution.columns() if self.resolution else ()
        return tuple(dict.fromkeys(cols))


def _judgement(
    claim: Claim, verdict: Verdict, measured: str, reason: str, tight: float = math.nan
) -> Judgement:
    return Judgement(
        claim.key,
        claim.text,
        claim.cite,
        verdict,
        measured,
        claim.test.describe(),
        reason,
        tight,
    )


def judge(claim: Claim, frame: pd.DataFrame | None) -> Judgement:
    """The verdict of ``claim`` on ``frame`` (one row per run, point or step; config columns
    alongside the measured ones). See the module docstring for the order of the checks."""
    if frame is None or frame.empty:
        return _judgement(claim, INCONCLUSIVE, "", "not measured: no rows")
    checks = [(h, *h.check(frame)) for h in claim.hypotheses]
    violated = [d for _, status, d in checks if status == "violated"]
    if violated:
        return _judgement(claim, OUTSIDE, "", "; ".join(violated))
    unknown = [f"cannot check {h.describe()}: {d}" for h, s, d in checks if s == "unknown"]
    if unknown:
        return _judgement(claim, INCONCLUSIVE, "", "; ".join(unknown))
    missing = [c for c in claim.columns() if c not in frame.columns]
    if missing:
        return _judgement(claim, INCONCLUSIVE, "", f"not measured: no column {', '.join(missing)}")
    notes = []
    if claim.resolution is not None:
        values = numeric(frame, claim.quantity)
        below = np.abs(values) <= claim.resolution.floor(frame)
        if below.any():
            frame = frame[~below]
            notes.append(
                f"{int(below.sum())} rows below the dtype's resolution "
                f"({claim.resolution.describe()}) left out"
            )
        if frame.empty:
            return _judgement(claim, INCONCLUSIVE, "every value below resolution", notes[0])
    out = claim.test.evaluate(frame, claim.quantity)
    if claim.by_construction:
        reason = "; ".join([f"holds by construction: {claim.by_construction}", *notes])
        return _judgement(claim, VACUOUS, out.measured, reason, out.tightness)
    reason = "; ".join(filter(None, [out.reason, *notes]))
    return _judgement(claim, out.verdict, out.measured, reason, out.tightness)
