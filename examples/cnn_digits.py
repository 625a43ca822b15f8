"""Is a small CNN with max-pooling in the lazy regime on scikit-learn's digits?

A network none of the papers treats (convolutions, max-pooling, a dense head), trained by
full-batch GD with ``overparam.measure``: the ReLU signs that flip, how far each parameter
tensor moves from init, and how much its empirical NTK drifts. No paper's bound applies to it,
so the numbers are measurements; ``examples/layernorm_mlp.py`` shows how to test their scaling.

    python examples/cnn_digits.py --channels 32 --steps 100
"""

from __future__ import annotations

import argparse

import torch
from sklearn.datasets import load_digits
from torch import nn

import overparam


def digits_images(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first n digits as (n, 1, 8, 8) images scaled to [0, 1], and one-hot targets."""
    d = load_digits()
    X = torch.tensor(d.images[:n], dtype=torch.float64)[:, None] / 16.0
    y = torch.nn.functional.one_hot(torch.tensor(d.target[:n]), 10).to(torch.float64)
    return X, y


def small_cnn(channels: int, seed: int = 0) -> nn.Module:
    """conv 3x3 -> ReLU -> max-pool 2 -> conv 3x3 -> ReLU -> max-pool 2 -> linear."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(4 * channels, 10),
    ).double()  # fmt: skip


def main(channels: int = 16, n: int = 48, steps: int = 40) -> overparam.History:
    X, y = digits_images(n)
    model = small_cnn(channels)
    history = overparam.measure(
        model, X, y, steps=steps, lr="auto", probes=["flips", "movement", "ntk_drift"],
        probe_every=max(1, steps // 4),
    )  # fmt: skip
    last = max(r["step"] for r in history.records)
    final = [r for r in history.records if r["step"] == last]
    print(f"loss {history.losses[0]:.4f} -> {history.losses[-1]:.4f} in {steps} GD steps")
    for r in final:
        if r["quantity"] in ("fraction", "relative_frobenius", "relative_drift"):
            print(f"  {r['probe']:>9} {r['quantity']:<18} {r['layer']:<10} {r['value']:.4g}")
    for note in history.notes:
        print("note:", note)
    return history


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--n", type=int, default=48)
    parser.add_argument("--steps", type=int, default=40)
    a = parser.parse_args()
    main(a.channels, a.n, a.steps)
