"""overparam.ntk.analytic and .expectations against independent truth: hand-derived arc-cosine
values, a plain full-matrix recursion, the quadrature path, the empirical NTK of finite networks
at growing width, and neural-tangents where it is installed."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from overparam.data import sphere
from overparam.errors import ConfigError
from overparam.models import FullyConnected
from overparam.ntk.analytic import Kernel, analytic, analytic_rows
from overparam.ntk.expectations import (
    arccos_kernels,
    gaussian_expectations,
    quadrature_expectations,
    relu_expectations,
)
from overparam.ntk.monte_carlo import kernel_errors


def k0(rho: float) -> float:
    """Arc-cosine kernel of degree 0 [cho-saul-2009]: (pi - arccos rho) / pi."""
    return (math.pi - math.acos(rho)) / math.pi


def k1(rho: float) -> float:
    """Arc-cosine kernel of degree 1 [cho-saul-2009]: (sin psi + (pi - psi) rho) / pi."""
    psi = math.acos(rho)
    return (math.sin(psi) + (math.pi - psi) * rho) / math.pi


@pytest.fixture(scope="module")
def X() -> torch.Tensor:
    return sphere(8, 5, seed=3).X.double()


# ------------------------------------------------------------------------------------------------
# Hand-derived values
# ------------------------------------------------------------------------------------------------


def test_two_orthogonal_unit_vectors_by_hand():
    """x1 = e1, x2 = e2 in R^2; ntk parameterization, w^2 = 2, readout 1, no bias.

    depth 1: Sigma_1 = (2/2) x^T x' = I. NNGP = E[relu relu] = kappa_1(rho) / 2 (unit variances):
    off-diagonal 1 / (2 pi), diagonal 1/2. NTK = NNGP + Sigmadot_1 Theta_1 with
    Sigmadot_1 = kappa_0 / 2 and Theta_1 = Sigma_1: off-diagonal 1/(2 pi) + 0, diagonal 1/2 + 1/2.
    depth 2: Sigma_2 = 2 E[relu relu] = [[1, 1/pi], [1/pi, 1]], Theta_2 = Sigma_2 +
    2 Sigmadot_1 Theta_1 = [[2, 1/pi], [1/pi, 2]]; then NNGP = kappa_1(1/pi) / 2 off-diagonal,
    NTK = NNGP + kappa_0(1/pi) / 2 * Theta_2.
    """
    X = np.eye(2)
    k = analytic(X, depth=1)
    assert k.nngp == pytest.approx(np.array([[0.5, 1 / (2 * math.pi)], [1 / (2 * math.pi), 0.5]]))
    assert k.ntk == pytest.approx(np.array([[1.0, 1 / (2 * math.pi)], [1 / (2 * math.pi), 1.0]]))

    k = analytic(X, depth=2)
    rho = 1 / math.pi
    nngp_off = k1(rho) / 2
    ntk_off = nngp_off + k0(rho) / 2 * (1 / math.pi)
    assert k.nngp == pytest.approx(np.array([[0.5, nngp_off], [nngp_off, 0.5]]), abs=1e-15)
    assert k.ntk == pytest.approx(np.array([[1.5, ntk_off], [ntk_off, 1.5]]), abs=1e-15)


def test_zou_gu_depth_one_is_h_infinity_by_hand():
    """f = V relu(W x), W ~ N(0, 2/m) trained, V fixed: Theta / m -> E[V^2] x^T x' P(both > 0)
    = x^T x' kappa_0 / 2 [zou-gu-2019, Prop. 3.6]; at 60 degrees: (1/2)(2/3)/2 = 1/6."""
    X = np.array([[1.0, 0.0], [0.5, math.sqrt(3) / 2]])
    k = analytic(X, depth=1, parameterization="zou-gu")
    assert k.ntk[0, 1] == pytest.approx(1 / 6, abs=1e-15)
    assert k.ntk[0, 0] == pytest.approx(0.5, abs=1e-15)
    # NNGP: f = V h, E[V^2] = 1: <h, h'> = (2/m) m sqrt(ab) kappa_1 / 2 = kappa_1(1/2)
    assert k.nngp[0, 1] == pytest.approx(k1(0.5), abs=1e-15)


def test_arccos_kernels_at_special_points():
    kappa0, kappa1 = arccos_kernels(np.array([1.0, 0.0, -1.0, 1.0 + 1e-15]))
    assert kappa0 == pytest.approx([1.0, 0.5, 0.0, 1.0])
    assert kappa1 == pytest.approx([1.0, 1 / math.pi, 0.0, 1.0])


# ------------------------------------------------------------------------------------------------
# Against a plain full-matrix recursion and the quadrature path
# ------------------------------------------------------------------------------------------------


def plain_ntk_recursion(X, depth, w, b, r):
    """neural-tangents' Dense / Relu recursion on full matrices, written out:
    Sigma_1 = w^2 X X^T / d + b^2, Theta_1 = Sigma_1;
    Sigma_{l+1} = w_l^2 sqrt(a a') kappa_1 / 2 + b^2,
    Theta_{l+1} = Sigma_{l+1} + w_l^2 kappa_0 / 2 Theta_l (w_l = r on the readout)."""
    S = w * w * (X @ X.T) / X.shape[1] + b * b
    T = S.copy()
    for layer in range(depth):
        scale = r * r if layer == depth - 1 else w * w
        sd = np.sqrt(np.diag(S))
        rho = np.clip(S / np.outer(sd, sd), -1, 1)
        np.fill_diagonal(rho, 1.0)
        psi = np.arccos(rho)
        S = scale * np.outer(sd, sd) * (np.sin(psi) + (math.pi - psi) * rho) / (2 * math.pi) + b * b
        T = S + scale * (math.pi - psi) / (2 * math.pi) * T
    return S, T


@pytest.mark.parametrize("depth", [1, 2, 4])
@pytest.mark.parametrize("bias_std", [0.0, 0.4])
def test_relu_matches_plain_recursion_across_tiles_and_threads(depth, bias_std):
    # n = 450 spans three 192-row tiles, so tile edges and the mirrored triangle are exercised.
    X = np.random.default_rng(depth).normal(size=(450, 3))
    S, T = plain_ntk_recursion(X, depth, 1.2, bias_std, 0.7)
    for threads in (1, 2):
        k = analytic(
            X, depth=depth, weight_std=1.2, bias_std=bias_std, readout_std=0.7, threads=threads
        )
        np.testing.assert_allclose(k.nngp, S, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(k.ntk, T, rtol=1e-12, atol=1e-14)
        assert np.array_equal(k.ntk, k.ntk.T)


def test_x2_block_equals_the_joint_kernel():
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(200, 4)), rng.normal(size=(230, 4))
    joint = analytic(np.vstack([A, B]), depth=3, bias_std=0.1)
    cross = analytic(A, B, depth=3, bias_std=0.1)
    np.testing.assert_allclose(cross.ntk, joint.ntk[:200, 200:], rtol=1e-13)
    np.testing.assert_allclose(cross.nngp, joint.nngp[:200, 200:], rtol=1e-13)


def test_rows_stream_equals_full_kernel():
    X = np.random.default_rng(1).normal(size=(50, 4))
    for activation, tol in (("relu", 1e-14), ("tanh", 1e-9)):
        # (with quadrature, entry (j, i) of the full kernel is entry (i, j) mirrored: the rule
        # is symmetric in (u, v) only up to its ~1e-11 accuracy)
        full = analytic(X, depth=2, activation=activation, bias_std=0.2)
        for rows, block in analytic_rows(X, depth=2, rows=17, activation=activation, bias_std=0.2):
            np.testing.assert_allclose(block.ntk, full.ntk[rows], rtol=tol, atol=tol)
            np.testing.assert_allclose(block.nngp, full.nngp[rows], rtol=tol, atol=tol)


@pytest.mark.parametrize(
    "parameterization, depth, kwargs",
    [
        ("ntk", 3, {"bias_std": 0.3, "weight_std": 1.5}),
        ("du", 3, {}),
        ("zou-gu", 3, {}),
        ("allen-zhu", 2, {"trainable": "all"}),
        ("cao-gu", 3, {}),
        ("standard", 2, {"bias_std": 0.2}),
    ],
)
def test_relu_closed_form_equals_quadrature(X, parameterization, depth, kwargs):
    closed = analytic(
        X, depth=depth, parameterization=parameterization, method="closed-form", **kwargs
    )
    quad = analytic(
        X, depth=depth, parameterization=parameterization, method="quadrature", **kwargs
    )
    np.testing.assert_allclose(quad.ntk, closed.ntk, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(quad.nngp, closed.nngp, rtol=1e-8, atol=1e-10)


def test_quadrature_pairs_reach_rounding_for_relu_even_at_rho_one():
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0.01, 20, 300), rng.uniform(0.01, 20, 300)
    rho = np.concatenate([rng.uniform(-1, 1, 296), [1.0, -1.0, 1 - 1e-13, -1 + 1e-13]])
    c = rho * np.sqrt(a * b)
    e0, d0 = relu_expectations(a, b, c)
    e1, d1 = quadrature_expectations("relu", a, b, c)
    np.testing.assert_allclose(e1, e0, atol=1e-11 * np.sqrt(a * b).max())
    np.testing.assert_allclose(d1, d0, atol=1e-11)


@pytest.mark.parametrize("activation", ["tanh", "softplus", "sigmoid", "gelu", "swish"])
def test_smooth_quadrature_against_monte_carlo_and_a_finer_rule(activation):
    """Default rule vs a (32, 24) rule (to 1e-9 for variances <= 3) and vs 4e5 samples."""
    a, b, c = np.array([0.5, 2.0, 3.0]), np.array([1.5, 1.0, 3.0]), np.array([0.3, -1.2, 2.9])
    e, edot = gaussian_expectations(activation, a, b, c)
    fine, fine_dot = quadrature_expectations(activation, a, b, c, order=(32, 24))
    np.testing.assert_allclose(e, fine, atol=1e-9)
    np.testing.assert_allclose(edot, fine_dot, atol=1e-9)
    from overparam.models.activations import numpy_derivative, numpy_fn

    rng = np.random.default_rng(7)
    z = rng.standard_normal((2, 400_000))
    for i in range(3):
        L = np.linalg.cholesky(np.array([[a[i], c[i]], [c[i], b[i]]]) + 1e-12 * np.eye(2))
        u, v = L @ z
        for f, want in ((numpy_fn(activation), e[i]), (numpy_derivative(activation), edot[i])):
            samples = f(u) * f(v)
            band = 6 * samples.std() / math.sqrt(samples.size)
            assert abs(samples.mean() - want) < band


# ------------------------------------------------------------------------------------------------
# Against the empirical NTK of finite networks: the error falls like m^(-1/2)
# ------------------------------------------------------------------------------------------------

WIDTHS = [256, 512, 1024, 2048, 4096, 8192]
SEEDS = range(6)


def relative_errors(X, parameterization, activation, depth, widths, seeds, **kw):
    """RMS over seeds of ||Theta_m / scale - Theta||_F / ||Theta||_F and the same for the NNGP
    estimated from one network's last hidden layer (E_V[f f'] = q <h, h'> + bias term), from
    :func:`overparam.ntk.monte_carlo.kernel_errors`."""
    rows = kernel_errors(
        X,
        depth=depth,
        widths=widths,
        seeds=list(seeds),
        parameterization=parameterization,
        activation=activation,
        trainable=kw.get("trainable"),
        bias_std=kw.get("bias_std") or None,
    )
    rms = rows.groupby("width")[["ntk_error", "nngp_error"]].agg(lambda v: np.sqrt(np.mean(v**2)))
    rms = rms.loc[list(widths)]
    return rms["ntk_error"].to_numpy(), rms["nngp_error"].to_numpy()


def loglog_slope(widths, errors) -> float:
    return float(np.polyfit(np.log(widths), np.log(errors), 1)[0])


@pytest.mark.parametrize(
    "parameterization, activation, depth, kw",
    [
        ("ntk", "relu", 1, {"bias_std": 0.2}),
        ("ntk", "tanh", 1, {"bias_std": 0.2}),
        ("zou-gu", "relu", 1, {}),
        ("cao-gu", "relu", 2, {}),
        ("du", "softplus", 1, {}),
    ],
)
def test_empirical_converges_at_rate_one_over_sqrt_width(
    X, parameterization, activation, depth, kw
):
    ntk_err, nngp_err = relative_errors(X, parameterization, activation, depth, WIDTHS, SEEDS, **kw)
    assert -0.7 <= loglog_slope(WIDTHS, ntk_err) <= -0.3, ntk_err
    assert -0.7 <= loglog_slope(WIDTHS, nngp_err) <= -0.3, nngp_err
    assert ntk_err[-1] < 0.1 and nngp_err[-1] < 0.1


@pytest.mark.slow
@pytest.mark.parametrize(
    "parameterization, activation, kw",
    [
        ("ntk", "relu", {"bias_std": 0.3}),
        ("ntk", "gelu", {}),
        ("zou-gu", "relu", {}),
        ("zou-gu", "relu", {"trainable": "all"}),
        ("allen-zhu", "relu", {}),
        ("du", "tanh", {}),
        ("standard", "tanh", {"bias_std": 0.3}),
    ],
)
def test_deep_empirical_converges_at_rate_one_over_sqrt_width(X, parameterization, activation, kw):
    widths = [256, 512, 1024, 2048, 4096]
    ntk_err, nngp_err = relative_errors(X, parameterization, activation, 3, widths, range(4), **kw)
    assert -0.7 <= loglog_slope(widths, ntk_err) <= -0.3, ntk_err
    assert -0.7 <= loglog_slope(widths, nngp_err) <= -0.3, nngp_err


# ------------------------------------------------------------------------------------------------
# Structure: trained sets add up, vanishing terms, kernel record
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("parameterization", ["ntk", "du", "cao-gu", "allen-zhu"])
def test_ntk_is_the_sum_of_single_layer_kernels(X, parameterization):
    full = analytic(X, depth=3, parameterization=parameterization, trainable="all")
    names = [s.name for s in FullyConnected(5, 4, 3, 1, parameterization).specs]
    parts = [analytic(X, depth=3, parameterization=parameterization, trainable=[n]) for n in names]
    np.testing.assert_allclose(sum(p.ntk for p in parts), full.ntk, rtol=1e-12)
    for part in parts:  # the NNGP does not depend on what is trained; each term is PSD
        np.testing.assert_array_equal(part.nngp, full.nngp)
        assert np.linalg.eigvalsh(part.ntk).min() > -1e-12


def test_fixed_scale_output_vanishes_in_zou_gu_limit(X):
    """V ~ N(0, 1) has an O(1) gradient Gram, the hidden layers O(m): Theta / m drops it."""
    hidden = analytic(X, depth=2, parameterization="zou-gu")
    everything = analytic(X, depth=2, parameterization="zou-gu", trainable="all")
    np.testing.assert_array_equal(hidden.ntk, everything.ntk)
    only_v = analytic(X, depth=2, parameterization="zou-gu", trainable=["V"])
    assert not only_v.ntk.any()


def test_standard_shares_the_ntk_nngp_and_drops_first_layer_and_biases(X):
    std = analytic(X, depth=3, parameterization="standard", bias_std=0.3, weight_std=1.4)
    ntk = analytic(X, depth=3, parameterization="ntk", bias_std=0.3, weight_std=1.4)
    np.testing.assert_allclose(std.nngp, ntk.nngp, rtol=1e-14)

    # standard's W_l gradient is h_{l-1}, ntk's is w_l h_{l-1} / sqrt(m): for fan-in m,
    # Theta_standard(W_l) / m = Theta_ntk(W_l) / w_l^2; W1 (fan-in d) drops out (no biases here).
    def ntk_term(name: str) -> np.ndarray:
        return analytic(X, depth=3, weight_std=1.4, trainable=[name]).ntk

    expected = (ntk_term("W2") + ntk_term("W3")) / 1.4**2 + ntk_term("out") / 1.0**2
    no_bias = analytic(X, depth=3, parameterization="standard", weight_std=1.4)
    np.testing.assert_allclose(no_bias.ntk, expected, rtol=1e-12)


def test_kernel_is_frozen_and_replaceable():
    k = analytic(np.eye(3), depth=1)
    assert isinstance(k, Kernel) and k.shape == (3, 3)
    assert k.nngp.dtype == np.float64 and k.ntk.dtype == np.float64
    with pytest.raises(AttributeError):
        k.ntk = np.zeros((3, 3))  # type: ignore[misc]
    assert k.replace(ntk=np.zeros((3, 3))).ntk.sum() == 0 and k.ntk.sum() > 0


def test_torch_and_numpy_inputs_agree(X):
    np.testing.assert_array_equal(analytic(X, depth=2).ntk, analytic(X.numpy(), depth=2).ntk)


# ------------------------------------------------------------------------------------------------
# Errors
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, kwargs, field",
    [
        ((np.ones(3),), {"depth": 1}, "X"),
        ((np.ones((3, 2)), np.ones((2, 3))), {"depth": 1}, "X2"),
        ((np.array([[np.nan, 1.0]]),), {"depth": 1}, "X"),
        ((np.ones((3, 2)),), {"depth": 0}, "depth"),
        ((np.ones((3, 2)),), {"depth": 1, "activation": "elu"}, "activation"),
        ((np.ones((3, 2)),), {"depth": 1, "parameterization": "mup"}, "parameterization"),
        (
            (np.ones((3, 2)),),
            {"depth": 1, "parameterization": "zou-gu", "activation": "tanh"},
            "activation",
        ),
        ((np.ones((3, 2)),), {"depth": 1, "parameterization": "du", "bias_std": 0.1}, "bias_std"),
        ((np.ones((3, 2)),), {"depth": 1, "parameterization": "cao-gu"}, "depth"),
        ((np.ones((3, 2)),), {"depth": 1, "trainable": ["W9"]}, "trainable"),
        ((np.ones((3, 2)),), {"depth": 1, "activation": "tanh", "method": "closed-form"}, "method"),
        ((np.ones((3, 2)),), {"depth": 1, "weight_std": -1.0}, "weight_std"),
    ],
)
def test_bad_input_names_the_field(args, kwargs, field):
    with pytest.raises(ConfigError) as err:
        analytic(*args, **kwargs)
    assert err.value.field == field


# ------------------------------------------------------------------------------------------------
# neural-tangents (skipped unless installed)
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("bias_std", [None, 0.5])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_matches_neural_tangents(depth, bias_std, activation):
    pytest.importorskip("neural_tangents")
    import jax

    jax.config.update("jax_enable_x64", True)
    from neural_tangents import stax

    act = {"relu": stax.Relu(), "gelu": stax.Gelu(approximate=False)}[activation]
    layers = []
    for _ in range(depth):
        layers += [stax.Dense(512, W_std=1.3, b_std=bias_std, parameterization="ntk"), act]
    layers.append(stax.Dense(1, W_std=0.8, b_std=bias_std, parameterization="ntk"))
    kernel_fn = stax.serial(*layers)[2]
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(6, 4)), rng.normal(size=(5, 4))
    tol = 1e-13 if activation == "relu" else 1e-9
    for X2 in (None, B):
        ref = kernel_fn(A, X2, ("nngp", "ntk"))
        k = analytic(
            A,
            X2,
            depth=depth,
            activation=activation,
            weight_std=1.3,
            bias_std=bias_std or 0.0,
            readout_std=0.8,
        )
        np.testing.assert_allclose(k.nngp, np.asarray(ref.nngp), rtol=tol, atol=tol)
        np.testing.assert_allclose(k.ntk, np.asarray(ref.ntk), rtol=tol, atol=tol)
