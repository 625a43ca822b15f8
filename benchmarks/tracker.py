"""Tracker overhead: a hand-written training loop (Adam on minibatches of an nn.Sequential ReLU
MLP) with ``overparam.track`` measuring flips, movement and NTK drift every 10 steps on a fixed
probe set, against the same loop without the tracker, in one process. Target: at most 1.3.

    python benchmarks/tracker.py [--steps 500] [--width 512] [--batch 256] [--probe-n 64]

Defaults: d = 32, m = 512, 3 hidden layers, batch 256 of n = 2048, probe set of 64 points, float32,
CPU, 500 steps. Each configuration runs ``repeats`` times, alternating, and the fastest of each
is compared; wall and process CPU time are both printed (run with OMP_NUM_THREADS=1 on a
shared machine: CPU time is then the run's own work).
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

import overparam


def build(d: int, m: int, depth: int) -> nn.Module:
    torch.manual_seed(0)
    layers: list[nn.Module] = [nn.Linear(d, m), nn.ReLU()]
    for _ in range(depth - 1):
        layers += [nn.Linear(m, m), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(m, 1))


def loop(args, tracked: bool) -> tuple[float, float, int]:
    """(wall s, CPU s, records) of one training loop."""
    g = torch.Generator().manual_seed(0)
    X = torch.randn(args.n, args.d, generator=g)
    y = torch.sin(X[:, :1])
    model = build(args.d, args.width, args.depth)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    wall, cpu = time.perf_counter(), time.process_time()
    probes = ["flips", "movement", "ntk_drift"]
    Xp, yp = X[: args.probe_n], y[: args.probe_n]
    tracker = overparam.track(model, Xp, yp, probes=probes, every=args.every) if tracked else None
    for step in range(args.steps):
        idx = torch.randint(0, args.n, (args.batch,), generator=g)
        loss = nn.functional.mse_loss(model(X[idx]), y[idx])
        if tracker is not None:
            tracker.step(step)
        opt.zero_grad()
        loss.backward()
        opt.step()
    rows = len(tracker.close(args.steps).records) if tracker is not None else 0
    return time.perf_counter() - wall, time.process_time() - cpu, rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2048)
    ap.add_argument("--d", type=int, default=32)
    ap.add_argument("--width", type=int, default=512)
    ap.add_argument("--depth", type=int, default=3)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--probe-n", type=int, default=64)
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    plain, tracked = [], []
    for _ in range(args.repeats):
        plain.append(loop(args, False))
        tracked.append(loop(args, True))
    p = min(plain, key=lambda r: r[0])
    t = min(tracked, key=lambda r: r[0])
    pc = min(r[1] for r in plain)
    tc = min(r[1] for r in tracked)
    print(
        f"loop: n={args.n} d={args.d} m={args.width} depth={args.depth} batch={args.batch} "
        f"steps={args.steps}; tracker: flips, movement, ntk_drift every {args.every} steps on "
        f"{args.probe_n} points ({t[2]} rows); torch threads {torch.get_num_threads()}"
    )
    ratio = t[0] / p[0]
    print(f"wall: plain {p[0]:.2f} s, tracked {t[0]:.2f} s, ratio {ratio:.3f} (target <= 1.3)")
    print(f"cpu:  plain {pc:.2f} s, tracked {tc:.2f} s, ratio {tc / pc:.3f}")


if __name__ == "__main__":
    main()
