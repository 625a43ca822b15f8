"""The proof probes inside a training loop you wrote: Adam, minibatches, your own loss.

``overparam.track`` snapshots the weights at init, and each ``tracker.step(step)`` measures on a
fixed probe set every ``every`` steps: ReLU sign flips, movement of every parameter tensor and
the drift of the empirical NTK. ``tracker.close()`` stores the run in a results database, where
``overparam report --store FILE`` shows it in its "Your networks" chapter.

    python examples/own_training_loop.py --store my-runs.sqlite && \
        overparam report --store my-runs.sqlite
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

import overparam


def main(steps: int = 60, store: str | None = None, width: int = 128) -> overparam.History:
    g = torch.Generator().manual_seed(0)
    X = torch.randn(256, 10, generator=g)
    y = torch.sin(X[:, :1] * 2.0) + 0.1 * torch.randn(256, 1, generator=g)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                          nn.Linear(width, 1))  # fmt: skip
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    tracker = overparam.track(
        model, X[:32], y[:32], probes=["flips", "movement", "ntk_drift"], every=10,
        width=width, store=store,
    )  # fmt: skip
    for step in range(steps):
        batch = torch.randint(0, 256, (32,), generator=g)
        loss = nn.functional.mse_loss(model(X[batch]), y[batch])
        tracker.step(step, loss=loss.detach().item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    history = tracker.close(steps)
    drift = [r for r in history.records if r["quantity"] == "relative_drift"]
    for r in drift:
        print(f"step {r['step']:>4}: ||Theta_t - Theta_0||_F / ||Theta_0||_F = {r['value']:.4f}")
    return history


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--store", default=None)
    a = parser.parse_args()
    main(a.steps, a.store, a.width)
