"""Memory estimates, checked before anything large is allocated.

Each ``*_bytes`` function estimates the peak bytes one command needs from its sizes alone (no
tensor is built); :func:`check_fits` compares an estimate with the memory available on the
device and raises a one-line :class:`ConfigError` naming the size that drives it. The estimates
are upper bounds of the dominant terms (weights, activations, gradients, n x n kernels), tested
against the allocations of small cases in ``tests/test_memory.py``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from overparam.errors import ConfigError

# Probes that build the n x n (n k x n k) empirical NTK of the trained parameters.
KERNEL_PROBES = frozenset({"ntk_drift", "rate", "label_complexity", "linearization"})
# Gram blocks and Jacobian chunks of overparam.ntk.empirical are capped at this many bytes.
NTK_BLOCK_BYTES = 2 * 2**30
# The quadrature of smooth activations in the analytic kernel works on fixed-size chunks.
QUADRATURE_BYTES = 128 * 2**20
DIGITS_TRAIN = 1437  # digits' training split at test_fraction 0.2
KARATE_NODES = 34
# Python, torch and NumPy themselves, before any array: kept free of every estimate's budget.
RESERVED_BYTES = 512 * 2**20


def element_size(dtype: str) -> int:
    return 8 if str(dtype) == "float64" else 4


def format_bytes(b: float) -> str:
    """1536 -> '1.5 KiB'; binary units up to PiB, then powers of ten of them."""
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
    value, unit = float(b), 0
    while value >= 1024 and unit < len(units) - 1:
        value, unit = value / 1024, unit + 1
    if value >= 1e4:
        return f"{value:.2e} {units[unit]}"
    return f"{value:.0f} {units[unit]}" if unit == 0 else f"{value:.1f} {units[unit]}"


# -- what is available ------------------------------------------------------------------------


def available_bytes(device: str = "cpu") -> int | None:
    """Bytes that can still be allocated on ``device``; None when it cannot be told.

    CPU: ``MemAvailable`` of /proc/meminfo, else ``os.sysconf`` available pages; CUDA: the free
    memory of :func:`torch.cuda.mem_get_info`.
    """
    if str(device).startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            return None
        free, _ = torch.cuda.mem_get_info(torch.device(device))
        return int(free)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


# -- estimates --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    """Estimated peak bytes of one command, and the sizes it was computed from."""

    what: str  # e.g. "train, depth 50"
    bytes: int
    sizes: Mapping[str, int]  # the size fields that drive it, for naming the culprit


def kernel_matrix_bytes(n: int, k: int = 1) -> int:
    """An (n k x n k) float64 kernel, a float64 copy and the symmetric eigensolver's workspace."""
    return 3 * 8 * (n * k) ** 2


def ntk_bytes(
    *,
    n: int,
    d: int,
    width: int,
    depth: int,
    k: int = 1,
    dtype: str = "float32",
    positions: int = 1,
    kernel_size: int = 1,
) -> int:
    """Empirical NTK (:func:`overparam.ntk.empirical`, structured): the (n, n, k, k) kernel, its
    float64 spectrum, the per-layer factors H (n x fan_in) and G (k x n x fan_out), the network,
    and the Gram blocks (at most :data:`NTK_BLOCK_BYTES`)."""
    e = element_size(dtype)
    layers = depth + 2
    factors = e * layers * n * width * positions * (1 + k) + e * n * d
    weights = e * (d * width + layers * kernel_size * width * width + width * positions * k)
    blocks = min(NTK_BLOCK_BYTES, 3 * e * (n * k) ** 2)
    return e * (n * k) ** 2 + kernel_matrix_bytes(n, k) + factors + weights + blocks


def analytic_bytes(*, n: int, d: int, depth: int, activation: str = "relu") -> int:
    """Analytic NTK (:func:`overparam.ntk.analytic`): six n x n float64 arrays at once (the
    input Gram, NNGP and NTK, the correlations and their arc-cosines / quadrature results), two
    copies for the eigenvalues, the inputs, and the quadrature's chunks for smooth activations."""
    extra = 0 if str(activation) == "relu" else QUADRATURE_BYTES
    return 8 * (8 * n * n + n * d) + extra


# Per worker thread: the relu closed form's work arrays on one 192 x 192 float64 tile (five of
# them, 1.5 MB) and its slices of the inputs, with room to spare.
RELU_TILE_BYTES = 4 * 2**20


def analytic_rows_bytes(
    *,
    n: int,
    n2: int,
    d: int,
    depth: int,
    rows: int,
    activation: str = "relu",
    method: str = "auto",
    threads: int = 1,
) -> int:
    """Analytic kernel in row blocks (:func:`overparam.ntk.to_disk.analytic_to_npy`), heap bytes:

        24 rows n2  +  8 (n + n2) (d + depth + 4)  +  threads W,

    three (rows x n2) float64 arrays (a block's NNGP and NTK, and the next block's first array
    while the previous is released), the inputs in float64 and the per-layer variances and
    diagonal kernels of both, and each worker thread's work arrays: W = :data:`RELU_TILE_BYTES`
    for the relu closed form, :data:`QUADRATURE_BYTES` for the quadrature. The block in the
    file is memory-mapped on top of this (rows n2 itemsize of file pages, unmapped after each
    block)."""
    block = analytic_block_bytes(
        n=n, n2=n2, rows=rows, activation=activation, method=method, threads=threads
    )
    return block + 8 * (n + n2) * (d + depth + 4)


def analytic_block_bytes(
    *,
    n: int,
    n2: int,
    rows: int,
    activation: str = "relu",
    method: str = "auto",
    threads: int = 1,
) -> int:
    """The block terms of :func:`analytic_rows_bytes`: ``24 min(rows, n) n2 + threads W``."""
    quadrature = str(activation) != "relu" or str(method) == "quadrature"
    work = max(threads, 1) * (QUADRATURE_BYTES if quadrature else RELU_TILE_BYTES)
    return 24 * min(rows, n) * n2 + work


def ntk_rows_bytes(
    *, n: int, d: int, width: int, depth: int, rows: int, k: int = 1, dtype: str = "float32"
) -> int:
    """Empirical NTK of an FC network in row blocks
    (:func:`overparam.ntk.to_disk.empirical_to_npy`): the structured factors of all n inputs
    (the forward pass holds each layer's input, pre-activation and k backward gradients,
    (3 + k) n width per layer), the network, and the Gram tiles of one (rows x rows) pair of
    blocks (five (rows, rows, k, k) arrays: H H'^T, G G'^T, their product, the running sum and
    its cast). No n x n array is held."""
    e = element_size(dtype)
    layers = depth + 2
    factors = e * layers * n * width * (3 + k) + e * n * d
    weights = e * (d * width + layers * width * width + width * k)
    b = min(rows, n)
    return factors + weights + 5 * e * b * b * k * k


def gram_bytes(n: int, d: int = 1) -> int:
    """lambda_0 of an n x n Gram (``bounds --data``): the Gram, a copy and the eigensolver."""
    return 8 * (4 * n * n + n * d)


def hidden_square_layers(parameterization: str, depth: int) -> int:
    """How many m x m weight matrices the network of ``depth`` L has: allen-zhu's W_1..W_L
    (after A), cao-gu's W_2..W_(L-1), and L - 1 for the others (first layer d x m)."""
    if parameterization == "allen-zhu":
        return depth
    if parameterization == "cao-gu":
        return max(depth - 2, 0)
    return max(depth - 1, 0)


def _probe_names(probes: Iterable[str]) -> set[str]:
    return {str(p).partition(":")[0].strip() for p in probes}


def train_estimate(cfg: Any) -> Estimate:
    """Peak bytes of ``overparam train`` for a :class:`~overparam.config.RunConfig`: weights,
    their gradients and a copy (movement probes keep W_0), three activation arrays per layer
    and sample (forward value, pre-activation, backward gradient), the data, a graph's dense
    adjacency, and the n x n kernels of the kernel probes."""
    e = element_size(cfg.dtype)
    m, L, k = cfg.width, cfg.depth, cfg.k
    n = cfg.n if cfg.n is not None else DIGITS_TRAIN
    d = cfg.d
    if cfg.data == "digits":
        d, n = 64, min(n, DIGITS_TRAIN)
    if cfg.data == "karate":
        n = d = KARATE_NODES
    positions, window = 1, 1
    if cfg.arch == "cnn":
        positions = 64 if cfg.data == "digits" else d
        window = cfg.kernel_size ** (2 if cfg.data == "digits" else 1)
    layers = L + 1
    square = hidden_square_layers(str(cfg.parameterization), L)
    weights = window * m + d * m + square * window * m * m + m * positions * k * (1 + L * cfg.skip)
    activations = 3 * n * layers * m * positions
    total = e * (3 * weights + activations + n * d + n * k)
    if cfg.data in ("sbm", "karate"):
        total += e * n * n
    names = _probe_names(cfg.probes)
    if "all" in names or names & KERNEL_PROBES:
        total += 2 * kernel_matrix_bytes(n, k) + e * layers * n * m * positions * (1 + k)
    sizes = {"width": m, "depth": L, "n": n, "k": k}
    if cfg.data not in ("digits", "karate"):
        sizes["d"] = d
    return Estimate(f"train, depth {L}", int(total), sizes)


# -- the check --------------------------------------------------------------------------------


def driving_size(estimate: Callable[[Mapping[str, int]], int], sizes: Mapping[str, int]) -> str:
    """The size whose reduction to 1 lowers ``estimate`` the most (the one to name)."""
    base = dict(sizes)

    def without(name: str) -> int:
        return estimate({**base, name: 1})

    return min(base, key=without)


def check_fits(
    what: str,
    needed: int,
    sizes: Mapping[str, int],
    estimate: Callable[[Mapping[str, int]], int] | None = None,
    *,
    device: str = "cpu",
    hint: str = "",
) -> None:
    """Raise a ConfigError naming the size that drives ``needed`` when it exceeds the memory
    available on ``device`` (nothing happens when the available memory cannot be told).

    Args:
        what: the computation, for the message ("train, depth 50").
        needed: its estimated peak bytes.
        sizes: {field: value} of the sizes it depends on.
        estimate: recomputes the bytes from changed sizes, to find the one that drives them
            (default: the largest size is named).
        hint: appended to the allowed text (e.g. another way to run the computation).
    """
    free = available_bytes(device)
    if free is None:
        return
    limit = max(free - RESERVED_BYTES, 0)
    if needed <= limit:
        return
    if estimate is not None:
        field = driving_size(estimate, sizes)
    else:
        field = max(sizes, key=lambda name: sizes[name])
    allowed = (
        f"a size whose estimated memory ({what}: {format_bytes(needed)}) fits in the "
        f"{format_bytes(limit)} available"
    )
    raise ConfigError(field, sizes[field], allowed + (f"; {hint}" if hint else ""))


def check_train(cfg: Any) -> None:
    """:func:`check_fits` for a training run (CPU or its CUDA device)."""
    est = train_estimate(cfg)

    def again(sizes: Mapping[str, int]) -> int:
        fields = dict(sizes)
        if cfg.data in ("digits", "karate"):
            fields.pop("n", None)
        return train_estimate(_Sized(cfg, fields)).bytes

    check_fits(est.what, est.bytes, est.sizes, again, device=cfg.device)


class _Sized:
    """A config with some sizes replaced (for re-estimating; never validated or run)."""

    def __init__(self, cfg: Any, sizes: Mapping[str, int]) -> None:
        self._cfg, self._sizes = cfg, dict(sizes)

    def __getattr__(self, name: str) -> Any:
        if name in self._sizes:
            return self._sizes[name]
        return getattr(self._cfg, name)
