"""Kernels too large for memory, written block of rows by block of rows into a ``.npy`` file.

The infinite-width kernel [jacot-2018, Theorem 1] of n = 50,000 points is a 20 GB float64
matrix (10 GB in float32): more than the recursion's working arrays can hold next to it, but a
file that ``numpy.load(path, mmap_mode="r")`` reads lazily. :func:`analytic_to_npy` fills such a
file from :func:`overparam.ntk.analytic.analytic_rows`, :func:`empirical_to_npy` from the
structured factors of :mod:`overparam.ntk.structured` (the empirical NTK [jacot-2018,
Section 4]), one block of ``rows`` rows at a time, so memory is bounded by the block
(:func:`overparam.memory.analytic_rows_bytes`, :func:`overparam.memory.ntk_rows_bytes`).

The file is created with :func:`numpy.lib.format.open_memmap` under a temporary name in the
target's directory, its space reserved up front (a full disk is an error before any work, not a
SIGBUS half-way), each block mapped, written, flushed and unmapped in turn (so resident memory
holds one block of the file, not all of it), and the finished file fsynced and ``os.replace``d
onto the target. An error or KeyboardInterrupt removes the temporary file: the target path holds
a complete kernel or whatever it held before.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.lib.format import open_memmap
from torch import nn

from overparam.errors import ConfigError, require_int

#: File dtypes.
DTYPES = ("float32", "float64")


class KernelKind(StrEnum):
    """Which kernel of :class:`overparam.ntk.analytic.Kernel` the analytic file holds."""

    NTK = "ntk"
    NNGP = "nngp"


KERNELS = tuple(k.value for k in KernelKind)
#: Default block of rows.
DEFAULT_ROWS = 1024

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ToDiskResult:
    """What was written.

    Attributes:
        path: the ``.npy`` file.
        shape: (n, n2), or (n, n, k, k) for an empirical kernel with k outputs.
        dtype: float32 or float64.
        seconds: wall-clock time, from the first block to the file in place.
        trace, diag_min, diag_max: of the stored values (sum and range of K[i, i] and, with k
            outputs, K[i, i, a, a]), accumulated in float64; None for an (X, X2) kernel.
        rows: the block of rows.
        peak_block_bytes: bound on the work arrays of one block, beyond the inputs (and, for the
            empirical kernel, its factors): see the functions' docstrings.
    """

    path: str
    shape: tuple[int, ...]
    dtype: str
    seconds: float
    trace: float | None
    diag_min: float | None
    diag_max: float | None
    rows: int
    peak_block_bytes: int

    def summary(self) -> dict[str, Any]:
        """The fields as JSON values: ``block_rows`` for ``rows``, ``peak_block_mib`` for
        ``peak_block_bytes``."""
        return {
            "path": self.path,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "seconds": self.seconds,
            "trace": self.trace,
            "diag_min": self.diag_min,
            "diag_max": self.diag_max,
            "block_rows": self.rows,
            "peak_block_mib": self.peak_block_bytes / 2**20,
        }


# ------------------------------------------------------------------------------------------------
# Arguments
# ------------------------------------------------------------------------------------------------


def check_out(path: object) -> Path:
    """``path`` as a :class:`Path`: a name ending in ``.npy``, not a directory, in an existing,
    writable directory (an existing file there is replaced); else a ConfigError naming ``out``."""
    if not isinstance(path, str | os.PathLike):
        raise ConfigError("out", path, "a file path ending in .npy")
    p = Path(path)
    if p.is_dir():
        raise ConfigError("out", str(path), "a file path ending in .npy, not a directory")
    if p.suffix != ".npy":
        raise ConfigError("out", str(path), "a file path ending in .npy")
    parent = p.parent
    if not parent.is_dir():
        raise ConfigError("out", str(path), f"a .npy path in an existing directory ({parent}/)")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError("out", str(path), f"a .npy path in a writable directory ({parent}/)")
    return p


def check_rows(rows: object) -> int:
    """The block of rows: an integer >= 1."""
    return require_int("rows", rows)


def check_dtype(dtype: object) -> str:
    """float32 or float64 (a string, or a NumPy / torch dtype of those)."""
    name = str(dtype).removeprefix("torch.")
    if name not in DTYPES:
        raise ConfigError("dtype", str(dtype), ", ".join(DTYPES))
    return name


def check_kernel(kernel: object) -> str:
    """ntk or nngp."""
    name = str(getattr(kernel, "value", kernel))
    if name not in KERNELS:
        raise ConfigError("kernel", kernel, ", ".join(KERNELS))
    return name


def file_bytes(shape: tuple[int, ...], dtype: str) -> int:
    """Bytes of the kernel's values in the file (the header adds at most a few KiB)."""
    return int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize


def check_space(path: Path, nbytes: int) -> None:
    """The target's directory has ``nbytes`` free (the temporary file sits next to any file
    it replaces); nothing happens when the free space cannot be told."""
    from overparam.memory import format_bytes

    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        return
    if nbytes > free:
        raise ConfigError(
            "out",
            str(path),
            f"a directory with {format_bytes(nbytes)} free for the kernel "
            f"({format_bytes(free)} free there)",
        )


# ------------------------------------------------------------------------------------------------
# The file
# ------------------------------------------------------------------------------------------------


class _RowFile:
    """A ``.npy`` file under a temporary name, filled by blocks of rows; see the module doc.

    A context manager: a clean exit fsyncs the file and moves it onto the target, an exception
    (KeyboardInterrupt included) removes it.
    """

    def __init__(
        self,
        target: Path,
        shape: tuple[int, ...],
        dtype: str,
        progress: Progress | None,
        *,
        diagonal: bool,
        started: float,
    ) -> None:
        self.target, self.shape, self.dtype = target, shape, np.dtype(dtype)
        self.progress, self.diagonal, self.started = progress, diagonal, started
        self.row_bytes = file_bytes(shape[1:], dtype)
        self.tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
        self.trace, self.diag_min, self.diag_max = 0.0, np.inf, -np.inf
        # O_EXCL: never another file; 0o666 under the umask, the mode of an ordinary new file.
        os.close(os.open(self.tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        try:
            mm = open_memmap(self.tmp, mode="w+", dtype=self.dtype, shape=shape)
            self.offset = int(mm.offset)
            del mm
            self._reserve(self.offset + shape[0] * self.row_bytes)
        except BaseException:
            self._remove()
            raise

    def _reserve(self, size: int) -> None:
        """Allocate the file's blocks now: writing a page of a sparse file on a full disk
        raises SIGBUS, not an exception."""
        fd = os.open(self.tmp, os.O_RDWR)
        try:
            os.posix_fallocate(fd, 0, size)
        except OSError as e:
            if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
                from overparam.memory import format_bytes

                allowed = f"a directory with {format_bytes(size)} free ({e.strerror})"
                raise ConfigError("out", str(self.target), allowed) from None
            # EOPNOTSUPP / EINVAL: the file system cannot reserve; the file stays sparse.
        finally:
            os.close(fd)

    def window(self, block: slice) -> np.memmap:
        """The rows ``block`` of the file, mapped read-write."""
        return np.memmap(
            self.tmp,
            dtype=self.dtype,
            mode="r+",
            offset=self.offset + block.start * self.row_bytes,
            shape=(block.stop - block.start, *self.shape[1:]),
        )

    def finish(self, block: slice, window: np.memmap) -> None:
        """Flush the block, add its diagonal to the statistics, report progress. The caller
        drops its references to ``window`` afterwards, which unmaps it."""
        window.flush()
        if self.diagonal:
            idx = np.arange(block.stop - block.start)
            diag = np.asarray(window[idx, idx + block.start], dtype=np.float64)
            if diag.ndim == 3:  # (b, k, k): the entries K[i, i, a, a]
                diag = np.diagonal(diag, axis1=1, axis2=2)
            self.trace += float(diag.sum())
            self.diag_min = min(self.diag_min, float(diag.min()))
            self.diag_max = max(self.diag_max, float(diag.max()))
        if self.progress is not None:
            self.progress(block.stop, self.shape[0])

    def write(self, block: slice, values: np.ndarray) -> None:
        """Store ``values`` (cast to the file's dtype) as the rows ``block``."""
        window = self.window(block)
        window[...] = values
        self.finish(block, window)
        del window

    def result(self, rows: int, peak_block_bytes: int) -> ToDiskResult:
        """The result, once the file is in place."""
        square = self.diagonal
        return ToDiskResult(
            path=str(self.target),
            shape=self.shape,
            dtype=str(self.dtype),
            seconds=time.perf_counter() - self.started,
            trace=self.trace if square else None,
            diag_min=self.diag_min if square else None,
            diag_max=self.diag_max if square else None,
            rows=rows,
            peak_block_bytes=peak_block_bytes,
        )

    def _commit(self) -> None:
        fd = os.open(self.tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(self.tmp, self.target)
        with contextlib.suppress(OSError):  # the rename itself durable, where a dir opens
            dfd = os.open(self.target.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)

    def _remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.tmp)

    def __enter__(self) -> _RowFile:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is not None:
            self._remove()
            return
        try:
            self._commit()
        except BaseException:
            self._remove()
            raise


def _first(blocks: Iterator[Any]) -> Any:
    try:
        return next(blocks)
    except StopIteration:  # X of shape (0, d)
        raise ConfigError("X", "no rows", "an array of shape (n, d) with n >= 1") from None


# ------------------------------------------------------------------------------------------------
# Analytic kernel
# ------------------------------------------------------------------------------------------------


def analytic_to_npy(
    path: str | os.PathLike[str],
    X: np.ndarray | torch.Tensor,
    X2: np.ndarray | torch.Tensor | None = None,
    *,
    depth: int,
    rows: int = DEFAULT_ROWS,
    dtype: str = "float32",
    kernel: str = "ntk",
    progress: Progress | None = None,
    **analytic_kwargs: Any,
) -> ToDiskResult:
    """Write the infinite-width NTK or NNGP [jacot-2018, Theorem 1] of (X, X2) to ``path``.

    Row block [a, b) of the file is ``analytic(X, X2, ...).ntk[a:b]`` (or ``.nngp``) from
    :func:`overparam.ntk.analytic.analytic_rows`, cast to ``dtype``; with X2 = None its diagonal
    is the exact rho = 1 value, as in :func:`~overparam.ntk.analytic.analytic`. Every row is
    computed in full (the symmetric in-memory kernel computes half of them).

    Peak heap memory, with b = min(rows, n) and W the per-thread work arrays
    (:data:`overparam.memory.RELU_TILE_BYTES` = 4 MiB for relu, ``QUADRATURE_BYTES`` = 128 MiB
    for the quadrature), is at most
    ``24 b n2 + 8 (n + n2) (d + depth + 4) + threads W`` bytes
    (:func:`overparam.memory.analytic_rows_bytes`): the generator's NNGP and NTK blocks and the
    next block's first array, the inputs and per-layer variances, the tiles. The mapped block of
    the file adds ``b n2 itemsize`` bytes of file pages, unmapped after each block.

    Args:
        path: the ``.npy`` file (replaced if it exists).
        X, X2, depth, analytic_kwargs: as :func:`overparam.ntk.analytic.analytic`.
        rows: rows per block.
        dtype: float32 or float64 (the recursion runs in float64 either way).
        kernel: ntk or nngp.
        progress: called as ``progress(done_rows, total_rows)`` after each block.

    Returns:
        :class:`ToDiskResult`; ``peak_block_bytes`` is the bound above.

    Raises:
        ConfigError: ``out`` (suffix, directory, free space), ``rows`` < 1, ``dtype``,
            ``kernel``, or any argument :func:`~overparam.ntk.analytic.analytic` refuses.
    """
    from overparam.memory import analytic_block_bytes
    from overparam.ntk.analytic import analytic_rows

    target = check_out(path)
    rows = check_rows(rows)
    dtype = check_dtype(dtype)
    kernel = check_kernel(kernel)
    started = time.perf_counter()
    blocks = analytic_rows(X, X2, rows=rows, depth=depth, **analytic_kwargs)
    block, k = _first(blocks)  # validates X, X2 and the kernel arguments
    n, n2 = len(X), k.shape[1]
    shape = (n, n2)
    check_space(target, file_bytes(shape, dtype))
    threads = analytic_kwargs.get("threads") or torch.get_num_threads()
    bound = analytic_block_bytes(
        n=n,
        n2=n2,
        rows=rows,
        activation=str(analytic_kwargs.get("activation", "relu")),
        method=str(analytic_kwargs.get("method", "auto")),
        threads=threads,
    )
    with _RowFile(target, shape, dtype, progress, diagonal=X2 is None, started=started) as f:
        f.write(block, getattr(k, kernel))
        del k  # only the generator's references remain while it computes the next block
        for block, k in blocks:
            f.write(block, getattr(k, kernel))
            del k
    return f.result(rows, bound)


# ------------------------------------------------------------------------------------------------
# Empirical kernel
# ------------------------------------------------------------------------------------------------


def _empirical_options(kwargs: dict[str, Any]) -> tuple[str, int | None]:
    from overparam.ntk.empirical import Method

    unknown = sorted(set(kwargs) - {"method", "max_memory"})
    if unknown:
        raise ConfigError("keyword", unknown[0], "method, max_memory")
    method = kwargs.get("method", Method.AUTO)
    try:
        method = Method(method)
    except ValueError:
        raise ConfigError("method", method, ", ".join(m.value for m in Method)) from None
    return method.value, kwargs.get("max_memory")


def empirical_to_npy(
    path: str | os.PathLike[str],
    model: nn.Module,
    X: torch.Tensor,
    *,
    rows: int = DEFAULT_ROWS,
    dtype: str | None = None,
    scale: float = 1.0,
    progress: Progress | None = None,
    **empirical_kwargs: Any,
) -> ToDiskResult:
    """Write the empirical NTK Theta(X, X) [jacot-2018, Section 4] of ``model`` to ``path``.

    Row block [a, b) of the file is ``empirical(model, X)[a:b] / scale``. With a structured
    rule (:mod:`overparam.ntk.structured`) the factors H_l, G_l of all n inputs are computed
    once and each block is ``gram_from_factors`` of the block's factors against all of them,
    tile by (rows x rows) tile straight into the mapped file; ``empirical(model, X[block], X)``
    would recompute the factors of all of X for every block (a forward and backward pass over n
    inputs per block). Without a rule, or with ``method="autograd"``, each block is
    ``empirical(model, X[block], X, ...)``.

    Memory (structured): the factors, (3 + k) n width elements per layer during the forward pass
    (as the in-memory kernel; :func:`overparam.memory.ntk_rows_bytes`), plus five
    (b, b, k, k) tiles, b = min(rows, n): ``5 b^2 k^2 itemsize`` bytes (``peak_block_bytes``).
    Autograd: the (b, n, k, k) block in the model's dtype plus Jacobian chunks within
    ``max_memory`` (``peak_block_bytes`` = the block). The mapped block of the file adds
    ``b n k^2 itemsize`` bytes of file pages.

    Args:
        path: the ``.npy`` file (replaced if it exists).
        model, X, empirical_kwargs: as :func:`overparam.ntk.empirical.empirical` (``method``,
            ``max_memory``); X2 = X.
        rows: rows per block.
        dtype: float32 or float64; None for X's dtype.
        scale: the stored kernel is divided by it (``kernel_scale`` of the parameterization, to
            compare with the analytic kernel).
        progress: called as ``progress(done_rows, total_rows)`` after each block.

    Returns:
        :class:`ToDiskResult`; shape (n, n) for one output, (n, n, k, k) for k.

    Raises:
        ConfigError: ``out``, ``rows``, ``dtype``, ``method``, an unknown keyword, or what
            :func:`~overparam.ntk.empirical.empirical` refuses (``X``, ``model``).
    """
    from overparam.ntk.empirical import _check_inputs, empirical
    from overparam.ntk.structured import LayerFactors, gram_from_factors, rule_for

    target = check_out(path)
    rows = check_rows(rows)
    if dtype is not None:
        dtype = check_dtype(dtype)
    method, max_memory = _empirical_options(empirical_kwargs)
    _check_inputs(model, X, None)
    if X.shape[0] < 1:
        raise ConfigError("X", "no rows", "a tensor of shape (n, ...) with n >= 1")
    dtype = dtype or check_dtype(X.dtype)
    n, b = X.shape[0], min(rows, X.shape[0])
    from overparam.ntk.empirical import resolve_method

    method = resolve_method(model, method).value  # auto: structured where a rule exists
    rule = rule_for(model) if method == "structured" else None
    started = time.perf_counter()
    if rule is not None:
        factors = rule(model, X)
        k = factors[0].G.shape[0]
    else:
        with torch.no_grad():
            k = model(X[:1]).shape[-1]
    shape = (n, n) if k == 1 else (n, n, k, k)
    check_space(target, file_bytes(shape, dtype))
    itemsize = X.element_size()
    with _RowFile(target, shape, dtype, progress, diagonal=True, started=started) as f:
        for start in range(0, n, b):
            block = slice(start, min(start + b, n))
            if rule is None:
                theta = empirical(model, X[block], X, method=method, max_memory=max_memory)
                values = theta.detach().cpu().numpy()
                del theta
                f.write(block, values / scale if scale != 1.0 else values)
                del values
                continue
            part = [LayerFactors(a.name, a.H[block], a.bias_sq, a.G[:, block]) for a in factors]
            window = f.window(block)
            gram_from_factors(part, factors, block=b, out=window.reshape(-1, n, k, k))
            if scale != 1.0:
                window /= scale
            f.finish(block, window)
            del window
    peak = 5 * itemsize * b * b * k * k if rule is not None else itemsize * b * n * k * k
    return f.result(rows, peak)


# ------------------------------------------------------------------------------------------------
# On sphere data (what ``overparam kernel --out`` and ``overparam ntk --out`` run)
# ------------------------------------------------------------------------------------------------


def sphere_analytic_to_npy(
    path: str | os.PathLike[str],
    *,
    n: int,
    d: int,
    depth: int,
    mu: float = 0.5,
    seed: int = 0,
    rows: int = DEFAULT_ROWS,
    dtype: str = "float32",
    kernel: str = "ntk",
    progress: Progress | None = None,
    **analytic_kwargs: Any,
) -> ToDiskResult:
    """:func:`analytic_to_npy` on ``sphere(n, d, mu=mu, seed=seed).X``."""
    from overparam.data import sphere

    X = sphere(n, d, mu=mu, seed=seed).X
    return analytic_to_npy(
        path,
        X,
        depth=depth,
        rows=rows,
        dtype=dtype,
        kernel=kernel,
        progress=progress,
        **analytic_kwargs,
    )


def sphere_empirical_to_npy(
    path: str | os.PathLike[str],
    *,
    n: int,
    d: int,
    width: int,
    depth: int,
    k: int = 1,
    parameterization: str = "ntk",
    activation: str = "relu",
    method: str = "structured",
    mu: float = 0.5,
    seed: int = 0,
    dtype: str = "float32",
    device: str = "cpu",
    normalize: bool = False,
    rows: int = DEFAULT_ROWS,
    progress: Progress | None = None,
) -> ToDiskResult:
    """:func:`empirical_to_npy` of the network and data of
    :func:`overparam.ntk.summary.empirical_summary` (same seeds), divided by ``kernel_scale``
    with ``normalize``."""
    from overparam.data import sphere
    from overparam.models import FullyConnected, kernel_scale
    from overparam.models.base import resolve_device, resolve_dtype

    dev = resolve_device(device)
    model = FullyConnected(
        d,
        width,
        depth,
        k,
        parameterization=parameterization,
        activation=activation,
        dtype=dtype,
        device=dev,
        seed=seed + 1,
    )
    X = sphere(n, d, mu=mu, seed=seed).X.to(dtype=resolve_dtype(dtype), device=dev)
    return empirical_to_npy(
        path,
        model,
        X,
        rows=rows,
        dtype=dtype,
        scale=kernel_scale(parameterization, width) if normalize else 1.0,
        progress=progress,
        method=method,
    )
