"""Bivariate Gaussian expectations of an activation: the building block of every kernel recursion.

For (u, v) ~ N(0, [[a, c], [c, b]]) the infinite-width recursions need

    E_sigma(a, b, c)  = E[sigma(u) sigma(v)],          Edot_sigma(a, b, c) = E[sigma'(u) sigma'(v)].

Three ways to compute them, one per :class:`ExpectationMethod`:

* ``closed-form`` (relu and erf). With rho = c / sqrt(a b) and psi = arccos(rho), the arc-cosine
  kernels of degree 1 and 0 [cho-saul-2009, Section 2.1] give

      E[relu(u) relu(v)]   = sqrt(a b) kappa_1(rho) / 2,  kappa_1 = (sin psi + (pi - psi) rho) / pi,
      E[relu'(u) relu'(v)] = kappa_0(rho) / 2,            kappa_0 = (pi - psi) / pi,

  the relu kernel map of [jacot-2018, Section 4] and neural-tangents' ``Relu`` [novak-2020].
  For erf [williams-1997], with d = (1 + 2a)(1 + 2b),

      E[erf(u) erf(v)] = (2 / pi) arcsin(2c / sqrt(d)),
      E[erf'(u) erf'(v)] = (4 / pi) / sqrt(d - 4c^2),

  the second from E[exp(-u^2 - v^2)] = det(I + 2 Sigma)^(-1/2); neural-tangents' ``Erf``.
* ``interpolation`` (any activation): FFT tables in the angle psi = arccos(rho) and quintic
  interpolation (:mod:`overparam.ntk.dual_tables`); about 1e-13 from the quadrature, at
  closed-form speed for inputs of equal norm.
* ``quadrature`` (any activation; the slow reference every fast path is tested against). In
  polar coordinates (z_1, z_2) = r (cos theta, sin theta),

      u = sqrt(a) r cos(theta),   v = sqrt(b) r cos(theta - psi),

  so E[f(u) g(v)] = (1 / 2 pi) int_0^pi dtheta int_0^inf r e^{-r^2/2} [F(r) + F(-r)] dr with
  F(r) = f(sqrt(a) r cos theta) g(sqrt(b) r cos(theta - psi)). The angular integral is
  Gauss-Legendre on the three pieces of [0, pi) cut where u = 0 or v = 0, so an activation whose
  only kink is at 0 (relu) is integrated to rounding error; the radial one is Gauss-Legendre on
  panels graded towards r = 0 (``_radial_rule``). |rho| -> 1 needs no sqrt(1 - rho^2), so there is
  no cancellation near cos = +-1.

Variances may be zero (a point mapped to 0): then rho is taken as 0, and sigma'(0) is relu's 0
(as torch), so the relu derivative kernel vanishes there.
"""

from __future__ import annotations

import math
from enum import StrEnum
from functools import cache

import numpy as np

from overparam.errors import ConfigError
from overparam.models.activations import (
    Activation,
    numpy_derivative,
    numpy_fn,
    parse_activation,
)

# Orders of the polar rule: Gauss-Legendre nodes per angular piece (3 pieces) and per radial
# panel (5 panels). Measured against a (40, 30) rule over relu and the five smooth activations:
# max error 3e-12 for relu, 1e-11 for variances <= 2, 5e-10 for <= 5, 6e-8 for <= 30.
QUADRATURE_ORDER = (16, 10)
# Radial panels end at r = 10, where the Gaussian weight r exp(-r^2/2) is 2e-21.
_R_MAX = 10.0
# Entries integrated at once: 256 entries x 2400 nodes x 8 bytes = 5 MB per temporary.
_CHUNK = 256


class ExpectationMethod(StrEnum):
    """How E[sigma(u) sigma(v)] is computed.

    ``auto`` picks ``closed-form`` for relu and erf and ``interpolation`` otherwise;
    ``closed-form`` is the arc-cosine (relu) or arcsine (erf) formula; ``interpolation`` the FFT
    tables of :mod:`overparam.ntk.dual_tables` (any activation); ``quadrature`` the polar Gauss
    rule per entry (any activation; the slow reference, ~1000x slower than the tables).
    """

    AUTO = "auto"
    CLOSED_FORM = "closed-form"
    INTERPOLATION = "interpolation"
    QUADRATURE = "quadrature"


#: Activations with closed-form dual maps.
CLOSED_FORMS = (Activation.RELU, Activation.ERF)


def resolve_method(method: ExpectationMethod | str, activation: Activation) -> ExpectationMethod:
    """``method`` as closed-form or quadrature for ``activation``; ConfigError if impossible."""
    try:
        m = ExpectationMethod(method)
    except ValueError:
        allowed = ", ".join(x.value for x in ExpectationMethod)
        raise ConfigError("method", method, allowed) from None
    if m is ExpectationMethod.AUTO:
        return (
            ExpectationMethod.CLOSED_FORM
            if activation in CLOSED_FORMS
            else ExpectationMethod.INTERPOLATION
        )
    if m is ExpectationMethod.CLOSED_FORM and activation not in CLOSED_FORMS:
        raise ConfigError(
            "method",
            m.value,
            f"interpolation, quadrature or auto for {activation.value} "
            "(closed form: relu and erf only)",
        )
    return m


# ------------------------------------------------------------------------------------------------
# Arc-cosine closed forms
# ------------------------------------------------------------------------------------------------


def arccos_kernels(rho: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalized arc-cosine kernels of degree 0 and 1 [cho-saul-2009, Section 2.1].

        kappa_0(rho) = (pi - psi) / pi,   kappa_1(rho) = (sin psi + (pi - psi) rho) / pi,
        psi = arccos(rho),

    so kappa_0(1) = kappa_1(1) = 1, and for variances a, b and correlation rho
    E[relu'(u) relu'(v)] = kappa_0 / 2 and E[relu(u) relu(v)] = sqrt(ab) kappa_1 / 2.

    Args:
        rho: correlations, any shape; clipped to [-1, 1] first.

    Returns:
        (kappa_0, kappa_1), each of rho's shape, float64.
    """
    rho = np.clip(np.asarray(rho, dtype=np.float64), -1.0, 1.0)
    psi = np.arccos(rho)
    sin = np.sqrt(np.maximum(1.0 - rho * rho, 0.0))
    k0 = (math.pi - psi) / math.pi
    k1 = (sin + (math.pi - psi) * rho) / math.pi
    return k0, k1


def _correlation(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, ...]:
    """(sqrt a, sqrt b, rho) with rho = c / sqrt(ab) clipped to [-1, 1], and 0 where ab = 0."""
    sa = np.sqrt(np.maximum(a, 0.0))
    sb = np.sqrt(np.maximum(b, 0.0))
    s = sa * sb
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.where(s > 0.0, c / np.where(s > 0.0, s, 1.0), 0.0)
    return sa, sb, np.clip(rho, -1.0, 1.0)


def relu_expectations(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(E[relu(u) relu(v)], E[relu'(u) relu'(v)]) for (u, v) ~ N(0, [[a, c], [c, b]]).

    Closed forms of [cho-saul-2009, Section 2.1] (see :func:`arccos_kernels`). Arguments broadcast.
    """
    a, b, c = (np.asarray(x, dtype=np.float64) for x in (a, b, c))
    sa, sb, rho = _correlation(a, b, c)
    k0, k1 = arccos_kernels(rho)
    alive = (sa > 0.0) & (sb > 0.0)
    return 0.5 * sa * sb * k1, np.where(alive, 0.5 * k0, 0.0)


def erf_expectations(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(E[erf(u) erf(v)], E[erf'(u) erf'(v)]) for (u, v) ~ N(0, [[a, c], [c, b]]) in closed form
    [williams-1997] (module docstring). Arguments broadcast."""
    a, b, c = (np.asarray(x, dtype=np.float64) for x in (a, b, c))
    d = (1.0 + 2.0 * a) * (1.0 + 2.0 * b)
    e = (2.0 / math.pi) * np.arcsin(np.clip(2.0 * c / np.sqrt(d), -1.0, 1.0))
    return e, (4.0 / math.pi) / np.sqrt(np.maximum(d - 4.0 * c * c, 0.0))


# ------------------------------------------------------------------------------------------------
# Polar Gauss quadrature (any activation)
# ------------------------------------------------------------------------------------------------


@cache
def _legendre(order: int) -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(order)


def _pieces(edges: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on consecutive pieces: edges (P, k+1) -> (P, k * order)."""
    x, w = _legendre(order)
    half = 0.5 * (edges[:, 1:] - edges[:, :-1])
    mid = 0.5 * (edges[:, 1:] + edges[:, :-1])
    nodes = mid[:, :, None] + half[:, :, None] * x
    weights = half[:, :, None] * w
    return nodes.reshape(len(edges), -1), weights.reshape(len(edges), -1)


def _angular_rule(psi: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    """Angles on [0, pi) cut at pi/2 (u = 0) and (psi + pi/2) mod pi (v = 0); weights / 2 pi."""
    cut = np.where(psi < 0.5 * math.pi, psi + 0.5 * math.pi, psi - 0.5 * math.pi)
    lo, hi = np.minimum(cut, 0.5 * math.pi), np.maximum(cut, 0.5 * math.pi)
    edges = np.stack([np.zeros_like(psi), lo, hi, np.full_like(psi, math.pi)], axis=1)
    theta, w = _pieces(edges, order)
    return theta, w / (2.0 * math.pi)


def _radial_rule(std_max: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    """Radii on [0, 10] with weights including r exp(-r^2/2); the panels [0, s], [s, sqrt(3s)],
    [sqrt(3s), 3], [3, 5], [5, 10] with s = pi / (2 std_max) in [1e-3, 1] resolve a saturating
    activation (tanh(u) turns at r ~ 1 / std_max; its poles are at distance pi / (2 std_max))."""
    s = np.clip(0.5 * math.pi / np.maximum(std_max, 1e-300), 1e-3, 1.0)
    full = np.ones_like(s)
    edges = np.stack([0.0 * full, s, np.sqrt(3.0 * s), 3.0 * full, 5.0 * full, _R_MAX * full], 1)
    r, w = _pieces(edges, order)
    return r, w * r * np.exp(-0.5 * r * r)


def _polar(
    act: Activation,
    sa: np.ndarray,
    sb: np.ndarray,
    rho: np.ndarray,
    order: tuple[int, int],
    derivative: bool,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The polar rule on flat arrays of std devs and correlations (one chunk)."""
    psi = np.arccos(rho)
    theta, w_theta = _angular_rule(psi, order[0])  # (P, T)
    r, w_r = _radial_rule(np.maximum(sa, sb), order[1])  # (P, R)
    u = (sa[:, None] * np.cos(theta))[:, :, None] * r[:, None, :]  # (P, T, R)
    v = (sb[:, None] * np.cos(theta - psi[:, None]))[:, :, None] * r[:, None, :]
    f = numpy_fn(act)
    e = np.einsum("ptr,pr,pt->p", f(u) * f(v) + f(-u) * f(-v), w_r, w_theta, optimize=True)
    if not derivative:
        return e, None
    df = numpy_derivative(act)
    edot = np.einsum("ptr,pr,pt->p", df(u) * df(v) + df(-u) * df(-v), w_r, w_theta, optimize=True)
    return e, edot


def quadrature_expectations(
    activation: Activation | str,
    a: np.ndarray,
    b: np.ndarray,
    c: np.ndarray,
    *,
    order: tuple[int, int] = QUADRATURE_ORDER,
    derivative: bool = True,
    rho: np.ndarray | float | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """(E[sigma(u) sigma(v)], E[sigma'(u) sigma'(v)]) by the polar Gauss rule (module docstring).

    Args:
        activation: any :class:`Activation`.
        a, b, c: Var u, Var v and Cov(u, v); broadcast together to a shape S.
        order: Legendre nodes per angular piece and per radial panel; an entry costs
            3 * 5 * order[0] * order[1] nodes, 4 activation calls each (8 with the derivative).
        derivative: also compute E[sigma' sigma'] (else None is returned for it).
        rho: the correlation where it is known more exactly than c / sqrt(ab) (1 on a diagonal).

    Returns:
        Two float64 arrays of shape S (the second None when ``derivative`` is False).
    """
    act = parse_activation(activation)
    a, b, c = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64) for x in (a, b, c)))
    shape = a.shape
    sa, sb, r = _correlation(a.ravel(), b.ravel(), c.ravel())
    if rho is not None:
        r = np.clip(np.broadcast_to(np.asarray(rho, np.float64), shape).ravel(), -1.0, 1.0)
    e = np.empty(sa.size)
    edot = np.empty(sa.size) if derivative else None
    for s in range(0, sa.size, _CHUNK):
        part = slice(s, s + _CHUNK)
        e[part], d = _polar(act, sa[part], sb[part], r[part], order, derivative)
        if edot is not None:
            edot[part] = d
    return e.reshape(shape), None if edot is None else edot.reshape(shape)


def gaussian_expectations(
    activation: Activation | str,
    a: np.ndarray,
    b: np.ndarray,
    c: np.ndarray,
    *,
    method: ExpectationMethod | str = ExpectationMethod.AUTO,
) -> tuple[np.ndarray, np.ndarray]:
    """(E[sigma(u) sigma(v)], E[sigma'(u) sigma'(v)]) for (u, v) ~ N(0, [[a, c], [c, b]]).

    The 2x2 covariance map of [du-2019-deep, Definition 5.1] and [jacot-2018, Theorem 1].

    Args:
        activation: one of :class:`Activation`.
        a, b, c: Var u, Var v and Cov(u, v), broadcast together.
        method: see :class:`ExpectationMethod`.

    Raises:
        ConfigError: unknown activation or method; closed-form asked for a smooth activation.
    """
    act = parse_activation(activation)
    resolved = resolve_method(method, act)
    if resolved is ExpectationMethod.CLOSED_FORM:
        return relu_expectations(a, b, c) if act is Activation.RELU else erf_expectations(a, b, c)
    if resolved is ExpectationMethod.INTERPOLATION:
        from overparam.ntk.dual_tables import interpolated_expectations

        return interpolated_expectations(act, a, b, c)
    e, edot = quadrature_expectations(act, a, b, c)
    assert edot is not None
    return e, edot
