"""overparam.ntk.monte_carlo.kernel_errors against a direct computation of each column from one
network's empirical kernels, and its limit for Du et al.'s last-layer Gram."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from overparam.data import sphere
from overparam.errors import ConfigError
from overparam.models import FullyConnected, kernel_scale
from overparam.ntk.analytic import analytic
from overparam.ntk.empirical import empirical
from overparam.ntk.gram import du_gram
from overparam.ntk.monte_carlo import COLUMNS, kernel_errors


@pytest.fixture(scope="module")
def X() -> torch.Tensor:
    return sphere(6, 4, seed=1).X.double()


def _by_hand(X, p, act, depth, m, seed, trainable=None, bias_std=None):
    extra = {} if bias_std is None else {"bias_std": bias_std}
    k = analytic(X, depth=depth, parameterization=p, activation=act, trainable=trainable, **extra)
    net = FullyConnected(
        X.shape[1], m, depth, 1, p, act, trainable, dtype=torch.float64, seed=seed, **extra
    )
    theta = empirical(net, X).numpy() / kernel_scale(p, m)
    with torch.no_grad():
        _, _, hidden = net(X, return_hidden=True)
    s = net.specs[-1]
    nngp = (s.multiplier * s.std) ** 2 * hidden[-1].numpy() @ hidden[-1].numpy().T
    if s.bias:
        nngp = nngp + (s.bias_multiplier * s.bias_std) ** 2
    lam = np.linalg.eigvalsh(k.ntk)[0]
    return {
        "ntk_error": np.linalg.norm(theta - k.ntk) / np.linalg.norm(k.ntk),
        "nngp_error": np.linalg.norm(nngp - k.nngp) / np.linalg.norm(k.nngp),
        "spectral_error": np.abs(np.linalg.eigvalsh(theta - k.ntk)).max() / lam,
        "lambda_ratio": np.linalg.eigvalsh(theta)[0] / lam,
        "lambda_min_limit": lam,
    }


@pytest.mark.parametrize(
    "p, act, depth, kw",
    [
        ("zou-gu", "relu", 2, {}),
        ("du", "tanh", 1, {}),
        ("ntk", "relu", 1, {"bias_std": 0.3}),
        ("du", "softplus", 2, {"trainable": ["W2"]}),
    ],
)
def test_every_column_matches_a_direct_computation(X, p, act, depth, kw):
    rows = kernel_errors(
        X, depth=depth, widths=[16, 48], seeds=[0, 3], parameterization=p, activation=act, **kw
    )
    assert list(rows.columns) == list(COLUMNS)
    assert [(r.width, r.seed) for r in rows.itertuples()] == [(16, 0), (16, 3), (48, 0), (48, 3)]
    for r in rows.itertuples():
        want = _by_hand(X, p, act, depth, r.width, r.seed, **kw)
        for col, value in want.items():
            assert getattr(r, col) == pytest.approx(value, rel=1e-9), col


def test_last_layer_limit_is_du_gram(X):
    """With only W^(H) trained the limit's lambda_min is that of K^(H) [du-2019-deep, Def. 5.1]."""
    rows = kernel_errors(
        X, depth=2, widths=[8], seeds=[0], parameterization="du", activation="tanh",
        trainable=["W2"],
    )  # fmt: skip
    lam = np.linalg.eigvalsh(du_gram(X, depth=2, activation="tanh"))[0]
    assert rows["lambda_min_limit"].iloc[0] == pytest.approx(lam, rel=1e-10)


def test_an_empty_grid_is_refused(X):
    with pytest.raises(ConfigError, match="widths"):
        kernel_errors(X, depth=1, widths=[], seeds=[0])
