"""The five verdicts a claim can receive, and the judgement that carries one.

* ``consistent``: the test could have failed on these data and did not;
* ``contradicted``: it failed;
* ``inconclusive``: the data cannot decide (the reason says why: too few points, an interval
  straddling the boundary, a grid or dtype that cannot resolve the claimed value);
* ``vacuous``: the bound is at or beyond its trivial value, or the claim holds by construction;
* ``outside assumptions``: the runs violate a declared hypothesis of the cited theorem.

Only ``consistent`` counts as support (:attr:`Judgement.supports`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

Verdict = Literal["consistent", "contradicted", "inconclusive", "vacuous", "outside assumptions"]

CONSISTENT: Verdict = "consistent"
CONTRADICTED: Verdict = "contradicted"
INCONCLUSIVE: Verdict = "inconclusive"
VACUOUS: Verdict = "vacuous"
OUTSIDE: Verdict = "outside assumptions"
#: Every verdict, in the order the report lists them.
VERDICTS: tuple[Verdict, ...] = (CONSISTENT, CONTRADICTED, INCONCLUSIVE, VACUOUS, OUTSIDE)


@dataclass(frozen=True)
class Outcome:
    """What a test object returns on a frame: the verdict, the measured value as text, the
    reason (always given for inconclusive / vacuous) and the tightness (NaN when undefined)."""

    verdict: Verdict
    measured: str
    reason: str = ""
    tightness: float = math.nan


@dataclass(frozen=True)
class Judgement:
    """One judged claim: a row of the report's summary table.

    Attributes:
        key, text, cite: the claim's key, statement and "reference-key, location".
        verdict: one of :data:`VERDICTS`.
        measured: the measured value as text (e.g. "slope -0.48 [-0.55, -0.41], 15 rows").
        theory: the test's own description, margins included (e.g. "slope -1/2 ± 0.10").
        reason: why the verdict is inconclusive / vacuous / outside assumptions (and notes).
        tightness: measured ÷ bound with constants 1, or measured ÷ theory's exponent.
    """

    key: str
    text: str
    cite: str
    verdict: Verdict
    measured: str
    theory: str
    reason: str = ""
    tightness: float = math.nan

    @property
    def supports(self) -> bool:
        """Whether this judgement counts as support for the claim (only ``consistent``)."""
        return self.verdict == CONSISTENT

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (a non-finite tightness becomes None)."""
        t = self.tightness
        return {
            "key": self.key,
            "text": self.text,
            "cite": self.cite,
            "verdict": self.verdict,
            "measured": self.measured,
            "theory": self.theory,
            "reason": self.reason,
            "tightness": float(t) if math.isfinite(t) else None,
        }


def count_verdicts(judgements: Iterable[Judgement]) -> dict[str, int]:
    """How many judgements received each verdict (every verdict present, zeros included)."""
    counts: dict[str, int] = dict.fromkeys(VERDICTS, 0)
    for j in judgements:
        counts[j.verdict] += 1
    return counts
