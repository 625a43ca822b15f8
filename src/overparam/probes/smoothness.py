"""Semi-smoothness: along the step gradient descent actually takes, the loss is almost as
smooth as a quadratic, up to a term sublinear in the step.

[allen-zhu-2019, Theorem 4]: for ||W - W^(0)||_2 <= omega and any W' with small ||W'||_2,

    F(W + W') <= F(W) + <grad F(W), W'> + sqrt(n F(W)) omega^(1/3) L^2 sqrt(m log m / d) ||W'||_2
                                         + (n L^2 m / d) ||W'||_2^2,

written in the form of [zou-gu-2019, Lemma 4.4] (eq. (4.2)), which states it for the mean loss
L = F / n: the bound divided by n, i.e. sqrt(L(W)) tau^(1/3) L^2 sqrt(m log m / k) ||W'||_2 +
(L^2 m / k) ||W'||_2^2. (The seed slides write the sublinear term as
poly(L) sqrt(n m log m / d) ||W'||_2 F(W)^(1/2); omega^(1/3) L^2 is that poly(L).)
"""

from __future__ import annotations

import math
from typing import Any

import torch

from overparam.probes.base import UPPER, Probe, register
from overparam.probes.context import log_or_one
from overparam.train.loop import TrainState


def smoothness_terms(
    loss: float, step_norm: float, omega: float, *, n: int, m: int, L: int, k: int, c: float
) -> tuple[float, float]:
    """(sublinear, quadratic) terms of [allen-zhu-2019, Theorem 4] with constants 1, for a run
    whose objective is c * sum_i loss_i (c = 1: sum, as Allen-Zhu et al.; c = 1/n: mean, as
    [zou-gu-2019, Lemma 4.4]). With F = loss / c the sum loss and s = ||W'||_2:

        sublinear = c sqrt(n F) omega^(1/3) L^2 sqrt(m log m / k) s,
        quadratic = c n L^2 m / k s^2.
    """
    F = max(loss, 0.0) / c
    sub = c * math.sqrt(n * F) * omega ** (1.0 / 3.0) * L**2 * math.sqrt(m * log_or_one(m) / k)
    quad = c * n * L**2 * m / k * step_norm**2
    return sub * step_norm, quad


@register
class SemiSmoothness(Probe):
    """``semi_smoothness``: the second-order residual of the actual step against Theorem 4.

    At each evaluated step t < T, with W' = W_{t+1} - W_t the step the loop takes
    (-eta grad L(W_t) under GD, -eta times the minibatch gradient under SGD), records

        residual = L(W_t + W') - L(W_t) - <grad L(W_t), W'>

    against sublinear + quadratic (:func:`smoothness_terms`; [allen-zhu-2019, Theorem 4],
    [zou-gu-2019, Lemma 4.4], constants 1) evaluated at the measured omega = max_l
    ||W_l^t - W_l^0||_2 and ||W'||_2 = max_l ||W'_l||_2 (papers' units). Rows (step t):
    ``residual`` (kind upper), ``sublinear_term``, ``quadratic_term`` and ``step_norm``.

    L(W_t + W') is the loss the loop computes at step t + 1 under GD (no extra forward pass)
    and one full-batch forward otherwise; grad L(W_t) is the loop's own gradient under GD and a
    full-batch gradient otherwise. The residual is a difference of losses, resolved only to
    about eps * L (1e-7 L in float32): use float64 to see it below that. The final step has
    no step to measure. The theorem is for the square loss; for other losses no bound.
    """

    name = "semi_smoothness"
    lemma = "[allen-zhu-2019, Theorem 4]; [zou-gu-2019, Lemma 4.4]"
    formula = (
        "L(W+W') - L(W) - <grad L, W'> <= c sqrt(n F) omega^(1/3) L^2 sqrt(m log m / k) ||W'||_2"
        " + c n L^2 m / k ||W'||_2^2"
    )

    def start(self, state: TrainState) -> None:
        self._open: dict[str, Any] | None = None

    def on_step(self, state: TrainState) -> None:
        if self.skip_reason is not None:
            return
        opened = self._open
        if opened is not None and state.step == opened["step"] + 1 and "dot" in opened:
            self._close(state, opened)
        self._open = None
        t = state.step
        if t in self._steps and t < state.steps:
            self._open = {"step": t, "loss": self.ctx.full_loss(state)}
            if self.ctx.info.algorithm != "gd":
                self._open["grad"] = self.ctx.full_gradient(state)
            self._open["omega"] = self.ctx.omega(state)

    def on_gradient(self, state: TrainState, grads: dict[str, torch.Tensor]) -> None:
        opened = self._open
        if self.skip_reason is not None or opened is None or opened["step"] != state.step:
            return
        full = opened.get("grad", grads)
        lr = self.ctx.info.lr
        with torch.no_grad():
            dot = -lr * sum(
                float((full[n].to(torch.float64) * g.to(torch.float64)).sum())
                for n, g in grads.items()
            )
            step = {n: -lr * g for n, g in grads.items()}
            opened["step_norm"] = self.ctx.step_spectral(step)
        opened["dot"] = dot
        self._done.add(state.step)

    def on_end(self, state: TrainState) -> None:
        self._open = None  # the last step takes no step

    def measure(self, state: TrainState, grads: dict[str, torch.Tensor] | None = None) -> None:
        """Unused: this probe measures across two steps (see :meth:`on_step`)."""

    def _close(self, state: TrainState, opened: dict[str, Any]) -> None:
        info = self.ctx.info
        loss_next = self.ctx.full_loss(state)
        residual = loss_next - opened["loss"] - opened["dot"]
        t, s = opened["step"], opened["step_norm"]
        bound = None
        sub = quad = None
        if info.square:
            m = info.m or 1
            sub, quad = smoothness_terms(
                opened["loss"],
                s,
                opened["omega"],
                n=info.n,
                m=m,
                L=info.L or 1,
                k=info.k,
                c=info.c,
            )
            bound = sub + quad
        self.record(state, "residual", residual, bound, kind=UPPER, step=t)
        if sub is not None:
            self.record(state, "sublinear_term", sub, None, step=t)
            self.record(state, "quadratic_term", quad, None, step=t)
        self.record(state, "step_norm", s, None, step=t)
