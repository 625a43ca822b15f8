"""Forward properties at (and near) random initialization: hidden-vector norms stay near 1 and
hidden vectors of distinct inputs stay apart.

Both are "Step 1: properties at random initialization" of the proof of
[allen-zhu-2019, Theorems 3 and 4]; [zou-gu-2019] builds on the same facts under the same
normalization (unit-norm inputs, W_l entries N(0, 2/m); their Assumption 3.1).
"""

from __future__ import annotations

import math

import torch

from overparam.data.dataset import min_separation
from overparam.probes.base import LOWER, UPPER, Probe, register
from overparam.probes.context import Context, log_or_one
from overparam.train.loop import TrainState


def norm_epsilon(n: int, m: int, L: int) -> float:
    """epsilon of [allen-zhu-2019, Lemma 7.1] at which its failure probability
    O(nL) exp(-Omega(m eps^2 / L)) is about 1, constants 1: eps = min(1, sqrt(L ln(nL) / m))
    (ln read as max(1, ln))."""
    return min(1.0, math.sqrt(L * log_or_one(n * L) / m))


def hidden_scales(ctx: Context) -> list[float]:
    """nu_l, the norm each hidden vector concentrates at: 1 for a model normalized so that
    ||h_l|| ~ ||x|| = 1 (``unit_hidden_norms()``: fully connected networks in the seed papers'
    parameterizations); for the others (ntk, standard, other architectures, models outside
    :class:`~overparam.probes.protocol.ProbedModel`), the root-mean-square ||h_{i,l}^0||
    measured at init."""
    init = ctx.initial().hidden
    if ctx.probed is not None and ctx.probed.unit_hidden_norms():
        return [1.0] * len(init)
    return [float(h.to(torch.float64).pow(2).sum(1).mean().sqrt()) for h in init]


@register
class Norms(Probe):
    """``norms``: min and max over samples of ||h_{i,l}||, per hidden layer.

    Checks [allen-zhu-2019, Lemma 7.1] (forward propagation): with probability
    >= 1 - O(nL) exp(-Omega(m eps^2 / L)) over the init,

        for all i in [n], l in {0, ..., L}:   ||h_{i,l}|| in [1 - eps, 1 + eps],

    recorded with eps = min(1, sqrt(L ln(nL) / m)) (the eps at which the failure probability
    is ~1 with constants 1; see :func:`norm_epsilon`). Symbols: n samples, m width, L the
    paper's depth, h_{i,l} the hidden vector of input x_i after layer l (Allen-Zhu et al.'s
    h_0 = relu(A x) is the row of layer "A").

    Rows per hidden layer: ``min`` (kind lower, bound (1 - eps) nu_l) and ``max`` (kind upper,
    bound (1 + eps) nu_l), with nu_l = 1 for allen-zhu, zou-gu, du and cao-gu, and the
    layer's root-mean-square norm at init for ntk / standard (which do not normalize hidden
    norms to 1; :func:`hidden_scales`). The lemma is about W_0; later steps show how far
    training moves the norms. Skipped for models without hidden vectors.
    """

    name = "norms"
    lemma = "[allen-zhu-2019, Lemma 7.1]"
    formula = "1 - eps <= ||h_{i,l}|| <= 1 + eps, eps = sqrt(L ln(nL) / m)"

    def applies(self, ctx: Context) -> str | None:
        return None if ctx.has_hidden else ctx.no_hidden_reason()

    def start(self, state: TrainState) -> None:
        info = self.ctx.info
        m = info.m or max(h.shape[1] for h in self.ctx.initial().hidden)
        self.eps = norm_epsilon(info.n, m, info.L or len(self.ctx.initial().hidden))
        self.nu = hidden_scales(self.ctx)
        self.layers = self.ctx.hidden_names()

    def measure(self, state: TrainState, grads: dict[str, torch.Tensor] | None = None) -> None:
        hidden = self.ctx.current(state).hidden
        for layer, nu, h in zip(self.layers, self.nu, hidden, strict=True):
            norms = h.to(torch.float64).norm(dim=1)
            lo, hi = float(norms.min()), float(norms.max())
            self.record(state, "min", lo, (1.0 - self.eps) * nu, kind=LOWER, layer=layer)
            self.record(state, "max", hi, (1.0 + self.eps) * nu, kind=UPPER, layer=layer)


@register
class Separation(Probe):
    """``separation``: min_{i != j} || h_{i,l}/||h_{i,l}|| - h_{j,l}/||h_{j,l}|| || per layer.

    Checks the forward separateness step of [allen-zhu-2019, Theorem 3 proof, Step 1] (seed
    slides: "with ||x_i - x_j|| >= delta: ||h_{i,l} - h_{j,l}|| >= Omega(delta) for each layer
    l"), recorded in the form the issue states it,

        min_{i != j} || h_{i,l}/||h_{i,l}|| - h_{j,l}/||h_{j,l}|| ||  >=  delta / 2,

    with delta = min_{i != j} ||x_i - x_j|| the data separation ([allen-zhu-2019, Assumption
    2.1]; phi of [zou-gu-2019, Assumption 3.2]). Normalizing removes the norm fluctuations
    that :class:`Norms` tracks. One row per hidden layer, quantity ``min_distance``, kind lower,
    bound delta / 2.
    Computed in float64 in row blocks (O(n^2 m) time, O(n * 2048) memory).
    """

    name = "separation"
    lemma = "[allen-zhu-2019, Theorem 3 proof, Step 1 (forward separateness)]"
    formula = "min_{i != j} ||h_i/||h_i|| - h_j/||h_j|| || >= delta / 2"

    def applies(self, ctx: Context) -> str | None:
        if not ctx.has_hidden:
            return ctx.no_hidden_reason()
        if ctx.info.n < 2:
            return "separation needs at least two samples"
        return None

    def start(self, state: TrainState) -> None:
        self.layers = self.ctx.hidden_names()

    def measure(self, state: TrainState, grads: dict[str, torch.Tensor] | None = None) -> None:
        bound = self.ctx.info.delta / 2.0
        for layer, h in zip(self.layers, self.ctx.current(state).hidden, strict=True):
            h = h.to(torch.float64)
            unit = h / h.norm(dim=1, keepdim=True).clamp_min(1e-300)
            self.record(state, "min_distance", min_separation(unit), bound, kind=LOWER, layer=layer)
