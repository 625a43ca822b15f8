"""Thresholds over seeds (overparam.sweep.threshold): the log-width bisection against a
synthetic success model with known per-seed thresholds, the bootstrap interval, the censoring
of T* against losses with a closed-form first-passage time, and the exponent fit's
resolvable range."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from overparam.config import build_config
from overparam.errors import ConfigError
from overparam.studies.claims import CONSISTENT, INCONCLUSIVE, Claim, Grid, Slope, judge
from overparam.sweep import critical_width
from overparam.sweep.threshold import (
    CENSORED,
    FAILED,
    REACHED,
    bisect_log,
    first_passage,
    outcome,
    resolvable_exponent,
    stable_threshold,
    time_estimate,
    width_estimate,
)


def seed_thresholds(m0: float, seeds: int, rng: np.random.Generator) -> np.ndarray:
    """Each seed succeeds exactly from its own width on (lognormal around m0)."""
    return m0 * np.exp(0.3 * rng.standard_normal(seeds))


def true_critical(thresholds: np.ndarray, success: float) -> int:
    """The smallest integer width at which a fraction >= success of the seeds succeed."""
    k = math.ceil(success * thresholds.size - 1e-9)
    return math.ceil(np.sort(thresholds)[k - 1])


@pytest.mark.parametrize("m0", [37.0, 300.0, 2500.0])
@pytest.mark.parametrize("resolution", [0.1, 0.05])
def test_bisection_recovers_the_threshold_within_its_resolution(m0, resolution):
    rng = np.random.default_rng(int(m0))
    thr = seed_thresholds(m0, 10, rng)
    truth = true_critical(thr, 0.9)

    def rate(w: int) -> float:
        return float(np.mean(thr <= w))

    width, evals = bisect_log(rate, success=0.9, width_min=4, width_max=16384,
                              resolution=resolution)  # fmt: skip
    assert isinstance(width, int) and rate(width) >= 0.9  # the returned end succeeds
    # the succeeding end is never below the truth, and within the stated resolution above it
    assert truth <= width <= max((1 + resolution) * truth, truth + 1)
    # bisection, not a grid: log2(log(4096) / log(1 + r)) + 2 endpoints evaluations at most
    assert len(evals) <= math.ceil(math.log2(math.log(4096) / math.log1p(resolution))) + 2


def test_bisection_ends():
    assert bisect_log(lambda w: 0.0, success=0.9, width_min=4, width_max=64)[0] is None
    assert bisect_log(lambda w: 1.0, success=0.9, width_min=4, width_max=64)[0] == 4
    with pytest.raises(ConfigError, match="resolution"):
        bisect_log(lambda w: 1.0, success=0.9, width_min=4, width_max=64, resolution=0.0)


def test_critical_width_bisect_method_matches_the_synthetic_model():
    rng = np.random.default_rng(1)
    thr = seed_thresholds(500.0, 8, rng)
    truth = true_critical(thr, 0.9)
    base = build_config(dict(data="close-pair", n=8, d=16, phi=0.4, depth=1, width=4))

    def evaluate(cfgs):
        return [thr[c.seed] <= c.width for c in cfgs]

    kw = dict(target_ratio=0.01, max_steps=10, seeds=8, width_min=4, width_max=16384,
              evaluate=evaluate)  # fmt: skip
    bis = critical_width(base, method="bisect", rel_tol=0.1, **kw)
    dbl = critical_width(base, method="doubling", rel_tol=0.1, **kw)
    assert bis.method == "bisect" and truth <= bis.width <= 1.1 * truth
    assert truth <= dbl.width <= 1.12 * truth
    assert len(bis.evaluations) < len(dbl.evaluations)
    with pytest.raises(ConfigError, match="method"):
        critical_width(base, method="grid", **kw)


def test_outcome_separates_budget_from_failure():
    assert outcome("done", "converged") == REACHED
    assert outcome("done", "max_steps") == CENSORED
    assert outcome("diverged", "diverged") == FAILED
    assert outcome("failed", None) == FAILED


def test_stable_threshold_ignores_a_lucky_narrow_width():
    widths = [4, 8, 16, 32, 64]
    assert stable_threshold(widths, [1.0, 0.0, 1.0, 1.0, 1.0], 0.9) == 16
    assert stable_threshold(widths, [1.0, 1.0, 1.0, 1.0, 0.5], 0.9) == math.inf


def _outcomes(thr: np.ndarray, widths, below=CENSORED):
    return {w: [REACHED if t <= w else below for t in thr] for w in widths}


def test_width_estimate_equals_the_bisection_and_its_interval_holds_it():
    rng = np.random.default_rng(3)
    thr = seed_thresholds(200.0, 10, rng)
    width, evals = bisect_log(lambda w: float(np.mean(thr <= w)), success=0.9, width_min=4,
                              width_max=4096)  # fmt: skip
    est = width_estimate(_outcomes(thr, [w for w, _ in evals]), success=0.9, n_boot=500)
    assert est.value == width
    assert est.low <= est.value <= est.high
    assert 0 < est.resolution <= 0.1 + 1e-12
    # the seeds differ, so resampling them moves the estimate: a non-degenerate interval
    assert est.low < est.high
    assert est.censored  # the seeds below their threshold hit the budget: m* at this budget
    again = width_estimate(_outcomes(thr, [w for w, _ in evals]), success=0.9, n_boot=500)
    assert again == est  # seeded
    failed = width_estimate(_outcomes(thr, [w for w, _ in evals], below=FAILED), success=0.9)
    assert not failed.censored


def test_identical_seeds_give_a_zero_width_interval():
    thr = np.full(8, 100.0)
    est = width_estimate(_outcomes(thr, [64, 90, 100, 128, 4096]), success=0.9)
    assert est.value == est.low == est.high == 100


def test_width_estimate_rejects_ragged_outcomes():
    with pytest.raises(ConfigError, match="outcomes"):
        width_estimate({4: [REACHED], 8: [REACHED, REACHED]})


def geometric_losses(rho: float, steps: int) -> list[float]:
    return [rho**t for t in range(steps + 1)]


def test_first_passage_matches_the_closed_form():
    for rho in (0.5, 0.9, 0.99):
        expected = math.ceil(math.log(0.01) / math.log(rho) - 1e-12)
        assert first_passage(geometric_losses(rho, 2000), 0.01) == expected
    assert first_passage(geometric_losses(0.999, 100), 0.01) is None


def test_time_estimate_against_a_known_T_with_censoring():
    rhos = np.linspace(0.90, 0.99, 10)
    exact = [math.ceil(math.log(0.01) / math.log(r) - 1e-12) for r in rhos]
    truth = sorted(exact)[8]  # 90% of 10 seeds: the 9th arrival

    def times(budget: int) -> list[int | None]:
        return [first_passage(geometric_losses(r, budget), 0.01) for r in rhos]

    est = time_estimate(times(2000), budget=2000, q=0.9)
    assert est.value == truth and not est.censored
    assert est.low <= truth <= est.high
    # a budget between the 9th and 10th arrivals censors one seed: T* still exact
    mid = (sorted(exact)[8] + sorted(exact)[9]) // 2
    est = time_estimate(times(mid), budget=mid, q=0.9)
    assert est.value == truth and not est.censored and est.high == math.inf
    # a budget below the 9th arrival: T* is only known to exceed the budget
    low = sorted(exact)[8] - 1
    est = time_estimate(times(low), budget=low, q=0.9)
    assert est.censored and est.value == math.inf


def test_resolvable_exponent_closed_form():
    assert resolvable_exponent(4, 16384, 8, 64) == pytest.approx(4.0)
    with pytest.raises(ConfigError):
        resolvable_exponent(4, 4, 8, 64)


def _quantized(xs: np.ndarray, p: float, grid: Grid, rng: np.random.Generator) -> np.ndarray:
    """m* = c x^p with 10% noise, known only to the bisection's resolution (rounded up to the
    grid) and clipped to its range."""
    m = 6.0 * xs**p * np.exp(0.1 * rng.standard_normal(xs.size))
    j = np.ceil(np.log(m / grid.low) / math.log(grid.step))
    return np.clip(grid.low * grid.step**j, grid.low, 2 * grid.high)


def _exponent_claim(p: float, grid: Grid) -> Claim:
    return Claim("exp", "m* ~ n^p", cite="zou-gu-2019, Theorem 3.3", quantity="m",
                 test=Slope(p, 0.3, kind="equal", x="n", grid=grid))  # fmt: skip


def test_exponent_fit_recovers_a_known_exponent_and_says_when_it_cannot():
    rng = np.random.default_rng(0)
    grid = Grid(1.1, 4.0, 16384.0)
    ns = np.repeat([8.0, 16.0, 32.0, 64.0, 128.0], 8)
    frame = pd.DataFrame({"n": ns, "m": _quantized(ns, 1.5, grid, rng)})
    j = judge(_exponent_claim(1.5, grid), frame)
    assert j.verdict == CONSISTENT
    slope = float(j.measured.split()[1])
    assert abs(slope - 1.5) < 0.1
    # n^8 over n = 8..32 would span 10^4.8 in m: more than the grid's 4..16384 holds
    ns = np.repeat([8.0, 16.0, 32.0], 8)
    frame = pd.DataFrame({"n": ns, "m": _quantized(ns, 8.0, grid, rng)})
    j = judge(_exponent_claim(8.0, grid), frame)
    assert j.verdict == INCONCLUSIVE and "p_max" in j.reason
