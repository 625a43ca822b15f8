"""Generic empirical NTK speed, measured in one process against two baselines:

(a) overparam's structured rule on its own fully connected network (ntk parameterization,
    n = 256, d = 64, m = 1024, L = 5, k = 1): time ratio generic / structured (target <= 3), and
    the largest difference of the two kernels in float64, relative to the kernel's largest entry
    (target <= 1e-10);
(b) the torch.func NTK tutorial's "Jacobian contraction" (vmap(jacrev) per-sample Jacobians of
    all parameters, then an einsum over them) on an nn.Sequential of nn.Linear + ReLU of the same
    sizes: time ratio tutorial / generic (target >= 20). Its n x P Jacobian does not fit in memory
    at full size (n = 256, P = 4.3 M: 4.4 GB in float32 before vmap's temporaries), so it runs on
    the first ``--tutorial-rows`` rows and is scaled to n: the Jacobians linearly in n, the
    contraction quadratically, as the output says.

    python benchmarks/ntk_generic.py [--quick] [--dtype float32|float64] [--device cuda]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
from torch import nn
from torch.func import functional_call, jacrev, vmap

from overparam.models import FullyConnected
from overparam.ntk import empirical


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def best_of(fn: Callable[[], object], device: str, repeats: int = 3) -> float:
    """Fastest of ``repeats`` timed runs after one warm-up run."""
    fn()
    sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return min(times)


def inputs(n: int, d: int, dtype: torch.dtype, device: str) -> torch.Tensor:
    X = torch.randn(n, d, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return (X / X.norm(dim=1, keepdim=True)).to(dtype=dtype, device=device)


def rel_max(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


# -- (a) generic vs structured ----------------------------------------------------------------


def vs_structured(n: int, d: int, m: int, depth: int, dtype: torch.dtype, device: str) -> None:
    X = inputs(n, d, dtype, device)
    model = FullyConnected(d, m, depth, parameterization="ntk", dtype=dtype, device=device)
    t_s = best_of(lambda: empirical(model, X, method="structured"), device)
    t_g = best_of(lambda: empirical(model, X, method="generic"), device)
    X64 = inputs(n, d, torch.float64, device)
    model64 = FullyConnected(d, m, depth, parameterization="ntk", dtype="float64", device=device)
    diff = rel_max(
        empirical(model64, X64, method="generic"), empirical(model64, X64, method="structured")
    )
    print(
        f"(a) FullyConnected n={n} d={d} m={m} L={depth} {str(dtype)[6:]}: structured "
        f"{t_s:.3f} s, generic {t_g:.3f} s -> generic/structured {t_g / t_s:.2f} (target <= 3); "
        f"float64 max |diff| / max |Theta| {diff:.1e} (target <= 1e-10)"
    )


# -- (b) generic vs the tutorial's Jacobian contraction ---------------------------------------


def sequential(d: int, m: int, depth: int, dtype: torch.dtype, device: str) -> nn.Module:
    """d -> m, (depth - 1) x (m -> m), m -> 1, ReLU between: depth hidden layers."""
    torch.manual_seed(0)
    layers: list[nn.Module] = [nn.Linear(d, m), nn.ReLU()]
    for _ in range(depth - 1):
        layers += [nn.Linear(m, m), nn.ReLU()]
    layers.append(nn.Linear(m, 1))
    return nn.Sequential(*layers).to(dtype=dtype, device=device)


def tutorial_jacobians(model: nn.Module, X: torch.Tensor) -> list[torch.Tensor]:
    """The tutorial's per-sample Jacobians: vmap(jacrev(f)) over the rows, flattened (n, k, P_l)."""
    params = {n: p.detach() for n, p in model.named_parameters()}

    def f(p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(model, p, (x[None],))[0]

    jac = vmap(jacrev(f), (None, 0))(params, X)
    return [j.flatten(2) for j in jac.values()]


def tutorial_contract(jac: list[torch.Tensor]) -> torch.Tensor:
    """The tutorial's contraction: sum over parameters of einsum('Naf,Mbf->NMab')."""
    return sum(torch.einsum("Naf,Mbf->NMab", j, j) for j in jac)


def time_contraction(jac: list[torch.Tensor], device: str) -> tuple[float, torch.Tensor]:
    """Seconds of the tutorial's contraction of ``jac``, and its (rows, rows) kernel."""
    t = best_of(lambda: tutorial_contract(jac), device, repeats=1)
    return t, tutorial_contract(jac)[:, :, 0, 0]


def vs_tutorial(
    n: int, d: int, m: int, depth: int, rows: int, dtype: torch.dtype, device: str
) -> None:
    X = inputs(n, d, dtype, device)
    model = sequential(d, m, depth, dtype, device)
    P = sum(p.numel() for p in model.parameters())
    t_g = best_of(lambda: empirical(model, X, method="generic"), device)
    rows = min(rows, n)
    sub = X[:rows]
    t_jac = best_of(lambda: tutorial_jacobians(model, sub), device, repeats=1)
    t_con, ref = time_contraction(tutorial_jacobians(model, sub), device)
    diff = rel_max(empirical(model, sub, method="generic"), ref)
    scale = n / rows
    t_tut = t_jac * scale + t_con * scale**2
    how = (
        "measured at full size"
        if rows == n
        else f"measured on {rows} of {n} rows, Jacobians scaled x{scale:g} (linear in n), "
        f"contraction x{scale**2:g} (quadratic)"
    )
    print(
        f"(b) nn.Sequential Linear+ReLU n={n} d={d} m={m} L={depth} (P={P / 1e6:.2f} M) "
        f"{str(dtype)[6:]}: generic {t_g:.3f} s; tutorial vmap(jacrev)+einsum "
        f"{t_jac:.2f} s + {t_con:.2f} s on {rows} rows -> {t_tut:.1f} s at n={n} ({how}) "
        f"-> tutorial/generic {t_tut / t_g:.0f}x (target >= 20); max |diff| / max |Theta| on "
        f"the {rows} rows {diff:.1e}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: seconds")
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--d", type=int, default=64)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--depth", type=int, default=5)
    parser.add_argument("--tutorial-rows", type=int, default=32, help="rows the tutorial runs on")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--skip-tutorial", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.n, args.width, args.depth, args.tutorial_rows = 64, 256, 3, 16
    dtype = getattr(torch, args.dtype)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {args.device}")
    vs_structured(args.n, args.d, args.width, args.depth, dtype, args.device)
    if not args.skip_tutorial:
        vs_tutorial(args.n, args.d, args.width, args.depth, args.tutorial_rows, dtype, args.device)


if __name__ == "__main__":
    main()
