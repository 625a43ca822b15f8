"""The gradient lower (and upper) bound: near initialization, a large loss means a large
gradient, so gradient descent has no critical point to stall at.

Both papers state ||grad L||_F^2 >= (constant) * L(W); they differ in the loss's reduction and
in how the constant scales with n:

* [allen-zhu-2019, Theorem 3] (sum loss F = sum_i 1/2 ||f(x_i) - y_i||^2, output dimension d):
  Omega(F delta m / (d n^2)) <= ||grad F||_F^2 <= O(F L n m / d);
* [zou-gu-2019, Lemma 4.1] (mean loss L = F / n, k outputs): ||grad L||_F^2 >= m phi L / (k n^2),
  n times larger than Allen-Zhu et al.'s bound once both are written for the same loss.
"""

from __future__ import annotations

import torch

from overparam.probes.base import LOWER, UPPER, Probe, register
from overparam.train.loop import TrainState


def gradient_bounds(n: int, m: int, L: int, k: int, delta: float) -> dict[str, float]:
    """The bounds on ||grad||_F^2 / loss with constants 1.

    Returns:
        ``lower_allen_zhu``: delta m / (k n^2) (sum loss; [allen-zhu-2019, Theorem 3]);
        ``lower_zou_gu``: m phi / (k n^2) (mean loss; [zou-gu-2019, Lemma 4.1]);
        ``upper_allen_zhu``: L n m / k (sum loss; [allen-zhu-2019, Theorem 3]).
        Here n samples, m width, L depth, k outputs (Allen-Zhu et al.'s d), delta = phi the
        data separation.
    """
    return {
        "lower_allen_zhu": delta * m / (k * n**2),
        "lower_zou_gu": m * delta / (k * n**2),
        "upper_allen_zhu": L * n * m / k,
    }


@register
class GradientRatio(Probe):
    """``gradient_ratio``: ||grad L(W_t)||_F^2 / L(W_t) against the papers' bounds.

    Checks [allen-zhu-2019, Theorem 3] (no critical point) and [zou-gu-2019, Lemma 4.1]
    (gradient lower bound), with constants 1 (:func:`gradient_bounds`):

        sum loss F:   delta m / (d n^2)  <=  ||grad F||_F^2 / F  <=  L n m / d
        mean loss L:  m phi / (k n^2)    <=  ||grad L||_F^2 / L

    The measured ratio is converted to each paper's reduction (||grad L||^2 / L =
    ||grad F||^2 / (n F) for L = F / n), so both are checked whatever loss the run uses. Rows,
    each with ratio = value / bound:

    * ``lower_allen_zhu``: ||grad F||^2 / F (kind lower);
    * ``lower_zou_gu``: ||grad L||^2 / L (kind lower);
    * ``upper_allen_zhu``: ||grad F||^2 / F (kind upper).

    The gradient is the full-batch gradient over the trained parameters, in the papers'
    units (dL/dW_eff = dL/dW / (a_l s_l); :mod:`overparam.probes.context`). Under GD it is the
    gradient the training loop computes anyway (``on_gradient`` hook), so the probe costs one
    sum of squares; under SGD it is computed at each evaluation. Both theorems are for the
    square loss; for other losses the ratios are recorded without bounds.
    """

    name = "gradient_ratio"
    lemma = "[allen-zhu-2019, Theorem 3]; [zou-gu-2019, Lemma 4.1]"
    formula = (
        "delta m / (d n^2) <= ||grad F||^2 / F <= L n m / d;  ||grad L||^2 / L >= m phi / (k n^2)"
    )
    uses_gradient = True

    def start(self, state: TrainState) -> None:
        info = self.ctx.info
        m = info.m or max(min(p.shape) for p in state.model.parameters() if p.ndim == 2)
        bounds = gradient_bounds(info.n, m, info.L or 1, info.k, info.delta)
        self.bounds = bounds if info.square else dict.fromkeys(bounds)

    def measure(self, state: TrainState, grads: dict[str, torch.Tensor] | None = None) -> None:
        info = self.ctx.info
        loss = self.ctx.full_loss(state)
        g2 = self.ctx.paper_norm_sq(grads or {}, gradient=True)
        if not loss > 0.0:
            return
        ratio = g2 / loss
        r_sum = ratio * info.n if info.mean else ratio
        r_mean = ratio if info.mean else ratio / info.n
        b = self.bounds
        self.record(state, "lower_allen_zhu", r_sum, b["lower_allen_zhu"], kind=LOWER)
        self.record(state, "lower_zou_gu", r_mean, b["lower_zou_gu"], kind=LOWER)
        self.record(state, "upper_allen_zhu", r_sum, b["upper_allen_zhu"], kind=UPPER)
