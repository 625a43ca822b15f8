"""How far training moves the weights from their initialization.

[zou-gu-2019, Lemma 4.2] bounds the trajectory length of every layer; its proof telescopes
eq. (4.1), ||W_l^(t+1) - W_l^(t)|| <= sqrt(C k n^2 / (m phi)) (sqrt(L(W^(t))) - sqrt(L(W^(t+1)))),
and bounds L(W^(0)) by Lemma 4.3. [du-2019-two-layer] tracks the same thing per neuron,
max_r ||w_r(t) - w_r(0)||, which is a row distance.
"""

from __future__ import annotations

import math

import torch

from overparam.probes.base import UPPER, Probe, register
from overparam.probes.context import Context, log_or_one
from overparam.train.loop import TrainState


def movement_bound(n: int, m: int, k: int, phi: float) -> float:
    """sqrt(k n^2 log(n) / (m phi)): [zou-gu-2019, Lemma 4.2] with constant 1 (log read as
    max(1, ln n)). n samples, m width, k outputs, phi the data separation."""
    return math.sqrt(k * n**2 * log_or_one(n) / (m * phi))


@register
class Movement(Probe):
    """``movement``: ||W_l^t - W_l^0|| per trained weight matrix, in the papers' units.

    Checks [zou-gu-2019, Lemma 4.2]: for all t >= 0 and l in [L], with eta = O(k / (L^2 m)),

        ||W_l^(t) - W_l^(0)||_2  <=  sqrt(k n^2 log(n) / (m phi))        (constant 1),

    with n samples, m the width, k outputs, phi = min_{i != j} ||x_i - x_j||. Rows per trained
    weight matrix (layer = the paper's symbol), all kind upper with that bound:

    * ``spectral``: ||W_l^t - W_l^0||_2 (warm-started subspace iteration, exact to ~1e-10
      relative in float64; :func:`overparam.probes.context.spectral_norm`);
    * ``frobenius``: ||W_l^t - W_l^0||_F (the telescoped eq. (4.1) bounds it too, since the
      lemma's proof sums Frobenius-norm steps);
    * ``max_row``: max_r ||w_{l,r}^t - w_{l,r}^0||, the per-neuron distance of
      [du-2019-two-layer] (bounded by the spectral norm, hence by the same bound);
    * ``relative_frobenius``: ||W_l^t - W_l^0||_F / ||W_l^0||_F (no bound: the unit-free
      "how lazy" number, comparable across parameterizations and architectures);

    plus one ``omega`` row (layer "all"): max over hidden layers of the spectral distance, the
    omega the other probes' bounds use ([allen-zhu-2019]: ||W - W^(0)||_2 <= omega).

    Distances are of W_eff = a_l s_l W_l (see :mod:`overparam.probes.context`), which is the
    stored weight for allen-zhu and zou-gu. The bound is for the mean loss, but the trajectory
    (not its speed) is the same for the sum loss, so it is recorded for every run.
    """

    name = "movement"
    lemma = "[zou-gu-2019, Lemma 4.2]"
    formula = "||W_l^t - W_l^0||_2 <= sqrt(k n^2 log(n) / (m phi))"

    def applies(self, ctx: Context) -> str | None:
        if not ctx.weights:
            return "no trained weight matrix to measure"
        return None

    def start(self, state: TrainState) -> None:
        info = self.ctx.info
        m = info.m or max(min(p.shape) for p in state.model.parameters())
        self.bound = movement_bound(info.n, m, info.k, info.delta)

    def measure(self, state: TrainState, grads: dict[str, torch.Tensor] | None = None) -> None:
        dist = self.ctx.distances(state)
        for layer, d in dist.items():
            self.record(state, "spectral", d.spectral, self.bound, kind=UPPER, layer=layer)
            self.record(state, "frobenius", d.frobenius, self.bound, kind=UPPER, layer=layer)
            self.record(state, "max_row", d.max_row, self.bound, kind=UPPER, layer=layer)
            self.record(state, "relative_frobenius", d.relative, None, layer=layer)
        self.record(state, "omega", self.ctx.omega(state), self.bound, kind=UPPER)
