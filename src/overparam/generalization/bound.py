"""The NTK generalization bound of Cao & Gu, computed stably from a Cholesky factor.

[cao-gu-2019, Corollary 3.10] (stated informally in Gu's talk slides as "Corollary (Cao and
Gu 2019, informal)"): with y = (y_1, ..., y_n)^T in {-1, +1}^n and
lambda_0 = lambda_min(Theta^(L)) > 0, for m >= Omega~(poly(L, n, lambda_0^-1)), with probability
at least 1 - delta over the initialization, the output W^ of Algorithm 2 (online SGD, see
:mod:`overparam.generalization.online`) satisfies

    E[L_D^{0-1}(W^)] <= O~( L * sqrt(y^T (Theta^(L))^-1 y / n) ) + O( sqrt(log(1/delta) / n) ).

:func:`ntk_bound` evaluates the right-hand side with the hidden constants made explicit,

    bound = c_ntk * L * sqrt(y^T (Theta^(L))^-1 y / n) + c_conf * sqrt(log(1/delta) / n),

both defaulting to 1. The symbols map to arguments as: L = ``depth`` (Cao & Gu's L, the number
of weight matrices, >= 2), n = rows of ``X``, delta = ``delta``, y = ``y``, and
Theta^(L) = m^-1 E<grad f(x_i), grad f(x_j)> at the Gaussian initialization of Algorithm 2, the
NTK matrix of the corollary. It comes from one of

* ``kernel="analytic"``: the m -> infinity limit, :func:`overparam.ntk.analytic.analytic` with
  ``parameterization="cao-gu"`` (which returns lim Theta / m);
* ``kernel="empirical"``: the empirical NTK of a network at initialization divided by
  ``kernel_scale("cao-gu", m) = m`` (a one-draw estimate of the expectation at the run's width);
* a precomputed (n, n) matrix or :class:`FactoredKernel`.

y^T Theta^-1 y is ||C^-1 y||^2 for the Cholesky factor Theta = C C^T; when Theta is not
numerically positive definite, jitter * mean(diag Theta) is added to the diagonal, trying the
relative jitters of ``JITTERS`` in order, and the jitter used is reported. There is never a
silent pseudo-inverse: if the largest jitter fails, a ConfigError says so.

The complexity y^T Theta^-1 y is the same quantity that drives the two-layer bound of
[arora-2019, Theorem 5.1], sqrt(2 y^T (H^inf)^-1 y / n).
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch

from overparam.errors import ConfigError

if TYPE_CHECKING:
    from overparam.models.base import SpecNetwork

# Default failure probability delta: the usual 95% confidence.
DEFAULT_DELTA = 0.05
# Relative jitters (times mean(diag Theta)) tried in order until the Cholesky factor exists;
# 0 first, so a well-conditioned kernel is factored exactly.
JITTERS = (0.0, 1e-12, 1e-10, 1e-8, 1e-6, 1e-4)

KERNELS = ("analytic", "empirical")


# ---------------------------------------------------------------------------------------------
# Factoring Theta
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FactoredKernel:
    """A Cholesky factor of Theta (+ jitter I), reusable across label vectors.

    Attributes:
        cholesky: (n, n) lower-triangular C with C C^T = Theta + jitter * I.
        jitter: the absolute value added to the diagonal (0.0 when none was needed).
        jitter_relative: jitter / mean(diag Theta).
        kind: where Theta came from: "analytic", "empirical" or "given".
        width: the network width m for an empirical kernel, else None.
    """

    cholesky: np.ndarray
    jitter: float
    jitter_relative: float
    kind: str = "given"
    width: int | None = None

    @property
    def n(self) -> int:
        return int(self.cholesky.shape[0])

    def quadratic(self, y: np.ndarray | torch.Tensor) -> float:
        """y^T (Theta + jitter I)^-1 y = ||C^-1 y||^2 for y of shape (n,) or (n, 1)."""
        from scipy.linalg import solve_triangular

        v = _as_labels(y, self.n)
        z = solve_triangular(self.cholesky, v, lower=True, check_finite=False)
        return float(z @ z)


def _as_matrix(theta: Any) -> np.ndarray:
    if isinstance(theta, torch.Tensor):
        theta = theta.detach().cpu().numpy()
    a = np.asarray(theta, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] < 1:
        raise ConfigError("theta", getattr(a, "shape", None), "a square (n, n) kernel matrix")
    if not np.all(np.isfinite(a)):
        raise ConfigError("theta", "non-finite entries", "a finite kernel matrix")
    return a


def _as_labels(y: Any, n: int) -> np.ndarray:
    if isinstance(y, torch.Tensor):
        y = y.detach().cpu().numpy()
    v = np.asarray(y, dtype=np.float64)
    if v.ndim == 2 and v.shape[1] == 1:
        v = v[:, 0]
    if v.shape != (n,):
        raise ConfigError("y", getattr(v, "shape", None), f"labels of shape ({n},) or ({n}, 1)")
    if not np.all(np.isfinite(v)):
        raise ConfigError("y", "non-finite entries", "finite labels (+-1 for the bound)")
    return v


def factor(theta: Any, *, kind: str = "given", width: int | None = None) -> FactoredKernel:
    """Cholesky-factor a symmetric PSD kernel matrix, adding the smallest jitter that works.

    Args:
        theta: (n, n) kernel matrix (NumPy or torch); it is symmetrized as (Theta + Theta^T) / 2.
        kind, width: recorded on the result.

    Returns:
        A :class:`FactoredKernel`; its ``jitter`` is 0.0 unless one was needed.

    Raises:
        ConfigError: theta is not square / finite, or not positive definite even with the
            largest jitter of ``JITTERS`` (then y^T Theta^-1 y is not meaningful).
    """
    a = _as_matrix(theta)
    a = 0.5 * (a + a.T)
    scale = float(np.mean(np.diag(a)))
    if not scale > 0:
        raise ConfigError("theta", f"mean diagonal {scale}", "a kernel with positive diagonal")
    for rel in JITTERS:
        jitter = rel * scale
        try:
            c = np.linalg.cholesky(a + jitter * np.eye(a.shape[0]) if jitter else a)
        except np.linalg.LinAlgError:
            continue
        return FactoredKernel(c, float(jitter), float(rel), kind, width)
    raise ConfigError(
        "theta",
        f"not positive definite even with jitter {JITTERS[-1]:g} * mean(diag)",
        "a positive definite NTK (distinct, non-parallel inputs; Cao & Gu assume "
        "lambda_0 = lambda_min(Theta^(L)) > 0)",
    )


# ---------------------------------------------------------------------------------------------
# Theta^(L): analytic and empirical
# ---------------------------------------------------------------------------------------------


def _inputs(X: Any) -> torch.Tensor:
    if isinstance(X, np.ndarray):
        X = torch.as_tensor(X)
    if not isinstance(X, torch.Tensor) or X.ndim != 2 or X.shape[0] < 1:
        raise ConfigError("X", getattr(X, "shape", type(X).__name__), "an (n, d) input matrix")
    return X.detach().to(torch.float64)


def _check_depth(depth: Any) -> int:
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 2:
        raise ConfigError("depth", depth, "Cao & Gu's L, an integer >= 2 (weight matrices)")
    return depth


def theta_analytic(X: Any, depth: int) -> np.ndarray:
    """lim_{m -> inf} m^-1 <grad f(x_i), grad f(x_j)> for the cao-gu network of depth L.

    Args:
        X: (n, d) inputs. depth: Cao & Gu's L (>= 2).

    Returns:
        (n, n) float64 Theta^(L) of [cao-gu-2019, Corollary 3.10], from
        :func:`overparam.ntk.analytic.analytic` (imported lazily).
    """
    from overparam.ntk.analytic import analytic

    L = _check_depth(depth)
    kernel = analytic(_inputs(X), depth=L, parameterization="cao-gu")
    ntk = kernel.ntk
    if isinstance(ntk, torch.Tensor):
        ntk = ntk.detach().cpu().numpy()
    return np.asarray(ntk, dtype=np.float64)


def theta_empirical(model: torch.nn.Module, X: Any) -> np.ndarray:
    """m^-1 <grad f_W0(x_i), grad f_W0(x_j)> of one network (its trained parameters), in float64.

    Args:
        model: a :class:`overparam.models.FullyConnected` (normally cao-gu, at initialization).
        X: (n, d) inputs.

    Returns:
        (n, n) empirical NTK divided by ``kernel_scale(parameterization, m)`` (= m for cao-gu),
        a one-draw estimate of Theta^(L) at the model's width.
    """
    from overparam.models.parameterization import kernel_scale
    from overparam.ntk import empirical

    width = getattr(model, "width", None)
    parameterization = getattr(model, "parameterization", None)
    if width is None or parameterization is None:
        raise ConfigError(
            "model", type(model).__name__, "an overparam.models.FullyConnected network"
        )
    net = copy.deepcopy(model).to(torch.float64)
    theta = empirical(net, _inputs(X).to(next(net.parameters()).device))
    return theta.detach().cpu().numpy() / kernel_scale(parameterization, width)


# ---------------------------------------------------------------------------------------------
# The bound
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NtkBound:
    """The evaluated bound of [cao-gu-2019, Corollary 3.10] (see the module docstring).

    Attributes:
        bound: ntk_term + confidence_term.
        ntk_term: c_ntk * L * sqrt(complexity / n).
        confidence_term: c_conf * sqrt(log(1/delta) / n).
        complexity: y^T (Theta^(L) + jitter I)^-1 y.
        n, depth, delta, c_ntk, c_conf: the paper's n, L, delta and the two constants.
        kernel: "analytic", "empirical" or "given". width: m of an empirical kernel.
        jitter, jitter_relative: absolute / relative diagonal jitter used (0.0: none).
    """

    bound: float
    ntk_term: float
    confidence_term: float
    complexity: float
    n: int
    depth: int
    delta: float
    c_ntk: float
    c_conf: float
    kernel: str
    width: int | None
    jitter: float
    jitter_relative: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_scalars(delta: float, c_ntk: float, c_conf: float) -> None:
    if not (isinstance(delta, float | int) and 0.0 < delta < 1.0):
        raise ConfigError("delta", delta, "a failure probability in (0, 1)")
    for field, value in (("c_ntk", c_ntk), ("c_conf", c_conf)):
        if not (isinstance(value, float | int) and math.isfinite(value) and value > 0):
            raise ConfigError(field, value, "a positive finite constant (default 1)")


def bound_terms(
    complexity: float,
    n: int,
    depth: int,
    delta: float = DEFAULT_DELTA,
    *,
    c_ntk: float = 1.0,
    c_conf: float = 1.0,
) -> tuple[float, float]:
    """(c_ntk L sqrt(q / n), c_conf sqrt(log(1/delta) / n)) for q = y^T Theta^-1 y
    [cao-gu-2019, Corollary 3.10]."""
    _check_depth(depth)
    if not (isinstance(n, int) and n >= 1):
        raise ConfigError("n", n, "an integer >= 1")
    _check_scalars(delta, c_ntk, c_conf)
    if not (math.isfinite(complexity) and complexity >= 0):
        raise ConfigError("complexity", complexity, "y^T Theta^-1 y, a finite number >= 0")
    return (
        float(c_ntk) * depth * math.sqrt(complexity / n),
        float(c_conf) * math.sqrt(math.log(1.0 / delta) / n),
    )


def ntk_bound(
    X: Any,
    y: Any,
    depth: int,
    delta: float = DEFAULT_DELTA,
    *,
    kernel: str | np.ndarray | torch.Tensor | FactoredKernel = "analytic",
    model: torch.nn.Module | None = None,
    c_ntk: float = 1.0,
    c_conf: float = 1.0,
) -> NtkBound:
    """L sqrt(y^T (Theta^(L))^-1 y / n) + sqrt(log(1/delta) / n) [cao-gu-2019, Corollary 3.10].

    Args:
        X: (n, d) training inputs x_i (unit norm in the paper).
        y: (n,) or (n, 1) labels y_i in {-1, +1}.
        depth: L, Cao & Gu's number of layers (weight matrices), >= 2.
        delta: failure probability in (0, 1).
        kernel: "analytic" (infinite width), "empirical" (needs ``model``: the network at
            initialization, whose Theta / m is used), an (n, n) Theta matrix, or a
            :class:`FactoredKernel` (reused across label vectors).
        model: the network for ``kernel="empirical"``.
        c_ntk, c_conf: the constants hidden in O~ and O (default 1).

    Returns:
        An :class:`NtkBound`; its ``jitter`` is non-zero when Theta needed one to factor.

    Raises:
        ConfigError: bad shapes, delta, depth or constants; an unknown kernel name; a kernel
            that is not positive definite even with the largest jitter.

    Example:
        >>> b = ntk_bound(X, y, depth=2)            # doctest: +SKIP
        >>> b.bound, b.complexity, b.jitter          # doctest: +SKIP
    """
    Xt = _inputs(X)
    n = int(Xt.shape[0])
    L = _check_depth(depth)
    v = _as_labels(y, n)
    _check_scalars(delta, c_ntk, c_conf)
    if isinstance(kernel, FactoredKernel):
        fk = kernel
    elif isinstance(kernel, str):
        if kernel == "analytic":
            fk = factor(theta_analytic(Xt, L), kind="analytic")
        elif kernel == "empirical":
            if model is None:
                raise ConfigError("model", None, "the network at initialization (kernel=empirical)")
            width = cast("SpecNetwork", model).width  # an overparam network: it has a width
            fk = factor(theta_empirical(model, Xt), kind="empirical", width=width)
        else:
            raise ConfigError("kernel", kernel, "analytic, empirical, an (n, n) matrix")
    else:
        fk = factor(kernel)
    if fk.n != n:
        raise ConfigError("kernel", f"{fk.n} x {fk.n}", f"an {n} x {n} kernel for n={n} inputs")
    q = fk.quadratic(v)
    ntk_term, conf_term = bound_terms(q, n, L, delta, c_ntk=c_ntk, c_conf=c_conf)
    return NtkBound(
        bound=ntk_term + conf_term,
        ntk_term=ntk_term,
        confidence_term=conf_term,
        complexity=q,
        n=n,
        depth=L,
        delta=float(delta),
        c_ntk=float(c_ntk),
        c_conf=float(c_conf),
        kernel=fk.kind,
        width=fk.width,
        jitter=fk.jitter,
        jitter_relative=fk.jitter_relative,
    )
