"""Falsifiability: every claim must be able to come out either way.

:func:`assert_falsifiable` builds, from the claim's own test object, a frame that satisfies it
and one that violates it (:meth:`ClaimTest.synthesize`: the slope shifted by more than 1 + the
tolerance, the ratio scaled by 2-10, the order reversed, the loss decaying slower than rho),
adds config columns that meet every declared hypothesis, and requires :func:`judge` to say
``consistent`` on the first and ``contradicted`` on the second. A claim that cannot be
contradicted (a margin so wide, or a grid so coarse, that no data fail it) fails the check.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from overparam.studies.claims.claim import EPS, Claim, judge
from overparam.studies.claims.verdicts import CONSISTENT, CONTRADICTED


def claim_frame(claim: Claim, satisfy: bool, rng: np.random.Generator) -> pd.DataFrame:
    """A frame on which ``claim`` should be consistent (``satisfy``) or contradicted."""
    frame = claim.test.synthesize(satisfy, rng, y=claim.quantity)
    n = len(frame)
    extra: dict[str, object] = {}
    for h in claim.hypotheses:
        extra.update(h.satisfying(n))
    r = claim.resolution
    if r is not None:
        if r.dtype not in EPS:
            extra[r.dtype] = ["float64"] * n
        if isinstance(r.scale, str):
            extra[r.scale] = np.ones(n)
    new = {k: v for k, v in extra.items() if k not in frame.columns}
    return frame.assign(**new) if new else frame


def assert_falsifiable(claim: Claim, seeds: Sequence[int] = (0, 1, 2)) -> None:
    """Raise AssertionError unless ``claim`` is consistent on its satisfying frames and
    contradicted on its violating ones, for every seed."""
    if claim.by_construction:
        raise AssertionError(f"{claim.key}: declared to hold by construction, so it cannot fail")
    for seed in seeds:
        for satisfy, want in ((True, CONSISTENT), (False, CONTRADICTED)):
            frame = claim_frame(claim, satisfy, np.random.default_rng(seed))
            j = judge(claim, frame)
            if j.verdict != want:
                kind = "satisfying" if satisfy else "violating"
                raise AssertionError(
                    f"{claim.key}: {j.verdict} (wanted {want}) on the {kind} frame of seed "
                    f"{seed}; theory {j.theory}; measured {j.measured}; reason {j.reason}"
                )
