"""Probe overhead: a training run with the cheap probes (norms, flips, movement,
gradient_ratio; default schedule, ~50 log-spaced evaluations) against the same run without
probes, measured in one process. The target is a ratio of at most 1.2.

    python benchmarks/probes.py [--steps 1000] [--width 1024] [--repeats 2] [--probes ...]

Defaults: zou-gu, n = 64, d = 16, m = 1024, L = 3, full-batch GD, 1000 steps, float32, CPU.
Each configuration is run ``repeats`` times, alternating, and the fastest run of each is
compared (the time of ``train``, probes' on_start / on_end included; data and model built
outside the timing). Both wall-clock and process CPU time are printed: on a shared machine
the CPU-time ratio is the one other processes do not distort (run with one thread,
OMP_NUM_THREADS=1, so that CPU time is the run's own work).
"""

from __future__ import annotations

import argparse
import time

import torch

from overparam.config import build_config
from overparam.probes import make_probes
from overparam.run import resolve_lr, setup
from overparam.train.loop import train

CHEAP = ("norms", "flips", "movement", "gradient_ratio")


def timed_run(cfg, probes: tuple[str, ...]) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, rows) of one training run of ``cfg`` with ``probes``."""
    s = setup(cfg)
    lr = resolve_lr(s)
    callbacks = make_probes(probes) if probes else []
    wall, cpu = time.perf_counter(), time.process_time()
    history = train(s.model, s.train, s.objective, lr=lr, steps=cfg.steps, callbacks=callbacks)
    return time.perf_counter() - wall, time.process_time() - cpu, len(history.records)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parameterization", default="zou-gu")
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--d", type=int, default=16)
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--depth", type=int, default=3)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--probes", nargs="+", default=list(CHEAP))
    args = ap.parse_args()
    cfg = build_config(
        None,
        parameterization=args.parameterization,
        n=args.n,
        d=args.d,
        width=args.width,
        depth=args.depth,
        steps=args.steps,
    )
    probes = tuple(args.probes)
    print(
        f"{args.parameterization} n={args.n} d={args.d} m={args.width} L={args.depth} "
        f"steps={args.steps} threads={torch.get_num_threads()} probes={','.join(probes)}"
    )
    timed_run(build_config(cfg.model_dump(), steps=5), probes)  # warm-up (imports, allocator)
    base: list[tuple[float, float, int]] = []
    with_probes: list[tuple[float, float, int]] = []
    for _ in range(args.repeats):
        base.append(timed_run(cfg, ()))
        with_probes.append(timed_run(cfg, probes))
    for label, runs in (("without probes", base), ("with probes   ", with_probes)):
        wall = ", ".join(f"{w:.2f}" for w, _, _ in runs)
        cpu = ", ".join(f"{c:.2f}" for _, c, _ in runs)
        print(f"{label}: wall {wall} s;  CPU {cpu} s")
    print(f"rows recorded: {with_probes[-1][2]}")
    wall_ratio = min(w for w, _, _ in with_probes) / min(w for w, _, _ in base)
    cpu_ratio = min(c for _, c, _ in with_probes) / min(c for _, c, _ in base)
    print(f"overhead ratio (wall, fastest of each): {wall_ratio:.3f}")
    print(f"overhead ratio (CPU time, fastest of each): {cpu_ratio:.3f}  (target <= 1.2)")


if __name__ == "__main__":
    main()
