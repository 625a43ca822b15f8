"""Forward stability after a perturbation of the weights: few ReLU signs flip, and hidden vectors
move little.

Both halves are "Step 2: stability after adversarial perturbation" of the proof of
[allen-zhu-2019, Theorems 3 and 4]: for every W with ||W_l - W_l^(0)||_2 <= omega <= 1/poly(L)
for all l,

    (a) ||D_{i,l} - D_{i,l}^(0)||_0 <= O(m omega^(2/3) L)     (ReLU sign changes), and
    (b) ||h_{i,l} - h_{i,l}^(0)||   <= O(omega L^(5/2))       (hidden-vector perturbation),

where D_{i,l} = diag(1[(W_l h_{i,l-1})_k >= 0]) is the ReLU's sign pattern on input x_i at
layer l. Both are evaluated with constant 1 at the *measured* omega = max_l ||W_l^t - W_l^0||_2
(papers' units, :meth:`overparam.probes.context.Context.omega`).
"""

from __future__ import annotations

import torch

from overparam.probes.base import UPPER, Probe, register
from overparam.probes.context import Context
from overparam.probes.norms import hidden_scales
from overparam.train.loop import TrainState


@register
class Flips(Probe):
    """``flips``: how many ReLU signs differ from init, per hidden layer.

    Checks [allen-zhu-2019, Theorems 3-4 proof, Step 2 (a)], per sample and layer

        ||D_{i,l} - D_{i,l}^(0)||_0  <=  m omega^(2/3) L          (constant 1),

    the quantity whose fraction [du-2019-two-layer, Section 5] plots (the share of pattern
    changes falls as the width grows). Rows per hidden layer, all kind upper:

    * ``count``: sum_i ||D_{i,l} - D_{i,l}^(0)||_0, bound n m omega^(2/3) L;
    * ``fraction``: count / (n m_l), bound omega^(2/3) L;
    * ``max_per_sample``: max_i ||D_{i,l} - D_{i,l}^(0)||_0, bound m omega^(2/3) L.

    At t = 0 every count is exactly 0 (the same forward pass), and so is the bound.
    A sign is (z > 0) on the pre-activation z; a pre-activation within rounding of 0 can flip by
    rounding alone, so float64 runs give the cleanest counts. Applies to relu only: a smooth
    activation has no sign pattern D_{i,l}, so the probe records nothing
    (``skip_reason`` says so).
    """

    name = "flips"
    lemma = "[allen-zhu-2019, Theorems 3-4 proof, Step 2 (a)]"
    formula = "||D_{i,l} - D_{i,l}^(0)||_0 <= m omega^(2/3) L"

    def applies(self, ctx: Context) -> str | None:
        if not ctx.returns_hidden:  # read from the outside: its piecewise-linear activations
            return ctx.no_pattern_reason()
        if not ctx.info.relu:
            return (
                "flips counts ReLU sign changes (Allen-Zhu et al.'s D_{i,l}); a smooth "
                "activation has no sign pattern"
            )
        return None

    def start(self, state: TrainState) -> None:
        init = self.ctx.initial()
        self.layers = list(init.pattern_layers)
        self.signs0 = init.patterns

    def measure(self, state: TrainState, grads: dict[str, torch.Tensor] | None = None) -> None:
        info = self.ctx.info
        omega = self.ctx.omega(state)
        L = info.L or len(self.layers)
        per_unit = omega ** (2.0 / 3.0) * L
        patterns = self.ctx.current(state).patterns
        for layer, s0, pattern in zip(self.layers, self.signs0, patterns, strict=True):
            changed = pattern != s0
            per_sample = changed.sum(dim=1)
            n, m = changed.shape
            count = int(per_sample.sum())
            self.record(state, "count", count, n * m * per_unit, kind=UPPER, layer=layer)
            self.record(state, "fraction", count / (n * m), per_unit, kind=UPPER, layer=layer)
            self.record(
                state,
                "max_per_sample",
                int(per_sample.max()),
                m * per_unit,
                kind=UPPER,
                layer=layer,
            )


@register
class HiddenDrift(Probe):
    """``hidden_drift``: max_i ||h_{i,l}^t - h_{i,l}^0|| per hidden layer.

    Checks [allen-zhu-2019, Theorems 3-4 proof, Step 2 (b)] (forward stability; it feeds
    Theorem 3),

        ||h_{i,l} - h_{i,l}^(0)||  <=  omega L^(5/2)          (constant 1),

    with omega the measured distance from init and L the paper's depth. For parameterizations
    whose hidden norms are not normalized to 1 (ntk, standard) the bound is multiplied by the
    layer's norm scale nu_l (:func:`overparam.probes.norms.hidden_scales`). One row per hidden
    layer, quantity ``max``, kind upper. The statement is for relu; for smooth activations the
    same bound is recorded for comparison.
    """

    name = "hidden_drift"
    lemma = "[allen-zhu-2019, Theorems 3-4 proof, Step 2 (b)]"
    formula = "||h_{i,l}^t - h_{i,l}^0|| <= omega L^(5/2)"

    def applies(self, ctx: Context) -> str | None:
        return None if ctx.has_hidden else ctx.no_hidden_reason()

    def start(self, state: TrainState) -> None:
        self.layers = self.ctx.hidden_names()
        self.nu = hidden_scales(self.ctx)

    def measure(self, state: TrainState, grads: dict[str, torch.Tensor] | None = None) -> None:
        omega = self.ctx.omega(state)
        L = self.ctx.info.L or len(self.layers)
        bound = omega * L**2.5
        h0 = self.ctx.initial().hidden
        ht = self.ctx.current(state).hidden
        for layer, nu, a, b in zip(self.layers, self.nu, h0, ht, strict=True):
            drift = float((b - a).to(torch.float64).norm(dim=1).max())
            self.record(state, "max", drift, bound * nu, kind=UPPER, layer=layer)
