"""``ntrf_fit`` against the same convex problem solved independently by scipy on the explicit
feature matrix grad f_W0 (every parameter), and the fitted weights back in parameter space."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from scipy.optimize import minimize
from torch.func import functional_call, jacrev, vmap

from overparam.errors import ConfigError
from overparam.generalization import (
    ntrf_features,
    ntrf_fit,
    ntrf_predict,
    ntrf_weights,
    theorem_bound,
)
from overparam.models import FullyConnected


def _instance(n: int, d: int, m: int, L: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=gen, dtype=torch.float64)
    X = X / X.norm(dim=1, keepdim=True)
    y = torch.where(torch.randn(n, generator=gen) > 0, 1.0, -1.0).to(torch.float64)
    net = FullyConnected(d, m, L, parameterization="cao-gu", dtype=torch.float64, seed=seed + 1)
    return X, y, net


def _explicit(net, X):
    """f_W0(X) (n,), the explicit n x P feature matrix and each layer's column range."""
    params = {k: v.detach() for k, v in net.named_parameters()}

    def f(p, x):
        return functional_call(net, p, (x[None],))[0, 0]

    J = vmap(jacrev(f), in_dims=(None, 0))(params, X)
    n = X.shape[0]
    G = torch.cat([J[k].reshape(n, -1) for k in params], 1).numpy()
    edges = np.cumsum([0] + [params[k].numel() for k in params])
    with torch.no_grad():
        f0 = net(X)[:, 0].numpy()
    return f0, G, list(itertools.pairwise(edges))


def _scipy_optimum(f0, G, y, R, m, ranges):
    """min mean log(1 + exp(-y (f0 + G w))) s.t. ||w_l||^2 <= R^2 / m, by SLSQP."""
    n = len(y)

    def obj(w):
        return float(np.mean(np.logaddexp(0.0, -y * (f0 + G @ w))))

    def grad(w):
        mg = y * (f0 + G @ w)
        return G.T @ (-y / (1.0 + np.exp(mg))) / n

    cons = [
        {
            "type": "ineq",
            "fun": lambda w, a=a, b=b: R * R / m - w[a:b] @ w[a:b],
            "jac": lambda w, a=a, b=b: np.concatenate(
                [np.zeros(a), -2.0 * w[a:b], np.zeros(len(w) - b)]
            ),
        }
        for a, b in ranges
    ]
    res = minimize(
        obj, np.zeros(G.shape[1]), jac=grad, constraints=cons, method="SLSQP",
        options={"ftol": 1e-15, "maxiter": 5000},
    )  # fmt: skip
    assert res.success, res.message
    return res


@pytest.mark.parametrize(
    "n,d,m,L,R",
    [
        (12, 4, 8, 2, 1.0),  # P = 40 > n: separable, the balls are active
        (10, 3, 6, 3, 2.0),  # three layers
        (40, 3, 4, 2, 50.0),  # P = 16 < n, big R: an interior optimum
    ],
)
def test_ntrf_fit_reaches_the_scipy_optimum_on_explicit_features(n, d, m, L, R):
    X, y, net = _instance(n, d, m, L)
    fit = ntrf_fit(net, X, y, R, tol=1e-10)
    assert fit.converged and fit.gap <= 1e-10
    f0, G, ranges = _explicit(net, X)
    res = _scipy_optimum(f0, G, y.numpy(), R, m, ranges)
    assert fit.loss == pytest.approx(res.fun, abs=1e-6)
    assert fit.loss - res.fun <= fit.gap + 1e-9  # the gap certifies the loss
    assert fit.radius == pytest.approx(R / math.sqrt(m))
    assert all(v <= fit.radius * (1 + 1e-9) for v in fit.layer_norms.values())
    assert np.allclose(fit.f0, f0)


def test_weights_are_in_the_class_and_reproduce_the_fit():
    X, y, net = _instance(12, 4, 8, 2)
    fit = ntrf_fit(net, X, y, 1.0, tol=1e-10)
    W = ntrf_weights(net, X, fit, block=5)
    for name, layer in net.parameter_layers().items():
        assert float(W[name].norm()) == pytest.approx(fit.layer_norms[layer], rel=1e-9)
        assert float(W[name].norm()) <= fit.radius * (1 + 1e-9)
    # f_W0 + <grad f_W0, W> by forward mode equals the solver's f, and the explicit G w
    assert np.allclose(ntrf_predict(net, W, X), fit.f, atol=1e-10)
    f0, G, _ = _explicit(net, X)
    w = torch.cat([W[k].reshape(-1) for k in dict(net.named_parameters())]).numpy()
    assert np.allclose(f0 + G @ w, fit.f, atol=1e-10)


def test_precomputed_features_give_the_same_fit():
    X, y, net = _instance(15, 4, 8, 2)
    feats = ntrf_features(net, X)
    a = ntrf_fit(net, X, y, 1.5, tol=1e-9)
    b = ntrf_fit(net, X, y, 1.5, tol=1e-9, features=feats)
    assert a.loss == pytest.approx(b.loss, abs=1e-12)


def test_a_loose_tolerance_stops_early_with_an_honest_gap():
    X, y, net = _instance(30, 4, 16, 2)
    tight = ntrf_fit(net, X, y, 3.0, tol=1e-11)
    loose = ntrf_fit(net, X, y, 3.0, tol=1e-2)
    assert loose.iterations <= tight.iterations
    assert 0 <= loose.loss - tight.loss <= loose.gap + 1e-12
    capped = ntrf_fit(net, X, y, 3.0, tol=1e-14, max_iter=2)
    assert capped.iterations == 2 and not capped.converged


def test_loss_falls_with_the_radius():
    X, y, net = _instance(20, 4, 16, 2)
    losses = [ntrf_fit(net, X, y, R, tol=1e-9).loss for R in (0.5, 1.0, 2.0, 4.0)]
    assert np.all(np.diff(losses) < 0)


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"R": 0.0}, "R"),
        ({"R": float("inf")}, "R"),
        ({"tol": 0.0}, "tol"),
        ({"max_iter": 0}, "max_iter"),
        ({"y": torch.full((12,), 0.5)}, "y"),
    ],
)
def test_bad_input_is_a_config_error(kwargs, field):
    X, y, net = _instance(12, 4, 8, 2)
    args = {"model_at_init": net, "X": X, "y": y, "R": 1.0, **kwargs}
    with pytest.raises(ConfigError) as e:
        ntrf_fit(**args)
    assert e.value.field == field


def test_multi_output_network_is_rejected():
    net = FullyConnected(4, 8, 2, 3, parameterization="cao-gu", dtype=torch.float64)
    with pytest.raises(ConfigError):
        ntrf_fit(net, torch.randn(5, 4, dtype=torch.float64), torch.ones(5), 1.0)


def test_theorem_bound_by_hand():
    value = theorem_bound(0.1, 3.0, 100, 2, 0.05)
    assert value == pytest.approx(4 * 0.1 + 2 * 3.0 / 10 + math.sqrt(math.log(20) / 100))
