"""The studies layer: claims declared with their citations and test objects, judged on stored
measurements into consistent / contradicted / inconclusive / vacuous / outside-assumptions
verdicts (:mod:`overparam.studies.claims`)."""

from overparam.studies.claims import (
    VERDICTS,
    Claim,
    Fraction,
    Grid,
    Hypothesis,
    Judgement,
    Monotone,
    Rank,
    Rate,
    Ratio,
    Resolution,
    Slope,
    Threshold,
    assert_falsifiable,
    count_verdicts,
    judge,
)

__all__ = [
    "VERDICTS",
    "Claim",
    "Fraction",
    "Grid",
    "Hypothesis",
    "Judgement",
    "Monotone",
    "Rank",
    "Rate",
    "Ratio",
    "Resolution",
    "Slope",
    "Threshold",
    "assert_falsifiable",
    "count_verdicts",
    "judge",
]
