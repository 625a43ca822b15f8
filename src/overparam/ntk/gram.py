"""The Gram matrices of the seed papers' convergence theorems and their smallest eigenvalues.

* :func:`h_infinity`: the two-layer relu Gram H^infinity of [du-2019-two-layer, Section 3] and
  [zou-gu-2019, Proposition 3.6],
  H_ij = E_{w ~ N(0, I)}[x_i^T x_j 1{w^T x_i >= 0, w^T x_j >= 0}]
       = x_i^T x_j (pi - arccos x_i^T x_j) / (2 pi)   (unit-norm x).
* :func:`du_gram`: K^(H) of [du-2019-deep, Definition 5.1], for any activation.
* :func:`lambda_min`, :func:`lambda_max`: symmetric float64 eigensolver (LAPACK ``syevr`` on
  one end of the spectrum).
* :func:`separation_check`: lambda_0 = lambda_min(H^infinity), phi = min_{i != j} ||x_i - x_j||
  and the ratio lambda_0 n^2 / phi that [zou-gu-2019, Proposition 3.6] bounds below by a constant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg
import torch
from scipy.spatial.distance import cdist

from overparam.errors import ConfigError
from overparam.models.activations import Activation, c_sigma, parse_activation
from overparam.ntk.expectations import arccos_kernels, gaussian_expectations


def _matrix(X: Any, name: str) -> np.ndarray:
    if isinstance(X, torch.Tensor):
        X = X.detach().to("cpu", torch.float64).numpy()
    try:
        arr = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(name, type(X).__name__, "a 2-D float array or tensor") from None
    if arr.ndim != 2:
        raise ConfigError(name, f"shape {arr.shape}", "a 2-D array")
    if not np.isfinite(arr).all():
        raise ConfigError(name, "an array with NaN or inf", "finite entries")
    return arr


def _gram_and_cosines(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x_i^T x_j and the clipped cosines x_i^T x_j / (||x_i|| ||x_j||) (1 on the diagonal)."""
    G = X @ X.T
    norms = np.sqrt(np.einsum("ij,ij->i", X, X))
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(norms > 0.0, 1.0 / norms, 0.0)
    cos = np.clip(G * inv[:, None] * inv[None, :], -1.0, 1.0)
    np.fill_diagonal(cos, np.where(norms > 0.0, 1.0, 0.0))
    return G, cos


def h_infinity(X: np.ndarray | torch.Tensor) -> np.ndarray:
    """The two-layer relu Gram matrix [du-2019-two-layer, Section 3], [zou-gu-2019, Prop. 3.6].

        H_ij = E_{w ~ N(0, I_d)}[x_i^T x_j sigma'(w^T x_i) sigma'(w^T x_j)]
             = x_i^T x_j (pi - arccos(cos theta_ij)) / (2 pi),
        cos theta_ij = x_i^T x_j / (|x_i| |x_j|),

    which is x_i^T x_j (pi - arccos x_i^T x_j) / (2 pi) on unit-norm inputs (Assumption 3.1).
    It is the infinite-width NTK of f = V relu(W x) with W trained and V fixed, divided by m:
    ``analytic(X, depth=1, parameterization="zou-gu").ntk``.

    Args:
        X: (n, d) inputs, the paper's x_1..x_n.

    Returns:
        (n, n) float64, symmetric positive semi-definite.

    Raises:
        ConfigError: X not a finite 2-D array.
    """
    X = _matrix(X, "X")
    G, cos = _gram_and_cosines(X)
    k0, _ = arccos_kernels(cos)
    H = 0.5 * G * k0
    return 0.5 * (H + H.T)


def du_gram(
    X: np.ndarray | torch.Tensor, *, depth: int, activation: Activation | str = Activation.RELU
) -> np.ndarray:
    """K^(H) of [du-2019-deep, Definition 5.1 / eq. (7)], for any activation.

        K^(0)_ij = <x_i, x_j>,
        A^(h)_ij = [[K^(h-1)_ii, K^(h-1)_ij], [K^(h-1)_ji, K^(h-1)_jj]],
        K^(h)_ij = c_sigma E_{(u, v) ~ N(0, A^(h)_ij)}[sigma(u) sigma(v)],      h = 1..H-1,
        K^(H)_ij = c_sigma K^(H-1)_ij E_{(u, v) ~ N(0, A^(H)_ij)}[sigma'(u) sigma'(v)],

    with c_sigma = 1 / E_{z ~ N(0,1)}[sigma(z)^2] (:func:`overparam.models.c_sigma`). The last
    expectation is over the covariance of the layer-H pre-activations W^(H) x^(H-1), i.e.
    A^(H) built from K^(H-1): K^(H) is then the m -> infinity limit of the Gram of the gradients
    with respect to W^(H) of the network x^(h) = sqrt(c_sigma / m) sigma(W^(h) x^(h-1)),
    f = a^T x^(H) (du-2019-deep, Section 5), which is ``analytic(X, depth=H,
    parameterization="du", trainable=[f"W{H}"]).ntk``. (The slides' and paper's eq. (7) print
    A^(H-1), which is undefined for H = 1.) For H = 1 and relu, K^(1) = c_sigma H^infinity =
    2 H^infinity of :func:`h_infinity`.

    Args:
        X: (n, d) inputs (the paper assumes unit norm).
        depth: H >= 1, the number of hidden layers.
        activation: sigma; relu uses the arc-cosine closed forms [cho-saul-2009], the others
            the polar Gauss rule of :mod:`overparam.ntk.expectations`.

    Returns:
        (n, n) float64, symmetric.

    Raises:
        ConfigError: X not a finite 2-D array, depth < 1, unknown activation.
    """
    X = _matrix(X, "X")
    act = parse_activation(activation)
    if isinstance(depth, bool) or not isinstance(depth, int | np.integer) or depth < 1:
        raise ConfigError("depth", depth, "an integer >= 1")
    c = c_sigma(act)
    K = X @ X.T
    K = 0.5 * (K + K.T)
    iu = np.triu_indices(len(X))  # the 2x2 blocks A_ij for i <= j, then mirrored

    def expectations(K: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        diag = np.diag(K)
        e, edot = gaussian_expectations(act, diag[iu[0]], diag[iu[1]], K[iu])
        on = iu[0] == iu[1]  # rho = 1 exactly on the diagonal
        if act is Activation.RELU:
            e[on], edot[on] = 0.5 * diag, np.where(diag > 0.0, 0.5, 0.0)
        return _symmetric(e, iu, len(K)), _symmetric(edot, iu, len(K))

    for _ in range(1, depth):
        K = c * expectations(K)[0]
    return c * K * expectations(K)[1]


def _symmetric(values: np.ndarray, iu: tuple[np.ndarray, np.ndarray], n: int) -> np.ndarray:
    out = np.empty((n, n))
    out[iu] = values
    out[iu[1], iu[0]] = values
    return out


def _symmetric_matrix(K: Any) -> np.ndarray:
    K = _matrix(K, "K")
    if K.shape[0] != K.shape[1] or K.shape[0] == 0:
        raise ConfigError("K", f"shape {K.shape}", "a square (n, n) matrix with n >= 1")
    scale = max(float(np.abs(K).max()), 1e-300)
    if float(np.abs(K - K.T).max()) > 1e-10 * scale:
        raise ConfigError("K", "a non-symmetric matrix", "a symmetric kernel matrix (K = K^T)")
    return K


def lambda_min(K: np.ndarray | torch.Tensor) -> float:
    """Smallest eigenvalue of a symmetric matrix in float64 (lambda_0 of [du-2019-two-layer,
    Assumption 3.1], lambda_min(K^(H)) of [du-2019-deep, Theorem 5.1]).

    Args:
        K: (n, n) symmetric (to 1e-10 relative); its lower triangle is used.

    Raises:
        ConfigError: K not square, not finite or not symmetric.
    """
    K = _symmetric_matrix(K)
    return float(scipy.linalg.eigh(K, eigvals_only=True, subset_by_index=[0, 0])[0])


def lambda_max(K: np.ndarray | torch.Tensor) -> float:
    """Largest eigenvalue of a symmetric matrix in float64 (as :func:`lambda_min`)."""
    K = _symmetric_matrix(K)
    n = K.shape[0]
    return float(scipy.linalg.eigh(K, eigvals_only=True, subset_by_index=[n - 1, n - 1])[0])


@dataclass(frozen=True)
class SeparationCheck:
    """[zou-gu-2019, Proposition 3.6]: under Assumption 3.1, lambda_0 >= C phi / n^2.

    Attributes:
        n: number of points.
        lambda_0: lambda_min(H^infinity) (:func:`h_infinity`).
        phi: min_{i != j} ||x_i - x_j|| (Assumption 3.2).
        ratio: lambda_0 n^2 / phi, the measured constant C; NaN when phi = 0 (repeated points).
        max_norm_error: max_i | ||x_i|| - 1 |, how far X is from Assumption 3.1.
    """

    n: int
    lambda_0: float
    phi: float
    ratio: float
    max_norm_error: float


def min_distance(X: np.ndarray | torch.Tensor, block: int = 1024) -> float:
    """phi = min_{i != j} ||x_i - x_j||_2 [zou-gu-2019, Assumption 3.2], from explicit
    differences (``scipy.spatial.distance.cdist``, no |x|^2 + |y|^2 - 2 x.y cancellation), in row
    blocks of ``block`` x n distances; inf for fewer than two points."""
    X = _matrix(X, "X")
    n = len(X)
    best = math.inf
    for s in range(0, n - 1, block):
        d2 = cdist(X[s : s + block], X[s:], "sqeuclidean")
        rows = np.arange(len(d2))
        d2[:, : len(d2)][rows[:, None] >= rows[None, :]] = np.inf  # j <= i within the block
        best = min(best, float(d2.min()))
    return math.sqrt(best)


def separation_check(X: np.ndarray | torch.Tensor) -> SeparationCheck:
    """lambda_0 = lambda_min(H^infinity), phi and lambda_0 n^2 / phi [zou-gu-2019, Prop. 3.6].

    Args:
        X: (n, d) inputs, n >= 2, ideally unit-norm (Assumption 3.1; the deviation is reported).

    Returns:
        :class:`SeparationCheck`.

    Raises:
        ConfigError: X not a finite 2-D array with at least two rows.
    """
    X = _matrix(X, "X")
    n = len(X)
    if n < 2:
        raise ConfigError("X", f"shape {X.shape}", "at least two points (n >= 2)")
    lam = lambda_min(h_infinity(X))
    phi = min_distance(X)
    ratio = lam * n * n / phi if phi > 0.0 else math.nan
    norm_err = float(np.abs(np.sqrt(np.einsum("ij,ij->i", X, X)) - 1.0).max())
    return SeparationCheck(n=n, lambda_0=lam, phi=phi, ratio=ratio, max_norm_error=norm_err)
