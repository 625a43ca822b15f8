"""Training objectives with the reduction each paper prescribes.

L(W) = c * sum_i loss(f(x_i), y_i), with c = 1 ("sum": [allen-zhu-2019, Def. 2.3 objective],
[du-2019-deep, eq. (2)]) or c = 1/n ("mean": [zou-gu-2019, Section 3], [cao-gu-2019]).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import torch
import torch.nn.functional as F

from overparam.errors import ConfigError


class Loss(StrEnum):
    """``square``: 1/2 ||f - y||^2. ``logistic``: log(1 + exp(-y f)) for y in {-1, +1}, k = 1
    [cao-gu-2019, Section 3]. ``cross-entropy``: softmax cross-entropy against one-hot y."""

    SQUARE = "square"
    LOGISTIC = "logistic"
    CROSS_ENTROPY = "cross-entropy"


class Reduction(StrEnum):
    SUM = "sum"
    MEAN = "mean"


# Upper bound on the second derivative of each per-sample loss in f (for the Gauss-Newton
# curvature behind lr="auto"): 1 for square, 1/4 for logistic (sigmoid'), 1/2 for softmax CE.
CURVATURE = {Loss.SQUARE: 1.0, Loss.LOGISTIC: 0.25, Loss.CROSS_ENTROPY: 0.5}


def per_sample(loss: Loss, f: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-sample losses (n,) for outputs f (n, k) and targets y (n, k)."""
    if loss is Loss.SQUARE:
        return 0.5 * ((f - y) ** 2).sum(1)
    if loss is Loss.LOGISTIC:
        return F.softplus(-y * f).sum(1)
    return -(y * F.log_softmax(f, dim=1)).sum(1)


@dataclass(frozen=True)
class Objective:
    """A loss with its reduction over n training samples: L = scale(n) * sum_i loss_i."""

    loss: Loss
    reduction: Reduction

    def scale(self, n: int) -> float:
        return 1.0 if self.reduction is Reduction.SUM else 1.0 / n

    def __call__(
        self, f: torch.Tensor, y: torch.Tensor, n_total: int | None = None
    ) -> torch.Tensor:
        """The objective on a batch. With ``n_total`` (minibatch of the n_total samples), the
        batch sum is rescaled to an unbiased estimate of the full objective:
        mean -> (1/B) sum_batch, sum -> (n_total/B) sum_batch."""
        losses = per_sample(self.loss, f, y)
        b = f.shape[0]
        if self.reduction is Reduction.MEAN:
            return losses.sum() / b
        return losses.sum() * (1.0 if n_total is None else n_total / b)

    @property
    def curvature(self) -> float:
        return CURVATURE[self.loss]


def make_objective(loss: str, reduction: str, k: int) -> Objective:
    """Validate names and the loss/output compatibility (logistic needs k = 1, CE k >= 2)."""
    try:
        loss_e = Loss(loss)
    except ValueError:
        raise ConfigError("loss", loss, ", ".join(v.value for v in Loss)) from None
    try:
        red = Reduction(reduction)
    except ValueError:
        raise ConfigError("reduction", reduction, "sum, mean") from None
    if loss_e is Loss.LOGISTIC and k != 1:
        raise ConfigError("loss", loss, "square or cross-entropy for k > 1 outputs")
    if loss_e is Loss.CROSS_ENTROPY and k < 2:
        raise ConfigError("loss", loss, "square or logistic for a single output")
    return Objective(loss_e, red)


def accuracy(f: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction classified correctly: sign agreement for k = 1, argmax agreement for k > 1."""
    if f.shape[1] == 1:
        return float((torch.sign(f) == torch.sign(y)).to(torch.float64).mean())
    return float((f.argmax(1) == y.argmax(1)).to(torch.float64).mean())
