"""The neural tangent random feature (NTRF) class and its best fit under logistic loss.

[cao-gu-2019, Definition 3.1] ("Definition (Neural Tangent Random Feature)" in Gu's talk
slides): for the Gaussian initialization W_0 of Algorithm 2,

    F(W_0, R) = { f_W0(.) + <grad_W f_W0(.), W> : ||W_l||_F <= R m^(-1/2), l = 1..L }.

[cao-gu-2019, Theorem 3.3]: the network trained by Algorithm 2 competes with the best of them,

    E[L_D^{0-1}(W^)] <= inf_{f in F(W_0, R)} (4/n) sum_i log(1 + exp(-y_i f(x_i)))
                        + O( L R / sqrt(n) + sqrt(log(1/delta) / n) ).

:func:`ntrf_fit` solves the convex problem inside the infimum,

    min_W  (1/n) sum_i log(1 + exp(-y_i (f_W0(x_i) + sum_l <G_l[i], W_l>)))
    s.t.   ||W_l||_F <= R / sqrt(m)  for every trained layer l,

where G_l[i] = d f_W0(x_i) / d W_l. The loss sees W_l only through G_l W_l, so (projecting W_l
onto the row space of G_l keeps the loss and shrinks the norm) an optimum has the form
W_l = Q_l b_l with G_l = U_l S_l^(1/2) Q_l^T the thin SVD. With K_l = G_l G_l^T = U_l S_l U_l^T,
the per-layer empirical NTK, the problem is exactly

    min_b  (1/n) sum_i log(1 + exp(-y_i (f_W0(x_i) + sum_l (Phi_l b_l)_i)))   s.t. ||b_l|| <= R,

with the n x r_l features Phi_l = U_l (S_l / m)^(1/2). So the P-dimensional features are only
touched through their per-layer Gram matrices, which :func:`overparam.ntk.empirical` assembles in
blocks (never an n x P Jacobian); memory is O(n^2 L). Eigenvalues below ``EIG_RTOL`` times the
largest are dropped (directions the features do not reach to rounding error).

The reduced problem is solved by the spectral projected gradient method (Birgin, Martinez &
Raydan 2000: Barzilai-Borwein steps, projection onto the balls, a non-monotone Armijo search;
first step 1/Lip with Lip = lambda_max(sum_l K_l / m) / (4 n), the logistic loss having
curvature <= 1/4), and stopped when the Frank-Wolfe gap

    gap(b) = <grad h(b), b> + R sum_l ||grad_l h(b)||  >=  h(b) - min h

is below ``tol``: the reported loss is within ``gap`` of the optimum (a certificate, not a
heuristic).
"""

from __future__ import annotations

import copy
import itertools
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
from torch.func import functional_call, vjp

from overparam.errors import ConfigError

if TYPE_CHECKING:
    from overparam.models.base import SpecNetwork

# Default certified tolerance on the loss (Frank-Wolfe gap).
DEFAULT_TOL = 1e-6
# Iteration cap of the projected-gradient solver.
DEFAULT_MAX_ITER = 20_000
# Eigenvalues of K_l / m below this fraction of the largest are treated as zero.
EIG_RTOL = 1e-12
# Memory for the per-layer n x n kernels and features (bytes).
DEFAULT_MAX_MEMORY = 2 * 2**30
# Non-monotone line search of the spectral projected gradient: memory and Armijo constant.
_NONMONOTONE = 10
_ARMIJO = 1e-4


# ---------------------------------------------------------------------------------------------
# Features
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NtrfFeatures:
    """The NTRF features of a network at initialization on n inputs, in reduced form.

    Attributes:
        f0: (n,) f_W0(x_i).
        phi: {layer: (n, r_l) Phi_l = U_l (S_l / m)^(1/2)}: Phi_l Phi_l^T = K_l / m.
        basis: {layer: (n, r_l) U_l / (m sqrt(S_l / m))}: the coefficients alpha with
            W_l = G_l^T alpha map b_l to alpha_l = basis_l @ b_l.
        width: m. lipschitz: the smoothness constant of the mean logistic loss in b.
    """

    f0: np.ndarray
    phi: dict[str, np.ndarray]
    basis: dict[str, np.ndarray]
    width: int
    lipschitz: float

    @property
    def n(self) -> int:
        return int(self.f0.shape[0])


def _network(model: torch.nn.Module) -> tuple[SpecNetwork, int]:
    width = getattr(model, "width", None)
    if width is None or not hasattr(model, "trainable_parameters"):
        raise ConfigError(
            "model_at_init", type(model).__name__, "an overparam.models.FullyConnected"
        )
    if getattr(model, "out", 1) != 1:
        raise ConfigError("model_at_init", f"out={model.out}", "a network with one output")
    net = copy.deepcopy(model).to(torch.float64)
    return cast("SpecNetwork", net), int(width)  # checked above: it has the SpecNetwork API


def _inputs(X: Any, net: torch.nn.Module) -> torch.Tensor:
    if isinstance(X, np.ndarray):
        X = torch.as_tensor(X)
    if not isinstance(X, torch.Tensor) or X.ndim != 2 or X.shape[0] < 1:
        raise ConfigError("X", getattr(X, "shape", type(X).__name__), "an (n, d) input matrix")
    return X.detach().to(dtype=torch.float64, device=next(net.parameters()).device)


def ntrf_features(
    model_at_init: torch.nn.Module, X: Any, *, max_memory: int | None = None
) -> NtrfFeatures:
    """Reduced NTRF features of ``model_at_init`` on X (see the module docstring).

    Args:
        model_at_init: a one-output :class:`overparam.models.FullyConnected` at W_0; its trained
            layers are the l of F(W_0, R) (all of them for cao-gu).
        X: (n, d) inputs.
        max_memory: bytes allowed for the n x n per-layer kernels and their factors.

    Raises:
        ConfigError: not a one-output overparam network; n^2 L too large for ``max_memory``.
    """
    from overparam.ntk import empirical

    net, m = _network(model_at_init)
    Xt = _inputs(X, net)
    n = int(Xt.shape[0])
    layers = sorted(net.trained, key=[s.name for s in net.specs].index)
    budget = max_memory or DEFAULT_MAX_MEMORY
    need = 8 * n * n * (3 * len(layers) + 2)
    if need > budget:
        raise ConfigError(
            "X",
            f"n={n} with {len(layers)} trained layers ({need / 2**30:.2f} GiB)",
            f"n small enough for max_memory={budget / 2**30:.2f} GiB (n^2 L doubles)",
        )
    with torch.no_grad():
        f0 = net(Xt)[:, 0].cpu().numpy()
    _, parts = empirical(net, Xt, per_layer=True, max_memory=budget)
    phi, basis = {}, {}
    total = np.zeros((n, n))
    for name in layers:
        k = parts[name].detach().cpu().numpy() / m
        k = 0.5 * (k + k.T)
        total += k
        w, u = np.linalg.eigh(k)
        keep = w > EIG_RTOL * max(float(w[-1]), 0.0)
        if not keep.any():
            continue
        w, u = w[keep], u[:, keep]
        root = np.sqrt(w)
        phi[name] = u * root
        basis[name] = u / (m * root)
    lam_max = float(np.linalg.eigvalsh(total)[-1]) if n > 1 else float(total[0, 0])
    return NtrfFeatures(f0, phi, basis, m, max(lam_max, 1e-300) / (4.0 * n))


# ---------------------------------------------------------------------------------------------
# The convex problem
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NtrfFit:
    """The best NTRF function found by :func:`ntrf_fit`.

    Attributes:
        loss: (1/n) sum_i log(1 + exp(-y_i f(x_i))) at the solution: the NTRF training loss of
            [cao-gu-2019, Theorem 3.3] (the theorem's term is 4 * loss).
        gap: Frank-Wolfe gap at the solution: loss - optimum <= gap.
        tol: the requested tolerance on ``gap``. converged: gap <= tol.
        iterations: projected-gradient iterations used.
        R: the radius R of F(W_0, R). radius: R / sqrt(m), the bound on each ||W_l||_F.
        layer_norms: {layer: ||W_l||_F} at the solution (each <= radius).
        f: (n,) f_W0(x_i) + <grad f_W0(x_i), W>. f0: (n,) f_W0(x_i).
        accuracy: training accuracy of sign(f).
        alpha: {layer: (n,) alpha_l} with W_l = sum_i alpha_l[i] grad_{W_l} f_W0(x_i);
            :func:`ntrf_weights` turns them into weights.
        width: m.
    """

    loss: float
    gap: float
    tol: float
    converged: bool
    iterations: int
    R: float
    radius: float
    layer_norms: dict[str, float]
    f: np.ndarray
    f0: np.ndarray
    accuracy: float
    alpha: dict[str, np.ndarray] = field(repr=False)
    width: int

    def summary(self) -> dict[str, Any]:
        """Scalars only (for JSON)."""
        return {
            "loss": self.loss,
            "gap": self.gap,
            "tol": self.tol,
            "converged": self.converged,
            "iterations": self.iterations,
            "R": self.R,
            "radius": self.radius,
            "layer_norms": dict(self.layer_norms),
            "accuracy": self.accuracy,
            "width": self.width,
        }


def _softplus(z: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, z)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def _labels(y: Any, n: int) -> np.ndarray:
    if isinstance(y, torch.Tensor):
        y = y.detach().cpu().numpy()
    v = np.asarray(y, dtype=np.float64)
    if v.ndim == 2 and v.shape[1] == 1:
        v = v[:, 0]
    if v.shape != (n,) or not np.all(np.isin(v, (-1.0, 1.0))):
        raise ConfigError(
            "y", getattr(v, "shape", None), f"({n},) or ({n}, 1) labels in {{-1, +1}}"
        )
    return v


def _project(b: np.ndarray, slices: list[slice], R: float) -> np.ndarray:
    out = b.copy()
    for s in slices:
        norm = float(np.linalg.norm(out[s]))
        if norm > R:
            out[s] *= R / norm
    return out


def ntrf_fit(
    model_at_init: torch.nn.Module,
    X: Any,
    y: Any,
    R: float,
    *,
    tol: float = DEFAULT_TOL,
    max_iter: int = DEFAULT_MAX_ITER,
    features: NtrfFeatures | None = None,
    max_memory: int | None = None,
) -> NtrfFit:
    """The best function of F(W_0, R) under mean logistic loss [cao-gu-2019, Theorem 3.3].

    Args:
        model_at_init: the network at its Gaussian initialization W_0 (one output); its
            trained layers are the l of F(W_0, R).
        X: (n, d) training inputs x_i. y: (n,) or (n, 1) labels y_i in {-1, +1}.
        R: the radius R > 0 (each ||W_l||_F <= R m^(-1/2)).
        tol: certified tolerance: stop once the Frank-Wolfe gap (>= loss - optimum) <= tol.
        max_iter: iteration cap; a fit that hits it has ``converged=False`` and its gap.
        features: :func:`ntrf_features` of (model_at_init, X), to reuse across y and R.
        max_memory: bytes for the per-layer kernels (see :func:`ntrf_features`).

    Returns:
        An :class:`NtrfFit` with the training loss the theorem compares the network with.

    Raises:
        ConfigError: bad R, tol, max_iter, labels or shapes.
    """
    if not (isinstance(R, float | int) and math.isfinite(R) and R > 0):
        raise ConfigError("R", R, "a positive finite radius")
    if not (isinstance(tol, float | int) and tol > 0):
        raise ConfigError("tol", tol, "a positive tolerance on the Frank-Wolfe gap")
    if not (isinstance(max_iter, int) and max_iter >= 1):
        raise ConfigError("max_iter", max_iter, "an integer >= 1")
    feats = features or ntrf_features(model_at_init, X, max_memory=max_memory)
    n = feats.n
    if isinstance(X, np.ndarray | torch.Tensor) and X.shape[0] != n:
        raise ConfigError("features", f"n={n}", f"features of the same {X.shape[0]} inputs")
    yv = _labels(y, n)
    names = list(feats.phi)
    Phi = np.concatenate([feats.phi[k] for k in names], axis=1) if names else np.zeros((n, 0))
    edges = np.cumsum([0] + [feats.phi[k].shape[1] for k in names])
    slices = [slice(int(a), int(b)) for a, b in itertools.pairwise(edges)]
    R = float(R)

    def loss_of(f: np.ndarray) -> float:
        return float(np.mean(_softplus(-yv * f)))

    def grad_of(f: np.ndarray) -> np.ndarray:
        return Phi.T @ (-yv * _sigmoid(-yv * f)) / n

    def fw_gap(b: np.ndarray, g: np.ndarray) -> float:
        return float(g @ b + R * sum(float(np.linalg.norm(g[s])) for s in slices))

    # Spectral projected gradient [Birgin, Martinez, Raydan 2000]: Barzilai-Borwein step,
    # projection onto the balls, non-monotone Armijo search along the projected direction.
    x = np.zeros(Phi.shape[1])
    f = feats.f0.copy()
    value, g = loss_of(f), grad_of(f)
    gap = fw_gap(x, g)
    recent = [value]
    alpha_bb = 1.0 / feats.lipschitz
    it = 0
    while gap > tol and it < max_iter:
        it += 1
        d = _project(x - alpha_bb * g, slices, R) - x
        Pd = Phi @ d
        slope = float(g @ d)
        ceiling = max(recent[-_NONMONOTONE:])
        lam = 1.0
        while True:
            f_new = f + lam * Pd
            v_new = loss_of(f_new)
            if v_new <= ceiling + _ARMIJO * lam * slope or lam < 1e-12:
                break
            lam *= 0.5
        x_new = x + lam * d
        g_new = grad_of(f_new)
        s_step, y_step = x_new - x, g_new - g
        sy = float(s_step @ y_step)
        alpha_bb = (
            min(max(float(s_step @ s_step) / sy, 1e-12), 1e12) if sy > 0 else 1.0 / feats.lipschitz
        )
        x, f, g, value = x_new, f_new, g_new, v_new
        recent.append(value)
        gap = fw_gap(x, g)
    # Recompute from x itself (f was updated incrementally along the way).
    f = feats.f0 + Phi @ x
    value, g = loss_of(f), grad_of(f)
    gap = max(fw_gap(x, g), 0.0)
    m = feats.width
    alpha = {k: feats.basis[k] @ x[s] for k, s in zip(names, slices, strict=True)}
    norms = {
        k: float(np.linalg.norm(x[s])) / math.sqrt(m) for k, s in zip(names, slices, strict=True)
    }
    return NtrfFit(
        loss=value,
        gap=gap,
        tol=float(tol),
        converged=gap <= tol,
        iterations=it,
        R=R,
        radius=R / math.sqrt(m),
        layer_norms=norms,
        f=f,
        f0=feats.f0.copy(),
        accuracy=float(np.mean(np.sign(f) == yv)),
        alpha=alpha,
        width=m,
    )


# ---------------------------------------------------------------------------------------------
# Back to parameter space
# ---------------------------------------------------------------------------------------------


def _split(net: SpecNetwork) -> tuple[dict, dict, dict[str, str]]:
    layer_of = net.parameter_layers()
    trained = {n: p.detach() for n, p in net.named_parameters() if p.requires_grad}
    frozen = {n: p.detach() for n, p in net.named_parameters() if not p.requires_grad}
    return trained, frozen, layer_of


def ntrf_weights(
    model_at_init: torch.nn.Module, X: Any, fit: NtrfFit, *, block: int = 1024
) -> dict[str, torch.Tensor]:
    """The weights W of the fitted NTRF function: W_l = sum_i alpha_l[i] grad_{W_l} f_W0(x_i).

    Computed as vector-Jacobian products of the network output over sample blocks (one backward
    pass per block; no Jacobian is formed).

    Returns:
        {parameter name: float64 tensor shaped like the parameter} for the trained parameters.
    """
    net, _ = _network(model_at_init)
    Xt = _inputs(X, net)
    trained, frozen, layer_of = _split(net)
    out = {k: torch.zeros_like(v) for k, v in trained.items()}
    for s in range(0, Xt.shape[0], block):
        xb = Xt[s : s + block]

        def f(params: dict[str, torch.Tensor], xb: torch.Tensor = xb) -> torch.Tensor:
            return functional_call(net, {**frozen, **params}, (xb,))[:, 0]

        # [:2]: vjp is annotated as a pair or (has_aux=True) a triple; it is a pair here
        _, pullback = vjp(f, trained)[:2]
        for name in trained:
            layer = layer_of[name]
            if layer not in fit.alpha:
                continue
            cot = torch.as_tensor(fit.alpha[layer][s : s + block], dtype=torch.float64)
            (grads,) = pullback(cot.to(Xt.device))
            out[name] += grads[name]
    return out


def ntrf_predict(
    model_at_init: torch.nn.Module, weights: dict[str, torch.Tensor], X: Any
) -> np.ndarray:
    """f_W0(x) + <grad f_W0(x), W> on new inputs.

    The Jacobian-vector product J W is the vjp of the (linear) map v -> J^T v with cotangent W
    (the double-vjp trick; two backward passes, no Jacobian and no forward-mode AD).

    Args:
        model_at_init: the network at W_0. weights: from :func:`ntrf_weights`. X: (n, d).

    Returns:
        (n,) float64 NTRF predictions (e.g. for the NTRF model's test error).
    """
    net, _ = _network(model_at_init)
    Xt = _inputs(X, net)
    trained, frozen, _ = _split(net)
    tangents = {k: weights[k].to(v) for k, v in trained.items()}

    def f(params: dict[str, torch.Tensor]) -> torch.Tensor:
        return functional_call(net, {**frozen, **params}, (Xt,))[:, 0]

    # [:2]: vjp is annotated as a pair or (has_aux=True) a triple; it is a pair here
    f0, pullback = vjp(f, trained)[:2]
    _, pull_pullback = vjp(lambda v: pullback(v)[0], torch.zeros_like(f0))[:2]
    (df,) = pull_pullback(tangents)
    f0, df = f0.detach(), df.detach()
    return (f0 + df).cpu().numpy()


# ---------------------------------------------------------------------------------------------
# The theorem's right-hand side
# ---------------------------------------------------------------------------------------------


def theorem_bound(
    loss: float,
    R: float,
    n: int,
    depth: int,
    delta: float = 0.05,
    *,
    c_radius: float = 1.0,
    c_conf: float = 1.0,
) -> float:
    """4 * loss + c_radius L R / sqrt(n) + c_conf sqrt(log(1/delta) / n) [cao-gu-2019, Thm 3.3].

    Args:
        loss: the NTRF training loss inf_{f in F(W_0, R)} (1/n) sum_i log(1 + exp(-y_i f(x_i)))
            (:attr:`NtrfFit.loss`). R: its radius. n: training samples. depth: L (>= 2).
        delta: failure probability. c_radius, c_conf: the constants hidden in O (default 1).
    """
    from overparam.generalization.bound import bound_terms

    if not (math.isfinite(loss) and loss >= 0):
        raise ConfigError("loss", loss, "an NTRF training loss >= 0")
    if not (isinstance(R, float | int) and math.isfinite(R) and R > 0):
        raise ConfigError("R", R, "a positive finite radius")
    radius_term, conf_term = bound_terms(R * R, n, depth, delta, c_ntk=c_radius, c_conf=c_conf)
    return 4.0 * loss + radius_term + conf_term
