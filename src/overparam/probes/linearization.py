"""Wide networks stay close to their first-order Taylor model around the initialization.

* [allen-zhu-2019, NTK relation, part (b)] ("Relationship with Neural Kernels" in its talk
  slides): for ||W'||_2 <= omega <= 1/poly(L, log m),
  y(W^(0) + W'; x) = y(W^(0); x) + <grad y(W^(0); x), W'> +- O~(L^3 omega^(4/3) sqrt(m)).
* [lee-2019, Theorem 2.1]: trained by gradient descent, the network and its linearization
  f^lin_t = f_0 + <grad f(W_0), W_t^lin - W_0> (itself trained by gradient descent from the
  same init) satisfy sup_t ||f_t(x) - f_t^lin(x)||_2 = O(m^(-1/2)).
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch.func import functional_call, jvp

from overparam.ntk.linearized import preload_forward_ad as preload_forward_ad
from overparam.probes.base import UPPER, Probe, register
from overparam.train.loop import TrainState


def first_order_gap(
    model: torch.nn.Module, X: torch.Tensor, params0: dict[str, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(f(W_t), f(W_0), f(W_t) - f(W_0) - <grad f(W_0), W_t - W_0>), all (n, k).

    W_t is the model's current trained parameters, W_0 = ``params0`` (name -> tensor, the
    trained parameters only). The directional derivative is one forward-mode product (jvp)
    through ``functional_call``: no Jacobian is formed.
    """
    preload_forward_ad()
    current = {n: p.detach() for n, p in model.named_parameters() if n in params0}
    tangent = {n: current[n] - params0[n] for n in params0}

    def f(params: dict[str, torch.Tensor]) -> torch.Tensor:
        return functional_call(model, params, (X,))

    f0, df = jvp(f, (dict(params0),), (tangent,))[:2]
    with torch.no_grad():
        ft = model(X)
    return ft.detach(), f0.detach(), (ft - f0 - df).detach()


@register
class Linearization(Probe):
    """``linearization``: the gap between f(W_t) and its first-order model around W_0.

    Records at each evaluated step, on the training inputs:

    * ``max_gap``: max_i ||f(W_t; x_i) - f(W_0; x_i) - <grad f(W_0; x_i), W_t - W_0>||, kind
      upper, bound L^3 omega^(4/3) sqrt(m) ([allen-zhu-2019, NTK relation, part (b)], constant
      1, no log factors; omega the measured max_l ||W_l^t - W_l^0||_2). Exactly 0 at t = 0.
    * ``relative_gap``: ||gap||_F / ||f(W_t) - f(W_0)||_F (no bound; from t > 0), the share
      of the function's change the linear model misses.

    With ``linear_run=True`` (``--probe linearization:linear_run=true``) and full-batch GD, it
    also trains the linearized model from the same init with the same step size and objective,
    and records ``linear_run_gap`` = max_i ||f_t(x_i) - f_t^lin(x_i)|| (kind upper, bound
    m^(-1/2): [lee-2019, Theorem 2.1], constant 1) and ``linear_run_loss``, its loss. On the
    training inputs the linear model's outputs evolve exactly as
    u_{t+1} = u_t - eta Theta_0 grad_u L(u_t) (Theta_0 the empirical NTK at init; since
    f^lin(W) = f_0 + J_0 (W - W_0) and GD moves W by -eta J_0^T grad_u L), which costs one
    (n k)^2 product per step instead of a parameter-space run.

    The gap is a difference of outputs: in float32 it is resolved to ~1e-7 |f|; use float64
    for small widths or early steps.
    """

    name = "linearization"
    lemma = "[allen-zhu-2019, NTK relation (b)]; [lee-2019, Theorem 2.1]"
    formula = "max_i |f_t - f_0 - <grad f_0, W_t - W_0>| <= L^3 omega^(4/3) sqrt(m)"
    options: ClassVar[dict[str, type]] = {"linear_run": bool}

    def __init__(
        self, *, linear_run: bool = False, every: int | None = None, points: int = 50
    ) -> None:
        super().__init__(every=every, points=points)
        self.linear_run = bool(linear_run)

    def start(self, state: TrainState) -> None:
        self.params0 = dict(state.initial_params)
        self.lin_skip: str | None = None
        self.u: torch.Tensor | None = None
        if not self.linear_run:
            return
        if self.ctx.info.algorithm != "gd":
            self.lin_skip = "the linear run follows full-batch GD only"
            return
        with torch.no_grad():
            self.theta0 = self.ctx.kernel0()
            self.u = self.ctx.initial().f.to(torch.float64).reshape(-1)
        self.y64 = self.ctx.y.to(torch.float64)
        self.t_lin = 0

    def _advance(self, t: int) -> None:
        """Advance the linearized model's outputs u to step t."""
        info = self.ctx.info
        lr, shape = info.lr, self.y64.shape
        y = self.y64.reshape(-1)
        if self.u is None:  # no linear run (see start)
            return
        while self.t_lin < t:
            if info.square:
                g = info.c * (self.u - y)
            else:
                u = self.u.detach().requires_grad_(True)
                with torch.enable_grad():
                    (g,) = torch.autograd.grad(self.ctx.objective(u.reshape(shape), self.y64), u)
            self.u = self.u - lr * (self.theta0 @ g)
            self.t_lin += 1

    def measure(self, state: TrainState, grads: dict[str, torch.Tensor] | None = None) -> None:
        info = self.ctx.info
        ft, f0, gap = first_order_gap(state.model, self.ctx.X, self.params0)
        omega = self.ctx.omega(state)
        m = info.m or 1
        bound = (info.L or 1) ** 3 * omega ** (4.0 / 3.0) * math.sqrt(m)
        gap64 = gap.to(torch.float64)
        self.record(state, "max_gap", float(gap64.norm(dim=1).max()), bound, kind=UPPER)
        moved = float((ft - f0).to(torch.float64).norm())
        if moved > 0.0:
            self.record(state, "relative_gap", float(gap64.norm()) / moved, None)
        if self.u is not None:
            self._advance(state.step)
            u = self.u.reshape(self.y64.shape)
            lin_gap = float((ft.to(torch.float64) - u).norm(dim=1).max())
            self.record(state, "linear_run_gap", lin_gap, 1.0 / math.sqrt(m), kind=UPPER)
            self.record(state, "linear_run_loss", float(self.ctx.objective(u, self.y64)), None)
