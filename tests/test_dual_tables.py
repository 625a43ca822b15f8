"""The interpolated dual maps of smooth activations and erf's closed forms, against the
reference polar quadrature, Monte Carlo and exact formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from overparam.data import sphere
from overparam.errors import ConfigError
from overparam.models import FullyConnected
from overparam.models.activations import Activation, numpy_derivative, numpy_fn
from overparam.ntk import dual_tables
from overparam.ntk.analytic import analytic
from overparam.ntk.empirical import empirical
from overparam.ntk.expectations import (
    erf_expectations,
    gaussian_expectations,
    quadrature_expectations,
    resolve_method,
)

SMOOTH = ("softplus", "sigmoid", "tanh", "gelu", "swish")
#: The reference quadrature at a high order (about 1e-14 from a (60, 50) rule here).
REFERENCE_ORDER = (48, 40)


def correlations(seed: int = 0) -> np.ndarray:
    """Random rho, rho within 1e-7 .. 1e-1 of +-1 (1e-6 included), and 0, +-1 exactly."""
    rng = np.random.default_rng(seed)
    near = 10.0 ** rng.uniform(-7, -1, 20)
    return np.concatenate([rng.uniform(-1, 1, 60), 1 - near, -1 + near, [1e-6 - 1, 1 - 1e-6]])


def relative_error(x: np.ndarray, ref: np.ndarray) -> float:
    return float(np.abs(x - ref).max() / np.abs(ref).max())


@pytest.mark.parametrize("activation", SMOOTH)
@pytest.mark.parametrize("variance", [0.3, 1.0, 4.0])
def test_equal_variance_table_matches_the_reference_to_1e_10(activation, variance):
    act = Activation(activation)
    rho = correlations()
    table = dual_tables.build(act, np.array([variance]))
    assert table is not None and table.equal
    v = np.full_like(rho, variance)
    e, edot = dual_tables.evaluate(table, rho, v, v)
    ref, ref_dot = quadrature_expectations(
        act, v, v, variance * rho, order=REFERENCE_ORDER, rho=rho
    )
    assert relative_error(e, ref) < 1e-10
    assert relative_error(edot, ref_dot) < 1e-10


@pytest.mark.parametrize("activation", ["tanh", "gelu", "softplus"])
def test_unequal_variances_match_the_reference_to_1e_10(activation):
    act = Activation(activation)
    rng = np.random.default_rng(1)
    a, b = rng.uniform(0.6, 1.6, 40), rng.uniform(0.6, 1.6, 40)
    rho = correlations(2)[:40]
    table = dual_tables.build(act, np.concatenate([a, b]))
    assert table is not None and not table.equal
    e, edot = dual_tables.evaluate(table, rho, a, b)
    c = rho * np.sqrt(a * b)
    ref, ref_dot = quadrature_expectations(act, a, b, c, order=REFERENCE_ORDER, rho=rho)
    assert relative_error(e, ref) < 1e-10
    assert relative_error(edot, ref_dot) < 1e-10


@pytest.mark.parametrize("activation", ["tanh", "swish"])
def test_dual_maps_agree_with_monte_carlo(activation):
    """E[sigma(u) sigma(v)] and E[sigma' sigma'] from 4M Gaussian pairs: within 5 standard
    errors of the interpolated value."""
    act = Activation(activation)
    rng = np.random.default_rng(3)
    a, b, rho = 1.3, 0.8, 0.7
    z1, z2 = rng.standard_normal((2, 4_000_000))
    u = math.sqrt(a) * z1
    v = math.sqrt(b) * (rho * z1 + math.sqrt(1 - rho**2) * z2)
    e, edot = gaussian_expectations(act, a, b, rho * math.sqrt(a * b))
    for value, samples in (
        (e, numpy_fn(act)(u) * numpy_fn(act)(v)),
        (edot, numpy_derivative(act)(u) * numpy_derivative(act)(v)),
    ):
        se = samples.std() / math.sqrt(samples.size)
        assert abs(float(value) - samples.mean()) < 5 * se


def test_erf_closed_form_matches_the_reference_and_its_limits():
    rho = correlations()
    a, b = 0.7, 1.9
    c = rho * math.sqrt(a * b)
    e, edot = erf_expectations(a, b, c)
    ref, ref_dot = quadrature_expectations("erf", a, b, c, order=REFERENCE_ORDER, rho=rho)
    assert relative_error(e, ref) < 1e-10 and relative_error(edot, ref_dot) < 1e-10
    # rho = 0: independent, E[erf] = 0; E[erf'] = 2 / sqrt(pi (1 + 2 a)) each
    e0, edot0 = erf_expectations(a, b, 0.0)
    assert abs(float(e0)) < 1e-16
    expected = 4.0 / (math.pi * math.sqrt((1 + 2 * a) * (1 + 2 * b)))
    assert float(edot0) == pytest.approx(expected, rel=1e-15)


def test_erf_kernel_against_neural_tangents():
    nt = pytest.importorskip("neural_tangents")
    stax = nt.stax
    X = sphere(12, 5, seed=0).X.numpy()
    _, _, kernel_fn = stax.serial(
        stax.Dense(1, W_std=1.5, parameterization="ntk"), stax.Erf(), stax.Dense(1, W_std=1.0)
    )
    ours = analytic(X, depth=1, activation="erf", weight_std=1.5)
    theirs = kernel_fn(X, X, ("nngp", "ntk"))
    np.testing.assert_allclose(ours.nngp, np.asarray(theirs.nngp), rtol=1e-6)
    np.testing.assert_allclose(ours.ntk, np.asarray(theirs.ntk), rtol=1e-6)


@pytest.mark.parametrize("activation", [*SMOOTH, "erf"])
def test_analytic_kernel_fast_path_equals_the_reference_recursion(activation):
    """Equal-norm (sphere) inputs, depth 3: the fast path against the quadrature per entry."""
    X = sphere(24, 6, seed=1).X.numpy()
    fast = analytic(X, depth=3, activation=activation, parameterization="du")
    ref = analytic(X, depth=3, activation=activation, parameterization="du", method="quadrature")
    # the reference at its default order is itself good to ~1e-11 at these variances
    assert relative_error(fast.ntk, ref.ntk) < 1e-10
    assert relative_error(fast.nngp, ref.nngp) < 1e-10


def test_unequal_norms_and_a_zero_input_against_the_reference():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(20, 5))
    X *= rng.uniform(0.8, 1.25, size=(20, 1)) / np.linalg.norm(X, axis=1, keepdims=True)
    X, X2 = X[:14], X[14:]
    X[3] = 0.0  # variance 0 at every layer: rho undefined, the reference takes it
    fast = analytic(X, X2, depth=2, activation="tanh")
    ref = analytic(X, X2, depth=2, activation="tanh", method="quadrature")
    assert relative_error(fast.ntk, ref.ntk) < 1e-10
    assert relative_error(fast.nngp, ref.nngp) < 1e-10


def test_erf_network_ntk_converges_to_the_closed_form_kernel():
    """The empirical NTK of wide erf networks (ntk parameterization) approaches the analytic
    erf kernel: the error at m = 4096 is below a third of the error at m = 256."""
    X = torch.as_tensor(sphere(8, 4, seed=2).X.numpy(), dtype=torch.float64)
    limit = analytic(X, depth=2, activation="erf").ntk
    errors = []
    for m in (256, 4096):
        per_seed = []
        for seed in range(3):
            net = FullyConnected(
                4, m, 2, activation="erf", parameterization="ntk", dtype=torch.float64, seed=seed
            )
            theta = empirical(net, X).detach().numpy()
            per_seed.append(np.linalg.norm(theta - limit) / np.linalg.norm(limit))
        errors.append(float(np.mean(per_seed)))
    assert errors[1] < errors[0] / 3


def test_methods_resolve_and_refuse_clearly():
    assert resolve_method("auto", Activation.TANH).value == "interpolation"
    assert resolve_method("auto", Activation.ERF).value == "closed-form"
    assert resolve_method("auto", Activation.RELU).value == "closed-form"
    with pytest.raises(ConfigError, match="closed form: relu and erf only"):
        resolve_method("closed-form", Activation.GELU)


def test_a_std_range_beyond_the_grid_takes_the_reference():
    """Variances spanning a factor e^(2 * 0.02 * 64) and more need more than MAX_GRID nodes."""
    wide = np.array([1e-3, 10.0])
    assert dual_tables.build(Activation.TANH, wide) is None
    a = np.array([1e-3, 10.0, 1.0])
    e, edot = dual_tables.interpolated_expectations(Activation.TANH, a, a[::-1], 0.5 * a)
    ref, ref_dot = quadrature_expectations("tanh", a, a[::-1], 0.5 * a)
    np.testing.assert_array_equal(e, ref)
    np.testing.assert_array_equal(edot, ref_dot)
