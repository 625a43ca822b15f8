"""Every test object can come out either way: consistent on the frame it synthesizes to satisfy
it, contradicted on the one that violates it, for several parameter settings of every class.

Study claims registered later go through the same :func:`assert_falsifiable`."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from overparam.studies import (
    Claim,
    Fraction,
    Grid,
    Hypothesis,
    Monotone,
    Rank,
    Rate,
    Ratio,
    Resolution,
    Slope,
    Threshold,
    assert_falsifiable,
)
from overparam.studies.claims import ClaimTest, claim_frame

TESTS: list[ClaimTest] = [
    Slope(-0.5, 0.1),
    Slope(-0.5, 0.1, kind="at_most"),
    Slope(-1 / 3, 0.05, kind="at_least"),
    Slope(-1 / 6, 0.1),
    Slope(0.0, 0.1),
    Slope(0.0, 0.1, kind="at_most"),
    Slope(0.5, 0.01, kind="at_most"),
    Slope(1.0, 0.2, kind="at_least"),
    Slope(8.0, 0.5, kind="at_most", x="n"),
    Slope(8.0, 0.5, kind="at_most", x="n", grid=Grid(2, 4, 16384)),
    Slope(1.0, 0.1, kind="at_most", x="n", grid=Grid(2, 4, 16384)),
    Slope(-0.5, 0.1, kind="at_most", grid=Grid(2, 4, 16384)),
    Slope(-0.5, 0.1, grid=Grid(2, 1, 2.0**40)),
    Slope(4.0, 0.3, kind="at_least", grid=Grid(4, 4, 4.0**8)),
    Ratio("bound"),
    Ratio("bound", constant=4.0),
    Ratio("bound", at_least=1.0),
    Ratio("bound", at_least=0.0),
    Ratio("bound", trivial=1.0),
    Ratio("bound", at_least=1.0, trivial=0.0),
    Ratio("bound", at_least=0.5, at_most=2.0),
    Rate("rho"),
    Rate(0.9, constant=3.0),
    Rate("rho", run=None, min_steps=10),
    Threshold(at_least=0.0),
    Threshold(at_most=1.0),
    Threshold(at_least=0.0, at_most=1.0),
    Monotone("decreasing"),
    Monotone("increasing", threshold=1.0),
    Monotone("increasing", method="kendall", min_points=6),
    Rank(0.8, "pred"),
    Rank(0.9, "pred", method="kendall"),
    Fraction(0.8),
    Fraction(1.0, other="other", op="<"),
    Fraction(0.5, other="other", op=">="),
]


def claim(test: ClaimTest, **kw) -> Claim:
    return Claim("k", "a claim", "allen-zhu-2019, Theorem 1", "value", test, **kw)


@pytest.mark.parametrize("test", TESTS, ids=repr)
def test_every_test_object_is_falsifiable(test):
    assert_falsifiable(claim(test))


def test_every_test_class_is_covered():
    classes = {type(t) for t in TESTS}
    assert set(ClaimTest.__subclasses__()) <= classes


def test_hypotheses_and_resolution_travel_with_the_claim():
    c = claim(
        Slope(-0.5, 0.1, kind="at_most"),
        hypotheses=(
            Hypothesis("activation", allowed=("softplus", "tanh"), reason="Condition 3.1"),
            Hypothesis("lr", at_most="lr_max", at_least=0.0),
            Hypothesis("depth", at_least=2),
        ),
        resolution=Resolution("dtype", scale="lambda_max"),
    )
    assert_falsifiable(c)
    frame = claim_frame(c, True, np.random.default_rng(0))
    assert {"activation", "lr", "lr_max", "depth", "dtype", "lambda_max"} <= set(frame.columns)


@pytest.mark.parametrize("test", [t for t in TESTS if isinstance(t, Slope) and not t.grid])
def test_violating_slope_is_shifted_by_more_than_one_plus_the_tolerance(test):
    # an independent read of the synthesized frame: numpy's least squares
    frame = claim_frame(claim(test), False, np.random.default_rng(1))
    slope = np.polyfit(np.log(frame[test.x]), np.log(frame["value"]), 1)[0]
    lo, hi = test.region()
    assert slope > hi + 1 - 0.01 or slope < lo - 1 + 0.01


@given(
    expected=st.floats(-3.0, 3.0),
    tolerance=st.floats(0.02, 0.5),
    kind=st.sampled_from(["equal", "at_most", "at_least"]),
)
def test_slopes_are_falsifiable_for_any_exponent_and_tolerance(expected, tolerance, kind):
    assert_falsifiable(claim(Slope(expected, tolerance, kind=kind, n_boot=200)), seeds=(0,))


@given(
    constant=st.floats(0.5, 100.0),
    limit=st.floats(0.1, 10.0),
    lower=st.booleans(),
)
def test_ratios_are_falsifiable_for_any_constant_and_limit(constant, limit, lower):
    test = (
        Ratio("bound", at_least=limit, constant=constant)
        if lower
        else Ratio("bound", at_most=limit, constant=constant)
    )
    assert_falsifiable(claim(test), seeds=(0,))


def test_a_claim_that_cannot_be_confirmed_fails_the_check():
    # a doubling grid of 16 values cannot pin an exponent to ± 0.05: never consistent
    coarse = claim(Slope(-0.5, 0.05, grid=Grid(2, 4, 64)))
    with pytest.raises(AssertionError, match=r"inconclusive \(wanted consistent\)"):
        assert_falsifiable(coarse)
    built = claim(Ratio("bound"), by_construction="the step size enforces it")
    with pytest.raises(AssertionError, match="by construction"):
        assert_falsifiable(built)
