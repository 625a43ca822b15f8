"""The infinite-width recursion of :mod:`overparam.ntk.analytic`, driven by layer specs.

``build_plan`` turns a parameterization's :class:`LayerSpec` list into per-layer scalars (and
drops the NTK terms that vanish as m -> infinity); ``diagonal`` runs the recursion on the pairs
(x, x) with rho = 1 exactly; ``fill`` runs it on all pairs, tile by tile, on worker threads, with
the arc-cosine closed forms [cho-saul-2009, Section 2.1] for relu (in place, so a tile stays in
cache through all layers), erf's closed forms [williams-1997], the per-layer FFT tables of
:mod:`overparam.ntk.dual_tables` for other activations, or the reference quadrature of
:mod:`overparam.ntk.expectations` when asked for.
The equations are in :mod:`overparam.ntk.analytic`'s docstring.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from overparam.errors import ConfigError
from overparam.models.activations import Activation, parse_activation
from overparam.models.base import resolve_trainable
from overparam.models.parameterization import (
    LayerSpec,
    Parameterization,
    default_trainable,
    kernel_scale,
    layer_specs,
    parse_parameterization,
)
from overparam.ntk import dual_tables
from overparam.ntk.expectations import (
    ExpectationMethod,
    erf_expectations,
    quadrature_expectations,
    resolve_method,
)

# The recursion is evaluated on specs built at this width; overparam.ntk.analytic's docstring
# says why the result does not depend on it.
_NOMINAL_WIDTH = 1
# Tile edge for the relu closed form: 5 float64 work arrays of 192 x 192 (1.5 MB) stay in L2.
_RELU_TILE = 192
# Tile edge for quadrature (each entry costs ~2400 nodes; the tile only bounds output writes).
_QUADRATURE_TILE = 64
# Tile edge for the erf closed form and the interpolated dual maps (as relu's).
_TABLE_TILE = 192
_TWO_PI = 2.0 * math.pi
_RELU_ONLY = (Parameterization.ALLEN_ZHU, Parameterization.ZOU_GU, Parameterization.CAO_GU)


@dataclass(frozen=True)
class Layer:
    """The scalars of one layer that enter the recursion (see the module docstring)."""

    q: float  # a_l^2 std_l^2: Sigma_l = q G_{l-1} + r
    r: float  # beta_l^2 bstd_l^2 (0 without a bias)
    grad_w: float  # a_l^2: the weight-gradient factor of T_l
    grad_b: float  # beta_l^2 (0 without a bias)
    trained: bool
    back: float  # n_{l-1} s_{l-1}^2 a_l^2 std_l^2: T_l gets back * Sigmadot_{l-1} * T_{l-1}
    units: float  # n_l s_l^2: G_l = units * E[sigma sigma]
    activation: bool


@dataclass(frozen=True)
class Plan:
    """Everything the recursion needs: per-layer scalars, the activation, how its Gaussian
    expectations are computed, and kernel_scale at the nominal width."""

    layers: tuple[Layer, ...]
    activation: Activation
    method: ExpectationMethod
    scale: float


# ------------------------------------------------------------------------------------------------
# The plan
# ------------------------------------------------------------------------------------------------


def _nonnegative(name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(name, value, "a finite number >= 0") from None
    if not math.isfinite(v) or v < 0:
        raise ConfigError(name, value, "a finite number >= 0")
    return v


def build_plan(
    d: int,
    depth: int,
    activation: Activation | str,
    parameterization: Parameterization | str,
    weight_std: float,
    bias_std: float,
    readout_std: float,
    trainable: str | Sequence[str] | None,
    method: ExpectationMethod | str,
) -> Plan:
    """Validate the kernel arguments (see :func:`overparam.ntk.analytic.analytic`) and turn the
    layer specs of ``parameterization`` into a :class:`Plan`.

    Raises:
        ConfigError: on any bad argument, naming it.
    """
    p = parse_parameterization(parameterization)
    act = parse_activation(activation)
    if p in _RELU_ONLY and act is not Activation.RELU:
        raise ConfigError(
            "activation",
            act.value,
            f"relu for {p.value} (its proofs are for relu); smooth activations with du or ntk",
        )
    if isinstance(depth, bool) or not isinstance(depth, int | np.integer) or depth < 1:
        raise ConfigError("depth", depth, "an integer >= 1")
    w = _nonnegative("weight_std", weight_std)
    b = _nonnegative("bias_std", bias_std)
    r = _nonnegative("readout_std", readout_std)
    if p not in (Parameterization.NTK, Parameterization.STANDARD) and b != 0.0:
        raise ConfigError("bias_std", bias_std, f"0 for {p.value} (its paper has no bias)")
    specs, specs2 = (
        layer_specs(
            p,
            d,
            width,
            int(depth),
            1,
            activation=act,
            weight_std=w,
            bias_std=b if b != 0.0 else None,
            readout_std=r,
        )
        for width in (_NOMINAL_WIDTH, 2 * _NOMINAL_WIDTH)
    )
    trained = resolve_trainable(specs, trainable, default_trainable(p))
    layers = [
        _layer_scalars(s, prev, s.name in trained)
        for s, prev in zip(specs, [None, *specs[:-1]], strict=True)
    ]
    layers2 = [
        _layer_scalars(s, prev, True) for s, prev in zip(specs2, [None, *specs2[:-1]], strict=True)
    ]
    scale = kernel_scale(p, _NOMINAL_WIDTH)
    layers = _drop_vanishing(layers, layers2, scale, kernel_scale(p, 2 * _NOMINAL_WIDTH))
    return Plan(tuple(layers), act, resolve_method(method, act), scale)


def _layer_scalars(s: LayerSpec, prev: LayerSpec | None, trained: bool) -> Layer:
    q = (s.multiplier * s.std) ** 2
    prev_units = 0.0 if prev is None else prev.fan_out * prev.post_scale**2
    return Layer(
        q=q,
        r=(s.bias_multiplier * s.bias_std) ** 2 if s.bias else 0.0,
        grad_w=s.multiplier**2,
        grad_b=s.bias_multiplier**2 if s.bias else 0.0,
        trained=trained,
        back=prev_units * q,
        units=s.fan_out * s.post_scale**2,
        activation=s.activation,
    )


def _exponent(x1: float, x2: float) -> float:
    """The power p with x = c m^p, from x at widths m and 2m (0 for x = 0)."""
    if x1 == 0.0 or x2 == 0.0:
        return 0.0
    return round(2.0 * math.log2(x2 / x1)) / 2.0


def _drop_vanishing(
    layers: list[Layer], layers2: list[Layer], scale: float, scale2: float
) -> list[Layer]:
    """Zero the NTK terms whose share of NTK / kernel_scale vanishes as m -> infinity.

    Every scalar of the recursion is a power of m (for relu, whose kernel maps are positively
    homogeneous, so are the kernels). A term's power is that of grad_w G_{l-1} (or grad_b) times
    the back factors above it over kernel_scale; terms with a negative power vanish in the limit,
    e.g. the fixed-init output V of zou-gu trained with "all" (its term is O(1), the others O(m))
    or the first layer and the biases of ``standard``.
    """
    pairs = list(zip(layers, layers2, strict=True))
    e = {
        name: [_exponent(getattr(a, name), getattr(b, name)) for a, b in pairs]
        for name in ("q", "r", "grad_w", "grad_b", "back", "units")
    }
    e_scale = _exponent(scale, scale2)
    e_gram, e_grad_w = [], []
    g = 0.0
    for l, layer in enumerate(layers):
        e_gram.append(g)
        e_sigma = e["q"][l] + g
        if layer.r and e["r"][l] != e_sigma:
            raise RuntimeError("bias and weight variances scale differently with width")
        e_grad_w.append(e["grad_w"][l] + g)
        g = e["units"][l] + e_sigma
    if e_sigma != 0.0:
        raise RuntimeError("the output variance of this parameterization depends on width")
    out = []
    for l, layer in enumerate(layers):
        above = sum(e["back"][l + 1 :]) - e_scale
        keep_w, keep_b = e_grad_w[l] + above, e["grad_b"][l] + above
        if layer.trained and max(keep_w, keep_b if layer.grad_b else -1.0) > 0.0:
            raise RuntimeError("the NTK of this parameterization grows faster than kernel_scale")
        out.append(
            dataclasses.replace(
                layer,
                grad_w=layer.grad_w if keep_w == 0.0 else 0.0,
                grad_b=layer.grad_b if keep_b == 0.0 else 0.0,
            )
        )
    return out


# ------------------------------------------------------------------------------------------------
# The recursion: on the diagonal (exact rho = 1), on relu tiles (in place), on quadrature tiles
# ------------------------------------------------------------------------------------------------


def diagonal(
    plan: Plan, sq_norms: np.ndarray, tables: list[dual_tables.DualTable | None] | None = None
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Per-layer variances Sigma_l(x, x) (one (n,) array per activation layer), NNGP(x, x) and
    NTK(x, x) with rho = 1 exactly: E[relu^2] = Sigma / 2, E[relu'^2] = 1/2 [cho-saul-2009].

    For ``interpolation`` each layer's :class:`~overparam.ntk.dual_tables.DualTable` is built
    here from that layer's variances (and appended to ``tables`` for :func:`fill`), so the
    diagonal and the entries next to it come from the same table."""
    G = sq_norms
    T: np.ndarray | None = None
    edot: np.ndarray | None = None
    variances: list[np.ndarray] = []
    for layer in plan.layers:
        if T is not None:
            assert edot is not None  # T is set at a trained layer, edot by the same layer
            T = layer.back * edot * T
        if layer.trained:
            t = layer.grad_w * G + layer.grad_b
            T = t if T is None else T + t
        S = layer.q * G + layer.r
        if not layer.activation:
            return variances, S, _zeros_if_none(T, S) / plan.scale
        variances.append(S)
        if plan.method is ExpectationMethod.INTERPOLATION:
            table = dual_tables.build_for(plan.activation, S)
            if tables is not None:
                tables.append(table)
            e, edot = dual_tables.block_expectations(plan.activation, table, S, S, S, paired=True)
        elif plan.method is ExpectationMethod.QUADRATURE:
            e, edot = _diagonal_quadrature(plan.activation, S)
        elif plan.activation is Activation.RELU:
            e, edot = 0.5 * S, np.where(S > 0.0, 0.5, 0.0)
        else:
            e, edot = erf_expectations(S, S, S)
        G = layer.units * e
    raise AssertionError("the layer list ends with an output layer")


def _diagonal_quadrature(act: Activation, S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """E[sigma(u)^2] and E[sigma'(u)^2], u ~ N(0, S), by the reference quadrature at rho = 1,
    once per distinct variance (one for inputs of equal norm)."""
    values, inverse = np.unique(S, return_inverse=True)
    e, edot = quadrature_expectations(act, values, values, values, rho=1.0)
    assert edot is not None
    return e[inverse].reshape(S.shape), edot[inverse].reshape(S.shape)


def _zeros_if_none(T: np.ndarray | None, like: np.ndarray) -> np.ndarray:
    """T, or zeros when no trained term survives the limit (e.g. zou-gu trained on V only)."""
    return np.zeros_like(like) if T is None else T


def _relu_tile(
    plan: Plan, G: np.ndarray, var_r: list[np.ndarray], var_c: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """The recursion on one (R, C) tile with the arc-cosine closed forms, in place.

    Work arrays: G (G_{l-1}, then Sigma_l), P (rho, then pi kappa_1), Q (sin psi), A (pi - psi =
    pi kappa_0, i.e. 2 pi Sigmadot_l), T (T_l).
    """
    P, Q, A = np.empty_like(G), np.empty_like(G), np.empty_like(G)
    T: np.ndarray | None = None
    for k, layer in enumerate(plan.layers):
        if T is not None:  # T <- back * Sigmadot_{l-1} * T = back / (2 pi) * A * T
            T *= A
            T *= layer.back / _TWO_PI
        if layer.trained:
            if T is None:
                T = G * layer.grad_w
            elif layer.grad_w == 1.0:
                T += G
            elif layer.grad_w:
                np.multiply(G, layer.grad_w, out=P)
                T += P
            if layer.grad_b:
                T += layer.grad_b
        if layer.q != 1.0:
            G *= layer.q
        if layer.r:
            G += layer.r
        if not layer.activation:
            break
        std_r, std_c = np.sqrt(var_r[k]), np.sqrt(var_c[k])
        with np.errstate(divide="ignore"):
            inv_r = np.where(std_r > 0.0, 1.0 / std_r, 0.0)
            inv_c = np.where(std_c > 0.0, 1.0 / std_c, 0.0)
        np.multiply(G, inv_r[:, None], out=P)
        P *= inv_c[None, :]
        np.clip(P, -1.0, 1.0, out=P)  # rho
        np.arccos(P, out=A)
        np.subtract(math.pi, A, out=A)  # pi - psi
        np.multiply(P, P, out=Q)
        np.subtract(1.0, Q, out=Q)
        np.sqrt(Q, out=Q)  # sin psi
        P *= A
        P += Q  # sin psi + (pi - psi) cos psi = pi kappa_1
        # G_l = units * sqrt(ab) kappa_1 / 2
        np.multiply(P, (layer.units / _TWO_PI) * std_r[:, None], out=G)
        G *= std_c[None, :]
        if not (inv_r.all() and inv_c.all()):  # relu'(0) = 0 where a variance vanishes
            A *= (inv_r > 0.0)[:, None]
            A *= (inv_c > 0.0)[None, :]
    T = _zeros_if_none(T, G)
    T /= plan.scale
    return G, T


DualMaps = Callable[[int, np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def _dual_tile(
    plan: Plan,
    dual: DualMaps,
    G: np.ndarray,
    var_r: list[np.ndarray],
    var_c: list[np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """The same recursion as :func:`_relu_tile`, with ``dual(k, Sigma, var_r, var_c)`` giving
    the k-th activation layer's (E[sigma sigma], E[sigma' sigma']) on the tile; G is
    overwritten."""
    T: np.ndarray | None = None
    edot = np.zeros_like(G)
    for k, layer in enumerate(plan.layers):
        if T is not None:  # T <- back * Sigmadot_{l-1} * T
            T *= edot
            T *= layer.back
        if layer.trained:
            if T is None:
                T = G * layer.grad_w
            elif layer.grad_w:
                T += G if layer.grad_w == 1.0 else layer.grad_w * G
            if layer.grad_b:
                T += layer.grad_b
        if layer.q != 1.0:
            G *= layer.q
        if layer.r:
            G += layer.r
        if not layer.activation:
            break
        G, edot = dual(k, G, var_r[k], var_c[k])
        G *= layer.units
    T = _zeros_if_none(T, G)
    T /= plan.scale
    return G, T


def _dual_maps(
    plan: Plan,
    diag1: list[np.ndarray],
    diag2: list[np.ndarray],
    tables: list[dual_tables.DualTable | None] | None,
) -> DualMaps:
    """The per-layer dual maps of a smooth activation or of erf, for :func:`_dual_tile`.

    For ``interpolation``: one :class:`overparam.ntk.dual_tables.DualTable` per activation layer
    covering that layer's variances of both inputs (``tables`` from :func:`diagonal`, or built
    here when None)."""
    act = plan.activation
    if plan.method is ExpectationMethod.CLOSED_FORM:
        return lambda k, S, vr, vc: erf_expectations(vr[:, None], vc[None, :], S)
    if plan.method is ExpectationMethod.QUADRATURE:

        def quadrature(k: int, S: np.ndarray, vr: np.ndarray, vc: np.ndarray) -> Any:
            return quadrature_expectations(act, vr[:, None], vc[None, :], S)

        return quadrature
    if tables is None:
        tables = [
            dual_tables.build_for(act, np.concatenate([v1, v2]))
            for v1, v2 in zip(diag1, diag2, strict=True)
        ]
    layer_tables = tables
    return lambda k, S, vr, vc: dual_tables.block_expectations(act, layer_tables[k], S, vr, vc)


# ------------------------------------------------------------------------------------------------
# Tiling and threads
# ------------------------------------------------------------------------------------------------


def default_threads() -> int:
    """torch's intra-op thread count (honours OMP_NUM_THREADS / torch.set_num_threads)."""
    return max(1, min(torch.get_num_threads(), os.cpu_count() or 1))


def fill(
    plan: Plan,
    X: np.ndarray,
    X2: np.ndarray,
    diag1: list[np.ndarray],
    diag2: list[np.ndarray],
    nngp: np.ndarray,
    ntk: np.ndarray,
    symmetric: bool,
    threads: int,
    tables: list[dual_tables.DualTable | None] | None = None,
) -> None:
    """Write the kernels of all rows of X against X2 into nngp / ntk (both (len(X), len(X2))).

    ``tables``: the per-layer dual tables :func:`diagonal` built for these variances (else they
    are built here)."""
    if plan.method is ExpectationMethod.CLOSED_FORM and plan.activation is Activation.RELU:
        tile, run = _RELU_TILE, _relu_tile
    else:
        dual = _dual_maps(plan, diag1, diag2, tables)
        tile = _QUADRATURE_TILE if plan.method is ExpectationMethod.QUADRATURE else _TABLE_TILE

        def run(
            plan: Plan, G: np.ndarray, var_r: list[np.ndarray], var_c: list[np.ndarray]
        ) -> tuple[np.ndarray, np.ndarray]:
            return _dual_tile(plan, dual, G, var_r, var_c)

    n, n2 = len(X), len(X2)
    jobs = [(i, j) for i in range(0, n, tile) for j in range(i if symmetric else 0, n2, tile)]

    def work(job: tuple[int, int]) -> None:
        i, j = job
        ri, cj = slice(i, min(i + tile, n)), slice(j, min(j + tile, n2))
        G0 = X[ri] @ X2[cj].T
        S, T = run(plan, G0, [v[ri] for v in diag1], [v[cj] for v in diag2])
        nngp[ri, cj], ntk[ri, cj] = S, T
        if symmetric and i != j:
            nngp[cj, ri], ntk[cj, ri] = S.T, T.T
        elif symmetric:  # diagonal tile: mirror its upper triangle
            low = np.tril_indices(S.shape[0], -1)
            nngp[ri, cj][low] = S.T[low]
            ntk[ri, cj][low] = T.T[low]

    with _single_threaded_blas():
        if threads <= 1 or len(jobs) == 1:
            for job in jobs:
                work(job)
        else:
            with ThreadPoolExecutor(max_workers=threads) as pool:
                list(pool.map(work, jobs))


def _single_threaded_blas() -> AbstractContextManager[object]:
    """One BLAS thread while the tiles run: each tile's X_r X_c^T is small, and OpenBLAS's
    spinning workers otherwise compete with the tile threads (measured: 4x slower at n = 2000).
    threadpoolctl comes with scikit-learn; without it BLAS is left as it is."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn requires threadpoolctl
        return nullcontext()
    return threadpool_limits(1, user_api="blas")
