"""Sweep throughput: the batched executor vs a 2-worker process pool vs one-by-one training,
all in one process tree, each against its own fresh results store.

    python benchmarks/sweep.py [--runs 64] [--steps 500] [--width 128] [--dtype float32]

The grid: ``runs`` seeds of one small zou-gu network (n=64, d=16, m=128, L=2, lr="auto" measured
per run, 500 GD steps, no early stop). Each executor gets the whole machine and uses it as it
can:

=================  =========================================================================
sequential         one process, one torch thread (small products gain nothing from more
                   threads, and lose a lot when the cores are shared)
local x2           two spawned processes, cores // 2 threads each (start-up included)
batched            one process, one vectorized call per architecture, one torch thread
batched tN         the same with N = every core's torch threads (the batch's products split
                   well across cores; on cores shared with other work, threads that wait
                   for each other can cost more than they gain)
batched x2         two spawned processes, each batching half the runs
=================  =========================================================================

Rows run in interleaved rounds and keep their best round, so a burst of load from elsewhere hits
every row alike. Prints runs per second and the ratio to sequential (target: batched >= 5x), the
CPU seconds each row used (this process plus its reaped pool workers; on a shared machine the
ratio of CPU seconds is the steadier measure of work per run), how far batched results are from
sequential ones, and the store's overhead per finished run (target: <= 5 ms): the writer's wall
time in the database (queueing, claims, stale checks, and the one-transaction write of 501
losses) divided by the runs it wrote, and the write alone. Last, the roofline of the batched
rows: their achieved GFLOP/s, and the time torch.bmm alone needs for the same products at the
batch's shapes (the floor no batching of these runs can go below on this machine).
"""

from __future__ import annotations

import os

# Waiting OpenMP threads sleep instead of spinning: on cores shared with other work, spinning
# threads of one row steal the CPU from the writer and from other processes (set before torch).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import math
import resource
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from overparam.config import build_config
from overparam.run import run
from overparam.store import load
from overparam.sweep import parse_spec, run_sweep
from overparam.sweep.executors import cores


def spec(runs: int, steps: int, width: int, dtype: str, name: str):
    return parse_spec(
        {
            "name": name,
            "base": {
                "parameterization": "zou-gu",
                "n": 64,
                "d": 16,
                "width": width,
                "depth": 2,
                "steps": steps,
                "dtype": dtype,
            },
            "grid": {"seed": list(range(runs))},
        }
    )


@dataclass
class Row:
    """Best-of-rounds numbers of one executor."""

    executor: str
    workers: int
    threads: int
    wall: float = math.inf
    cpu: float = math.inf
    store_ms: float = math.inf
    write_ms: float = math.inf
    path: Path | None = None


def cpu_seconds() -> float:
    """CPU time of this process and of its reaped children (the pool's workers)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def measure(row: Row, folder: Path, label: str, rnd: int, **kw) -> None:
    name = f"bench-{label.replace(' ', '-')}-{rnd}"
    s = spec(kw["runs"], kw["steps"], kw["width"], kw["dtype"], name)
    path = folder / f"{name}.sqlite"
    torch.set_num_threads(row.threads)  # the in-process executors' threads (pools set their own)
    wall0, cpu0 = time.perf_counter(), cpu_seconds()
    result = run_sweep(s, store=path, executor=row.executor, workers=row.workers)
    wall, cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0
    assert result.counts["done"] == kw["runs"], result.counts
    row.wall, row.cpu = min(row.wall, wall), min(row.cpu, cpu)
    row.store_ms = min(row.store_ms, result.store_ms_per_run)
    row.write_ms = min(row.write_ms, result.write_ms_per_run)
    row.path = row.path or path


def step_gflop(runs: int, n: int, d: int, m: int, depth: int, k: int = 1) -> float:
    """GFLOP of one full-batch GD step of ``runs`` zou-gu runs (W_1..W_L trained, V fixed):
    the forward products 2n(dm + (L-1)m^2 + mk), the weight gradients 2n(dm + (L-1)m^2) and
    the backpropagated errors 2n((L-1)m^2 + mk)."""
    fwd = 2 * n * (d * m + (depth - 1) * m * m + m * k)
    grads = 2 * n * (d * m + (depth - 1) * m * m)
    errors = 2 * n * ((depth - 1) * m * m + m * k)
    return runs * (fwd + grads + errors) / 1e9


def gemm_floor_s(runs: int, n: int, d: int, m: int, depth: int, threads: int) -> float:
    """The roofline of one batched step, measured: the time torch.bmm takes for exactly the
    step's products at the batch's shapes (best of 20), with ``threads`` torch threads."""
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    h = torch.randn(runs, n, m, generator=g)
    x = torch.randn(runs, n, d, generator=g)
    w1 = torch.randn(runs, d, m, generator=g)
    w = torch.randn(runs, m, m, generator=g)
    ht = h.transpose(1, 2).contiguous()
    # the input layer's forward and weight gradient; per m x m layer the forward, the weight
    # gradient (m x n times n x m) and the error; the k = 1 readout's products are left out
    products = [(x, w1), (x.transpose(1, 2).contiguous(), h)]
    products += [(h, w), (ht, h), (h, w)] * (depth - 1)

    def once() -> None:
        for a, b in products:
            torch.bmm(a, b)

    once()
    best = math.inf
    for _ in range(20):
        t = time.perf_counter()
        once()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=64)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--workers", type=int, default=2, help="processes of local / batched xN")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved repeats; best is kept")
    ap.add_argument(
        "--profile",
        action="store_true",
        help="also profile one batched call (1 thread): each op's share of CPU time",
    )
    args = ap.parse_args()
    kw = dict(runs=args.runs, steps=args.steps, width=args.width, dtype=args.dtype)
    ncores, w = cores(), args.workers
    # One-time torch.func start-up (seconds) paid here, not by the first executor measured.
    run(build_config({}, n=4, d=4, width=4, steps=2))
    print(
        f"{args.runs} runs: zou-gu n=64 d=16 m={args.width} L=2, {args.steps} GD steps, "
        f"{args.dtype}, {ncores} cores, best of {args.rounds} interleaved rounds"
    )
    rows = {
        "sequential": Row("local", 1, 1),
        f"local x{w}": Row("local", w, 1),
        "batched": Row("batched", 1, 1),
        f"batched t{ncores}": Row("batched", 1, ncores),
        f"batched x{w}": Row("batched", w, 1),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for rnd in range(args.rounds):  # interleaved, so a burst of load hits every row alike
            for label, row in rows.items():
                measure(row, Path(tmp), label, rnd, **kw)
        seq = rows["sequential"]
        head = ("executor", "wall s", "runs/s", "vs seq", "cpu s", "cpu vs seq", "store ms/run")
        print(
            f"{head[0]:12s} {head[1]:>8s} {head[2]:>7s} {head[3]:>7s} {head[4]:>8s} "
            f"{head[5]:>10s} {head[6]:>13s} (write alone)"
        )
        for label, r in rows.items():
            print(
                f"{label:12s} {r.wall:8.2f} {args.runs / r.wall:7.2f} {seq.wall / r.wall:6.2f}x "
                f"{r.cpu:8.2f} {seq.cpu / r.cpu:9.2f}x {r.store_ms:13.2f} ({r.write_ms:.2f})"
            )
        a = load(seq.path).runs.set_index("seed")
        b = load(rows["batched"].path).runs.set_index("seed")
        gap = ((b["final_loss"] - a["final_loss"]).abs() / a["initial_loss"].abs()).max()
        lr_rel = ((b["lr_used"] - a["lr_used"]).abs() / a["lr_used"]).max()
        print(
            f"batched vs sequential ({args.dtype}): max |final loss gap| / L(W0) = {gap:.2e}, "
            f"lr max rel diff {lr_rel:.2e}"
        )
        batched = [k for k in rows if k.startswith("batched")]
        best = max(batched, key=lambda k: seq.wall / rows[k].wall)
        worst = max(r.store_ms for r in rows.values())
        print(
            f"batched / sequential throughput: {seq.wall / rows[best].wall:.2f}x wall "
            f"({best}), {seq.cpu / rows['batched'].cpu:.2f}x per CPU-second (target >= 5x)"
        )
        print(f"store overhead per finished run: {worst:.2f} ms, worst executor (target <= 5 ms)")
        # The roofline: the step's own products, timed alone at the batch's shapes
        flop = args.steps * step_gflop(args.runs, 64, 16, args.width, 2)
        for label in ("batched", f"batched t{ncores}"):
            threads = rows[label].threads
            floor = args.steps * gemm_floor_s(args.runs, 64, 16, args.width, 2, threads)
            print(
                f"{label}: {flop / rows[label].wall:.1f} GFLOP/s; its products alone (torch.bmm "
                f"at the batch's shapes, {threads} thread(s)) take {floor:.2f} s = "
                f"{floor / rows[label].wall:.0%} of its wall, {flop / floor:.1f} GFLOP/s"
            )
    if args.profile:
        profile_batched(args.runs, args.steps, args.width, args.dtype)


def profile_batched(runs: int, steps: int, width: int, dtype: str) -> None:
    """torch.profiler over one batched call: the ops with the largest self CPU time, and the
    GFLOP/s the batch's matrix products reach in place."""
    from torch.profiler import ProfilerActivity, profile

    from overparam.sweep.batched import run_batched

    torch.set_num_threads(1)
    cfgs = spec(runs, steps, width, dtype, "profile").configs()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run_batched(cfgs)
    ops = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in ops)
    print("batched, 1 thread, profiled: " + ", ".join(
        f"{e.key} {e.self_cpu_time_total / total:.0%}" for e in ops[:5]))  # fmt: skip
    bmm = sum(e.self_cpu_time_total for e in ops if e.key in ("aten::bmm", "aten::mm")) / 1e6
    flop = steps * step_gflop(runs, 64, 16, width, 2)
    print(f"its matrix products in place: {bmm:.2f} s, {flop / bmm:.1f} GFLOP/s")


if __name__ == "__main__":
    main()
