"""The claim engine: declared claims, test objects whose margins are fields, one ``judge``.

A :class:`Claim` names a cited statement, the measured column and a test object; :func:`judge`
returns a :class:`Judgement` with one of five verdicts (:data:`VERDICTS`): consistent (the test
could have failed and did not), contradicted, inconclusive (with the reason), vacuous (a bound
at its trivial value, or true by construction) and outside assumptions (the runs violate a
declared hypothesis). Every test object can synthesize data that pass and data that fail it;
:func:`assert_falsifiable` checks that a claim can come out either way.
"""

from overparam.studies.claims.base import ClaimTest, fmt_exponent, loglog_fit, rank_agreement
from overparam.studies.claims.bounds import Rate, Ratio, Threshold
from overparam.studies.claims.claim import EPS, Claim, Hypothesis, Resolution, judge
from overparam.studies.claims.falsify import assert_falsifiable, claim_frame
from overparam.studies.claims.order import Fraction, Monotone, Rank
from overparam.studies.claims.slope import Grid, Slope
from overparam.studies.claims.verdicts import (
    CONSISTENT,
    CONTRADICTED,
    INCONCLUSIVE,
    OUTSIDE,
    VACUOUS,
    VERDICTS,
    Judgement,
    Outcome,
    Verdict,
    count_verdicts,
)

__all__ = [
    "CONSISTENT",
    "CONTRADICTED",
    "EPS",
    "INCONCLUSIVE",
    "OUTSIDE",
    "VACUOUS",
    "VERDICTS",
    "Claim",
    "ClaimTest",
    "Fraction",
    "Grid",
    "Hypothesis",
    "Judgement",
    "Monotone",
    "Outcome",
    "Rank",
    "Rate",
    "Ratio",
    "Resolution",
    "Slope",
    "Threshold",
    "Verdict",
    "assert_falsifiable",
    "claim_frame",
    "count_verdicts",
    "fmt_exponent",
    "judge",
    "loglog_fit",
    "rank_agreement",
]
