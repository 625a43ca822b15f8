"""The empirical kernels of finite networks against their infinite-width limits, over widths
and seeds: a Monte Carlo estimate of how fast the limit is approached.

Each entry of the empirical NTK of a width-m network (divided by
:func:`overparam.models.kernel_scale`) is an average over m hidden units, so its distance to the
analytic limit (:func:`overparam.ntk.analytic.analytic`) falls like m^(-1/2) [jacot-2018,
Theorem 1]; the same holds for the NNGP read off the last hidden layer,
E_V[f(x) f(x')] = (a s)^2 <h(x), h(x')> (+ the bias term). With only W^(H) of Du et al.'s
network trained, the limit is the Gram K^(H) of [du-2019-deep, Definition 5.1]
(:func:`overparam.ntk.gram.du_gram`), and the proof of their Theorem 5.1 starts from
||G^(H)(0) - K^(H)||_2 <= lambda_min(K^(H)) / 4: the ``spectral_error`` and ``lambda_ratio``
columns below.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from overparam.errors import ConfigError
from overparam.models import FullyConnected, kernel_scale
from overparam.ntk.analytic import analytic
from overparam.ntk.empirical import empirical
from overparam.ntk.gram import lambda_min

#: The columns of :func:`kernel_errors`.
COLUMNS = (
    "width",
    "seed",
    "ntk_error",
    "nngp_error",
    "spectral_error",
    "lambda_ratio",
    "lambda_min_limit",
)


def _nngp(model: FullyConnected, X: torch.Tensor) -> np.ndarray:
    """The NNGP of one network, E_V[f f'] over its readout: (a s)^2 <h, h'> + bias term."""
    with torch.no_grad():
        _, _, hidden = model(X, return_hidden=True)
    s, H = model.specs[-1], hidden[-1].double().numpy()
    nngp = (s.multiplier * s.std) ** 2 * H @ H.T
    if s.bias:
        nngp = nngp + (s.bias_multiplier * s.bias_std) ** 2
    return nngp


def kernel_errors(
    X: torch.Tensor | np.ndarray,
    *,
    depth: int,
    widths: Sequence[int],
    seeds: Sequence[int],
    parameterization: str = "ntk",
    activation: str = "relu",
    trainable: str | Sequence[str] | None = None,
    bias_std: float | None = None,
) -> pd.DataFrame:
    """Empirical against analytic kernels of ``FullyConnected`` networks, one row per
    (width, seed), in float64.

    Args:
        X: (n, d) inputs.
        depth, parameterization, activation, trainable, bias_std: the network's
            (:class:`~overparam.models.FullyConnected`) and its limit's
            (:func:`~overparam.ntk.analytic.analytic`; bias_std None = no bias).
        widths, seeds: the grid; every width with every seed.

    Returns:
        Columns :data:`COLUMNS`: with Theta = empirical NTK / kernel_scale and K its limit,
        ``ntk_error`` = ||Theta - K||_F / ||K||_F, ``nngp_error`` the same for the NNGP,
        ``spectral_error`` = ||Theta - K||_2 / lambda_min(K), ``lambda_ratio`` =
        lambda_min(Theta) / lambda_min(K) and ``lambda_min_limit`` = lambda_min(K).

    Raises:
        ConfigError: an empty grid, or what the network or the limit reject.
    """
    if not widths or not seeds:
        raise ConfigError("widths" if not widths else "seeds", [], "a non-empty list")
    X = torch.as_tensor(X).to(torch.float64)
    limit = analytic(
        X,
        depth=depth,
        parameterization=parameterization,
        activation=activation,
        trainable=trainable,
        bias_std=0.0 if bias_std is None else bias_std,  # the limit's 0: no bias
    )
    K, N = np.asarray(limit.ntk), np.asarray(limit.nngp)
    k_norm, n_norm, k_min = float(np.linalg.norm(K)), float(np.linalg.norm(N)), lambda_min(K)
    rows = []
    for m in widths:
        for seed in seeds:
            model = FullyConnected(
                X.shape[1],
                int(m),
                depth,
                1,
                parameterization,
                activation,
                trainable=trainable,
                dtype=torch.float64,
                seed=int(seed),
                bias_std=bias_std,
            )
            theta = empirical(model, X).detach().numpy() / kernel_scale(parameterization, m)
            diff = theta - K
            rows.append(
                {
                    "width": int(m),
                    "seed": int(seed),
                    "ntk_error": float(np.linalg.norm(diff)) / k_norm,
                    "nngp_error": float(np.linalg.norm(_nngp(model, X) - N)) / n_norm,
                    "spectral_error": float(np.linalg.norm(diff, 2)) / k_min,
                    "lambda_ratio": lambda_min(theta) / k_min,
                    "lambda_min_limit": k_min,
                }
            )
    return pd.DataFrame.from_records(rows, columns=list(COLUMNS))
