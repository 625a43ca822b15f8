"""Analytic NTK speed for every activation, in one process.

    python benchmarks/kernel_analytic.py [--n 2000] [--depth 10] [--threads 2]
        [--general 500] [--big 20000]

1. relu: best-of-3 seconds of ``analytic(X, depth=depth)`` (ntk parameterization, float64,
   unit-norm X in R^64) against a straightforward NumPy recursion on full n x n matrices (the
   NT-style Sigma / Theta update with the arc-cosine formulas [cho-saul-2009], [jacot-2018]).
2. Every other activation on the same X: seconds and the ratio to relu's (target <= 3x), the
   largest relative error of the dual maps against the reference quadrature at order (48, 40) on
   random pairs (rho uniform, and within 1e-7 .. 1e-1 of +-1; variances 0.5 .. 4), and of the
   kernel against the per-entry reference recursion on 40 of the points (target <= 1e-10).
3. Du et al.'s K^(H) (``du_gram``) for tanh on the same X, against relu's.
4. Inputs of unequal norms (scaled by 0.8 .. 1.25): tanh at n = ``--general``.
5. Unless ``--big 0``, the relu kernel at n = 20,000 in row blocks (``analytic_rows``) and in
   full: seconds and peak resident memory from ``resource.getrusage``.
"""

from __future__ import annotations

import argparse
import math
import resource
import time

import numpy as np
import torch

from overparam.data import sphere
from overparam.models.activations import Activation
from overparam.ntk.analytic import analytic, analytic_rows
from overparam.ntk.expectations import gaussian_expectations, quadrature_expectations
from overparam.ntk.gram import du_gram

SMOOTH = ("softplus", "sigmoid", "tanh", "gelu", "swish", "erf")


def best_of(fn, repeats: int = 3) -> tuple[float, float]:
    """Best wall-clock and best process CPU seconds of ``repeats`` calls (CPU time tells how
    much a busy machine inflated the wall clock)."""
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return min(wall), min(cpu)


def plain_numpy(X: np.ndarray, depth: int, w2: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """The textbook recursion on full matrices: Sigma_1 = w^2 X X^T / d,
    Sigma_{l+1} = w^2 sqrt(a b) kappa_1 / 2, Theta_{l+1} = Sigma_{l+1} + w^2 kappa_0 / 2 Theta_l
    (readout w^2 = 1), with kappa from arccos of the clipped correlation."""
    S = w2 * (X @ X.T) / X.shape[1]
    T = S.copy()
    for layer in range(depth):
        scale = 1.0 if layer == depth - 1 else w2
        diag = np.sqrt(np.diag(S))
        norm = np.outer(diag, diag)
        rho = np.clip(S / norm, -1.0, 1.0)
        psi = np.arccos(rho)
        S = scale * norm * (np.sin(psi) + (np.pi - psi) * rho) / (2.0 * np.pi)
        T = S + scale * (np.pi - psi) / (2.0 * np.pi) * T
    return S, T


def dual_map_error(activation: str, seed: int = 0) -> float:
    """Largest relative error of the fast dual maps against the order-(48, 40) quadrature."""
    rng = np.random.default_rng(seed)
    near = 10.0 ** rng.uniform(-7, -1, 100)
    rho = np.concatenate([rng.uniform(-1, 1, 200), 1 - near, -1 + near])
    worst = 0.0
    for var in (0.5, 1.0, 2.0, 4.0):
        v = np.full_like(rho, var)
        fast = gaussian_expectations(activation, v, v, var * rho)
        ref = quadrature_expectations(activation, v, v, var * rho, order=(48, 40), rho=rho)
        for x, r in zip(fast, ref, strict=True):
            worst = max(worst, float(np.abs(x - r).max() / np.abs(r).max()))
    return worst


def kernel_error(X: np.ndarray, depth: int, activation: str) -> float:
    fast = analytic(X, depth=depth, activation=activation).ntk
    ref = analytic(X, depth=depth, activation=activation, method="quadrature").ntk
    return float(np.abs(fast - ref).max() / np.abs(ref).max())


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--d", type=int, default=64)
    parser.add_argument("--depth", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--general", type=int, default=500, help="n of the unequal-norm run")
    parser.add_argument("--big", type=int, default=20000, help="0 to skip the large run")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    X = sphere(args.n, args.d, seed=0).X.numpy()
    fast = best_of(lambda: analytic(X, depth=args.depth, threads=args.threads))
    plain = best_of(lambda: plain_numpy(X, args.depth))
    k = analytic(X, depth=args.depth, threads=args.threads)
    _, T = plain_numpy(X, args.depth)
    off = ~np.eye(args.n, dtype=bool)
    diff = float(np.abs(k.ntk - T)[off].max() / np.abs(T).max())
    print(
        f"relu NTK, depth {args.depth}, n = {args.n}, d = {args.d}, float64, {args.threads} threads"
    )
    print(f"  analytic      {fast[0]:8.3f} s wall  {fast[1]:8.3f} s CPU")
    print(f"  plain NumPy   {plain[0]:8.3f} s wall  {plain[1]:8.3f} s CPU")
    print(
        f"  speed-up      {plain[0] / fast[0]:8.2f} x wall (off-diagonal max rel. diff {diff:.1e})"
    )
    print(f"  peak RSS so far {peak_gib():.2f} GiB")

    print(
        f"every activation, depth {args.depth}, n = {args.n}, equal norms; error vs the "
        "reference quadrature: dual maps on random pairs (|rho| -> 1 included) / kernel (n = 40)"
    )
    for act in SMOOTH:
        t = best_of(lambda act=act: analytic(X, depth=args.depth, activation=act))
        print(
            f"  {act:9s} {t[0]:8.3f} s wall  {t[1]:8.3f} s CPU  {t[0] / fast[0]:6.2f} x relu  "
            f"error {dual_map_error(act):.1e} / {kernel_error(X[:40], args.depth, act):.1e}"
        )
    relu_du = best_of(lambda: du_gram(X, depth=args.depth))
    tanh_du = best_of(lambda: du_gram(X, depth=args.depth, activation=Activation.TANH))
    print(
        f"du_gram K^(H), depth {args.depth}: relu {relu_du[0]:.3f} s, tanh {tanh_du[0]:.3f} s "
        f"({tanh_du[0] / relu_du[0]:.2f} x)"
    )
    if args.general:
        rng = np.random.default_rng(2)
        Xg = sphere(args.general, args.d, seed=2).X.numpy()
        Xg = Xg * rng.uniform(0.8, 1.25, size=(args.general, 1))
        t = best_of(lambda: analytic(Xg, depth=args.depth, activation="tanh"), repeats=1)
        print(
            f"unequal norms (x 0.8 .. 1.25), tanh, n = {args.general}, depth {args.depth}: "
            f"{t[0]:.2f} s wall, error {kernel_error(Xg[:40], args.depth, 'tanh'):.1e}"
        )

    if args.big:
        Xb = sphere(args.big, args.d, seed=1).X.numpy()
        start, start_cpu = time.perf_counter(), time.process_time()
        trace = 0.0
        for rows, block in analytic_rows(Xb, depth=args.depth, rows=2000, threads=args.threads):
            trace += float(np.trace(block.ntk[:, rows]))
        t_rows, c_rows = time.perf_counter() - start, time.process_time() - start_cpu
        print(f"n = {args.big} in row blocks of 2000 (analytic_rows, trace only)")
        print(
            f"  {t_rows:.2f} s wall, {c_rows:.2f} s CPU, trace {trace:.6g}, "
            f"peak RSS {peak_gib():.2f} GiB"
        )
        start, start_cpu = time.perf_counter(), time.process_time()
        kb = analytic(Xb, depth=args.depth, threads=args.threads)
        t_full, c_full = time.perf_counter() - start, time.process_time() - start_cpu
        gib = 2 * kb.ntk.nbytes / 2**30
        ok = math.isclose(float(np.trace(kb.ntk)), trace, rel_tol=1e-12)
        print(f"n = {args.big}, full analytic (nngp + ntk = {gib:.1f} GiB of output)")
        print(
            f"  {t_full:.2f} s wall, {c_full:.2f} s CPU, same trace {ok}, "
            f"peak RSS {peak_gib():.2f} GiB"
        )


if __name__ == "__main__":
    main()
