"""A corpus of hostile invocations: every one ends in exit code 2 and one stderr line
``error: <field>: got <value>; allowed: <...>`` naming the right field, with no traceback, no
usage box and none of pydantic's wording, and none of them starts any work (training, kernels,
executors are replaced by tripwires). A few go through the real ``python -m overparam``."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from overparam.cli import app

LINE = re.compile(r"^error: (?P<field>[A-Za-z_][\w.]*): got .+; allowed: .+$")
FOREIGN = ("Traceback", "Usage:", "validation error", "Input should", "pydantic", "╭")
GIB = 2**30
AVAILABLE = 8 * GIB  # the memory the tests pretend is available

# Files the cases name as {key}: (file name, contents).
FILES = {
    "width_true": ("width_true.toml", "width = true\n"),
    "width_float": ("width_float.toml", "width = 3.5\n"),
    "width_str": ("width_str.toml", 'width = "64"\n'),
    "width_huge": ("width_huge.json", json.dumps({"width": 10**30})),
    "arch_list": ("arch_list.toml", 'arch = ["fc"]\n'),
    "arch_dict": ("arch_dict.toml", "arch = {a = 1}\n"),
    "unknown": ("unknown.toml", "widht = 64\n"),
    "seed_neg": ("seed_neg.json", json.dumps({"seed": -1})),
    "test_fraction": ("test_fraction.toml", "test_fraction = 1.5\n"),
    "probes_int": ("probes_int.toml", "probes = [1]\n"),
    "mu_nan": ("mu_nan.toml", "mu = nan\n"),
    "lr_true": ("lr_true.json", json.dumps({"lr": True})),
    "skip_int": ("skip_int.json", json.dumps({"skip": 1})),
    "device_bad": ("device_bad.toml", 'device = "tpu"\n'),
    "not_toml": ("not_toml.toml", "width = = 3\n"),
    "not_json": ("not_json.json", "{width: 3}"),
    "json_list": ("json_list.json", "[1, 2]"),
    "garbage_store": ("garbage.sqlite", "not a database"),
    "spec_seeds0": (
        "seeds0.toml",
        'name = "x"\n[base]\nn = 4\n[critical]\nseeds = 0\ntarget_ratio = 0.1\n',
    ),
    "spec_seeds_empty": (
        "seeds_empty.toml",
        'name = "x"\n[critical]\nseeds = []\ntarget_ratio = 0.1\n',
    ),
    "spec_seeds_true": (
        "seeds_true.toml",
        'name = "x"\n[critical]\nseeds = true\ntarget_ratio = 0.1\n',
    ),
    "spec_both_targets": (
        "both.toml",
        'name = "x"\n[critical]\ntarget_ratio = 0.1\ntarget_loss = 0.1\n',
    ),
    "spec_ratio_nan": ("ratio_nan.toml", 'name = "x"\n[critical]\ntarget_ratio = nan\n'),
    "spec_grid_true": ("grid_true.toml", 'name = "x"\n[grid]\nwidth = [true]\n'),
    "spec_grid_unknown": ("grid_unknown.toml", 'name = "x"\n[grid]\nwdith = [8]\n'),
    "spec_grid_empty": ("grid_empty.toml", 'name = "x"\n[grid]\nwidth = []\n'),
    "spec_grid_range": (
        "grid_range.toml",
        'name = "x"\n[grid]\nseed = {range = [0, 10000000000]}\n',
    ),
    "spec_grid_inf": ("grid_inf.toml", 'name = "x"\n[grid]\nlr = {linspace = [0.1, inf, 3]}\n'),
    "spec_base_seed": ("base_seed.toml", 'name = "x"\n[base]\nseed = -1\n'),
    "spec_base_fraction": ("base_fraction.toml", 'name = "x"\n[base]\ntest_fraction = 1.5\n'),
    "spec_base_list": ("base_list.toml", 'name = "x"\nbase = [1]\n'),
    "spec_budget": (
        "budget.toml",
        'name = "x"\n[grid]\nseed = [0, 1, 2]\n[budget]\nmax_runs = 2\n',
    ),
    "spec_wall_nan": ("wall_nan.toml", 'name = "x"\n[budget]\nwall_s = nan\n'),
    "spec_name": ("name.toml", 'name = "has space"\n'),
    "spec_no_name": ("no_name.toml", "description = 'x'\n"),
    "spec_probe_every": ("probe_every.toml", 'name = "x"\nprobe_every = 0\n'),
    "spec_critical_list": ("critical_list.toml", 'name = "x"\ncritical = [1]\n'),
    "spec_not_toml": ("spec_not_toml.toml", "name = [unclosed\n"),
}

NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")

# (arguments, the field the one line must name)
CASES: list = [
    # -- train: click types and choices ---------------------------------------------------------
    (["train", "--width", "abc"], "width"),
    (["train", "--width", "1.5"], "width"),
    (["train", "--width"], "width"),
    (["train", "--width", "99999999999999999999"], "width"),
    (["train", "--depth", "x"], "depth"),
    (["train", "--n", "abc"], "n"),
    (["train", "--mu", "half"], "mu"),
    (["train", "--bogus"], "option"),
    (["train", "--widht", "3"], "option"),
    (["train", "--skip=3"], "skip"),
    (["train", "--json=1"], "json"),
    (["train", "extra"], "argument"),
    # -- train: RunConfig ranges -----------------------------------------------------------------
    (["train", "--width", "0"], "width"),
    (["train", "--width", "-3"], "width"),
    (["train", "--depth", "0"], "depth"),
    (["train", "--n", "0"], "n"),
    (["train", "--n", "all", "--data", "sphere"], "n"),
    (["train", "--d", "0"], "d"),
    (["train", "--k", "0"], "k"),
    (["train", "--seed", "-1"], "seed"),
    (["train", "--seed", "99999999999"], "seed"),
    (["train", "--bias-std", "nan", "--parameterization", "ntk"], "bias_std"),
    (["train", "--bias-std", "-1", "--parameterization", "ntk"], "bias_std"),
    (["train", "--target-ratio", "2"], "target_ratio"),
    (["train", "--target-ratio", "nan"], "target_ratio"),
    (["train", "--target-ratio", "0"], "target_ratio"),
    (["train", "--target-loss", "-1"], "target_loss"),
    (["train", "--target-loss", "nan"], "target_loss"),
    (["train", "--mu", "nan"], "mu"),
    (["train", "--mu", "1"], "mu"),
    (["train", "--mu", "inf"], "mu"),
    (["train", "--noise", "nan", "--data", "digits"], "noise"),
    (["train", "--noise", "1.5"], "noise"),
    (["train", "--min-separation", "nan"], "min_separation"),
    (["train", "--min-separation", "2"], "min_separation"),
    (["train", "--min-separation", "-0.1"], "min_separation"),
    (["train", "--phi", "2", "--data", "close-pair"], "phi"),
    (["train", "--phi", "nan", "--data", "close-pair"], "phi"),
    (["train", "--phi", "0", "--data", "close-pair"], "phi"),
    (["train", "--data", "close-pair"], "phi"),
    (["train", "--dtype", "float16"], "dtype"),
    (["train", "--device", "bogus"], "device"),
    (["train", "--device", "meta"], "device"),
    (["train", "--device", "cuda:999"], "device"),
    pytest.param(["train", "--device", "cuda"], "device", marks=NO_CUDA),
    (["train", "--tau", "nan"], "tau"),
    (["train", "--tau", "0.1"], "tau"),
    (["train", "--c-res", "inf"], "c_res"),
    (["train", "--lr", "nan"], "lr"),
    (["train", "--lr", "-1"], "lr"),
    (["train", "--lr", "fast"], "lr"),
    (["train", "--lr", "1e999"], "lr"),
    (["train", "--lr-scale", "0"], "lr_scale"),
    (["train", "--lr-scale", "nan"], "lr_scale"),
    (["train", "--arch", "gnn", "--p-in", "2"], "p_in"),
    (["train", "--arch", "gnn", "--p-out", "nan"], "p_out"),
    (["train", "--arch", "gnn", "--feature-noise", "-1"], "feature_noise"),
    (["train", "--arch", "gnn", "--blocks", "1"], "blocks"),
    (["train", "--arch", "cnn", "--kernel-size", "0"], "kernel_size"),
    (["train", "--steps", "0"], "steps"),
    (["train", "--batch", "0"], "batch"),
    (["train", "--n", "8", "--batch", "100"], "batch"),
    (["train", "--algorithm", "sgd"], "batch"),
    (["train", "--algorithm", "adam"], "algorithm"),
    (["train", "--loss", "hinge"], "loss"),
    (["train", "--reduction", "max"], "reduction"),
    (["train", "--arch", "transformer"], "arch"),
    (["train", "--parameterization", "bogus"], "parameterization"),
    (["train", "--arch", "resnet", "--parameterization", "zou-gu"], "parameterization"),
    (["train", "--activation", "bogus"], "activation"),
    (["train", "--labels", "bogus"], "labels"),
    (["train", "--data", "digits", "--task", "bogus"], "task"),
    (["train", "--data", "mnist"], "data"),
    (["train", "--data", "sbm"], "arch"),
    (["train", "--arch", "gnn", "--data", "sphere"], "data"),
    (["train", "--skip"], "skip"),
    (["train", "--probe", "bogus"], "probes"),
    (["train", "--probe-every", "0"], "probe_every"),
    # sizes that cannot fit in memory
    (["train", "--width", "100000", "--depth", "50"], "width"),
    (["train", "--n", "1000000", "--probe", "ntk_drift"], "n"),
    # -- train: config files ---------------------------------------------------------------------
    (["train", "--config", "{width_true}"], "width"),
    (["train", "--config", "{width_float}"], "width"),
    (["train", "--config", "{width_str}"], "width"),
    (["train", "--config", "{width_huge}"], "width"),
    (["train", "--config", "{arch_list}"], "arch"),
    (["train", "--config", "{arch_dict}"], "arch"),
    (["train", "--config", "{unknown}"], "widht"),
    (["train", "--config", "{seed_neg}"], "seed"),
    (["train", "--config", "{test_fraction}"], "test_fraction"),
    (["train", "--config", "{probes_int}"], "probes"),
    (["train", "--config", "{mu_nan}"], "mu"),
    (["train", "--config", "{lr_true}"], "lr"),
    (["train", "--config", "{skip_int}"], "skip"),
    (["train", "--config", "{device_bad}"], "device"),
    (["train", "--config", "{not_toml}"], "config"),
    (["train", "--config", "{not_json}"], "config"),
    (["train", "--config", "{json_list}"], "config"),
    (["train", "--config", "{tmp}/missing.toml"], "config"),
    (["train", "--config", "{tmp}"], "config"),
    # -- ntk -------------------------------------------------------------------------------------
    (["ntk", "--method", "bogus"], "method"),
    (["ntk", "--parameterization", "x"], "parameterization"),
    (["ntk", "--activation", "bogus"], "activation"),
    (["ntk", "--k", "0"], "k"),
    (["ntk", "--n", "0"], "n"),
    (["ntk", "--depth", "0"], "depth"),
    (["ntk", "--d", "0"], "d"),
    (["ntk", "--width", "0"], "width"),
    (["ntk", "--width", "1.5"], "width"),
    (["ntk", "--seed", "-1"], "seed"),
    (["ntk", "--dtype", "float16"], "dtype"),
    (["ntk", "--device", "bogus"], "device"),
    (["ntk", "--device", "cuda:999"], "device"),
    (["ntk", "--mu", "nan", "--n", "4", "--d", "3", "--width", "4"], "mu"),
    (["ntk", "--n", "99999999999999999999"], "n"),
    (["ntk", "--n", "1000000"], "n"),
    (["ntk", "--normalize=3"], "normalize"),
    # -- kernel ----------------------------------------------------------------------------------
    (["kernel", "--n", "0"], "n"),
    (["kernel", "--n", "4.5"], "n"),
    (["kernel", "--depth", "0"], "depth"),
    (["kernel", "--d", "0"], "d"),
    (["kernel", "--seed", "-1"], "seed"),
    (["kernel", "--n", "4", "--d", "3", "--mu", "nan"], "mu"),
    (["kernel", "--n", "4", "--d", "3", "--weight-std", "nan"], "weight_std"),
    (["kernel", "--n", "4", "--d", "3", "--bias-std", "-1"], "bias_std"),
    (["kernel", "--activation", "bogus"], "activation"),
    (["kernel", "--n", "10000000"], "n"),
    (["kernel", "--n", "4", "--out", "{tmp}"], "out"),
    (["kernel", "--n", "4", "--out", "{tmp}/missing/k.npy"], "out"),
    (["kernel", "--n", "4", "--out", "{tmp}/k.txt"], "out"),
    (["kernel", "--n", "4", "--out", "{tmp}/k.npy", "--rows", "0"], "rows"),
    (["kernel", "--n", "4", "--out", "{tmp}/k.npy", "--dtype", "float16"], "dtype"),
    (["kernel", "--n", "4", "--out", "{tmp}/k.npy", "--kernel", "cntk"], "kernel"),
    (["kernel", "--n", "4", "--rows", "16"], "rows"),
    (["kernel", "--out", "{tmp}/k.npy", "--n", "10000000", "--rows", "10000000"], "n"),
    (["ntk", "--n", "4", "--out", "{tmp}"], "out"),
    (["ntk", "--n", "4", "--out", "{tmp}/missing/k.npy"], "out"),
    (["ntk", "--n", "4", "--out", "{tmp}/k.npz"], "out"),
    (["ntk", "--n", "4", "--out", "{tmp}/k.npy", "--rows", "0"], "rows"),
    (["ntk", "--n", "4", "--rows", "16"], "rows"),
    # -- bounds ----------------------------------------------------------------------------------
    (["bounds", "--n", "5"], "depth"),
    (["bounds", "--n", "0", "--depth", "2"], "n"),
    (["bounds", "--n", "5", "--depth", "0"], "depth"),
    (["bounds", "--depth", "2"], "n"),
    (["bounds", "--n", "5", "--depth", "2", "--phi", "nan"], "phi"),
    (["bounds", "--n", "5", "--depth", "2", "--phi", "3"], "phi"),
    (["bounds", "--n", "5", "--depth", "2", "--eps", "nan"], "eps"),
    (["bounds", "--n", "5", "--depth", "2", "--seed", "-1"], "seed"),
    (["bounds", "--n", "5", "--depth", "2", "--delta", "2"], "delta"),
    (["bounds", "--n", "5", "--depth", "2", "--lambda0", "-1"], "lambda0"),
    (["bounds", "--n", "5", "--depth", "2", "--lambda-min-k", "-1"], "lambda_min_k"),
    (["bounds", "--n", "5", "--depth", "2", "--measured-width", "nan"], "measured_width"),
    (["bounds", "--n", "5", "--depth", "2", "--constant", "nan"], "constant"),
    (["bounds", "--n", "5", "--depth", "2", "--depth-constant", "-1"], "depth_constant"),
    (["bounds", "--n", "5", "--depth", "2", "--k", "0"], "k"),
    (["bounds", "--n", "5", "--depth", "2", "--batch", "10"], "batch"),
    (["bounds", "--depth", "2", "--data", "sphere", "--n", "5", "--dim", "0"], "dim"),
    (["bounds", "--depth", "2", "--data", "sphere", "--n", "5", "--dim", "1"], "dim"),
    (["bounds", "--depth", "2", "--data", "sphere"], "n"),
    (["bounds", "--depth", "2", "--data", "sphere", "--n", "10000000"], "n"),
    (["bounds", "--depth", "2", "--data", "sphere", "--n", "5", "--phi", "0.1"], "phi"),
    (["bounds", "--depth", "2", "--data", "digits", "--k", "3"], "k"),
    (["bounds", "--depth", "2", "--data", "bogus"], "data"),
    # -- generalization --------------------------------------------------------------------------
    (["generalization", "--width", "0"], "width"),
    (["generalization", "--width", "99999999999"], "width"),
    (["generalization", "--depth", "0"], "depth"),
    (["generalization", "--depth", "1"], "depth"),
    (["generalization", "--n", "0"], "n"),
    (["generalization", "--data", "sphere", "--dim", "0"], "dim"),
    (["generalization", "--data", "sphere", "--n-test", "0"], "n_test"),
    (["generalization", "--seeds", "0"], "seeds"),
    (["generalization", "--noise", "nan"], "noise"),
    (["generalization", "--delta", "nan"], "delta"),
    (["generalization", "--ntrf-tol", "-1"], "ntrf_tol"),
    (["generalization", "--radius-factor", "nan"], "radius_factor"),
    (["generalization", "--c-ntk", "nan"], "c_ntk"),
    (["generalization", "--c-conf", "nan"], "c_conf"),
    (["generalization", "--lr", "nan"], "lr"),
    (["generalization", "--kernel", "bogus"], "kernel"),
    (["generalization", "--data", "mnist"], "data"),
    (["generalization", "--n", "200000"], "n"),
    # -- critical-width --------------------------------------------------------------------------
    (["critical-width", "--seeds", "0"], "seeds"),
    (["critical-width", "--seeds", "1000000000"], "seeds"),
    (["critical-width", "--target-ratio", "0.5", "--target-loss", "0.1"], "target_loss"),
    (["critical-width", "--target-ratio", "nan"], "target_ratio"),
    (["critical-width", "--target-ratio", "2"], "target_ratio"),
    (["critical-width", "--target-loss", "-1"], "target_loss"),
    (["critical-width", "--width-min", "0"], "width_min"),
    (["critical-width", "--width-min", "8", "--width-max", "4"], "width_min"),
    (["critical-width", "--width-max", "0"], "width_max"),
    (["critical-width", "--width-max", "10000000", "--depth", "20"], "width_max"),
    (["critical-width", "--max-steps", "0"], "max_steps"),
    (["critical-width", "--success", "2"], "success"),
    (["critical-width", "--rel-tol", "nan"], "rel_tol"),
    (["critical-width", "--workers", "0"], "workers"),
    (["critical-width", "--executor", "bogus"], "executor"),
    (["critical-width", "--depth", "0"], "depth"),
    (["critical-width", "--dtype", "float16"], "dtype"),
    (["critical-width", "--lr", "abc"], "lr"),
    (["critical-width", "--labels", "bogus"], "labels"),
    (["critical-width", "--config", "{json_list}"], "config"),
    (["critical-width", "--store", "{tmp}"], "store"),
    # -- sweep -----------------------------------------------------------------------------------
    (["sweep", "run"], "spec"),
    (["sweep", "run", "quick", "extra"], "argument"),
    (["sweep", "run", "no-such-spec"], "spec"),
    (["sweep", "run", "--executor", "bogus", "quick"], "executor"),
    (["sweep", "run", "quick", "--stale-after", "0"], "stale_after"),
    (["sweep", "run", "quick", "--stale-after", "nan"], "stale_after"),
    (["sweep", "run", "quick", "--stale-after", "-5"], "stale_after"),
    (["sweep", "run", "quick", "--max-batch", "0"], "max_batch"),
    (["sweep", "run", "quick", "--workers", "0"], "workers"),
    (["sweep", "run", "quick", "--address", "auto"], "address"),
    (["sweep", "run", "{spec_seeds0}"], "critical.seeds"),
    (["sweep", "run", "{spec_seeds_empty}"], "critical.seeds"),
    (["sweep", "run", "{spec_seeds_true}"], "critical.seeds"),
    (["sweep", "run", "{spec_both_targets}"], "critical.target_loss"),
    (["sweep", "run", "{spec_ratio_nan}"], "critical.target_ratio"),
    (["sweep", "run", "{spec_grid_true}"], "grid.width"),
    (["sweep", "run", "{spec_grid_unknown}"], "grid.wdith"),
    (["sweep", "run", "{spec_grid_empty}"], "grid.width"),
    (["sweep", "run", "{spec_grid_range}"], "grid.seed.range"),
    (["sweep", "run", "{spec_grid_inf}"], "grid.lr.linspace"),
    (["sweep", "run", "{spec_base_seed}"], "base.seed"),
    (["sweep", "run", "{spec_base_fraction}"], "base.test_fraction"),
    (["sweep", "run", "{spec_base_list}"], "base"),
    (["sweep", "run", "{spec_budget}"], "budget.max_runs"),
    (["sweep", "run", "{spec_wall_nan}"], "budget.wall_s"),
    (["sweep", "run", "{spec_name}"], "name"),
    (["sweep", "run", "{spec_no_name}"], "name"),
    (["sweep", "run", "{spec_probe_every}"], "probe_every"),
    (["sweep", "run", "{spec_critical_list}"], "critical"),
    (["sweep", "run", "{spec_not_toml}"], "spec"),
    (["sweep", "status", "--store", "{garbage_store}"], "store"),
    (["sweep", "status", "--store", "{tmp}"], "store"),
    (["sweep", "status", "--store", "{tmp}/missing.sqlite"], "store"),
    (["sweep", "export", "--format", "xlsx"], "format"),
    (["sweep", "export", "--store", "{garbage_store}"], "store"),
    (["sweep", "export", "--store", "{tmp}/missing.sqlite"], "store"),
    (["sweep", "specs", "--bogus"], "option"),
    (["sweep", "bogus"], "command"),
    # -- reproduce / report ----------------------------------------------------------------------
    (["reproduce", "--only", "bogus"], "only"),
    (["reproduce", "--only"], "only"),
    (["reproduce", "--executor", "bogus"], "executor"),
    (["reproduce", "--workers", "0"], "workers"),
    (["reproduce", "--out", "{garbage_store}"], "out"),
    (["reproduce", "--quick=yes"], "quick"),
    (["report", "--only", "bogus"], "only"),
    (["report", "--store", "{tmp}/missing.sqlite"], "store"),
    (["report", "--store", "{garbage_store}"], "store"),
    (["report", "--store", "{tmp}"], "store"),
    (["report", "--out", "{tmp}", "--store", "{garbage_store}"], "out"),
    (["report", "--format", "pdf"], "format"),
    (["report", "--format", "pdf", "--store", "{tmp}/missing.sqlite"], "format"),
    # -- studies -------------------------------------------------------------------------------
    (["studies", "show", "bogus"], "study"),
    (["studies", "show", "linear-rate", "--scale", "huge"], "scale"),
    (["sweep", "run", "study:bogus"], "study"),
    (["sweep", "run", "study:linear-rate:huge"], "scale"),
    # -- the root --------------------------------------------------------------------------------
    (["bogus"], "command"),
    (["--bogus"], "option"),
]


class StartedWork(AssertionError):
    """A case got past validation and started training, a kernel or an executor."""


def _tripwire(*args, **kwargs):
    raise StartedWork("validation let this invocation start work")


@pytest.fixture
def corpus_env(tmp_path, monkeypatch):
    """A scratch folder as cwd, the corpus files in it, the available memory fixed, and every
    entry point of real work replaced by a tripwire."""
    monkeypatch.chdir(tmp_path)
    paths = {"tmp": str(tmp_path)}
    for key, (name, text) in FILES.items():
        (tmp_path / name).write_text(text)
        paths[key] = str(tmp_path / name)
    patches = {
        "overparam.run": ["run"],
        "overparam.ntk.summary": ["empirical"],
        "overparam.theory": ["measure_inputs"],
        "overparam.studies.reproduce": ["run_studies"],
        "overparam.generalization.evaluate": ["run_config"],
        "overparam.sweep.executors": ["PoolExecutor", "InProcessExecutor", "RayExecutor"],
    }
    for module, names in patches.items():
        for name in names:  # the module itself: a package may re-export a function by its name
            monkeypatch.setattr(importlib.import_module(module), name, _tripwire)
    memory = importlib.import_module("overparam.memory")
    monkeypatch.setattr(memory, "available_bytes", lambda device="cpu": AVAILABLE)
    return paths


def assert_one_line(exit_code: int, stdout: str, stderr: str, field: str) -> None:
    text = stdout + stderr
    assert exit_code == 2, (exit_code, text)
    for word in FOREIGN:
        assert word not in text, text
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].strip(), stderr
    match = LINE.match(lines[0])
    assert match is not None, lines[0]
    assert match["field"] == field, lines[0]
    assert stdout == "", stdout


def test_corpus_is_large_and_covers_every_command():
    commands = {args[0] if args[0] != "sweep" else " ".join(args[:2]) for args, _ in _plain()}
    assert len(CASES) >= 120
    for command in (
        "train",
        "ntk",
        "kernel",
        "bounds",
        "sweep run",
        "sweep status",
        "sweep export",
        "sweep specs",
        "critical-width",
        "reproduce",
        "report",
        "generalization",
    ):
        assert command in commands, command


def _plain() -> list[tuple[list[str], str]]:
    return [c.values if hasattr(c, "values") else c for c in CASES]  # type: ignore[misc]


@pytest.mark.parametrize(("args", "field"), CASES, ids=[" ".join(a) for a, _ in _plain()])
def test_bad_invocation_is_one_line_naming_the_field(corpus_env, args, field):
    argv = [a.format(**corpus_env) for a in args]
    result = CliRunner().invoke(app, argv)
    if isinstance(result.exception, StartedWork):
        pytest.fail(f"{argv} started work before it was rejected")
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert_one_line(result.exit_code, result.stdout, result.stderr, field)


def test_help_and_version_still_exit_0(corpus_env):
    runner = CliRunner()
    for argv in (["--help"], ["train", "--help"], ["sweep", "run", "--help"], ["--version"]):
        result = runner.invoke(app, argv)
        assert result.exit_code == 0, (argv, result.output)
        assert result.stdout and result.stderr == ""


def test_study_names_in_help_are_the_registry_and_each_module_defines_its_study():
    from overparam.cli.reproduce import STUDY_NAMES
    from overparam.studies import registry

    assert STUDY_NAMES == registry.STUDY_NAMES
    assert [s.name for s in registry.select()] == list(registry.STUDY_NAMES)


# The real entry point: a fresh interpreter, the same line. Each pays for importing torch
# (about 2-4 s on 2 cores), so one runs by default and the rest with the slow tests.
SUBPROCESS_CASES = [
    (["train", "--width", "abc"], "width", "error: width: got 'abc'; allowed: an integer"),
    pytest.param(
        ["ntk", "--method", "bogus"],
        "method",
        "error: method: got 'bogus'; allowed: auto, structured, generic, autograd",
        marks=pytest.mark.slow,
    ),
    pytest.param(
        ["sweep", "run", "--executor", "bogus", "quick"],
        "executor",
        "error: executor: got 'bogus'",
        marks=pytest.mark.slow,
    ),
    pytest.param(
        ["train", "--seed", "-1"],
        "seed",
        "error: seed: got -1; allowed: an integer >= 0",
        marks=pytest.mark.slow,
    ),
]


@pytest.mark.parametrize(("args", "field", "start"), SUBPROCESS_CASES)
def test_real_entry_point(tmp_path, args, field, start):
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.run(
        [sys.executable, "-m", "overparam", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert_one_line(proc.returncode, proc.stdout, proc.stderr, field)
    assert proc.stderr.startswith(start), proc.stderr
    assert list(Path(tmp_path).iterdir()) == []  # nothing written
