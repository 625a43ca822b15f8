"""Activations and their Gaussian moments.

``c_sigma = 1 / E_{z~N(0,1)}[sigma(z)^2]`` is the normalizing constant of
[du-2019-deep, Section 5] (x^(h) = sqrt(c_sigma/m) sigma(W^(h) x^(h-1))); for relu it is 2.
Moments are computed by Gauss-Hermite quadrature in float64.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from enum import StrEnum
from functools import cache

import numpy as np
import torch
from scipy import special

from overparam.errors import ConfigError


class Activation(StrEnum):
    """Activation functions of the seed papers: relu [allen-zhu-2019, zou-gu-2019] and the smooth
    ones of [du-2019-deep, Condition 3.1] (softplus, sigmoid, tanh) plus gelu, swish and erf
    (whose dual maps are closed forms [williams-1997])."""

    RELU = "relu"
    SOFTPLUS = "softplus"
    SIGMOID = "sigmoid"
    TANH = "tanh"
    GELU = "gelu"
    SWISH = "swish"
    ERF = "erf"


def parse_activation(value: str | Activation) -> Activation:
    """Return ``value`` as an :class:`Activation`, or raise a :class:`ConfigError` naming it."""
    try:
        return Activation(value)
    except ValueError:
        allowed = ", ".join(a.value for a in Activation)
        raise ConfigError("activation", value, allowed) from None


_TORCH: dict[Activation, Callable[[torch.Tensor], torch.Tensor]] = {
    Activation.RELU: torch.relu,
    Activation.SOFTPLUS: torch.nn.functional.softplus,
    Activation.SIGMOID: torch.sigmoid,
    Activation.TANH: torch.tanh,
    Activation.GELU: torch.nn.functional.gelu,
    Activation.SWISH: torch.nn.functional.silu,
    Activation.ERF: torch.erf,
}


def torch_fn(act: Activation) -> Callable[[torch.Tensor], torch.Tensor]:
    """The elementwise torch function of ``act``."""
    return _TORCH[Activation(act)]


def torch_derivative(act: Activation) -> Callable[[torch.Tensor], torch.Tensor]:
    """sigma'(z) in torch, for the structured NTK's backward pass (relu'(0) = 0, as autograd)."""
    act = Activation(act)
    if act is Activation.RELU:
        return lambda z: (z > 0).to(z.dtype)
    if act is Activation.SOFTPLUS:
        return torch.sigmoid
    if act is Activation.SIGMOID:
        return lambda z: torch.sigmoid(z) * (1.0 - torch.sigmoid(z))
    if act is Activation.TANH:
        return lambda z: 1.0 - torch.tanh(z) ** 2
    if act is Activation.GELU:
        return lambda z: (
            0.5 * (1.0 + torch.erf(z / math.sqrt(2.0)))
            + z * torch.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
        )
    if act is Activation.ERF:
        return lambda z: torch.exp(-z * z) * _TWO_OVER_SQRT_PI
    return lambda z: torch.sigmoid(z) * (1.0 + z * (1.0 - torch.sigmoid(z)))


_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _phi(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + special.erf(z / math.sqrt(2.0)))


def numpy_fn(act: Activation) -> Callable[[np.ndarray], np.ndarray]:
    """The elementwise NumPy function of ``act`` (float64), for quadrature."""
    act = Activation(act)
    if act is Activation.RELU:
        return lambda z: np.maximum(z, 0.0)
    if act is Activation.SOFTPLUS:
        return lambda z: np.logaddexp(0.0, z)
    if act is Activation.SIGMOID:
        return special.expit
    if act is Activation.TANH:
        return np.tanh
    if act is Activation.GELU:
        return lambda z: z * _phi(z)
    if act is Activation.ERF:
        return special.erf
    return lambda z: z * special.expit(z)


def numpy_derivative(act: Activation) -> Callable[[np.ndarray], np.ndarray]:
    """sigma'(z) in NumPy (float64); relu's derivative at 0 is taken as 0, as torch does."""
    act = Activation(act)
    if act is Activation.RELU:
        return lambda z: (z > 0).astype(np.float64)
    if act is Activation.SOFTPLUS:
        return special.expit
    if act is Activation.SIGMOID:
        return lambda z: special.expit(z) * (1.0 - special.expit(z))
    if act is Activation.TANH:
        return lambda z: 1.0 - np.tanh(z) ** 2
    if act is Activation.GELU:
        return lambda z: _phi(z) + z * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    if act is Activation.ERF:
        return lambda z: np.exp(-z * z) * _TWO_OVER_SQRT_PI
    return lambda z: special.expit(z) * (1.0 + z * (1.0 - special.expit(z)))


@cache
def gauss_hermite(order: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights for E_{z~N(0,1)}[g(z)] = sum_i w_i g(z_i) (probabilists' Hermite)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(order)
    return nodes, weights / math.sqrt(2.0 * math.pi)


@cache
def c_sigma(act: Activation) -> float:
    """c_sigma = 1 / E_{z~N(0,1)}[sigma(z)^2]  [du-2019-deep, Section 5]. Exactly 2 for relu."""
    act = Activation(act)
    if act is Activation.RELU:
        return 2.0
    nodes, weights = gauss_hermite()
    return float(1.0 / np.sum(weights * numpy_fn(act)(nodes) ** 2))
