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
losses) divided by the runs it wrote, and the write alone.
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=64)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--workers", type=int, default=2, help="processes of local / batched xN")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved repeats; best is kept")
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


if __name__ == "__main__":
    main()
