"""Infinite-width NNGP and NTK of the fully connected networks of :mod:`overparam.models`.

One recursion serves every parameterization: it reads the :class:`LayerSpec` list that builds the
finite network, so the two cannot drift apart. With layer l computing
z_l = a_l W_l h_{l-1} + beta_l b_l, h_l = s_l sigma(z_l), W_l ~ N(0, std_l^2), b_l ~ N(0, bstd_l^2),
and h_0 = x, the m -> infinity limits are [jacot-2018, Proposition 1 and Theorem 1]:

    G_0(x, x')     = x^T x'                                   (input Gram)
    Sigma_l        = a_l^2 std_l^2 G_{l-1} + beta_l^2 bstd_l^2    (covariance of one unit of z_l)
    G_l            = n_l s_l^2 E[sigma(u) sigma(v)]             (= <h_l(x), h_l(x')>, n_l units)
    Sigmadot_l     = E[sigma'(u) sigma'(v)],   (u, v) ~ N(0, Sigma_l on {x, x'})
    NNGP           = Sigma_L                                    (covariance of f = z_L at init)
    T_l            = 1[l trained] (a_l^2 G_{l-1} + beta_l^2) + n_{l-1} s_{l-1}^2 a_l^2 std_l^2
                     Sigmadot_{l-1} T_{l-1}
    NTK            = T_L / kernel_scale(parameterization, m).

T_l is the tangent kernel of z_l restricted to the trained layers <= l: the gradient of z_l with
respect to W_l is a_l h_{l-1} (giving a_l^2 G_{l-1}), and back-propagation through layer l
multiplies by a_l^2 std_l^2 times the n_{l-1} s_{l-1}^2 Sigmadot_{l-1} of the layer below.

The layer specs are built at a nominal width of 1. Every scalar above is a power of m, and for
``ntk`` and ``du`` the covariances Sigma_l do not depend on m; for ``zou-gu``, ``allen-zhu`` and
``cao-gu`` (relu only) they do, but relu's kernel maps are positively homogeneous, so each NTK term
is c m^p exactly. The powers are read off the specs at widths 1 and 2: terms with p < 0 vanish in
the limit and are dropped (zou-gu's fixed-init output V when trained with "all"; the first layer
and the biases of ``standard``, whose Theta / m keeps only the weights with fan-in m). Hence the
result is the m -> infinity limit of ``overparam.ntk.empirical(model, X) / kernel_scale`` on the
same model, trained set and normalization, e.g. Cao & Gu's Theta^(L) = m^-1 E<grad f, grad f>
[cao-gu-2019, Definition 4.1].

For ``parameterization="ntk"`` with every layer trained this is exactly neural-tangents'
``stax.serial(Dense(m, W_std=weight_std, b_std=bias_std, parameterization='ntk'), Relu(), ...,
Dense(1, W_std=readout_std, b_std=bias_std))`` kernel [novak-2020], with ``depth`` Dense+activation
pairs before the readout:

    Sigma_1 = weight_std^2 x^T x' / d + bias_std^2,
    Sigma_l = weight_std^2 E[sigma sigma](Sigma_{l-1}) + bias_std^2   (readout: readout_std^2),
    Theta_l = Sigma_l + weight_std^2 Sigmadot_{l-1} Theta_{l-1}.

Relu uses the arc-cosine closed forms [cho-saul-2009, Section 2.1], erf the arcsine ones
[williams-1997]; other activations the FFT dual tables of :mod:`overparam.ntk.dual_tables`
(one table per layer for inputs of equal norm), or, with ``method="quadrature"``, the per-entry
polar Gauss rule of :mod:`overparam.ntk.expectations` they are tested against. The n x n2
entries are computed in tiles of rows and columns (each tile runs through all layers while it is
in cache; :mod:`overparam.ntk.recursion`) on ``threads`` threads, and for X2 = None only the
upper triangle is computed and mirrored.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from overparam.errors import ConfigError
from overparam.models.activations import Activation, parse_activation
from overparam.models.parameterization import Parameterization, parse_parameterization
from overparam.ntk.expectations import ExpectationMethod
from overparam.ntk.recursion import Plan, build_plan, default_threads, diagonal, fill


@dataclass(frozen=True, eq=False)
class Kernel:
    """Infinite-width kernels on (X, X2), float64.

    Attributes:
        nngp: (n, n2) covariance of the output f at initialization (the NNGP kernel).
        ntk: (n, n2) neural tangent kernel, divided by ``kernel_scale(parameterization, m)``.
    """

    nngp: np.ndarray
    ntk: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        """(n, n2)."""
        return self.ntk.shape

    def replace(self, **changes: Any) -> Kernel:
        """A copy with some fields replaced (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)


# ------------------------------------------------------------------------------------------------
# Inputs
# ------------------------------------------------------------------------------------------------


def _as_matrix(X: Any, name: str, d: int | None = None) -> np.ndarray:
    if isinstance(X, torch.Tensor):
        X = X.detach().to("cpu", torch.float64).numpy()
    try:
        arr = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(name, type(X).__name__, "a 2-D float array or tensor (n, d)") from None
    want = "(n, d)" if d is None else f"(n2, {d}) with X's d = {d}"
    if arr.ndim != 2 or (d is not None and arr.shape[1] != d):
        raise ConfigError(name, f"shape {arr.shape}", f"a 2-D array of shape {want}")
    if not np.isfinite(arr).all():
        raise ConfigError(name, "an array with NaN or inf", "finite entries")
    return np.ascontiguousarray(arr)


def _prepare(
    X: Any,
    X2: Any,
    depth: int,
    activation: Activation | str,
    parameterization: Parameterization | str,
    weight_std: float,
    bias_std: float,
    readout_std: float,
    trainable: str | Sequence[str] | None,
    method: ExpectationMethod | str,
) -> tuple[Plan, np.ndarray, np.ndarray | None]:
    A = _as_matrix(X, "X")
    B = None if X2 is None else _as_matrix(X2, "X2", A.shape[1])
    plan = build_plan(
        A.shape[1],
        depth,
        activation,
        parameterization,
        weight_std,
        bias_std,
        readout_std,
        trainable,
        method,
    )
    return plan, A, B


# ------------------------------------------------------------------------------------------------
# Public API
# ------------------------------------------------------------------------------------------------


def analytic(
    X: np.ndarray | torch.Tensor,
    X2: np.ndarray | torch.Tensor | None = None,
    *,
    depth: int,
    activation: Activation | str = Activation.RELU,
    parameterization: Parameterization | str = Parameterization.NTK,
    weight_std: float = 2**0.5,
    bias_std: float = 0.0,
    readout_std: float = 1.0,
    trainable: str | Sequence[str] | None = None,
    method: ExpectationMethod | str = ExpectationMethod.AUTO,
    threads: int | None = None,
) -> Kernel:
    """Infinite-width NNGP and NTK of a fully connected network [jacot-2018], [lee-2019].

    The recursion and its conventions are in the module docstring. For
    ``parameterization="ntk"`` with all layers trained (the default) the result equals
    neural-tangents' ``stax.serial(Dense(w, W_std=weight_std, b_std=bias_std,
    parameterization='ntk'), Relu(), ..., Dense(1, W_std=readout_std, b_std=bias_std))``
    [novak-2020]. For the seed papers' parameterizations it is
    lim_{m -> inf} empirical NTK / kernel_scale(parameterization, m) of
    ``FullyConnected(d, m, depth, 1, parameterization, activation, trainable)``, e.g. Zou & Gu's
    Theta / m with V fixed [zou-gu-2019, Algorithm 1] and Cao & Gu's
    Theta^(L) = m^-1 E<grad f, grad f> [cao-gu-2019, Definition 4.1].

    Args:
        X: (n, d) inputs (NumPy or torch; computed in float64).
        X2: (n2, d) second inputs, or None for X2 = X (then the kernels are exactly symmetric,
            only half of them is computed, and the diagonal uses rho = 1 exactly). Off the
            diagonal, pairs with rho within ~1e-16 of +-1 (repeated points) inherit arccos's
            conditioning: relu's kappa_0 = (pi - arccos rho) / pi is then good to ~1e-8.
        depth: the paper's L (H for du); for ntk the number of Dense + activation pairs before the
            readout (neural-tangents' hidden layers).
        activation: relu or erf (closed forms) or any :class:`Activation` (interpolated dual
            tables). allen-zhu, zou-gu and cao-gu take relu only.
        parameterization: ntk (default), du, zou-gu, allen-zhu, cao-gu or standard (whose
            NNGP is ntk's and whose NTK / m keeps only the weights with fan-in m).
        weight_std, bias_std, readout_std: sigma_w, sigma_b and the readout's sigma_w of the ntk
            parameterization; ignored by the seed papers', which need bias_std = 0.
        trainable: "all", "hidden", layer names (e.g. ["W1", "V"]) or None for the paper's
            default (see :func:`overparam.models.default_trainable`); the NTK sums over these.
        method: "auto" (closed form for relu and erf, else interpolation), "closed-form",
            "interpolation" or "quadrature" (:class:`ExpectationMethod`).
        threads: worker threads over tiles; None for ``torch.get_num_threads()``.

    Returns:
        :class:`Kernel` with nngp and ntk of shape (n, n2), float64.

    Raises:
        ConfigError: X not 2-D or not finite, X2 with another d, depth < 1 (< 2 for cao-gu),
            unknown activation / parameterization / method, a smooth activation with a
            relu-only paper, a nonzero bias_std with a seed paper, an unknown trainable layer.

    Example:
        >>> k = analytic(np.eye(2), depth=1)  # orthogonal unit inputs: Sigma_1 = 0 off-diagonal
        >>> round(float(k.nngp[0, 1]), 6), round(float(k.ntk[0, 1]), 6)  # both 1 / (2 pi)
        (0.159155, 0.159155)
    """
    plan, A, B = _prepare(
        X,
        X2,
        depth,
        activation,
        parameterization,
        weight_std,
        bias_std,
        readout_std,
        trainable,
        method,
    )
    symmetric = B is None
    B = A if B is None else B
    var_a, var_b, nngp_a, ntk_a, tables = _diagonals(plan, A, None if symmetric else B)
    nngp = np.empty((len(A), len(B)))
    ntk = np.empty((len(A), len(B)))
    fill(plan, A, B, var_a, var_b, nngp, ntk, symmetric, threads or default_threads(), tables)
    if symmetric:  # the exact rho = 1 values (arccos is ill-conditioned at 1)
        np.fill_diagonal(nngp, nngp_a)
        np.fill_diagonal(ntk, ntk_a)
    return Kernel(nngp=nngp, ntk=ntk)


def analytic_rows(
    X: np.ndarray | torch.Tensor,
    X2: np.ndarray | torch.Tensor | None = None,
    *,
    rows: int = 1024,
    depth: int,
    **kwargs: Any,
) -> Iterator[tuple[slice, Kernel]]:
    """:func:`analytic` one block of rows at a time, for kernels too large to hold.

    Yields ``(rows_slice, Kernel)`` with kernels of shape (len(rows_slice), n2) equal to
    ``analytic(X, X2, ...)[rows_slice]``; memory is O(rows * n2). Keyword arguments are
    :func:`analytic`'s.

    Raises:
        ConfigError: as :func:`analytic`, or rows < 1.
    """
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise ConfigError("rows", rows, "an integer >= 1")
    threads = kwargs.pop("threads", None) or default_threads()
    plan, A, B = _prepare(X, X2, depth, **_prepare_kwargs(kwargs))
    same = B is None
    B = A if B is None else B
    var_a, var_b, nngp_a, ntk_a, tables = _diagonals(plan, A, None if same else B)
    for start in range(0, len(A), rows):
        block = slice(start, min(start + rows, len(A)))
        nngp = np.empty((block.stop - start, len(B)))
        ntk = np.empty_like(nngp)
        var_block = [v[block] for v in var_a]
        fill(plan, A[block], B, var_block, var_b, nngp, ntk, False, threads, tables)
        if same:
            idx = np.arange(block.stop - start)
            nngp[idx, idx + start] = nngp_a[block]
            ntk[idx, idx + start] = ntk_a[block]
        yield block, Kernel(nngp=nngp, ntk=ntk)


def _diagonals(plan: Plan, A: np.ndarray, B: np.ndarray | None) -> tuple[Any, ...]:
    """Per-layer variances of A's and B's points (B None: A's twice), A's NNGP and NTK
    diagonals, and the dual tables covering both (interpolation; else None), from one
    recursion over the squared norms of both."""
    sq = np.einsum("ij,ij->i", A, A)
    if B is not None:
        sq = np.concatenate([sq, np.einsum("ij,ij->i", B, B)])
    tables: list[Any] | None = [] if plan.method is ExpectationMethod.INTERPOLATION else None
    var, nngp, ntk = diagonal(plan, sq, tables)
    n = len(A)
    var_a = [v[:n] for v in var]
    var_b = var_a if B is None else [v[n:] for v in var]
    return var_a, var_b, nngp[:n], ntk[:n], tables


def _prepare_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "activation": Activation.RELU,
        "parameterization": Parameterization.NTK,
        "weight_std": 2**0.5,
        "bias_std": 0.0,
        "readout_std": 1.0,
        "trainable": None,
        "method": ExpectationMethod.AUTO,
    }
    unknown = sorted(set(kwargs) - set(defaults))
    if unknown:
        raise ConfigError("keyword", unknown[0], ", ".join(["rows", "depth", "threads", *defaults]))
    return {**defaults, **kwargs}


# ------------------------------------------------------------------------------------------------
# Summary (what ``overparam kernel`` prints)
# ------------------------------------------------------------------------------------------------


def analytic_summary(
    *,
    n: int,
    d: int,
    depth: int,
    activation: Activation | str = Activation.RELU,
    parameterization: Parameterization | str = Parameterization.NTK,
    weight_std: float = 2**0.5,
    bias_std: float = 0.0,
    mu: float = 0.5,
    seed: int = 0,
) -> dict[str, Any]:
    """Time :func:`analytic` on ``sphere(n, d, mu=mu, seed=seed)`` and summarize its NTK.

    Returns:
        {"seconds", "shape", "trace", "lambda_min", "lambda_max", "parameterization",
        "activation", "depth"}; eigenvalues from :func:`overparam.ntk.gram.lambda_min` /
        ``lambda_max`` (float64 symmetric eigensolver).

    Raises:
        ConfigError: bad data or kernel arguments.
    """
    from overparam.data import sphere
    from overparam.errors import require_int, require_seed
    from overparam.ntk.gram import lambda_max, lambda_min

    for field, value in (("n", n), ("d", d), ("depth", depth)):
        require_int(field, value)
    require_seed("seed", seed)
    X = sphere(n, d, mu=mu, seed=seed).X
    start = time.perf_counter()
    k = analytic(
        X,
        depth=depth,
        activation=activation,
        parameterization=parameterization,
        weight_std=weight_std,
        bias_std=bias_std,
    )
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "shape": list(k.shape),
        "trace": float(np.trace(k.ntk)),
        "lambda_min": lambda_min(k.ntk),
        "lambda_max": lambda_max(k.ntk),
        "parameterization": str(parse_parameterization(parameterization)),
        "activation": str(parse_activation(activation)),
        "depth": depth,
    }
