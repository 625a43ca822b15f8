"""What the probes of one run share: the run's sizes, and per-step caches of the expensive
pieces (the forward pass with hidden vectors, the distances from init, the full gradient, the
empirical NTK), so that several probes measuring at the same step pay for each piece once.

The probes read a model through a small interface, so later architectures plug in unchanged
(any other ``torch.nn.Module`` is read from the outside, see below):

* ``model(X, return_hidden=True)`` -> ``(f, pre_activations, hidden)``: f (n, k); one
  pre-activation z_l (n, m_l) per layer (output layer included) and one hidden vector h_l per
  hidden layer, post-activation and post-scale, in order (``hidden[l]`` is sigma(z_l) scaled);
* the trained parameters are ``named_parameters()`` with ``requires_grad``;
* its structure, if it implements :class:`overparam.probes.protocol.ProbedModel` (every
  overparam network does): ``paper_scales()``, ``parameter_layers()``, ``hidden_layers()``,
  ``specs``, ``width``, ``depth``, ``parameterization``, ``activation``.

**Any other module** (no ``return_hidden``, outside the protocol) is read by
:func:`overparam.probes.capture.capture`: its recognized activations give the sign patterns and
hidden vectors (and the outputs of the modules named in ``TrainState.extra[MODULES_KEY]``),
every trained parameter tensor is a "layer" named by its parameter name, and no paper's bound
applies: the probes record the measured values with ``bound`` None and kind ``none``
(:attr:`Context.bound_note` says so), so that only their scaling is read.

**Papers' units.** Distances, gradients and step norms are measured on the *effective* weights
W_eff = a_l s_l W_l (forward multiplier a_l times post-activation scale s_l, both 1 for
allen-zhu and zou-gu). For relu, s relu(a W h) = relu(a s W h), so W_eff is the weight of the
same network written in Allen-Zhu et al.'s normalization ([allen-zhu-2019, Def. 2.3]:
entries N(0, 2/m)); e.g. du's W ~ N(0, 1) with s = sqrt(2/m) and ntk's sqrt(2/fan_in) W both
become N(0, 2/fan_in). This is what lets one bound, stated for that normalization, be read for
every parameterization. Hidden vectors and losses need no conversion. Each model states its
own scales (``paper_scales()``: the other architectures keep their stored units); a model
outside the protocol is measured in its stored units (:func:`paper_scales`).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.func import functional_call

from overparam.data.dataset import min_separation
from overparam.probes.capture import RECOGNIZED, capture
from overparam.probes.protocol import ProbedModel, probed
from overparam.train.losses import Loss, Reduction

# ---------------------------------------------------------------------------------------------
# Numerics
# ---------------------------------------------------------------------------------------------

# Below this size a matrix's spectral norm is computed exactly (an SVD is cheaper than
# iterating); above it, by warm-started Lanczos (Krylov) iteration.
EXACT_SPECTRAL_SIZE = 64
KRYLOV_DIM = 40  # Krylov vectors kept before a restart from the current best vector


def spectral_norm(
    M: torch.Tensor, warm: torch.Tensor | None = None, *, max_restarts: int = 20
) -> tuple[float, torch.Tensor | None]:
    """||M||_2 (largest singular value) and a vector to warm-start the next call.

    Exact (``matrix_norm(ord=2)``) when min(M.shape) <= :data:`EXACT_SPECTRAL_SIZE`; otherwise
    Lanczos on M^T M with full reorthogonalization: the Krylov basis Q = span{v, (M^T M) v, ...}
    grows by one matrix-vector pair (M q, M^T u) per iteration, and the Rayleigh-Ritz estimate
    sigma_max(M Q), which increases to ||M||_2, is stopped when it changes by less than 50
    machine epsilons relative (1e-10 at most). Starting from the previous step's top right
    singular vector (``warm``) it converges in a few iterations, since W_t - W_0 changes
    slowly; matrix-vector products keep it memory-bound (no m x m x m work).

    Args:
        M: (p, q) matrix. warm: (q,) vector from a previous call, or None.

    Returns:
        (sigma_1, v): v is the (q,) vector to pass as ``warm`` next time (None if exact).
    """
    p, q = M.shape
    if min(p, q) <= EXACT_SPECTRAL_SIZE:
        return float(torch.linalg.matrix_norm(M, ord=2)), None
    if warm is None or warm.shape != (q,) or warm.dtype != M.dtype or not bool(warm.any()):
        gen = torch.Generator().manual_seed(0)
        warm = torch.randn(q, generator=gen, dtype=torch.float64).to(M)
    tol = max(50.0 * torch.finfo(M.dtype).eps, 1e-10)
    v = warm / warm.norm()
    sigma, prev = 0.0, -1.0
    for _ in range(max_restarts):
        Q = torch.empty(q, KRYLOV_DIM, dtype=M.dtype, device=M.device)
        U = torch.empty(p, KRYLOV_DIM, dtype=M.dtype, device=M.device)
        Q[:, 0] = v
        done = False
        for j in range(KRYLOV_DIM):
            U[:, j] = torch.mv(M, Q[:, j])
            _, svals, Vh = torch.linalg.svd(U[:, : j + 1], full_matrices=False)
            sigma = float(svals[0])
            v = Q[:, : j + 1] @ Vh[0]
            if sigma == 0.0 or abs(sigma - prev) <= tol * sigma:
                done = True
                break
            prev = sigma
            if j + 1 == KRYLOV_DIM:
                break  # restart from the current best vector
            w = torch.mv(M.T, U[:, j])
            for _ in range(2):  # reorthogonalizing twice is enough (Kahan-Parlett)
                w = w - Q[:, : j + 1] @ (Q[:, : j + 1].T @ w)
            norm = float(w.norm())
            if norm <= tol * sigma:  # invariant subspace: the Ritz value is exact
                done = True
                break
            Q[:, j + 1] = w / norm
        if done:
            break
        v = v / v.norm()
    if sigma == 0.0:
        return 0.0, warm
    return sigma, v / v.norm()


def paper_scales(model: nn.Module) -> dict[str, float]:
    """{trained parameter name: c} with W_eff = c W in the papers' units (module docstring):
    the model's own ``paper_scales()`` (:class:`~overparam.probes.protocol.ProbedModel`), or
    c = 1 for every trained parameter of a model outside the protocol."""
    p = probed(model)
    if p is not None:
        return dict(p.paper_scales())
    return {n: 1.0 for n, q in model.named_parameters() if q.requires_grad}


def _layer_names(model: nn.Module) -> dict[str, str]:
    p = probed(model)
    if p is not None:
        return p.parameter_layers()
    return {n: n.rsplit(".", 1)[0] for n, _ in model.named_parameters()}


@contextmanager
def swapped(model: nn.Module, params: dict[str, torch.Tensor]) -> Iterator[None]:
    """Temporarily load ``params`` (name -> tensor) into ``model``, restoring it afterwards."""
    named = dict(model.named_parameters())
    saved = {n: named[n].detach().clone() for n in params}
    try:
        with torch.no_grad():
            for n, v in params.items():
                named[n].copy_(v)
        yield
    finally:
        with torch.no_grad():
            for n, v in saved.items():
                named[n].copy_(v)


def as_matrix(t: torch.Tensor) -> torch.Tensor:
    """A parameter tensor as the matrix its norms are taken of: a weight (out, in) as is, a
    convolution kernel (out, in, *k) as (out, in * prod(k)) (one row per output channel), a
    vector (d,) as a column (d, 1) (its spectral and Frobenius norms are then its 2-norm, its
    max row its largest entry)."""
    if t.ndim == 2:
        return t
    if t.ndim < 2:
        return t.reshape(-1, 1)
    return t.reshape(t.shape[0], -1)


def flat_kernel(theta: torch.Tensor) -> torch.Tensor:
    """(n, n) or (n, n, k, k) kernel as an (n k, n k) float64 matrix, row index i * k + a."""
    theta = theta.detach().to(torch.float64)
    if theta.ndim == 2:
        return theta
    n, _, k, _ = theta.shape
    return theta.permute(0, 2, 1, 3).reshape(n * k, n * k)


# ---------------------------------------------------------------------------------------------
# Run description
# ---------------------------------------------------------------------------------------------


def _int_or_none(v: Any) -> int | None:
    return None if v is None else int(v)


@dataclass(frozen=True)
class RunInfo:
    """The sizes the bounds are evaluated at, in the papers' symbols.

    Attributes:
        n: samples. m: width (None if the model has none). L: the paper's depth (``model.depth``).
        k: output dimension (Allen-Zhu et al.'s d). delta: min_{i != j} ||x_i - x_j||
            ([allen-zhu-2019, Assumption 2.1] delta = [zou-gu-2019, Assumption 3.2] phi).
        c: the objective's reduction scale (1 for sum, 1/n for mean): L = c sum_i loss_i.
        square: the loss is 1/2 ||f - y||^2 (the theorems' loss).
        algorithm: "gd", "sgd" or "online-sgd". lr: the step size eta. seed: the run's seed.
        gradient_hook: the loop calls ``on_gradient`` (overparam's ``train`` does, and records
            the algorithm in ``TrainState.extra``); other loops get recomputed gradients.
    """

    n: int
    m: int | None
    L: int | None
    k: int
    delta: float
    c: float
    square: bool
    mean: bool
    algorithm: str
    lr: float
    seed: int | None
    parameterization: str | None
    relu: bool
    gradient_hook: bool

    @classmethod
    def from_state(cls, state: Any) -> RunInfo:
        model, data, objective = state.model, state.data, state.objective
        config = state.history.config or {}
        p = probed(model)
        act = None if p is None else p.activation
        param = config.get("parameterization") if p is None else p.parameterization
        delta = float(data.separation)
        if not (math.isfinite(delta) and delta > 0.0):
            delta = min_separation(data.X)
        algorithm = state.extra.get("algorithm") or config.get("algorithm") or "gd"
        seed = config.get("seed")
        return cls(
            n=data.n,
            m=_int_or_none(config.get("width")) if p is None else p.width,
            L=_int_or_none(config.get("depth")) if p is None else p.depth,
            k=data.k,
            delta=float(delta),
            c=float(objective.scale(data.n)),
            square=objective.loss is Loss.SQUARE,
            mean=objective.reduction is Reduction.MEAN,
            algorithm=str(algorithm),
            lr=float(state.lr),
            seed=None if seed is None else int(seed),
            parameterization=None if param is None else str(getattr(param, "value", param)),
            relu=act is None or str(getattr(act, "value", act)) == "relu",
            gradient_hook="algorithm" in state.extra,
        )


@dataclass(frozen=True)
class Forward:
    """One forward pass: f (n, k), pre-activations, hidden vectors and sign patterns.

    ``pre`` holds one (n, m_l) pre-activation per layer (output layer included) for overparam's
    networks, one per piecewise-linear activation call for other modules; ``patterns[l]`` is the
    linear piece of each unit (z > 0 for relu) of the layer named ``pattern_layers[l]``;
    ``hidden[l]`` the (n, m_l) hidden vector of the layer named ``hidden_layers[l]``.
    """

    f: torch.Tensor
    pre: list[torch.Tensor]
    hidden: list[torch.Tensor]
    patterns: list[torch.Tensor]
    pattern_layers: tuple[str, ...]
    hidden_layers: tuple[str, ...]


@dataclass(frozen=True)
class Distance:
    """||W_eff^t - W_eff^0|| of one trained weight matrix, in the papers' units, and the
    relative Frobenius distance ||W^t - W^0||_F / ||W^0||_F (unit-free)."""

    spectral: float
    frobenius: float
    max_row: float
    hidden: bool
    relative: float


# ---------------------------------------------------------------------------------------------
# The shared context
# ---------------------------------------------------------------------------------------------


class Context:
    """Per-run state shared by all probes, stored in ``TrainState.extra``.

    Everything "at W_t" is cached for the current step and recomputed when the step changes
    (parameters only change between two ``on_step`` calls). Everything "at W_0" is computed from
    ``TrainState.initial_params``, so it is right whenever it is first asked for.
    """

    KEY = "overparam.probes.context"
    #: ``TrainState.extra`` key of the module names whose outputs are hidden vectors (for
    #: models read from the outside; :func:`overparam.probes.capture.capture`).
    MODULES_KEY = "overparam.probes.modules"

    def __init__(self, state: Any) -> None:
        self.model: nn.Module = state.model
        self.X: torch.Tensor = state.data.X
        self.y: torch.Tensor = state.data.y
        self.objective = state.objective
        self.history = state.history
        self.info = RunInfo.from_state(state)
        self.initial_params: dict[str, torch.Tensor] = state.initial_params
        self.probed: ProbedModel | None = probed(self.model)
        self.scales = paper_scales(self.model)
        self.layer_of = _layer_names(self.model)
        self.returns_hidden = "return_hidden" in inspect.signature(self.model.forward).parameters
        self.modules: tuple[str, ...] = tuple(state.extra.get(self.MODULES_KEY, ()))
        #: Whether the papers' bounds apply: only to their own architectures (the protocol).
        self.bounds_apply = self.probed is not None
        self.bound_note: str | None = (
            None
            if self.bounds_apply
            else (
                f"no bound applies: {type(self.model).__name__} is not one of the papers' "
                "architectures, so the probes record the measured quantities (bound None, kind "
                "none) and only their scaling, e.g. in the width, is read"
            )
        )
        specs = {s.name: s for s in (self.probed.specs if self.probed is not None else ())}
        self.weights: list[tuple[str, str, bool]] = []  # (param, layer symbol, hidden layer?)
        for name, p in self.model.named_parameters():
            if not p.requires_grad:
                continue
            if self.probed is None:  # every trained tensor, named by its parameter name
                self.weights.append((name, name, True))
            elif p.ndim == 2:
                layer = self.layer_of.get(name, name)
                spec = specs.get(layer)
                self.weights.append((name, layer, True if spec is None else spec.activation))
        self._initial: Forward | None = None
        self._kernel0: torch.Tensor | None = None
        self._step: int | None = None
        self._cache: dict[str, Any] = {}
        self._warm: dict[str, torch.Tensor | None] = {}

    @classmethod
    def of(cls, state: Any) -> Context:
        """The run's context, created on first use."""
        ctx = state.extra.get(cls.KEY)
        if ctx is None or ctx.model is not state.model:
            ctx = cls(state)
            state.extra[cls.KEY] = ctx
        return ctx

    @property
    def has_hidden(self) -> bool:
        """Whether the model gives hidden vectors (its own or read from the outside)."""
        return self.returns_hidden or bool(self.initial().hidden)

    def no_hidden_reason(self) -> str:
        """Why a model has no hidden vectors (for ``skip_reason``)."""
        return (
            f"no hidden vector found in {type(self.model).__name__}: it has no "
            "forward(x, return_hidden=True), no recognized activation (" + RECOGNIZED + ") "
            "and no module named in modules=..."
        )

    def no_pattern_reason(self) -> str | None:
        """None if the model has ReLU-family sign patterns, else why not."""
        if self.initial().patterns:
            return None
        return (
            f"no piecewise-linear activation found in {type(self.model).__name__} "
            "(recognized: " + RECOGNIZED + ")"
        )

    def hidden_names(self) -> list[str]:
        """The paper's symbol of the layer that outputs each hidden vector h_l (for other
        modules: the activation's or module's name, :mod:`overparam.probes.capture`)."""
        if self.probed is not None:
            return list(self.probed.hidden_layers())
        init = self.initial()
        if init.hidden_layers:
            return list(init.hidden_layers)
        return [f"h{l}" for l in range(len(init.hidden))]

    def invalidate(self) -> None:
        self._step, self._cache = None, {}

    def _at(self, state: Any) -> dict[str, Any]:
        if self._step != state.step:
            self._step, self._cache = state.step, {}
        return self._cache

    def end_measurable(self, state: Any) -> bool:
        """Whether the parameters at on_end are the last step's (not diverged, not online)."""
        return state.history.status != "diverged" and self.info.algorithm != "online-sgd"

    # -- forward passes ------------------------------------------------------------------------
    def _forward(self, params: dict[str, torch.Tensor] | None) -> Forward:
        if not self.returns_hidden:
            c = capture(self.model, self.X, params, modules=self.modules)
            return Forward(
                c.f, c.pre, c.hidden, c.patterns, c.pattern_layers, c.hidden_layers
            )
        with torch.no_grad():
            if params is None:
                out = self.model(self.X, return_hidden=True)
            else:
                out = functional_call(self.model, params, (self.X,), {"return_hidden": True})
        f, pre, hidden = out
        pre = [z.detach() for z in pre]
        hidden = [h.detach() for h in hidden]
        names = (
            tuple(self.probed.hidden_layers())
            if self.probed is not None
            else tuple(f"h{l}" for l in range(len(hidden)))
        )
        patterns = [z > 0 for z in pre[: len(hidden)]]
        return Forward(f.detach(), pre, hidden, patterns, names, names)

    def initial(self) -> Forward:
        """The forward pass at W_0 (cached for the run)."""
        if self._initial is None:
            self._initial = self._forward(self.initial_params)
        return self._initial

    def current(self, state: Any) -> Forward:
        """The forward pass at W_t (cached for the step)."""
        cache = self._at(state)
        if "forward" not in cache:
            cache["forward"] = self._forward(None)
        return cache["forward"]

    def full_loss(self, state: Any) -> float:
        """L(W_t) on the full training set (the loop's own value under GD)."""
        cache = self._at(state)
        if "loss" not in cache:
            if self.info.algorithm == "gd":
                cache["loss"] = float(state.loss)
            else:
                with torch.no_grad():
                    cache["loss"] = float(self.objective(self.model(self.X), self.y))
        return cache["loss"]

    # -- distances from init ---------------------------------------------------------------
    def distances(self, state: Any) -> dict[str, Distance]:
        """{layer: Distance} for every trained weight matrix, in the papers' units."""
        cache = self._at(state)
        if "distances" not in cache:
            named = dict(self.model.named_parameters())
            out: dict[str, Distance] = {}
            with torch.no_grad():
                for pname, layer, hidden in self.weights:
                    w0 = self.initial_params[pname]
                    delta = as_matrix((named[pname].detach() - w0) * self.scales[pname])
                    spec, self._warm[pname] = spectral_norm(delta, self._warm.get(pname))
                    rows = float(delta.norm(dim=1).max()) if delta.numel() else 0.0
                    frob = float(delta.norm())
                    rel = frob / self.scales[pname] / max(float(w0.norm()), 1e-300)
                    out[layer] = Distance(spec, frob, rows, bool(hidden), rel)
            cache["distances"] = out
        return cache["distances"]

    def omega(self, state: Any) -> float:
        """omega = max_l ||W_l^t - W_l^0||_2 over the trained hidden weight matrices (all trained
        weight matrices if no hidden one is trained), in the papers' units
        ([allen-zhu-2019] ||W - W^(0)||_2 <= omega; [zou-gu-2019] W in B(W^(0), tau))."""
        dist = self.distances(state)
        hidden = [d.spectral for d in dist.values() if d.hidden]
        values = hidden or [d.spectral for d in dist.values()]
        return max(values, default=0.0)

    # -- gradients ------------------------------------------------------------------------------
    def full_gradient(self, state: Any) -> dict[str, torch.Tensor]:
        """{name: dL/dW} of the full-batch objective at W_t (cached for the step)."""
        cache = self._at(state)
        if "grad" not in cache:
            params = [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]
            with torch.enable_grad():
                value = self.objective(self.model(self.X), self.y)
                grads = torch.autograd.grad(value, [p for _, p in params])
            cache["grad"] = {n: g.detach() for (n, _), g in zip(params, grads, strict=True)}
            cache.setdefault("loss", float(value.detach()))
        return cache["grad"]

    def paper_norm_sq(self, tensors: dict[str, torch.Tensor], *, gradient: bool) -> float:
        """sum ||.||_F^2 in the papers' units: a gradient divides by c (dL/dW_eff = dL/dW / c),
        a displacement multiplies by c."""
        total = 0.0
        for name, t in tensors.items():
            c = self.scales.get(name, 1.0)
            s = 1.0 / c if gradient else c
            total += (float(torch.linalg.vector_norm(t)) * s) ** 2
        return total

    def step_spectral(self, step: dict[str, torch.Tensor]) -> float:
        """||W'||_2 = max_l ||W'_l||_2 over trained weight matrices, in the papers' units."""
        best = 0.0
        for pname, _, _ in self.weights:
            if pname in step:
                key = "step:" + pname
                sigma, self._warm[key] = spectral_norm(
                    as_matrix(step[pname] * self.scales[pname]), self._warm.get(key)
                )
                best = max(best, sigma)
        return best

    # -- kernels -------------------------------------------------------------------------------
    def kernel0(self) -> torch.Tensor:
        """Theta_0: the empirical NTK at W_0 as an (n k, n k) float64 matrix (cached)."""
        if self._kernel0 is None:
            from overparam.ntk import empirical

            with swapped(self.model, self.initial_params):
                self._kernel0 = flat_kernel(empirical(self.model, self.X))
        return self._kernel0

    def kernel(self, state: Any) -> torch.Tensor:
        """Theta_t at W_t, (n k, n k) float64 (cached for the step)."""
        cache = self._at(state)
        if "kernel" not in cache:
            from overparam.ntk import empirical

            cache["kernel"] = flat_kernel(empirical(self.model, self.X))
        return cache["kernel"]


def log_or_one(x: float) -> float:
    """max(1, ln x): the log factor of an O(.) statement, never below 1."""
    return max(1.0, math.log(x)) if x > 0 else 1.0
