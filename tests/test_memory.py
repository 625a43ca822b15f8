"""Memory estimates against the allocations of small cases, the available-memory readers, and
the CLI refusals of sizes that cannot fit (available memory fixed by monkeypatching)."""

from __future__ import annotations

import io
import os
import tracemalloc

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from overparam import memory
from overparam.cli import app
from overparam.config import build_config
from overparam.errors import ConfigError
from overparam.memory import (
    RESERVED_BYTES,
    analytic_bytes,
    check_fits,
    format_bytes,
    ntk_bytes,
    train_estimate,
)

GIB = 2**30


@pytest.fixture
def sixteen_gib(monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda device="cpu": 16 * GIB)
    return 16 * GIB - RESERVED_BYTES


# -- formatting and what is available ---------------------------------------------------------


@pytest.mark.parametrize(
    ("b", "text"),
    [(512, "512 B"), (1536, "1.5 KiB"), (3 * 2**20, "3.0 MiB"), (int(1.5 * 2**40), "1.5 TiB")],
)
def test_format_bytes(b, text):
    assert format_bytes(b) == text


def test_available_reads_mem_available_from_proc_meminfo(monkeypatch):
    text = "MemTotal:       32000000 kB\nMemFree:  100 kB\nMemAvailable:   1234567 kB\n"
    monkeypatch.setattr(memory, "open", lambda *a, **k: io.StringIO(text), raising=False)
    assert memory.available_bytes() == 1234567 * 1024


def test_available_falls_back_to_sysconf(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("no /proc here")

    monkeypatch.setattr(memory, "open", refuse, raising=False)
    expected = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    got = memory.available_bytes()
    assert got is not None and abs(got - expected) <= 0.05 * expected + 64 * 2**20


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_available_on_cuda_is_the_free_device_memory():
    free, _ = torch.cuda.mem_get_info()
    got = memory.available_bytes("cuda")
    assert got is not None and abs(got - free) <= 0.1 * free


def test_check_fits_is_silent_when_memory_cannot_be_told(monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda device="cpu": None)
    check_fits("anything", 10**30, {"n": 10**10})


# -- estimates against allocations of small cases ---------------------------------------------


def _measured_train_bytes(cfg) -> int:
    """3 x (parameter bytes + every module output of a forward pass over the training set):
    weights, their gradients and a copy; forward values, saved inputs and backward gradients."""
    from overparam.run import setup

    s = setup(cfg)
    model = s.model
    outputs: list[int] = []

    def hook(module, inputs, out):
        if torch.is_tensor(out):
            outputs.append(out.numel() * out.element_size())

    hooks = [m.register_forward_hook(hook) for m in model.modules() if m is not model]
    try:
        with torch.no_grad():
            model(s.train.X.to(next(model.parameters()).dtype))
    finally:
        for h in hooks:
            h.remove()
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    return 3 * (params + sum(outputs))


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"width": 512, "depth": 4},
        {"parameterization": "allen-zhu", "width": 300, "depth": 3},
        {"parameterization": "cao-gu", "depth": 4},
        {"arch": "resnet", "depth": 5},
        {"arch": "cnn", "width": 16},
        {"arch": "cnn", "data": "digits", "n": 100, "width": 16},
        {"arch": "gnn", "width": 64},
        {"arch": "gnn", "skip": True, "width": 64, "depth": 3},
        {"dtype": "float64", "width": 128, "n": 200},
    ],
)
def test_train_estimate_bounds_the_built_model_within_a_factor(fields):
    cfg = build_config(fields)
    measured = _measured_train_bytes(cfg)
    estimate = train_estimate(cfg).bytes
    assert measured <= estimate <= 2 * measured, (estimate / measured, fields)


def test_kernel_probes_add_the_n_by_n_kernels():
    plain = train_estimate(build_config(n=512, width=64)).bytes
    probed = train_estimate(build_config(n=512, width=64, probes=("ntk_drift",))).bytes
    assert probed - plain >= 2 * 8 * 512**2  # theta_0 and theta_t in float64, at least


@pytest.mark.parametrize(("n", "k", "width", "depth"), [(96, 1, 64, 2), (64, 3, 32, 3)])
def test_ntk_estimate_bounds_the_kernel_factors_and_spectrum(n, k, width, depth):
    from overparam.data import sphere
    from overparam.models import FullyConnected
    from overparam.ntk.structured import rule_for
    from overparam.ntk.summary import spectrum_summary

    d = 8
    model = FullyConnected(d, width, depth, k, parameterization="ntk", dtype="float32")
    X = sphere(n, d, seed=0).X.to(torch.float32)
    factors = rule_for(model)(model, X)
    factor_bytes = sum(
        f.H.numel() * f.H.element_size() + f.G.numel() * f.G.element_size() for f in factors
    )
    theta = np.eye(n * k, dtype=np.float32).reshape(n, k, n, k).transpose(0, 2, 1, 3)
    tracemalloc.start()  # the float64 copy and the eigensolver's workspace (NumPy is traced)
    spectrum_summary(theta)
    spectrum_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    measured = factor_bytes + theta.nbytes + spectrum_peak + params
    estimate = ntk_bytes(n=n, d=d, width=width, depth=depth, k=k)
    assert measured <= estimate <= 4 * measured, estimate / measured


@pytest.mark.parametrize(("n", "depth"), [(200, 2), (320, 3)])
def test_analytic_estimate_bounds_the_traced_peak(n, depth):
    from overparam.ntk.analytic import analytic_summary

    tracemalloc.start()
    analytic_summary(n=n, d=16, depth=depth)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    estimate = analytic_bytes(n=n, d=16, depth=depth)
    assert peak <= estimate <= 3 * peak, estimate / peak


# -- the refusals -----------------------------------------------------------------------------


def test_check_fits_names_the_driving_size(sixteen_gib):
    def estimate(s):
        return ntk_bytes(n=s["n"], d=64, width=s["width"], depth=3)

    for sizes, field in (({"n": 10**6, "width": 64}, "n"), ({"n": 64, "width": 10**6}, "width")):
        with pytest.raises(ConfigError) as err:
            check_fits("ntk", estimate(sizes), sizes, estimate)
        assert err.value.field == field and err.value.value == sizes[field]
        assert format_bytes(sixteen_gib) in err.value.allowed


def test_a_size_that_fits_passes(sixteen_gib):
    memory.check_train(build_config())  # the default run: a few MiB


def _one_line(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


def test_train_refuses_a_width_that_cannot_fit(sixteen_gib, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = _one_line(CliRunner().invoke(app, ["train", "--width", "100000", "--depth", "50"]))
    est = train_estimate(build_config(width=100000, depth=50)).bytes
    assert est > 1 * 2**40  # 50 matrices of 10^10 float32 weights, with gradients: terabytes
    assert line == (
        f"error: width: got 100000; allowed: a size whose estimated memory (train, depth 50: "
        f"{format_bytes(est)}) fits in the {format_bytes(sixteen_gib)} available"
    )


def test_ntk_refuses_a_million_samples(sixteen_gib, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = _one_line(CliRunner().invoke(app, ["ntk", "--n", "1000000"]))
    est = ntk_bytes(n=10**6, d=64, width=1024, depth=3)
    assert line.startswith("error: n: got 1000000; allowed: a size whose estimated memory")
    assert f"{format_bytes(est)}) fits in the {format_bytes(sixteen_gib)} available" in line


def test_kernel_and_bounds_refuse_n_squared_arrays(sixteen_gib, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    kernel = _one_line(runner.invoke(app, ["kernel", "--n", "2000000"]))
    assert kernel.startswith("error: n: got 2000000; allowed: a size whose estimated memory")
    assert format_bytes(analytic_bytes(n=2 * 10**6, d=64, depth=3)) in kernel
    bounds = _one_line(
        runner.invoke(app, ["bounds", "--depth", "2", "--data", "sphere", "--n", "2000000"])
    )
    assert bounds.startswith("error: n: got 2000000; allowed: a size whose estimated memory")
