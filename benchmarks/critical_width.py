"""Critical-width search throughput: one ``scaling-laws`` search (log-width bisection to 10%,
8 seeds, each bisection step's seeds submitted together) under each executor, in one process
tree, each against its own fresh results store.

    python benchmarks/critical_width.py [--n 32] [--lr auto] [--steps 3000] [--seeds 8]

=================  =========================================================================
sequential         one process, one torch thread, one run at a time (the reference)
local x2           two spawned processes, one run each at a time
batched            one process, the seeds of a width trained in one vectorized call
batched tN         the same with every core's torch threads
=================  =========================================================================

Prints runs per second and the ratio to sequential (wall and CPU seconds), and checks that
every executor found the same m* from the same evaluated widths (the search's path depends only
on the outcomes, so any difference is a numerical difference between executors).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see benchmarks/sweep.py

import argparse
import math
import tempfile
import time
from pathlib import Path

import torch
from sweep import cpu_seconds  # benchmarks/sweep.py, beside this script

from overparam.config import build_config
from overparam.run import run
from overparam.studies import scaling_laws as sl
from overparam.sweep.critical import critical_width
from overparam.sweep.executors import cores


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--lr", default="auto", choices=["auto", "theory"])
    ap.add_argument("--steps", type=int, default=3000, help="the search's step budget")
    ap.add_argument("--seeds", type=int, default=8)
    args = ap.parse_args()
    config = build_config({**sl.base_config(), "n": args.n, "depth": 1, "phi": sl.BASE[2],
                           "lr": args.lr})  # fmt: skip
    search = dict(target_ratio=sl.TARGET_RATIO, success=sl.SUCCESS, seeds=args.seeds,
                  width_min=sl.WIDTH_MIN, width_max=sl.WIDTH_MAX, rel_tol=sl.RESOLUTION,
                  method="bisect", max_steps=args.steps)  # fmt: skip
    ncores = cores()
    rows = {"sequential": ("local", 1, 1), "local x2": ("local", 2, 1),
            "batched": ("batched", 1, 1), f"batched t{ncores}": ("batched", 1, ncores)}  # fmt: skip
    run(build_config({}, n=4, d=4, width=4, steps=2))  # torch.func's one-time start-up
    print(f"critical width of zou-gu n={args.n} d={sl.D} L=1 phi={sl.BASE[2]} lr={args.lr}: "
          f"{args.seeds} seeds, budget {args.steps}, widths {sl.WIDTH_MIN}..{sl.WIDTH_MAX}, "
          f"{ncores} cores")  # fmt: skip
    print(f"{'executor':12s} {'wall s':>8s} {'runs':>5s} {'runs/s':>7s} {'vs seq':>7s} "
          f"{'cpu s':>8s} {'cpu vs seq':>10s}  m*")  # fmt: skip
    found: dict[str, tuple[int | None, tuple]] = {}
    seq_wall = seq_cpu = math.nan
    with tempfile.TemporaryDirectory() as tmp:
        for label, (executor, workers, threads) in rows.items():
            torch.set_num_threads(threads)
            wall0, cpu0 = time.perf_counter(), cpu_seconds()
            res = critical_width(config, **search, store=Path(tmp) / f"{label}.sqlite",
                                 executor=executor, workers=workers)  # fmt: skip
            wall, cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0
            runs = len(res.evaluations) * args.seeds
            if label == "sequential":
                seq_wall, seq_cpu = wall, cpu
            found[label] = (res.width, res.evaluations)
            print(f"{label:12s} {wall:8.2f} {runs:5d} {runs / wall:7.2f} {seq_wall / wall:6.2f}x "
                  f"{cpu:8.2f} {seq_cpu / cpu:9.2f}x  {res.width}")  # fmt: skip
    same = len(set(found.values())) == 1
    print(f"every executor found the same m* from the same widths: {same}")


if __name__ == "__main__":
    main()
