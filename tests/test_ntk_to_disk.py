"""Kernels written to .npy files in blocks of rows (overparam.ntk.to_disk): the files against the
in-memory kernels (analytic and empirical), float32 against float64, the heap peak against the
stated bound (tracemalloc), no file at the target after a failure, the argument checks, and
``overparam kernel --out`` / ``overparam ntk --out`` end to end."""

from __future__ import annotations

import errno
import importlib
import json
import os
import tracemalloc

import numpy as np
import pytest
import torch
import typer
from typer.testing import CliRunner

from overparam.cli.kernel import register as register_kernel
from overparam.cli.ntk import register as register_ntk
from overparam.data import sphere
from overparam.errors import ConfigError
from overparam.memory import analytic_block_bytes, analytic_rows_bytes
from overparam.models import FullyConnected, kernel_scale
from overparam.ntk.analytic import analytic, analytic_rows
from overparam.ntk.empirical import empirical
from overparam.ntk.to_disk import analytic_to_npy, empirical_to_npy

# the module (overparam.ntk re-exports its function under the same name)
analytic_module = importlib.import_module("overparam.ntk.analytic")
N, D, ROWS = 37, 5, 8  # blocks of 8, 8, 8, 8 and a ragged 5


@pytest.fixture(scope="module")
def X() -> np.ndarray:
    return sphere(N, D, seed=4).X.numpy()


def leftovers(folder) -> list[str]:
    return sorted(os.listdir(folder))


def close(a: np.ndarray, b: np.ndarray, rtol: float = 1e-14) -> None:
    """Entrywise |a - b| <= rtol max|b| (near-zero NNGP entries get the scale of the kernel)."""
    assert a.shape == b.shape
    assert np.abs(a - b).max() <= rtol * np.abs(b).max()


# -- the analytic kernel ----------------------------------------------------------------------


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("kernel", ["ntk", "nngp"])
def test_analytic_file_equals_the_in_memory_kernel(tmp_path, X, activation, kernel):
    path = tmp_path / "k.npy"
    calls = []
    result = analytic_to_npy(
        path,
        X,
        depth=2,
        rows=ROWS,
        dtype="float64",
        kernel=kernel,
        activation=activation,
        progress=lambda done, total: calls.append((done, total)),
    )
    F = np.load(path, mmap_mode="r")
    assert F.dtype == np.float64 and F.shape == (N, N)
    blocks = np.concatenate(
        [getattr(k, kernel) for _, k in analytic_rows(X, rows=ROWS, depth=2, activation=activation)]
    )
    assert np.array_equal(F, blocks)  # the file is the blocks, bit for bit
    K = getattr(analytic(X, depth=2, activation=activation), kernel)
    close(np.asarray(F), K)  # and the in-memory kernel (other tiles: rounding only)
    assert np.array_equal(np.diag(F), np.diag(K))  # both use the exact rho = 1 diagonal
    assert calls == [(8, N), (16, N), (24, N), (32, N), (N, N)]
    assert result.shape == (N, N) and result.dtype == "float64" and result.rows == ROWS
    assert result.trace == pytest.approx(np.trace(K), rel=1e-14)
    assert (result.diag_min, result.diag_max) == (np.diag(F).min(), np.diag(F).max())
    assert leftovers(tmp_path) == ["k.npy"]


def test_analytic_with_second_inputs(tmp_path, X):
    X2 = sphere(11, D, seed=5).X.numpy()
    result = analytic_to_npy(tmp_path / "k.npy", X, X2, depth=3, rows=10, dtype="float64")
    close(np.load(tmp_path / "k.npy"), analytic(X, X2, depth=3).ntk)
    assert result.shape == (N, 11)
    assert result.trace is None and result.diag_min is None  # not the kernel of X with itself


def test_float32_file_is_the_float64_file_cast(tmp_path, X):
    kw = {"depth": 3, "rows": 5, "parameterization": "du"}
    r32 = analytic_to_npy(tmp_path / "a.npy", X, dtype="float32", **kw)
    analytic_to_npy(tmp_path / "b.npy", X, dtype="float64", **kw)
    f32, f64 = np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy")
    assert f32.dtype == np.float32
    assert np.array_equal(f32, f64.astype(np.float32))
    # the statistics are of the stored (float32) values
    assert r32.trace == pytest.approx(float(np.trace(f32.astype(np.float64))), rel=1e-15)
    assert r32.diag_max == float(np.diag(f32).max())


def test_peak_heap_is_bounded_by_the_block(tmp_path):
    """n = 3000, rows 256: the 72 MB float64 kernel is never held; the peak stays within
    analytic_rows_bytes and is at least the three (rows x n) blocks it counts."""
    n, d, depth, rows, threads = 3000, 16, 2, 256, 2
    X = sphere(n, d, seed=0).X.numpy()
    bound = analytic_rows_bytes(n=n, n2=n, d=d, depth=depth, rows=rows, threads=threads)
    assert bound < 8 * n * n / 2  # a bound that holding the kernel would break
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        result = analytic_to_npy(
            tmp_path / "k.npy", X, depth=depth, rows=rows, dtype="float32", threads=threads
        )
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert 16 * rows * n <= peak <= bound
    assert result.peak_block_bytes == analytic_block_bytes(n=n, n2=n, rows=rows, threads=threads)
    assert np.load(tmp_path / "k.npy", mmap_mode="r").shape == (n, n)


def _failing_rows(after: int, exc: BaseException):
    real = analytic_rows

    def rows(*args, **kwargs):
        for i, item in enumerate(real(*args, **kwargs)):
            if i == after:
                raise exc
            yield item

    return rows


@pytest.mark.parametrize("exc", [RuntimeError("disk on fire"), KeyboardInterrupt()])
def test_failure_midway_leaves_no_file(tmp_path, X, monkeypatch, exc):
    monkeypatch.setattr(analytic_module, "analytic_rows", _failing_rows(2, exc))
    with pytest.raises(type(exc)):
        analytic_to_npy(tmp_path / "k.npy", X, depth=2, rows=ROWS)
    assert leftovers(tmp_path) == []


def test_failure_keeps_the_previous_file(tmp_path, X, monkeypatch):
    path = tmp_path / "k.npy"
    analytic_to_npy(path, X, depth=2, rows=ROWS)
    before = path.read_bytes()
    monkeypatch.setattr(analytic_module, "analytic_rows", _failing_rows(3, RuntimeError()))
    with pytest.raises(RuntimeError):
        analytic_to_npy(path, X, depth=5, rows=ROWS)
    assert path.read_bytes() == before and leftovers(tmp_path) == ["k.npy"]


def test_full_disk_is_an_error_before_work(tmp_path, X, monkeypatch):
    def no_space(fd, offset, size):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", no_space)
    with pytest.raises(ConfigError) as err:
        analytic_to_npy(tmp_path / "k.npy", X, depth=2, rows=ROWS)
    assert err.value.field == "out"
    assert leftovers(tmp_path) == []


def test_too_little_free_space_is_refused(tmp_path, X, monkeypatch):
    import shutil

    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10, 10, 100))
    with pytest.raises(ConfigError) as err:
        analytic_to_npy(tmp_path / "k.npy", X, depth=2)
    assert err.value.field == "out" and leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("out", "kwargs", "field"),
    [
        ("{tmp}", {}, "out"),
        ("{tmp}/missing/k.npy", {}, "out"),
        ("{tmp}/k.npz", {}, "out"),
        ("{tmp}/k", {}, "out"),
        (3, {}, "out"),
        ("{tmp}/k.npy", {"rows": 0}, "rows"),
        ("{tmp}/k.npy", {"rows": True}, "rows"),
        ("{tmp}/k.npy", {"rows": 2.5}, "rows"),
        ("{tmp}/k.npy", {"dtype": "float16"}, "dtype"),
        ("{tmp}/k.npy", {"kernel": "cntk"}, "kernel"),
        ("{tmp}/k.npy", {"depth": 0}, "depth"),
        ("{tmp}/k.npy", {"activation": "bogus"}, "activation"),
    ],
)
def test_bad_arguments_name_the_field_and_write_nothing(tmp_path, X, out, kwargs, field):
    path = out.format(tmp=tmp_path) if isinstance(out, str) else out
    with pytest.raises(ConfigError) as err:
        analytic_to_npy(path, X, **{"depth": 2, **kwargs})
    assert err.value.field == field
    assert str(err.value).count("\n") == 0
    assert leftovers(tmp_path) == []


def test_no_rows_is_refused(tmp_path):
    with pytest.raises(ConfigError) as err:
        analytic_to_npy(tmp_path / "k.npy", np.zeros((0, 3)), depth=2)
    assert err.value.field == "X"
    with pytest.raises(ConfigError) as err:
        empirical_to_npy(tmp_path / "k.npy", FullyConnected(3, 4, 2), torch.zeros(0, 3))
    assert err.value.field == "X" and leftovers(tmp_path) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only directories")
def test_read_only_directory_is_refused(tmp_path, X):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(ConfigError) as err:
            analytic_to_npy(folder / "k.npy", X, depth=2)
        assert err.value.field == "out"
    finally:
        folder.chmod(0o700)


# -- the empirical kernel ---------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 3])
def test_empirical_file_equals_the_in_memory_kernel(tmp_path, X, k):
    model = FullyConnected(D, 16, 3, k, parameterization="du", dtype="float64", seed=2)
    Xt = torch.from_numpy(X)
    result = empirical_to_npy(tmp_path / "e.npy", model, Xt, rows=ROWS)
    F = np.load(tmp_path / "e.npy", mmap_mode="r")
    theta = empirical(model, Xt).numpy()
    assert F.shape == theta.shape == ((N, N) if k == 1 else (N, N, k, k))
    close(np.asarray(F), theta)
    diag = np.einsum("iiaa->ia", theta.reshape(N, N, k, k))
    assert result.trace == pytest.approx(diag.sum(), rel=1e-13)
    assert result.diag_min == pytest.approx(diag.min(), rel=1e-13)
    assert result.dtype == "float64"


def test_empirical_autograd_blocks_and_scale(tmp_path):
    X = torch.from_numpy(sphere(7, 3, seed=1).X.numpy())
    model = FullyConnected(3, 6, 2, parameterization="zou-gu", dtype="float64", seed=0)
    scale = kernel_scale("zou-gu", 6)
    empirical_to_npy(tmp_path / "e.npy", model, X, rows=3, method="autograd", scale=scale)
    close(np.load(tmp_path / "e.npy"), empirical(model, X, method="autograd").numpy() / scale)


def test_empirical_float32_file_of_a_float64_model(tmp_path, X):
    model = FullyConnected(D, 8, 2, parameterization="ntk", dtype="float64", seed=5)
    Xt = torch.from_numpy(X)
    empirical_to_npy(tmp_path / "e.npy", model, Xt, rows=ROWS, dtype="float32")
    F = np.load(tmp_path / "e.npy")
    assert F.dtype == np.float32
    assert np.array_equal(F, empirical(model, Xt).numpy().astype(np.float32))


def test_ntk_rows_bytes_covers_the_factors_and_the_tiles():
    """The structured factors actually held (H and G of every trained layer, plus the inputs)
    and five (rows, rows, k, k) tiles fit in the estimate, which holds no n x n term."""
    from overparam.memory import ntk_rows_bytes
    from overparam.ntk.structured import rule_for

    n, d, width, depth, k, rows = 300, 7, 48, 3, 2, 32
    model = FullyConnected(d, width, depth, k, parameterization="ntk", seed=0)
    X = sphere(n, d, seed=0).X.float()
    factors = rule_for(model)(model, X)
    held = 4 * sum(f.H.numel() + f.G.numel() for f in factors) + 4 * X.numel()
    est = ntk_rows_bytes(n=n, d=d, width=width, depth=depth, rows=rows, k=k)
    assert held + 5 * 4 * rows * rows * k * k <= est < held + 4 * n * n * k * k


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"method": "bogus"}, "method"), ({"per_layer": True}, "keyword"), ({"rows": 0}, "rows")],
)
def test_empirical_bad_arguments(tmp_path, X, kwargs, field):
    model = FullyConnected(D, 8, 2, parameterization="ntk", dtype="float64", seed=5)
    with pytest.raises(ConfigError) as err:
        empirical_to_npy(tmp_path / "e.npy", model, torch.from_numpy(X), **kwargs)
    assert err.value.field == field and leftovers(tmp_path) == []


# -- the commands -----------------------------------------------------------------------------

app = typer.Typer()


@app.callback()
def _root() -> None:
    """Test app: the callback keeps the commands named subcommands."""


register_kernel(app)
register_ntk(app)
runner = CliRunner()


def test_kernel_out_json_end_to_end(tmp_path):
    path = tmp_path / "k.npy"
    args = ["kernel", "--n", "50", "--d", "6", "--depth", "3", "--seed", "2", "--mu", "0.3"]
    result = runner.invoke(app, [*args, "--out", str(path), "--rows", "16", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    F = np.load(path, mmap_mode="r")
    K = analytic(sphere(50, 6, mu=0.3, seed=2).X, depth=3).ntk
    assert F.dtype == np.float32 and F.shape == (50, 50)
    close(F.astype(np.float64), K, rtol=1e-7)
    assert out["path"] == str(path) and out["shape"] == [50, 50] and out["dtype"] == "float32"
    assert out["block_rows"] == 16 and out["kernel"] == "ntk"
    assert out["trace"] == pytest.approx(float(np.trace(F.astype(np.float64))), rel=1e-12)
    assert out["diag_max"] == pytest.approx(float(np.diag(F).max()))
    assert out["peak_block_mib"] > 0 and out["seconds"] >= 0
    assert "lambda_min" not in out  # no eigenvalues of a kernel on disk


def test_kernel_out_nngp_float64_table(tmp_path):
    path = tmp_path / "g.npy"
    args = ["kernel", "--n", "20", "--d", "4", "--depth", "2", "--out", str(path)]
    result = runner.invoke(app, [*args, "--kernel", "nngp", "--dtype", "float64"])
    assert result.exit_code == 0, result.output
    assert "NNGP on disk" in result.stdout and "peak_block_mib" in result.stdout
    close(np.load(path), analytic(sphere(20, 4, seed=0).X, depth=2).nngp)


def test_ntk_out_json_end_to_end(tmp_path):
    path = tmp_path / "e.npy"
    args = ["ntk", "--n", "30", "--d", "5", "--width", "16", "--depth", "2", "--seed", "1"]
    args += ["--dtype", "float64", "--parameterization", "zou-gu", "--normalize"]
    result = runner.invoke(app, [*args, "--out", str(path), "--rows", "7", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    model = FullyConnected(5, 16, 2, parameterization="zou-gu", dtype="float64", seed=2)
    theta = empirical(model, sphere(30, 5, seed=1).X.double()).numpy() / 16
    close(np.load(path, mmap_mode="r"), theta, rtol=1e-13)
    assert out["shape"] == [30, 30] and out["block_rows"] == 7
    assert out["trace"] == pytest.approx(np.trace(theta), rel=1e-12)
    assert "lambda_min" not in out


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["kernel", "--rows", "4"], "rows"),
        (["kernel", "--dtype", "float64"], "dtype"),
        (["kernel", "--kernel", "nngp"], "kernel"),
        (["kernel", "--out", "{tmp}/k.npy", "--rows", "-1"], "rows"),
        (["ntk", "--rows", "4"], "rows"),
        (["ntk", "--out", "{tmp}/k.csv"], "out"),
    ],
)
def test_out_options_are_one_line_errors(tmp_path, args, field):
    command, *rest = (a.format(tmp=tmp_path) for a in args)
    result = runner.invoke(app, [command, "--n", "5", "--d", "4", *rest])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {field}:") and result.stderr.count("\n") == 1
    assert leftovers(tmp_path) == []
