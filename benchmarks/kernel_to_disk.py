"""Kernels written to disk in blocks of rows: the analytic relu NTK, and the empirical NTK.

    python benchmarks/kernel_to_disk.py [--n 50000] [--d 64] [--depth 10] [--rows 2000]
        [--threads 2] [--dtype float32] [--out PATH.npy] [--keep] [--empirical 0]
        [--empirical-rows 256] [--repeats 3]

Writes ``analytic_to_npy`` of relu, ntk parameterization, at ``depth`` on ``sphere(n, d)`` into
a float32 ``.npy`` file (``analytic_rows`` blocks [jacot-2018, Theorem 1]) and prints seconds,
rows/s, the file's GiB, the heap bound of :func:`overparam.memory.analytic_rows_bytes` and the
peak resident memory from ``resource.getrusage`` (which counts the mapped block of the file
too), reset after the data are made. The file is removed afterwards unless ``--keep``.

With ``--empirical N`` it also times the empirical NTK [jacot-2018, Section 4] of an FC network
(width 1024, depth 3, float32) on N points to disk in blocks of ``--empirical-rows``:
``empirical_to_npy`` (structured factors of all N inputs once, a Gram per block) against the
naive loop ``empirical(model, X[block], X)``, which recomputes the factors of all N inputs for
every block.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time

import numpy as np
import torch

from overparam.data import sphere
from overparam.memory import analytic_rows_bytes
from overparam.ntk.to_disk import analytic_to_npy, empirical_to_npy


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def reset_peak_rss() -> bool:
    """Reset the peak RSS to the current RSS (Linux: ``5`` into /proc/self/clear_refs), so the
    kernel's peak is not hidden by the data's (sphere's separation check holds 2048 x n
    float64 blocks); False where it cannot."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def analytic_run(args: argparse.Namespace, path: str) -> None:
    X = sphere(args.n, args.d, seed=0).X.numpy()
    rss_data = peak_rss_gib()
    reset = reset_peak_rss()
    result = analytic_to_npy(
        path, X, depth=args.depth, rows=args.rows, dtype=args.dtype, threads=args.threads
    )
    size = os.path.getsize(path) / 2**30
    bound = analytic_rows_bytes(
        n=args.n, n2=args.n, d=args.d, depth=args.depth, rows=args.rows, threads=args.threads
    )
    K = np.load(path, mmap_mode="r")
    print(
        f"analytic relu NTK to disk: n = {args.n}, d = {args.d}, depth {args.depth}, "
        f"{args.dtype}, rows {args.rows}, {args.threads} threads"
    )
    print(f"  seconds       {result.seconds:.1f}")
    print(f"  rows/s        {args.n / result.seconds:.0f}")
    print(f"  file          {size:.2f} GiB ({path}, shape {K.shape})")
    print(
        f"  trace         {result.trace:.6g}  diag [{result.diag_min:.6g}, {result.diag_max:.6g}]"
    )
    print(f"  heap bound    {bound / 2**30:.3f} GiB (analytic_rows_bytes)")
    during = "during the kernel" if reset else "of the process (could not reset it)"
    print(f"  peak RSS      {peak_rss_gib():.3f} GiB {during}; making the data: {rss_data:.3f} GiB")


def timed(fn, repeats: int) -> tuple[float, float]:
    """Best wall-clock and best process CPU seconds of ``repeats`` calls (the CPU time tells
    how much a busy machine inflated the wall clock)."""
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return min(wall), min(cpu)


def empirical_run(args: argparse.Namespace, folder: str) -> None:
    from numpy.lib.format import open_memmap

    from overparam.models import FullyConnected
    from overparam.ntk.empirical import empirical

    n, rows, width, depth = args.empirical, args.empirical_rows, 1024, 3
    model = FullyConnected(args.d, width, depth, parameterization="ntk", seed=1)
    X = sphere(n, args.d, seed=0).X.float()
    path, naive_path = os.path.join(folder, "empirical.npy"), os.path.join(folder, "naive.npy")

    def naive() -> None:
        K = open_memmap(naive_path, mode="w+", dtype="float32", shape=(n, n))
        for i in range(0, n, rows):
            K[i : i + rows] = empirical(model, X[i : i + rows], X).numpy()
        K.flush()

    once = timed(lambda: empirical_to_npy(path, model, X, rows=rows), args.repeats)
    per_block = timed(naive, args.repeats)
    diff = float(np.abs(np.load(path, mmap_mode="r") - np.load(naive_path, mmap_mode="r")).max())
    print(
        f"empirical NTK to disk: n = {n}, width {width}, depth {depth}, float32, rows {rows}, "
        f"{torch.get_num_threads()} threads; best of {args.repeats}, wall s / CPU s"
    )
    print(f"  factors once (empirical_to_npy)        {once[0]:.2f} / {once[1]:.2f}")
    print(f"  per block empirical(model, X[b], X)    {per_block[0]:.2f} / {per_block[1]:.2f}")
    print(f"  largest difference                     {diff:.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--d", type=int, default=64)
    parser.add_argument("--depth", type=int, default=10)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--out", default=None, help="the .npy file (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the file")
    parser.add_argument("--empirical", type=int, default=0, help="N for the empirical timing")
    parser.add_argument("--empirical-rows", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3, help="of the empirical timings")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="kernel_to_disk_") as folder:
        if args.n > 0:
            path = args.out or os.path.join(folder, f"ntk_{args.n}.npy")
            try:
                analytic_run(args, path)
            finally:
                if not args.keep and os.path.exists(path):
                    os.unlink(path)
        if args.empirical > 0:
            empirical_run(args, folder)


if __name__ == "__main__":
    main()
