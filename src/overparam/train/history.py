"""The result of one training run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class History:
    """Per-step losses, status, timing and probe records of one run.

    Attributes:
        losses: L(W_t) for t = 0..steps (the objective before update t; the last entry is the
            loss after the final update). For online SGD, the loss of the fresh sample at W_t.
        status: "converged" (target reached), "max_steps" (budget used) or "diverged"
            (non-finite or exploding loss; the history up to it is kept).
        records: tidy probe rows {step, probe, layer, value, bound, ...}.
        final_params: trained parameters at the end (on request), CPU tensors.
        output_iterate: for online SGD, the index t of the returned iterate W_t.
        notes: what a reader must know about the records (probes that did not apply and why;
            whether the papers' bounds apply to the model).
    """

    config: dict[str, Any]
    losses: list[float] = field(default_factory=list)
    status: str = "max_steps"
    wall_s: float = 0.0
    records: list[dict[str, Any]] = field(default_factory=list)
    final_params: dict[str, torch.Tensor] | None = None
    train_accuracy: float | None = None
    test_accuracy: float | None = None
    output_iterate: int | None = None
    lr: float | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def steps(self) -> int:
        return max(len(self.losses) - 1, 0)

    @property
    def initial_loss(self) -> float:
        return self.losses[0] if self.losses else float("nan")

    @property
    def final_loss(self) -> float:
        return self.losses[-1] if self.losses else float("nan")

    def to_frame(self):
        """Per-step losses as a pandas DataFrame (columns step, loss)."""
        import pandas as pd

        return pd.DataFrame({"step": range(len(self.losses)), "loss": self.losses})

    def records_frame(self):
        """Probe records as a tidy pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame.from_records(self.records)

    def downsampled(self, points: int = 64) -> list[list[float]]:
        """[[step, loss], ...] at up to ``points`` log-spaced steps (first and last included)."""
        from overparam.train.schedule import log_spaced

        return [[t, self.losses[t]] for t in log_spaced(self.steps, points)]
