"""The studies layer: each study plans its runs as sweep specs, declares its claims with their
citations and test objects, and has them judged by one claim engine
(:mod:`overparam.studies.claims`) into consistent / contradicted / inconclusive / vacuous /
outside-assumptions verdicts. The registry (:mod:`overparam.studies.registry`) lists them.

The claim engine's names are re-exported here, imported on first use (so that the command
line can read the registry's names without importing pandas and SciPy).
"""

from __future__ import annotations

import importlib
from typing import Any

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


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("overparam.studies.claims"), name)
    raise AttributeError(f"module 'overparam.studies' has no attribute {name!r}")
