"""Shared fixtures and helpers: small float64 datasets, finite differences, statistical bands.

Sizes are tiny on purpose (the default suite runs on one core); tolerances that follow from a
sample size are computed here, next to the statistic they bound.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
from hypothesis import settings

from overparam.data import Dataset, sphere

# No example database (a run does not depend on the failures of earlier runs) and no per-example
# deadline (the first example of a test pays for imports and is slower than the rest).
settings.register_profile("overparam", database=None, deadline=None)
settings.load_profile("overparam")


def pytest_configure(config: pytest.Config) -> None:
    # When a hypothesis test fails, its pytest plugin writes a patch with libcst, whose import
    # of mypy_extensions.TypedDict warns DeprecationWarning; under warnings-as-errors that turns
    # the failure report into an INTERNALERROR that hides the falsifying example. Only this
    # third-party message is ignored; every other warning stays an error.
    config.addinivalue_line(
        "filterwarnings", "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning"
    )


# How many standard deviations a statistical check allows: a false alarm at 6 sigma has
# probability ~2e-9 per check, so a failure means a wrong variance, not bad luck.
SIGMAS = 6.0


def variance_band(var: float, count: int, sigmas: float = SIGMAS) -> float:
    """Half-width of the band around ``var`` that mean(w^2) of ``count`` N(0, var) draws stays
    in: Var[w^2] = 2 var^2, so std(mean(w^2)) = var * sqrt(2 / count)."""
    return sigmas * var * math.sqrt(2.0 / count)


def mean_band(var: float, count: int, sigmas: float = SIGMAS) -> float:
    """Half-width of the band around 0 for the mean of ``count`` N(0, var) draws."""
    return sigmas * math.sqrt(var / count)


def binomial_band(count: int, p: float, sigmas: float = SIGMAS) -> tuple[float, float]:
    """[lo, hi] for a Binomial(count, p) draw at ``sigmas`` standard deviations."""
    mean, std = count * p, math.sqrt(count * p * (1.0 - p))
    return mean - sigmas * std, mean + sigmas * std


def central_difference(
    fn: Callable[[], torch.Tensor], param: torch.Tensor, eps: float = 1e-6
) -> torch.Tensor:
    """d fn / d param by central differences, one coordinate at a time, in place on ``param``
    (restored afterwards). ``fn`` returns a scalar tensor; float64 expected."""
    grad = torch.zeros_like(param)
    flat, out = param.data.view(-1), grad.view(-1)
    with torch.no_grad():
        for i in range(flat.numel()):
            old = float(flat[i])
            flat[i] = old + eps
            plus = float(fn())
            flat[i] = old - eps
            minus = float(fn())
            flat[i] = old
            out[i] = (plus - minus) / (2.0 * eps)
    return grad


@pytest.fixture(scope="session")
def tiny_sphere() -> Dataset:
    """8 unit-norm points in R^5 (mu = 0.5), gaussian labels, float64."""
    return sphere(8, 5, seed=11)


@pytest.fixture(scope="session")
def tiny_sign_sphere() -> Dataset:
    """8 unit-norm points in R^5 with +-1 labels (for the logistic loss), float64."""
    return sphere(8, 5, labels="sign", seed=12)


@pytest.fixture(scope="session")
def small_sphere() -> Dataset:
    """32 unit-norm points in R^8, gaussian labels, float64."""
    return sphere(32, 8, seed=13)
