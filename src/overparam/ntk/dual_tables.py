"""Dual maps of smooth activations at closed-form speed: FFT tables in the angle, interpolation.

For (u, v) ~ N(0, [[a, c], [c, b]]) write c = sqrt(ab) cos psi and, in polar coordinates,
u = sqrt(a) r cos(theta + psi), v = sqrt(b) r cos(theta). Then

    E[f(u) g(v)] = int_0^inf r e^{-r^2/2} C_r(psi) dr,
    C_r(psi)     = (1 / 2 pi) int_0^{2 pi} f(sqrt(a) r cos(theta + psi)) g(sqrt(b) r cos theta),

For fixed r, C_r is a circular cross-correlation in theta. On N equally spaced angles (the
trapezoid rule, which converges exponentially for these periodic analytic integrands) its values
at all N angles psi_k = 2 pi k / N are one FFT product, rfft(F) conj(rfft(G)); the radial integral
is the graded Gauss-Legendre rule of :mod:`overparam.ntk.expectations`. So one table of the dual
maps E[sigma(u) sigma(v)] and E[sigma'(u) sigma'(v)] [cho-saul-2009; daniely-2016] at every
psi_k costs a few FFTs, not one quadrature per entry.

Between table angles the maps are interpolated by the quintic through the six nearest angles
(:data:`DEGREE`). C_r is even and 2 pi-periodic in psi, so rho = cos psi = +-1 (psi = 0, pi) are
interior points of the table: no endpoint is special, and rho within 1e-6 of +-1 is as accurate
as rho = 0. Measured against the reference quadrature at order (48, 40) on random rho and rho
within 1e-7 .. 1e-1 of +-1, variances 0.1 .. 30, for softplus, sigmoid, tanh, gelu and swish:
table values 1e-15, interpolated values <= 3e-13 (tanh at variance 30), <= 2e-14 up to 5.

Unequal variances (inputs of different norms) use tables on a grid in log sqrt(a) and
log sqrt(b) of step :data:`STD_STEP`, interpolated by the quintic in each (36 tables per entry);
measured error <= 2e-12 at this step. Only equal-norm inputs (the papers' ||x_i|| = 1) give one
table per layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np

from overparam.models.activations import Activation, numpy_derivative, numpy_fn
from overparam.ntk.expectations import _radial_rule

#: Angles per table: psi_k = 2 pi k / TABLE_SIZE.
TABLE_SIZE = 4096
#: Degree of the interpolating polynomial, in the angle and in log std.
DEGREE = 5
#: Grid step in log std for unequal variances.
STD_STEP = 0.02
#: Legendre nodes per radial panel of the table's rule (5 panels).
RADIAL_ORDER = 16
#: Stds equal to this relative tolerance share one table.
EQUAL_RTOL = 1e-13
#: Most grid nodes per std axis (a std range of about e^(0.02 * 58) = 3.2x); wider ranges are
#: refused by :func:`build` (callers fall back to the reference quadrature).
MAX_GRID = 64

_LEFT = (DEGREE - 1) // 2  # stencil nodes left of the cell: k-2 .. k+3 for the quintic
_PAD = _LEFT + 1  # table entries kept beyond psi = 0 and psi = pi
_H = 2.0 * math.pi / TABLE_SIZE


@cache
def _lagrange_matrix() -> np.ndarray:
    """M with coefficients (c_0..c_D) = M @ values at the stencil nodes -2 .. 3, for the
    polynomial sum_p c_p t^p in the offset t in [0, 1) from the cell's left node."""
    nodes = np.arange(-_LEFT, DEGREE - _LEFT + 1, dtype=np.float64)
    return np.linalg.inv(np.vander(nodes, DEGREE + 1, increasing=True))


def _spectra(act: Activation, stds: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """rfft over the table angles of sigma(s r cos theta) and sigma'(s r cos theta): (K, R, N/2+1).

    cos theta_j = cos theta_{N-j}, so each activation is evaluated on half the angles and
    mirrored, and the transform of that even sequence is real (its imaginary part, rounding
    error, is dropped)."""
    half = TABLE_SIZE // 2
    cos = np.cos(_H * np.arange(half + 1))
    z = stds[:, None, None] * r[None, :, None] * cos[None, None, :]
    mirror = np.r_[np.arange(half + 1), np.arange(half - 1, 0, -1)]
    return tuple(  # type: ignore[return-value]
        np.fft.rfft(g(z)[..., mirror], axis=-1).real for g in (numpy_fn(act), numpy_derivative(act))
    )


def _rule(std_max: float) -> tuple[np.ndarray, np.ndarray]:
    r, w = _radial_rule(np.array([std_max]), RADIAL_ORDER)
    return r[0], w[0]


def pair_tables(act: Activation, stds: np.ndarray) -> np.ndarray:
    """E[sigma sigma] and E[sigma' sigma'] at psi_k for every pair of stds: (K, K, 2, L) with
    L = N/2 + 1 + 2 _PAD entries, psi from -_PAD h to pi + _PAD h (psi_{-k} = psi_k)."""
    stds = np.asarray(stds, dtype=np.float64)
    r, w = _rule(float(stds.max()))
    F, dF = _spectra(act, stds, r)
    half = TABLE_SIZE // 2
    idx = np.arange(-_PAD, half + 1 + _PAD) % TABLE_SIZE
    out = np.empty((len(stds), len(stds), 2, len(idx)))
    for which, S in enumerate((F, dF)):
        # spec[q, i, k] = sum_r w_r S[i, r, q] S[k, r, q]: one batched product over q
        Sq = np.ascontiguousarray(S.transpose(2, 0, 1))  # (Q, K, R)
        spec = np.matmul(Sq * w[None, None, :], Sq.transpose(0, 2, 1))
        full = np.fft.irfft(spec.transpose(1, 2, 0), n=TABLE_SIZE, axis=-1) / TABLE_SIZE
        out[:, :, which] = full[..., idx]
    return out


@dataclass(frozen=True)
class DualTable:
    """Dual maps of one activation on a set of variances, ready to evaluate at any correlation.

    Attributes:
        activation: sigma.
        log_std0: log std of the grid's first node (the std itself when ``equal``).
        size: grid nodes per std axis (1 when every variance is equal).
        values: (size, size, 2, L) tables of E[sigma sigma] and E[sigma' sigma'] in psi.
        coef: (2, DEGREE + 1, L) interpolation coefficients in psi (equal variances only).
    """

    activation: Activation
    log_std0: float
    size: int
    values: np.ndarray
    coef: np.ndarray | None

    @property
    def equal(self) -> bool:
        return self.size == 1


def build(act: Activation, variances: np.ndarray) -> DualTable | None:
    """The table covering ``variances`` (all > 0), or None when their std range needs more than
    :data:`MAX_GRID` grid nodes per axis."""
    std = np.sqrt(np.asarray(variances, dtype=np.float64))
    lo, hi = float(std.min()), float(std.max())
    if hi - lo <= EQUAL_RTOL * hi:
        values = pair_tables(act, np.array([hi]))
        # coef[f, p, k]: the quintic of the cell [psi_k, psi_{k+1}] (k >= 0 in table index _PAD+k)
        stencil = np.stack(
            [np.roll(values[0, 0], _LEFT - j, axis=-1) for j in range(DEGREE + 1)], axis=1
        )  # (2, D+1, L): stencil[f, j, k] = values[f, k - _LEFT + j]
        coef = np.einsum("pj,fjk->fpk", _lagrange_matrix(), stencil)
        return DualTable(act, math.log(hi), 1, values, coef)
    first = math.floor(math.log(lo) / STD_STEP) - _LEFT
    last = math.floor(math.log(hi) / STD_STEP) + DEGREE - _LEFT
    size = last - first + 1
    if size > MAX_GRID:
        return None
    nodes = np.exp(STD_STEP * np.arange(first, last + 1))
    return DualTable(act, STD_STEP * first, size, pair_tables(act, nodes), None)


def _angle_cells(rho: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Table index of each entry's cell and the offset t in [0, 1) from its left node."""
    x = np.clip(rho, -1.0, 1.0)
    np.arccos(x, out=x)
    x *= 1.0 / _H
    k = x.astype(np.intp)  # x >= 0: truncation is floor
    x -= k
    k += _PAD
    return k, x


def _lagrange_weights(t: np.ndarray) -> np.ndarray:
    """The DEGREE + 1 Lagrange weights at offsets t from the stencil nodes -2 .. 3."""
    nodes = np.arange(-_LEFT, DEGREE - _LEFT + 1, dtype=np.float64)
    weights = np.ones((DEGREE + 1, *t.shape))
    for j, nj in enumerate(nodes):
        for m, nm in enumerate(nodes):
            if m != j:
                weights[j] *= (t - nm) / (nj - nm)
    return weights


def _std_stencil(table: DualTable, var: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First grid node and the DEGREE + 1 Lagrange weights in log std of each variance."""
    x = (0.5 * np.log(var) - table.log_std0) / STD_STEP
    k = np.floor(x)
    return k.astype(np.intp) - _LEFT, _lagrange_weights(x - k)


def evaluate(
    table: DualTable, rho: np.ndarray, var_r: np.ndarray, var_c: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(E[sigma(u) sigma(v)], E[sigma'(u) sigma'(v)]) at correlations rho, with Var u = var_r and
    Var v = var_c (both > 0, covered by ``table``, broadcastable to rho's shape)."""
    k, t = _angle_cells(rho)
    if table.equal:
        assert table.coef is not None
        out = []
        for c in table.coef:
            acc = np.take(c[DEGREE], k, mode="clip")
            for p in range(DEGREE - 1, -1, -1):
                acc *= t
                acc += np.take(c[p], k, mode="clip")
            out.append(acc)
        return out[0], out[1]
    weights_t = _lagrange_weights(t)
    base_r, w_r = _std_stencil(table, np.asarray(var_r, dtype=np.float64))
    base_c, w_c = _std_stencil(table, np.asarray(var_c, dtype=np.float64))
    length = table.values.shape[-1]
    flat = table.values.reshape(-1)
    # views of the flat tables starting at each (function, stencil node): one index array per
    # std pair serves all 2 (DEGREE + 1) gathers
    views = [[flat[f * length + j :] for j in range(DEGREE + 1)] for f in range(2)]
    k -= _LEFT
    e, edot = np.zeros(rho.shape), np.zeros(rho.shape)
    idx, w, wj, val = (np.empty(rho.shape, dtype=np.intp), *(np.empty(rho.shape) for _ in "abc"))
    for a in range(DEGREE + 1):
        for b in range(DEGREE + 1):
            np.multiply(base_r + a, table.size, out=idx)
            idx += base_c + b
            idx *= 2 * length
            idx += k
            np.multiply(w_r[a], w_c[b], out=w)
            for j in range(DEGREE + 1):
                np.multiply(w, weights_t[j], out=wj)
                for f, acc in ((0, e), (1, edot)):
                    np.take(views[f][j], idx, out=val, mode="clip")
                    val *= wj
                    acc += val
    return e, edot


def _reference(
    act: Activation, a: np.ndarray, b: np.ndarray, c: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    from overparam.ntk.expectations import quadrature_expectations

    e, edot = quadrature_expectations(act, a, b, c)
    assert edot is not None
    return e, edot


def build_for(act: Activation, variances: np.ndarray) -> DualTable | None:
    """:func:`build` on the positive ``variances``; None when none is positive."""
    live = variances[variances > 0.0]
    return build(act, live) if live.size else None


def block_expectations(
    act: Activation,
    table: DualTable | None,
    S: np.ndarray,
    var_r: np.ndarray,
    var_c: np.ndarray,
    *,
    paired: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """The dual maps at covariances S: an (R, C) block with row variances var_r (R,) and column
    variances var_c (C,), or, with ``paired``, S, var_r and var_c of one shape (the diagonal:
    S = var_r = var_c gives rho = 1 exactly). Entries with a variance of 0 (rho undefined) and
    blocks no table covers (``table`` None) take the reference quadrature."""
    vr, vc = (var_r, var_c) if paired else (var_r[:, None], var_c[None, :])
    if table is None:
        return _reference(act, vr, vc, S)
    live_r, live_c = var_r > 0.0, var_c > 0.0
    if live_r.all() and live_c.all():
        if paired and S is var_r and S is var_c:
            rho = np.ones_like(S)
        else:
            rho = S / np.sqrt(vr)
            rho /= np.sqrt(vc)
        return evaluate(table, rho, vr, vc)
    e, edot = _reference(act, vr, vc, S)
    if paired:
        live = live_r & live_c
        if live.any():
            e[live], edot[live] = block_expectations(
                act, table, S[live], var_r[live], var_c[live], paired=True
            )
    elif live_r.any() and live_c.any():
        sub = np.ix_(live_r, live_c)
        e[sub], edot[sub] = block_expectations(act, table, S[sub], var_r[live_r], var_c[live_c])
    return e, edot


def interpolated_expectations(
    act: Activation, a: np.ndarray, b: np.ndarray, c: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(E[sigma(u) sigma(v)], E[sigma'(u) sigma'(v)]) for (u, v) ~ N(0, [[a, c], [c, b]]) from
    tables built for the variances given (arguments broadcast; entries with a variance of 0, or
    variances spanning more than :data:`MAX_GRID` grid nodes, take the reference quadrature)."""
    a, b, c = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64) for x in (a, b, c)))
    live = (a > 0.0) & (b > 0.0)
    table = build(act, np.concatenate([a[live], b[live]])) if live.any() else None
    if table is None:
        return _reference(act, a, b, c)
    e, edot = np.empty(a.shape), np.empty(a.shape)
    al, bl = a[live], b[live]
    rho = c[live] / np.sqrt(al * bl)
    e[live], edot[live] = evaluate(table, rho, al, bl)
    if not live.all():
        e[~live], edot[~live] = _reference(act, a[~live], b[~live], c[~live])
    return e, edot
