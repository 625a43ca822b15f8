"""overparam.ntk.gram against hand-derived values, Monte Carlo over w ~ N(0, I), the general
recursion of overparam.ntk.analytic, the empirical gradient Gram of wide networks, and LAPACK."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import SIGMAS

from overparam.data import sphere
from overparam.errors import ConfigError
from overparam.models import FullyConnected
from overparam.ntk.analytic import analytic
from overparam.ntk.empirical import empirical
from overparam.ntk.gram import (
    SeparationCheck,
    du_gram,
    h_infinity,
    lambda_max,
    lambda_min,
    min_distance,
    separation_check,
)


@pytest.fixture(scope="module")
def X() -> torch.Tensor:
    return sphere(10, 6, seed=5).X.double()


def unit(angle: float) -> np.ndarray:
    return np.array([math.cos(angle), math.sin(angle)])


# ------------------------------------------------------------------------------------------------
# H^infinity
# ------------------------------------------------------------------------------------------------


def test_h_infinity_by_hand():
    """H_ij = x_i^T x_j (pi - arccos x_i^T x_j) / (2 pi): 1/2 on the diagonal, 0 for orthogonal
    and antipodal pairs, (1/2)(2 pi / 3) / (2 pi) = 1/6 at 60 degrees."""
    X = np.stack([unit(0.0), unit(math.pi / 2), unit(math.pi), unit(math.pi / 3)])
    H = h_infinity(X)
    assert np.diag(H) == pytest.approx([0.5] * 4, abs=1e-15)
    assert H[0, 1] == pytest.approx(0.0, abs=1e-15)
    assert H[0, 2] == pytest.approx(0.0, abs=1e-15)
    assert H[0, 3] == pytest.approx(1 / 6, abs=1e-15)
    assert np.array_equal(H, H.T)


def test_h_infinity_is_the_monte_carlo_expectation_of_its_definition(X):
    """E_{w ~ N(0, I)}[x_i^T x_j 1{w^T x_i >= 0} 1{w^T x_j >= 0}], 200,000 draws, 6 sigma."""
    Xn = X.numpy()
    w = np.random.default_rng(0).standard_normal((200_000, Xn.shape[1]))
    active = (w @ Xn.T >= 0).astype(np.float64)  # (draws, n)
    p = active.T @ active / len(w)  # P(both active)
    mc = Xn @ Xn.T * p
    band = SIGMAS * np.abs(Xn @ Xn.T) * np.sqrt(p * (1 - p) / len(w)) + 1e-12
    assert (np.abs(mc - h_infinity(X)) <= band).all()


def test_h_infinity_is_the_zou_gu_two_layer_ntk(X):
    np.testing.assert_allclose(
        analytic(X, depth=1, parameterization="zou-gu").ntk, h_infinity(X), rtol=1e-14, atol=1e-15
    )


# ------------------------------------------------------------------------------------------------
# Du et al.'s K^(H)
# ------------------------------------------------------------------------------------------------


def test_du_gram_depth_one_is_c_sigma_times_h_infinity(X):
    """K^(1) = c_sigma K^(0) E[relu' relu'] = 2 H^infinity: Du's deep network at H = 1 is
    f = a^T sqrt(2/m) relu(W x), sqrt(2) times Du et al.'s two-layer f = m^-1/2 sum a_r relu."""
    np.testing.assert_allclose(du_gram(X, depth=1), 2.0 * h_infinity(X), rtol=1e-14, atol=1e-15)


def test_du_gram_depth_two_by_hand():
    """e1, e2: K^(1) = 2 E[relu relu] = [[1, 1/pi], [1/pi, 1]]; K^(2) = 2 K^(1) E[relu' relu']
    over A^(2) from K^(1): off-diagonal 2 (1/pi) (pi - arccos(1/pi)) / (2 pi), diagonal 1."""
    K = du_gram(np.eye(2), depth=2)
    off = 2 * (1 / math.pi) * (math.pi - math.acos(1 / math.pi)) / (2 * math.pi)
    np.testing.assert_allclose(K, np.array([[1.0, off], [off, 1.0]]), atol=1e-15)


@pytest.mark.parametrize("activation", ["relu", "tanh", "softplus"])
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_du_gram_is_the_last_hidden_layer_term_of_the_general_recursion(X, activation, depth):
    """Special case vs general: Definition 5.1 vs analytic(du, trained = {W^(H)})."""
    general = analytic(
        X, depth=depth, parameterization="du", activation=activation, trainable=[f"W{depth}"]
    )
    np.testing.assert_allclose(
        du_gram(X, depth=depth, activation=activation), general.ntk, rtol=1e-12, atol=1e-14
    )


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_du_gram_matches_wide_network_gradient_gram(X, activation):
    """Monte Carlo: the W^(H) gradient Gram of Du's network at m = 1024, averaged over 8 seeds,
    within 10% (measured: 5%; single networks deviate by ~10%, falling like m^-1/2)."""
    depth, K = 2, du_gram(X, depth=2, activation=activation)
    theta = np.mean(
        [
            empirical(
                FullyConnected(
                    6,
                    1024,
                    depth,
                    1,
                    "du",
                    activation,
                    trainable=[f"W{depth}"],
                    dtype="float64",
                    seed=seed,
                ),
                X,
            ).numpy()
            for seed in range(8)
        ],
        axis=0,
    )
    assert np.linalg.norm(theta - K) / np.linalg.norm(K) < 0.1


def test_du_gram_stays_positive_definite_on_separated_data(X):
    for depth in (1, 3, 6):
        assert lambda_min(du_gram(X, depth=depth)) > 0


# ------------------------------------------------------------------------------------------------
# Eigenvalues and Proposition 3.6
# ------------------------------------------------------------------------------------------------


def test_lambda_min_and_max_match_the_full_spectrum():
    A = np.random.default_rng(0).normal(size=(30, 30))
    K = A @ A.T + 1e-3 * np.eye(30)
    eig = np.linalg.eigvalsh(K)
    assert lambda_min(K) == pytest.approx(eig[0], rel=1e-9)
    assert lambda_max(K) == pytest.approx(eig[-1], rel=1e-12)
    assert lambda_min(torch.from_numpy(K)) == pytest.approx(eig[0], rel=1e-9)


@pytest.mark.parametrize(
    "K", [np.ones((2, 3)), np.array([[1.0, 2.0], [0.0, 1.0]]), np.ones(3), np.full((2, 2), np.nan)]
)
def test_lambda_min_rejects_non_symmetric_input(K):
    with pytest.raises(ConfigError) as err:
        lambda_min(K)
    assert err.value.field == "K"


def test_separation_check_two_points_by_hand():
    """x1, x2 at angle t: H = [[1/2, h], [h, 1/2]] with h = cos t (pi - t) / (2 pi), so
    lambda_0 = 1/2 - |h|; phi = 2 sin(t / 2)."""
    t = 0.3
    check = separation_check(np.stack([unit(0.0), unit(t)]))
    h = math.cos(t) * (math.pi - t) / (2 * math.pi)
    assert isinstance(check, SeparationCheck) and check.n == 2
    assert check.lambda_0 == pytest.approx(0.5 - h, rel=1e-10)
    assert check.phi == pytest.approx(2 * math.sin(t / 2), rel=1e-14)
    assert check.ratio == pytest.approx((0.5 - h) * 4 / (2 * math.sin(t / 2)), rel=1e-10)
    assert check.max_norm_error < 1e-15


def test_separation_check_on_sphere_data(X):
    check = separation_check(X)
    Xn = X.numpy()
    brute = min(
        np.linalg.norm(Xn[i] - Xn[j]) for i in range(len(Xn)) for j in range(i + 1, len(Xn))
    )
    assert check.phi == pytest.approx(brute, rel=1e-14)
    assert check.lambda_0 == pytest.approx(np.linalg.eigvalsh(h_infinity(X))[0], rel=1e-9)
    assert check.ratio == pytest.approx(check.lambda_0 * 100 / check.phi)
    assert check.lambda_0 > 0


def test_separation_check_with_a_repeated_point_has_no_ratio():
    X = np.stack([unit(0.0), unit(1.0), unit(0.0)])
    check = separation_check(X)
    assert check.phi == 0.0 and math.isnan(check.ratio)
    assert abs(check.lambda_0) < 1e-12


def test_min_distance_blocks_agree():
    X = np.random.default_rng(3).normal(size=(37, 4))
    assert min_distance(X, block=5) == min_distance(X) == min_distance(X, block=100)
    assert min_distance(X[:1]) == math.inf


@pytest.mark.parametrize(
    "call, field",
    [
        (lambda: h_infinity(np.ones(3)), "X"),
        (lambda: du_gram(np.ones((2, 2)), depth=0), "depth"),
        (lambda: du_gram(np.ones((2, 2)), depth=1, activation="elu"), "activation"),
        (lambda: separation_check(np.ones((1, 3))), "X"),
    ],
)
def test_bad_input_names_the_field(call, field):
    with pytest.raises(ConfigError) as err:
        call()
    assert err.value.field == field
