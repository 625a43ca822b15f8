"""Speed of one GD step of ``overparam.train.train`` against torch's own matmul throughput.

Default problem: n = 512, d = 64, m = 1024, L = 5, k = 1, float32, zou-gu (W_1..W_L trained,
V fixed), full-batch GD. Prints ms per step (median over steps after warm-up), the GFLOP/s that
implies, torch's float32 matmul GFLOP/s on an (n x m) @ (m x m) product measured in the same
process (before and after the steps; the median of both sets), and their ratio.

FLOPs per step (every dense product A (p x q) @ B (q x r) counts 2 p q r):
    forward        2 n (d m + (L - 1) m^2 + m k)
    backward, act  2 n ((L - 1) m^2 + m k)        grads w.r.t. the inputs of layers 2..L+1
    backward, W    2 n (d m + (L - 1) m^2)        grads of the trained W_1..W_L (V is fixed)
Elementwise work (relu, its mask, the loss, the update) is not counted.

Two clocks: wall time (what a user waits) and, with one thread, process CPU time, which leaves
out the time the process is descheduled and so stays meaningful on a shared, loaded machine.
A per-product breakdown times the step's matmuls alone, in the loop's operand layouts, to show
how much of the step is GEMM and how much is everything else.

Usage:  python benchmarks/train_step.py [--threads 1] [--profile]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from collections.abc import Callable

import torch

from overparam.data import sphere
from overparam.models import FullyConnected
from overparam.train import make_objective, train

# ---------------------------------------------------------------------------------------------
# FLOP model
# ---------------------------------------------------------------------------------------------


def step_flops(n: int, d: int, m: int, depth: int, k: int) -> dict[str, float]:
    fwd = 2 * n * (d * m + (depth - 1) * m * m + m * k)
    bwd_act = 2 * n * ((depth - 1) * m * m + m * k)
    bwd_w = 2 * n * (d * m + (depth - 1) * m * m)
    return {"forward": fwd, "backward_act": bwd_act, "backward_w": bwd_w}


def step_matmuls(n: int, d: int, m: int, depth: int, k: int) -> list[tuple[str, tuple, int]]:
    """The dense products of one zou-gu GD step: (label, (a_shape, a_t, b_shape, b_t), count),
    where a (after an optional transpose) is (rows, inner) and b is (inner, cols)."""
    return [
        ("fwd X W1^T", ((n, d), False, (m, d), True), 1),
        ("fwd h W^T", ((n, m), False, (m, m), True), depth - 1),
        ("fwd h V^T", ((n, m), False, (k, m), True), 1),
        ("bwd g V", ((n, k), False, (k, m), False), 1),
        ("bwd g W", ((n, m), False, (m, m), False), depth - 1),
        ("bwd g^T h", ((n, m), True, (n, m), False), depth - 1),
        ("bwd g^T X", ((n, m), True, (n, d), False), 1),
    ]


# ---------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------


def timed(fn: Callable[[], object], repeats: int, warmup: int = 2) -> tuple[list, list]:
    """(wall seconds, CPU seconds) of each of ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return wall, cpu


def product(spec: tuple, dtype: torch.dtype) -> Callable[[], torch.Tensor]:
    a_shape, a_t, b_shape, b_t = spec
    gen = torch.Generator().manual_seed(1)
    a = torch.randn(*a_shape, generator=gen, dtype=dtype)
    b = torch.randn(*b_shape, generator=gen, dtype=dtype)
    a, b = (a.T if a_t else a), (b.T if b_t else b)
    return lambda: a @ b


class StepTimer:
    """Callback: the time between consecutive on_step calls is one full step of the loop
    (forward, loss, autograd.grad, parameter update, loss.item())."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def on_start(self, state) -> None:
        pass

    def on_step(self, state) -> None:
        self.wall.append(time.perf_counter())
        self.cpu.append(time.process_time())

    def on_end(self, state) -> None:
        pass

    @staticmethod
    def deltas(stamps: list[float]) -> list[float]:
        return [b - a for a, b in itertools.pairwise(stamps)]


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--depth", type=int, default=5)
    ap.add_argument("--steps", type=int, default=30, help="timed steps")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    ap.add_argument("--profile", action="store_true", help="print a torch.profiler table")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    n, d, m, depth, k = args.n, args.d, args.width, args.depth, 1
    dtype = torch.float32
    threads = torch.get_num_threads()

    data = sphere(n, d, seed=0).to(dtype=dtype)
    model = FullyConnected(d, m, depth, k, parameterization="zou-gu", dtype=dtype, seed=0)
    objective = make_objective("square", "mean", k)
    lr = 1e-3  # small enough to stay finite for the whole run; speed does not depend on it
    ref_flops = 2 * n * m * m
    reference = product(((n, m), False, (m, m), False), dtype)

    ref_wall, ref_cpu = timed(reference, repeats=15)
    timer = StepTimer()
    train(model, data, objective, lr=lr, steps=args.warmup + args.steps, callbacks=[timer])
    more_wall, more_cpu = timed(reference, repeats=15)
    ref_wall, ref_cpu = ref_wall + more_wall, ref_cpu + more_cpu

    flops = step_flops(n, d, m, depth, k)
    total = sum(flops.values())
    clocks = {"wall": (timer.wall, ref_wall), "cpu": (timer.cpu, ref_cpu)}
    print(f"train_step: zou-gu GD, n={n} d={d} m={m} L={depth} k={k} float32, threads={threads}")
    print(
        f"  flops/step     {total / 1e9:.3f} GFLOP (forward {flops['forward'] / 1e9:.3f}, "
        f"backward act {flops['backward_act'] / 1e9:.3f}, W {flops['backward_w'] / 1e9:.3f})"
    )
    step_s = {}
    for clock, (stamps, ref) in clocks.items():
        if clock == "cpu" and threads != 1:
            continue  # CPU time sums over threads: only comparable with one thread
        step_s[clock] = statistics.median(StepTimer.deltas(stamps)[args.warmup :])
        achieved = total / step_s[clock] / 1e9
        ref_gflops = ref_flops / statistics.median(ref) / 1e9
        print(
            f"  [{clock:4s}] step {step_s[clock] * 1e3:8.2f} ms (median of {args.steps} after "
            f"{args.warmup} warm-up)  achieved {achieved:6.1f} GFLOP/s  torch matmul "
            f"{ref_gflops:6.1f} GFLOP/s ({n}x{m} @ {m}x{m})  ratio {achieved / ref_gflops:6.1%}"
        )

    # Where the step goes: its products timed alone, in the loop's operand layouts.
    clock = "cpu" if "cpu" in step_s else "wall"
    mm_s = 0.0
    print(f"  products alone ({clock} clock, median ms x count):")
    for label, spec, count in step_matmuls(n, d, m, depth, k):
        wall, cpu = timed(product(spec, dtype), repeats=10)
        t = statistics.median(cpu if clock == "cpu" else wall)
        mm_s += count * t
        print(f"    {label:11s} {t * 1e3:8.2f} ms x {count}")
    print(
        f"  products sum {mm_s * 1e3:.2f} ms = {mm_s / step_s[clock]:.1%} of the step; the rest "
        f"(relu and its mask, loss, update, autograd) {(step_s[clock] - mm_s) * 1e3:.2f} ms"
    )

    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            train(model, data, objective, lr=lr, steps=10)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


if __name__ == "__main__":
    main()
