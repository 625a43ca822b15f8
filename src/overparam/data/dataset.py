"""The :class:`Dataset` every generator returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass(frozen=True)
class Dataset:
    """Inputs, targets and what is known about them.

    Attributes:
        X: (n, d) inputs; for the sphere and digits generators every row has unit norm and last
            coordinate mu [zou-gu-2019, Assumption 3.1].
        y: (n, k) regression / +-1 / one-hot targets.
        separation: measured phi = min_{i != j} ||x_i - x_j|| [zou-gu-2019, Assumption 3.2]
            (delta in [allen-zhu-2019, Assumption 2.1]).
        provenance: generator name, its parameters and seed.
        classes: (n,) integer class of each sample for classification tasks, else None.
    """

    X: torch.Tensor
    y: torch.Tensor
    separation: float
    provenance: dict[str, Any] = field(default_factory=dict)
    classes: torch.Tensor | None = None

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    @property
    def d(self) -> int:
        return int(self.X.shape[1])

    @property
    def k(self) -> int:
        return int(self.y.shape[1])

    def to(self, dtype: torch.dtype | None = None, device: str | torch.device | None = None):
        """A copy with X and y cast / moved (classes stay integer)."""
        import dataclasses

        return dataclasses.replace(
            self,
            X=self.X.to(dtype=dtype, device=device),
            y=self.y.to(dtype=dtype, device=device),
            classes=None if self.classes is None else self.classes.to(device=device),
        )


def min_separation(X: torch.Tensor) -> float:
    """phi = min_{i != j} ||x_i - x_j||_2 in float64. Candidate pairs come from the Gram
    expansion ||x||^2 + ||y||^2 - 2 x.y by blocks of rows (n^2 / block memory); the closest
    pair's distance is then recomputed directly, so duplicates give exactly 0.
    Returns inf for fewer than two points."""
    X = X.detach().to(torch.float64).cpu()
    n = X.shape[0]
    if n < 2:
        return float("inf")
    sq = (X * X).sum(1)
    best, pair = float("inf"), (0, 1)
    block = 2048
    for s in range(0, n, block):
        rows = X[s : s + block]
        d2 = sq[s : s + block, None] + sq[None, :] - 2.0 * rows @ X.T
        idx = torch.arange(s, min(s + block, n))
        d2[idx - s, idx] = float("inf")
        flat = int(torch.argmin(d2))
        value = float(d2.view(-1)[flat])
        if value < best:
            best, pair = value, (s + flat // n, flat % n)
    return float((X[pair[0]] - X[pair[1]]).norm())
