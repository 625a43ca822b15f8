"""Empirical NTK speed: overparam's structured kernel vs torch's GEMM rate and the torch.func
tutorial's Jacobian contraction, measured in one process (float32, CPU by default).

    python benchmarks/ntk.py [--device cuda] [--skip-tutorial] [--scale]

Prints, per size: seconds, the FLOP rate of `structured` (forward + activation backward + the
2(L+1) Gram products), torch's own float32 GEMM rate on a matching
product, their ratio, and the speed-up over the tutorial's method (vmap(jacrev) + einsum).
"""

from __future__ import annotations

import argparse
import resource
import time

import torch
from torch.func import functional_call, jacrev, vmap

from overparam.models import FullyConnected
from overparam.ntk import empirical


def best_of(fn, repeats: int = 3) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times)


def gemm_rate(n: int, m: int, device: str) -> float:
    a = torch.randn(n, m, device=device)
    b = torch.randn(m, m, device=device)
    c = torch.randn(n, m, device=device)
    t1 = best_of(lambda: a @ b, 5)
    t2 = best_of(lambda: a @ c.T, 5)
    return max(2 * n * m * m / t1, 2 * n * n * m / t2)


def structured_flops(n: int, d: int, m: int, depth: int, k: int = 1) -> float:
    """FLOPs of the structured kernel (ntk parameterization, one Gram block): forward,
    activation backward and two Gram products per trained layer."""
    forward = 2 * n * (d * m + (depth - 1) * m * m + m * k)
    backward = 2 * n * ((depth - 1) * m * m + m * k)
    fan_ins = [d] + [m] * depth
    fan_outs = [m] * depth + [k]
    grams = sum(2 * n * n * (fi + fo) for fi, fo in zip(fan_ins, fan_outs, strict=True))
    return forward + backward + grams


def tutorial_ntk(model: torch.nn.Module, X: torch.Tensor) -> torch.Tensor:
    """The torch.func tutorial's recipe: per-sample Jacobians, then an einsum contraction."""
    params = {n: p.detach() for n, p in model.named_parameters()}

    def f(p, x):
        return functional_call(model, p, (x[None],))[0]

    jac = vmap(jacrev(f), (None, 0))(params, X)
    jac = [j.flatten(2) for j in jac.values()]
    return sum(torch.einsum("Naf,Mbf->NMab", j, j) for j in jac)[:, :, 0, 0]


def bench(n: int, d: int, m: int, depth: int, device: str, tutorial: bool) -> None:
    torch.manual_seed(0)
    X = torch.randn(n, d, device=device)
    X = X / X.norm(dim=1, keepdim=True)
    model = FullyConnected(d, m, depth, parameterization="ntk", device=device)
    t = best_of(lambda: empirical(model, X))
    nominal = structured_flops(n, d, m, depth)
    peak = gemm_rate(n, m, device)
    print(
        f"n={n} d={d} m={m} L={depth}: structured {t:.3f} s, "
        f"{nominal / t / 1e9:.1f} GFLOP/s vs torch GEMM {peak / 1e9:.1f} GFLOP/s "
        f"-> ratio {nominal / t / peak:.2f}"
    )
    if tutorial:
        tt = best_of(lambda: tutorial_ntk(model, X), 1)
        err = float((tutorial_ntk(model, X) - empirical(model, X)).norm())
        print(
            f"  tutorial (vmap(jacrev) + einsum) {tt:.2f} s -> structured is {tt / t:.0f}x "
            f"faster (max abs diff {err:.2e})"
        )


def scale(device: str) -> None:
    n, d, m, depth = 10_000, 64, 1024, 5
    torch.manual_seed(0)
    X = torch.randn(n, d, device=device)
    X = X / X.norm(dim=1, keepdim=True)
    model = FullyConnected(d, m, depth, parameterization="ntk", device=device)
    start = time.perf_counter()
    theta = empirical(model, X, max_memory=2 * 2**30)
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(
        f"scale n={n} m={m} L={depth}: {elapsed:.1f} s, kernel {tuple(theta.shape)}, "
        f"peak RSS {peak:.2f} GiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--skip-tutorial", action="store_true")
    parser.add_argument("--scale", action="store_true", help="also run n=10,000")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {args.device}")
    bench(256, 64, 1024, 10, args.device, tutorial=False)
    bench(1024, 64, 512, 3, args.device, tutorial=not args.skip_tutorial)
    if args.scale:
        scale(args.device)


if __name__ == "__main__":
    main()
