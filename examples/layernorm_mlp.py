"""Does an MLP with LayerNorm stay lazy as it widens? A width sweep judged by the claim engine.

``overparam.width_sweep`` trains the family at each width and seed, fits the width exponent of
the final NTK drift, relative parameter change and flipped-sign fraction, and judges the lazy
regime's prediction (each falls at least like m^(-1/2); [lee-2019, Theorem 2.1],
[du-2019-two-layer, Lemma 3.2]) with a bootstrap interval: consistent, contradicted or
inconclusive, never a green row by default.

    python examples/layernorm_mlp.py --widths 64 128 256 512 1024 --steps 100
"""

from __future__ import annotations

import argparse
import math

import torch
from torch import nn

import overparam


class LayerNormMLP(nn.Module):
    """x -> LN(relu(W1 x / sqrt(d))) -> relu(W2 h / sqrt(m)) -> v h / sqrt(m), W ~ N(0, 1):
    the NTK parameterization [jacot-2018] with a LayerNorm after the first hidden layer."""

    def __init__(self, d: int, m: int) -> None:
        super().__init__()
        self.w1 = nn.Parameter(torch.randn(m, d, dtype=torch.float64))
        self.norm = nn.LayerNorm(m, dtype=torch.float64)
        self.w2 = nn.Parameter(torch.randn(m, m, dtype=torch.float64))
        self.v = nn.Parameter(torch.randn(1, m, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(torch.relu(x @ self.w1.T / math.sqrt(self.w1.shape[1])))
        h = torch.relu(h @ self.w2.T / math.sqrt(self.w2.shape[1]))
        return h @ self.v.T / math.sqrt(self.v.shape[1])


def sphere_data(n: int = 16, d: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g, dtype=torch.float64)
    return X / X.norm(dim=1, keepdim=True), torch.randn(n, 1, generator=g, dtype=torch.float64)


def main(widths=(32, 64, 128, 256), seeds=(0, 1), steps: int = 20, store: str | None = None):
    X, y = sphere_data()
    result = overparam.width_sweep(
        lambda m: LayerNormMLP(X.shape[1], m), list(widths), X, y, seeds=seeds, steps=steps,
        lr=1.0, probe_every=max(1, steps // 2), store=store,
    )  # fmt: skip
    print(result)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[32, 64, 128, 256])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--store", default=None, help="results database to store the runs in")
    a = parser.parse_args()
    main(a.widths, a.seeds, a.steps, a.store)
