"""Infinite-width NTK and Gram matrix of the CNNs of :mod:`overparam.models.cnn`.

A convolution shares its weights over positions, so as the number of channels m -> infinity the
kernels are matrices over *(input, position)* pairs: for n inputs with p positions, every
quantity below is an (n p) x (n p) matrix M(x_i, s; x_j, s'), the per-channel limit between
position s of x_i and position s' of x_j [du-2019-deep, Section 7: the convolutional ResNet's
Gram, with "comparable definitions" to Definitions 5.1 / 6.1]; without pooling this is the CNTK
of Arora, Du, Hu, Li, Salakhutdinov, Wang, "On Exact Computation with an Infinitely Wide Neural
Net" (NeurIPS 2019, arXiv:1904.11955), with a readout on vec(h) in place of global pooling.

The patch operator phi reads, at position s, the q = prod(kernel) offsets o of every channel
(:func:`overparam.models.cnn.patch_index`, circular or zero padding), so a covariance of
patches is the sum of the covariances of the q aligned offsets:

    P[M](x_i, s; x_j, s') = sum_o M(x_i, s + o; x_j, s' + o)     (0 where s + o is padding).

With E(S), Edot(S) = E[sigma(u) sigma(v)], E[sigma'(u) sigma'(v)] for (u, v) ~ N(0, [[S(i s; i s),
S(i s; j s')], [S(j s'; i s), S(j s'; j s')]]) entrywise (diagonal variances; the 2x2 map of
:func:`overparam.ntk.expectations.gaussian_expectations`) and K^(0)(x_i, s; x_j, s') =
<x_i[:, s], x_j[:, s']> (the inner product over input channels):

``allen-zhu`` (h_0 = relu(A * x), h_l = relu(W_l * h_{l-1}), f = B vec(h_L), A, W_l ~
N(0, 2/(q m)), B ~ N(0, 1/k)), with G_l = <h_l, h_l'> summed over channels and T_l the tangent
kernel of one channel of the pre-activation z_l (l = 0 is A):

    S_0 = (2/q) P[K^(0)],                   T_0 = 1[A trained] P[K^(0)],
    S_l = (2/q) P[G_{l-1}],                 T_l = 1[W_l trained] P[G_{l-1}]
                                                  + (2/q) P[Edot(S_{l-1}) . T_{l-1}],
    G_l = E(S_l)                            (relu is 1-homogeneous: m E(S/m) = E(S)),
    NNGP = sum_s G_L(s; s),                 NTK / m = sum_s Edot(S_L)(s; s) T_L(s; s)

for one output (k = 1, B ~ N(0, 1), the network these functions describe). S_l is m times the
covariance of one channel of z_l; B's own term sum_s G_L(s; s) is O(1)
against the O(m) of the others and vanishes in NTK / m (as in :mod:`overparam.ntk.analytic`).

``du`` (x^(1) = sqrt(c_sigma/m) sigma(W^(1) * x), x^(h) = x^(h-1) + c_res/(H sqrt m)
sigma(W^(h) * x^(h-1)), f = <a, vec x^(H)>, W, a ~ N(0, 1)), with K^(h) = <x^(h), x^(h)'>,
b^(h)(x_i, s) = m^(-1/2) sum_r x^(h)_{i,s,r} (the mean of the residual stream, as in
:mod:`overparam.ntk.resnet_gram`), mu_h(x_i, s) = E[sigma(u)], u ~ N(0, S_h(i s; i s)), and T_h
the tangent kernel of x^(h) summed over channels:

    S_h = P[K^(h-1)],
    K^(1) = c_sigma E(S_1),                 b^(1) = sqrt(c_sigma) mu_1,
    T_1 = 1[W^(1) trained] c_sigma Edot(S_1) . S_1,
    K^(h) = K^(h-1) + (c_res/H) (b^(h-1) mu_h^T + mu_h b^(h-1)^T) + (c_res/H)^2 E(S_h),
    b^(h) = b^(h-1) + (c_res/H) mu_h,
    T_h = T_{h-1} + (c_res/H)^2 Edot(S_h) . (1[W^(h) trained] S_h + P[T_{h-1}]),  (h = 2..H)
    NNGP = sum_s K^(H)(s; s),               NTK = sum_s T_H(s; s) + 1[a trained] sum_s K^(H)(s; s).

(. is the entrywise product.) The readout has one weight per (position, channel), so only
equal positions s = s' pair up in the last line. The Gram of the last layer alone,
``gram`` = the W^(H) (W_L) part of the NTK, is Du et al.'s K^(H) for the convolutional ResNet:
(c_res/H)^2 sum_s Edot(S_H)(s; s) S_H(s; s), and c_sigma sum_s Edot(S_1) S_1 for H = 1.
With one position and kernel_size 1 (in_shape (d, 1)) the recursions are those of the fully
connected networks: :func:`overparam.ntk.analytic.analytic` (allen-zhu; du with H = 1) and
:func:`overparam.ntk.resnet_gram.du_resnet_gram`.

Memory is O((n p)^2) float64: about :data:`PEAK_ARRAYS` (16 for relu, 32 for a smooth
activation) (n p) x (n p) arrays are alive at once (:func:`peak_bytes`), and inputs whose
estimate exceeds :data:`MAX_BYTES` (4 GiB) are refused before any allocation: relu up to
n p = 5792 rows (90 digits of 8 x 8), a smooth activation up to 4096.
The 2x2 expectations are computed on the upper triangle only and mirrored; relu's diagonal uses
rho = 1 exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from overparam.errors import ConfigError
from overparam.memory import format_bytes
from overparam.models.activations import (
    Activation,
    c_sigma,
    gauss_hermite,
    numpy_fn,
    parse_activation,
)
from overparam.models.base import resolve_trainable
from overparam.models.cnn import PADDINGS, _shape, cnn_specs, patch_index
from overparam.models.parameterization import (
    Parameterization,
    default_trainable,
    parse_parameterization,
)
from overparam.ntk.expectations import gaussian_expectations

#: (n p) x (n p) float64 arrays alive at the peak of the recursion (K, S, E, Edot, T, the patch
#: sum's padded copy and gathers, the triangle's indices and values, and the temporaries of
#: :func:`~overparam.ntk.expectations.gaussian_expectations`), for relu and for a smooth
#: activation; tracemalloc peaks measured on 16 x 64 rows: 12.6 / 14.1 (relu) and 30 (tanh).
PEAK_ARRAYS = {"relu": 16, "smooth": 32}
#: Largest estimated peak accepted (bytes).
MAX_BYTES = 4 * 2**30


@dataclass(frozen=True, eq=False)
class CNNKernels:
    """Infinite-width kernels of a :class:`overparam.models.CNN` on n inputs, float64.

    Attributes:
        nngp: (n, n) covariance of f at initialization.
        ntk: (n, n) NTK of the trained layers divided by ``kernel_scale(parameterization, m)``.
        gram: (n, n) the last conv layer's part of the NTK (W_L for allen-zhu, W^(H) for du:
            Du et al.'s K^(H)), whether or not that layer is trained.
    """

    nngp: np.ndarray
    ntk: np.ndarray
    gram: np.ndarray


# ------------------------------------------------------------------------------------------------
# Inputs
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Setup:
    form: Parameterization
    act: Activation
    positions: int
    q: int
    padding: str
    trained: set[str]
    c_res: float
    spatial: tuple[int, ...]
    kernel: tuple[int, ...]


def _inputs(X: Any, in_shape: tuple[int, ...]) -> np.ndarray:
    """X (n, C p) or (n, C, *spatial) as the channels-last float64 map (n, p, C)."""
    if isinstance(X, torch.Tensor):
        X = X.detach().to("cpu", torch.float64).numpy()
    try:
        arr = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError("X", type(X).__name__, "a float array or tensor (n, C * p)") from None
    d = math.prod(in_shape)
    want = f"(n, {d}) or (n, {', '.join(map(str, in_shape))})"
    if arr.ndim < 2 or arr.shape[0] < 1 or math.prod(arr.shape[1:]) != d:
        raise ConfigError("X", f"shape {arr.shape}", f"an array of shape {want}")
    if arr.ndim > 2 and tuple(arr.shape[1:]) != in_shape:
        raise ConfigError("X", f"shape {arr.shape}", f"an array of shape {want}")
    if not np.isfinite(arr).all():
        raise ConfigError("X", "an array with NaN or inf", "finite entries")
    c = in_shape[0]
    return np.ascontiguousarray(arr.reshape(len(arr), c, -1).transpose(0, 2, 1))


def _setup(
    in_shape: tuple[int, ...],
    depth: int,
    kernel_size: int,
    parameterization: Parameterization | str,
    activation: Activation | str,
    padding: str,
    c_res: float,
    trainable: str | Sequence[str] | None,
) -> _Setup:
    """Validate the arguments as :class:`overparam.models.CNN` does."""
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1:
        raise ConfigError("kernel_size", kernel_size, "an integer >= 1")
    if isinstance(depth, bool):
        raise ConfigError("depth", depth, "an integer >= 1")
    if padding not in PADDINGS:
        raise ConfigError("padding", padding, ", ".join(PADDINGS))
    spatial = in_shape[1:]
    if padding == "circular" and any(kernel_size > s for s in spatial):
        raise ConfigError(
            "kernel_size", kernel_size, f"at most the input's side {min(spatial)} (circular)"
        )
    form = parse_parameterization(parameterization)
    act = parse_activation(activation)
    if form is Parameterization.ALLEN_ZHU and act is not Activation.RELU:
        raise ConfigError(
            "activation",
            act.value,
            "relu for allen-zhu (its proofs are for relu); smooth activations with du",
        )
    kernel = (kernel_size,) * len(spatial)
    q, p = math.prod(kernel), math.prod(spatial)
    specs = cnn_specs(form, in_shape[0], p, 1, depth, q, activation=act, c_res=c_res)
    trained = resolve_trainable(specs, trainable, default_trainable(form))
    return _Setup(form, act, p, q, padding, trained, float(c_res), spatial, kernel)


def peak_bytes(n: int, positions: int, activation: Activation | str = Activation.RELU) -> int:
    """Estimated peak bytes of :func:`cnn_kernels` on n inputs with p positions:
    PEAK_ARRAYS (n p)^2 float64."""
    relu = parse_activation(activation) is Activation.RELU
    return PEAK_ARRAYS["relu" if relu else "smooth"] * 8 * (n * positions) ** 2


def _check_memory(n: int, p: int, act: Activation) -> None:
    rows = n * p
    peak = peak_bytes(n, p, act)
    if peak > MAX_BYTES:
        limit = math.isqrt(MAX_BYTES // (peak // rows**2))
        raise ConfigError(
            "X",
            f"{n} inputs x {p} positions = {rows} rows (peak ~{format_bytes(peak)})",
            f"n * positions <= {limit} (the kernels are (n p) x (n p) float64; "
            f"at most {format_bytes(MAX_BYTES)})",
        )


# ------------------------------------------------------------------------------------------------
# The recursion's operations on (n p) x (n p) matrices, stored as (n, p, n, p)
# ------------------------------------------------------------------------------------------------


def _patch_sum(M: np.ndarray, index: np.ndarray) -> np.ndarray:
    """P[M](i, s; j, s') = sum_o M(i, idx[s, o]; j, idx[s', o]); idx = p stands for padding."""
    n, p = M.shape[:2]
    padded = np.zeros((n, p + 1, n, p + 1))
    padded[:, :p, :, :p] = M
    out = np.zeros_like(M)
    for o in range(index.shape[1]):
        rows = np.take(padded, index[:, o], axis=1)
        out += np.take(rows, index[:, o], axis=3)
    return out


class _Expectations:
    """E(S), Edot(S) entrywise on a symmetric (n, p, n, p) covariance, upper triangle only."""

    def __init__(self, act: Activation, rows: int) -> None:
        self.act = act
        self.iu = np.triu_indices(rows)
        self.on = self.iu[0] == self.iu[1]

    def __call__(self, S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        shape = S.shape
        flat = S.reshape(shape[0] * shape[1], -1)
        diag = np.diag(flat).copy()
        i, j = self.iu
        e, edot = gaussian_expectations(self.act, diag[i], diag[j], flat[i, j])
        if self.act is Activation.RELU:  # rho = 1 exactly on the diagonal
            e[self.on] = 0.5 * diag
            edot[self.on] = np.where(diag > 0.0, 0.5, 0.0)
        return self._mirror(e, len(flat)).reshape(shape), self._mirror(edot, len(flat)).reshape(
            shape
        )

    def _mirror(self, values: np.ndarray, rows: int) -> np.ndarray:
        out = np.empty((rows, rows))
        out[self.iu] = values
        out[self.iu[1], self.iu[0]] = values
        return out


def _mean_sigma(act: Activation, var: np.ndarray) -> np.ndarray:
    """E[sigma(u)], u ~ N(0, var), any shape: sqrt(var / (2 pi)) for relu, Gauss-Hermite else."""
    var = np.maximum(var, 0.0)
    if act is Activation.RELU:
        return np.sqrt(var / (2.0 * math.pi))
    nodes, weights = gauss_hermite()
    return numpy_fn(act)(np.sqrt(var)[..., None] * nodes) @ weights


def _same_position(M: np.ndarray) -> np.ndarray:
    """sum_s M(i, s; j, s): the readout on vec(h) pairs equal positions only."""
    return np.einsum("isjs->ij", M)


def _variances(S: np.ndarray) -> np.ndarray:
    """(n, p) diagonal S(i, s; i, s)."""
    n, p = S.shape[:2]
    return np.diag(S.reshape(n * p, n * p)).reshape(n, p)


def _allen_zhu(
    K0: np.ndarray, depth: int, setup: _Setup, index: np.ndarray, expect: _Expectations
) -> CNNKernels:
    """The allen-zhu recursion of the module docstring (layers A, W1..WL; B fixed or O(1/m))."""
    scale = 2.0 / setup.q
    P = _patch_sum(K0, index)
    S = scale * P
    T = P if "A" in setup.trained else np.zeros_like(P)
    G, Edot = expect(S)
    gram = np.zeros((len(K0), len(K0)))
    for l in range(1, depth + 1):
        P = _patch_sum(G, index)
        S = scale * P
        T = scale * _patch_sum(Edot * T, index)
        if f"W{l}" in setup.trained:
            T += P
        G, Edot = expect(S)
        if l == depth:
            gram = _same_position(Edot * P)
    return CNNKernels(nngp=_same_position(G), ntk=_same_position(Edot * T), gram=gram)


def _du(
    K0: np.ndarray, depth: int, setup: _Setup, index: np.ndarray, expect: _Expectations
) -> CNNKernels:
    """The du recursion of the module docstring (layers W1..WH and a)."""
    act, cs, step = setup.act, c_sigma(setup.act), setup.c_res / depth
    S = _patch_sum(K0, index)
    E, Edot = expect(S)
    K = cs * E
    b = math.sqrt(cs) * _mean_sigma(act, _variances(S))
    gram = cs * Edot * S
    T = gram if "W1" in setup.trained else np.zeros_like(S)
    for h in range(2, depth + 1):
        S = _patch_sum(K, index)
        E, Edot = expect(S)
        mu = _mean_sigma(act, _variances(S))
        cross = b[:, :, None, None] * mu[None, None] + mu[:, :, None, None] * b[None, None]
        gram = step**2 * Edot * S
        T = T + step**2 * Edot * _patch_sum(T, index)
        if f"W{h}" in setup.trained:
            T += gram
        K = K + step * cross + step**2 * E
        b = b + step * mu
    nngp = _same_position(K)
    ntk = _same_position(T) + (nngp if "a" in setup.trained else 0.0)
    return CNNKernels(nngp=nngp, ntk=ntk, gram=_same_position(gram))


# ------------------------------------------------------------------------------------------------
# Public API
# ------------------------------------------------------------------------------------------------


def cnn_kernels(
    X: np.ndarray | torch.Tensor,
    in_shape: Sequence[int] | int,
    depth: int,
    *,
    kernel_size: int = 3,
    parameterization: Parameterization | str = Parameterization.ALLEN_ZHU,
    activation: Activation | str = Activation.RELU,
    padding: str = "circular",
    c_res: float = 1.0,
    trainable: str | Sequence[str] | None = None,
) -> CNNKernels:
    """NNGP, NTK and last-layer Gram of ``CNN(in_shape, m, depth, kernel_size, 1,
    parameterization, activation, trainable, padding=padding, c_res=c_res)`` as m -> infinity
    (module docstring; [du-2019-deep, Section 7]).

    Args:
        X: (n, C * p) or (n, C, *spatial) inputs (NumPy or torch; float64 here).
        in_shape: (C, length) or (C, height, width); an int d means (1, d).
        depth: L (allen-zhu) or H (du), as for the CNN.
        kernel_size: the kernel's side along every spatial axis.
        parameterization: ``allen-zhu`` (plain relu CNN) or ``du`` (convolutional ResNet).
        activation: relu for allen-zhu; any :class:`Activation` for du.
        padding: ``circular`` or ``zeros``.
        c_res: du's residual constant (ignored by allen-zhu).
        trainable: "hidden", "all", layer names, or None for the paper's default.

    Returns:
        :class:`CNNKernels`, each (n, n) float64 and symmetric.

    Raises:
        ConfigError: bad in_shape / X shape / depth / kernel_size / padding / activation /
            parameterization / c_res / trainable (as :class:`overparam.models.CNN`), or
            (n p)^2 too large (field ``X``).
    """
    shape = _shape(in_shape)
    setup = _setup(
        shape, depth, kernel_size, parameterization, activation, padding, c_res, trainable
    )
    x = _inputs(X, shape)
    _check_memory(len(x), setup.positions, setup.act)
    index = patch_index(setup.spatial, setup.kernel, setup.padding).numpy()
    K0 = np.einsum("isc,jtc->isjt", x, x)
    expect = _Expectations(setup.act, len(x) * setup.positions)
    run = _allen_zhu if setup.form is Parameterization.ALLEN_ZHU else _du
    k = run(K0, depth, setup, index, expect)
    return CNNKernels(*(0.5 * (M + M.T) for M in (k.nngp, k.ntk, k.gram)))


def cnn_ntk(
    X: np.ndarray | torch.Tensor,
    in_shape: Sequence[int] | int,
    depth: int,
    *,
    kernel_size: int = 3,
    parameterization: Parameterization | str = Parameterization.ALLEN_ZHU,
    activation: Activation | str = Activation.RELU,
    padding: str = "circular",
    c_res: float = 1.0,
    trainable: str | Sequence[str] | None = None,
) -> np.ndarray:
    """lim_{m -> inf} ``empirical(CNN(...), X) / kernel_scale(parameterization, m)`` (n, n)
    [du-2019-deep, Section 7]; arguments and errors as :func:`cnn_kernels`.

    Example:
        >>> X = np.eye(2, 8)  # two unit impulses, 8 positions
        >>> K = cnn_ntk(X, (1, 8), 1)
        >>> bool(np.allclose(K, K.T)), bool(K[0, 0] > K[0, 1] > 0)
        (True, True)
    """
    return cnn_kernels(
        X,
        in_shape,
        depth,
        kernel_size=kernel_size,
        parameterization=parameterization,
        activation=activation,
        padding=padding,
        c_res=c_res,
        trainable=trainable,
    ).ntk


def cnn_gram(
    X: np.ndarray | torch.Tensor,
    in_shape: Sequence[int] | int,
    depth: int,
    *,
    kernel_size: int = 3,
    activation: Activation | str = Activation.RELU,
    padding: str = "circular",
    c_res: float = 1.0,
) -> np.ndarray:
    """K^(H) of Du et al.'s convolutional ResNet [du-2019-deep, Section 7] (n, n): the limit of
    <df(x_i)/dW^(H), df(x_j)/dW^(H)>, the analogue of Definition 6.1
    (:func:`overparam.ntk.resnet_gram.du_resnet_gram`); lambda_min(K^(H)) via
    :func:`overparam.ntk.gram.lambda_min`. Arguments and errors as :func:`cnn_kernels`."""
    return cnn_kernels(
        X,
        in_shape,
        depth,
        kernel_size=kernel_size,
        parameterization=Parameterization.DU,
        activation=activation,
        padding=padding,
        c_res=c_res,
    ).gram
