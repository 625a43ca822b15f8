"""The infinite-width Gram matrix of Du et al.'s ResNet [du-2019-deep, Section 6, Definition 6.1].

(The fully connected network's K^(H), Definition 5.1 / eq. (7), is
:func:`overparam.ntk.gram.du_gram`.)

For the ResNet x^(1) = sqrt(c_sigma/m) sigma(W^(1) x), x^(h) = x^(h-1) + (c_res/(H sqrt(m)))
sigma(W^(h) x^(h-1)), f = a^T x^(H) (:class:`overparam.models.ResNet`, ``du``), as m -> infinity

    K^(0)_ij = <x_i, x_j>,
    K^(1)_ij = c_sigma E[sigma(u) sigma(v)],             b^(1)_i = sqrt(c_sigma) E[sigma(u_i)],
    K^(h)_ij = K^(h-1)_ij + (c_res/H) (b^(h-1)_i E[sigma(v)] + b^(h-1)_j E[sigma(u)])
               + (c_res/H)^2 E[sigma(u) sigma(v)],
    b^(h)_i  = b^(h-1)_i + (c_res/H) E[sigma(u_i)],                             (h = 2..H-1)
    K^(H)_ij = (c_res/H)^2 K^(H-1)_ij E[sigma'(u) sigma'(v)],

with (u, v) ~ N(0, A^(h)_ij), A^(h)_ij = [[K^(h-1)_ii, K^(h-1)_ij], [K^(h-1)_ji, K^(h-1)_jj]]
(u_i ~ N(0, K^(h-1)_ii)). K^(h) (h < H) is the limit of <x_i^(h), x_j^(h)>, b^(h)_i the limit of
m^{-1/2} sum_r x^(h)_{i,r} (the mean of the residual stream, which the cross terms
(c_res/(H sqrt(m))) <x^(h-1)_i, sigma(W x^(h-1)_j)> -> (c_res/H) b_i E[sigma(v)] pick up, since
W^(h) is independent of x^(h-1)), and K^(H) the limit of the last layer's NTK part
<df(x_i)/dW^(H), df(x_j)/dW^(H)>. Under Du et al.'s assumption ||x_i|| = 1 (so K^(h)_ii =
K^(h)_jj) it does not matter whether b_i is paired with E[sigma(u)] or E[sigma(v)]; the pairing
here is the one the forward pass gives for inputs of any norm (checked against wide networks).

lambda_min(K^(H)) sets Du et al.'s width and step size for the ResNet [Theorem 6.1]: m and
eta polynomial in H (with the (c_res/H)^2 factor), against 2^O(H) for the fully connected
network [Theorem 5.1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from overparam.errors import ConfigError
from overparam.models.activations import (
    Activation,
    c_sigma,
    gauss_hermite,
    numpy_fn,
    parse_activation,
)
from overparam.ntk.expectations import gaussian_expectations


@dataclass(frozen=True)
class ResNetKernels:
    """The recursion's matrices for n inputs.

    Attributes:
        K: [K^(0), K^(1), ..., K^(H-1)], each (n, n): the limiting Gram of the hidden layers.
        b: [b^(1), ..., b^(H-1)], each (n,): the limiting m^{-1/2} sum_r x^(h)_r.
        gram: K^(H) (n, n), the limiting NTK part of the last layer W^(H).
    """

    K: list[np.ndarray]
    b: list[np.ndarray]
    gram: np.ndarray


def _mean_sigma(act: Activation, var: np.ndarray) -> np.ndarray:
    """E[sigma(u)], u ~ N(0, var): sqrt(var / (2 pi)) for relu, Gauss-Hermite otherwise."""
    if act is Activation.RELU:
        return np.sqrt(np.maximum(var, 0.0) / (2.0 * math.pi))
    nodes, weights = gauss_hermite()
    return numpy_fn(act)(np.sqrt(np.maximum(var, 0.0))[:, None] * nodes[None, :]) @ weights


def _pair(act: Activation, K: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    diag = np.diag(K)
    return gaussian_expectations(act, diag[:, None], diag[None, :], K)


def _inputs(X: np.ndarray | torch.Tensor) -> np.ndarray:
    Xn = X.detach().cpu().numpy() if isinstance(X, torch.Tensor) else np.asarray(X)
    if Xn.ndim != 2:
        raise ConfigError("X", getattr(Xn, "shape", None), "an (n, d) matrix")
    return Xn.astype(np.float64)


def du_resnet_kernels(
    X: np.ndarray | torch.Tensor,
    depth: int,
    *,
    c_res: float = 1.0,
    activation: Activation | str = Activation.RELU,
) -> ResNetKernels:
    """Every matrix of [du-2019-deep, Definition 6.1] for the rows of X (see module docstring).

    Args:
        X: (n, d) inputs (the paper assumes ||x_i|| = 1; any norms work here).
        depth: H >= 2, the ResNet's number of layers (as :class:`overparam.models.ResNet`).
        c_res: the residual constant. activation: sigma.

    Raises:
        ConfigError: depth < 2 (K^(H) needs a residual last layer) or c_res <= 0.
    """
    if not isinstance(depth, int) or depth < 2:
        raise ConfigError("depth", depth, "an integer >= 2 (H layers, the last one residual)")
    if not (math.isfinite(c_res) and c_res > 0):
        raise ConfigError("c_res", c_res, "a positive number")
    act = parse_activation(activation)
    Xn = _inputs(X)
    cs = c_sigma(act)
    step = c_res / depth
    K0 = Xn @ Xn.T
    e, _ = _pair(act, K0)
    Ks = [K0, cs * e]
    bs = [math.sqrt(cs) * _mean_sigma(act, np.diag(K0))]
    for _ in range(2, depth):
        K, b = Ks[-1], bs[-1]
        mean = _mean_sigma(act, np.diag(K))
        e, _ = _pair(act, K)
        cross = b[:, None] * mean[None, :] + mean[:, None] * b[None, :]
        Ks.append(K + step * cross + step**2 * e)
        bs.append(b + step * mean)
    _, edot = _pair(act, Ks[-1])
    return ResNetKernels(K=Ks, b=bs, gram=step**2 * Ks[-1] * edot)


def du_resnet_gram(
    X: np.ndarray | torch.Tensor,
    depth: int,
    *,
    c_res: float = 1.0,
    activation: Activation | str = Activation.RELU,
) -> np.ndarray:
    """K^(H) of [du-2019-deep, Definition 6.1] (n, n); see :func:`du_resnet_kernels`."""
    return du_resnet_kernels(X, depth, c_res=c_res, activation=activation).gram
