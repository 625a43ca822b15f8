"""Thresholds measured over seeds: the critical width m* and the iteration count T*, each with a
seeded bootstrap interval over seeds and an explicit treatment of runs that hit their budget.

Every run of a threshold search ends in one of three outcomes (:func:`outcome`): it *reached*
the target (L(W_t) <= eps L(W_0)), it was *censored* (it used its whole step budget without
reaching the target: it might reach it with more steps), or it *failed* (diverged or raised).

**Critical width.** Width m succeeds when at least a fraction ``success`` of the seeds reached
the target within the budget. Over the widths evaluated, the estimate is the smallest width
from which every larger evaluated width succeeds (:func:`stable_threshold`: a lucky narrow
width does not count). :func:`bisect_log` finds it by bisection in log-width between
``width_min`` and ``width_max`` until the bracket's ends are within a factor 1 + ``resolution``.
:func:`width_estimate` adds a percentile bootstrap over seeds (resample the seeds, recompute the
estimate on the same evaluated widths) and says whether the failing end of the bracket failed by
censoring only (then m* is a threshold *at this budget*: a longer budget could lower it).

**Iterations.** A seed's T is the first step at which its loss reached the target, or censored
at the budget. T* is the ``success``-quantile over seeds (the steps by which that fraction of
the seeds had reached the target; :func:`time_estimate`): with every censored time placed at
+inf (it is larger than the budget), the empirical quantile is exact whenever it falls on an
uncensored time, and is reported as censored ("> budget") otherwise, the type-I censoring of
survival analysis with one common censoring time.

[zou-gu-2019, Theorem 3.3] bounds both: m = Omega(k n^8 L^12 log^3(m) / phi^4) suffices for
T = O(n^2 L^2 log(1/eps) / phi) iterations at eta = O(k / (L^2 m)).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from overparam.errors import ConfigError

RunOutcome = Literal["reached", "censored", "failed"]
REACHED: RunOutcome = "reached"
CENSORED: RunOutcome = "censored"
FAILED: RunOutcome = "failed"


def outcome(status: str | None, train_status: str | None) -> RunOutcome:
    """A stored run's outcome: done + converged reached, done + max_steps censored, anything
    else (diverged, failed, unfinished) failed."""
    if status == "done" and train_status == "converged":
        return REACHED
    if status == "done" and train_status == "max_steps":
        return CENSORED
    return FAILED


def _check_success(success: float) -> None:
    if not 0 < success <= 1:
        raise ConfigError("success", success, "a fraction in (0, 1]")


def stable_threshold(
    widths: Sequence[float] | np.ndarray, rates: Sequence[float] | np.ndarray, success: float
) -> float:
    """The smallest evaluated width from which every larger evaluated width has rate >=
    ``success``; inf when the largest evaluated width fails."""
    order = np.argsort(np.asarray(widths, dtype=float))
    w = np.asarray(widths, dtype=float)[order]
    ok = np.asarray(rates, dtype=float)[order] >= success - 1e-12
    best = math.inf
    for wi, good in zip(w[::-1], ok[::-1], strict=True):
        if not good:
            break
        best = float(wi)
    return best


def recording(
    rate: Callable[[int], float], success: float, evals: list[tuple[int, float]]
) -> Callable[[int], bool]:
    """``w -> rate(w) >= success``, appending (w, rate) to ``evals`` at every call."""

    def ok(w: int) -> bool:
        r = float(rate(w))
        evals.append((w, r))
        return r >= success - 1e-12

    return ok


def bisect_log(
    rate: Callable[[int], float],
    *,
    success: float,
    width_min: int,
    width_max: int,
    resolution: float = 0.1,
) -> tuple[int | None, list[tuple[int, float]]]:
    """The smallest width with ``rate(width) >= success`` by bisection in log-width.

    ``width_max`` is evaluated first (if it fails, None: m* > width_max), then ``width_min``
    (if it succeeds, width_min: m* <= width_min), then the geometric midpoint of the bracket
    until hi <= (1 + resolution) lo or hi - lo <= 1. Success is assumed monotone in m inside
    the bracket. Returns (the succeeding end, evaluations in order)."""
    _check_success(success)
    if not (isinstance(width_min, int) and 1 <= width_min < width_max):
        raise ConfigError("width_min", width_min, f"an integer in [1, width_max={width_max})")
    if not 0 < resolution < 1:
        raise ConfigError("resolution", resolution, "a relative resolution in (0, 1)")
    evals: list[tuple[int, float]] = []
    ok = recording(rate, success, evals)
    if not ok(width_max):
        return None, evals
    if ok(width_min):
        return width_min, evals
    lo, hi = width_min, width_max
    while hi > (1.0 + resolution) * lo and hi - lo > 1:
        mid = min(max(round(math.sqrt(lo * hi)), lo + 1), hi - 1)
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi, evals


@dataclass(frozen=True)
class ThresholdEstimate:
    """A threshold over seeds with its bootstrap interval.

    Attributes:
        value: the estimate (inf: above every evaluated value / censored).
        low, high: the percentile bootstrap interval over seeds at ``level`` (high may be inf).
        seeds: how many seeds. censored: the estimate is a lower bound set by the budget
            (T*: the quantile falls on a censored time; m*: the width below m* failed only
            by hitting the budget). at_min: the smallest evaluated width already succeeded.
        resolution: m*: hi / lo - 1 of the final bracket (NaN when there is no bracket).
    """

    value: float
    low: float
    high: float
    level: float
    seeds: int
    censored: bool
    at_min: bool = False
    resolution: float = math.nan

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _interval(boot: np.ndarray, level: float) -> tuple[float, float]:
    alpha = (1.0 - level) / 2.0
    # "inverted_cdf": an order statistic, so an interval end is a value the bootstrap produced
    # (inf when enough resamples are censored), never an interpolation toward inf
    lo, hi = np.quantile(boot, [alpha, 1.0 - alpha], method="inverted_cdf")
    return float(lo), float(hi)


def width_estimate(
    outcomes: Mapping[int, Sequence[str]],
    *,
    success: float = 0.9,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> ThresholdEstimate:
    """m* from {width: per-seed outcomes (the same seed order at every width)}.

    The estimate is :func:`stable_threshold` of the success rates; the interval resamples the
    seeds with replacement ``n_boot`` times (seeded: same outcomes, same interval)."""
    _check_success(success)
    if not outcomes:
        raise ConfigError("outcomes", "{}", "at least one evaluated width")
    widths = sorted(int(w) for w in outcomes)
    counts = {len(outcomes[w]) for w in widths}
    if len(counts) != 1 or 0 in counts:
        raise ConfigError("outcomes", sorted(counts), "the same number (>= 1) of seeds per width")
    table = np.array([[o == REACHED for o in outcomes[w]] for w in widths], dtype=float)
    n_seeds = table.shape[1]
    value = stable_threshold(widths, table.mean(axis=1), success)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n_seeds, size=(n_boot, n_seeds))
    rates = table[:, idx].mean(axis=2)  # (widths, n_boot)
    boot = np.array([stable_threshold(widths, rates[:, b], success) for b in range(n_boot)])
    low, high = _interval(boot, level)
    censored, resolution = False, math.nan
    if math.isfinite(value):
        below = [w for w in widths if w < value]
        if below:
            lo = max(below)
            resolution = value / lo - 1.0
            lost = [o for o in outcomes[lo] if o != REACHED]
            censored = bool(lost) and all(o == CENSORED for o in lost)
    else:
        censored = any(o == CENSORED for o in outcomes[widths[-1]])
    return ThresholdEstimate(
        value=value,
        low=min(low, value),
        high=max(high, value),
        level=level,
        seeds=n_seeds,
        censored=censored,
        at_min=value == widths[0],
        resolution=resolution,
    )


def first_passage(losses: Sequence[float], target_ratio: float) -> int | None:
    """The first step t with losses[t] <= target_ratio * losses[0]; None if none."""
    if not 0 < target_ratio < 1:
        raise ConfigError("target_ratio", target_ratio, "a number in the open interval (0, 1)")
    if len(losses) == 0:
        return None
    goal = target_ratio * float(losses[0])
    for t, v in enumerate(losses):
        if float(v) <= goal:
            return t
    return None


def time_estimate(
    times: Sequence[float | None],
    *,
    budget: float,
    q: float = 0.9,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> ThresholdEstimate:
    """T*: the ``q``-quantile over seeds of the steps to the target; a time of None (or >
    ``budget``, or inf) is censored at the budget. Reported as censored (value inf, a lower
    bound ``budget``) when the quantile falls on a censored time."""
    _check_success(q)
    if not budget > 0:
        raise ConfigError("budget", budget, "a positive step budget")
    if len(times) == 0:
        raise ConfigError("times", "[]", "at least one seed's time")
    t = np.array([math.inf if v is None else float(v) for v in times], dtype=float)
    if np.isnan(t).any() or (t < 0).any():
        raise ConfigError("times", list(times), "steps >= 0, or None for a censored seed")
    t = np.where(t > budget, math.inf, t)

    def quantile(sample: np.ndarray) -> float:
        # the smallest time by which at least a fraction q of the seeds had arrived
        s = np.sort(sample)
        k = max(math.ceil(q * s.size - 1e-9), 1)
        return float(s[k - 1])

    value = quantile(t)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, t.size, size=(n_boot, t.size))
    boot = np.array([quantile(t[i]) for i in idx])
    low, high = _interval(boot, level)
    return ThresholdEstimate(
        value=value,
        low=min(low, value),
        high=max(high, value),
        level=level,
        seeds=int(t.size),
        censored=not math.isfinite(value),
    )


def resolvable_exponent(low: float, high: float, x_min: float, x_max: float) -> float:
    """The largest |exponent| a threshold confined to [low, high] can show over x in
    [x_min, x_max]: log(high / low) / log(x_max / x_min)."""
    if not (0 < low < high and 0 < x_min < x_max):
        raise ConfigError("range", (low, high, x_min, x_max), "0 < low < high, 0 < x_min < x_max")
    return math.log(high / low) / math.log(x_max / x_min)
