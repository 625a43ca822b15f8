"""``overparam sweep run | status | export | specs`` and ``overparam critical-width`` through
typer's CliRunner: exit codes, JSON, tables, and one-line errors with exit code 2."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from overparam.cli import app
from overparam.store import load

pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning"  # lr="auto" uses torch.func.jvp
)
runner = CliRunner()
NOWHERE = "/nonexistent/never-created.sqlite"  # the errors below come before any store opens

SPEC = """
name = "cli"
[base]
parameterization = "zou-gu"
n = 6
d = 4
depth = 2
steps = 30
dtype = "float64"
[grid]
width = [8, 16]
seed = [0, 1]
"""


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "spec.toml"
    path.write_text(SPEC)
    return path


def _json(args):
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("executor", ["batched", "local"])
def test_run_then_resume(tmp_path, spec, executor):
    store = str(tmp_path / "r.sqlite")
    args = ["sweep", "run", str(spec), "--store", store, "--executor", executor]
    out = _json([*args, "--workers", "1"])
    assert out["complete"] and out["executed"] == 4 and out["counts"]["done"] == 4
    assert out["executor"] == executor and out["store_ms_per_run"] >= 0
    again = runner.invoke(app, [*args, "--workers", "1"])
    assert again.exit_code == 0, again.output
    assert "done 4" in again.stdout and "executed 0, skipped 4" in again.stdout


def test_status_and_export(tmp_path, spec):
    store = str(tmp_path / "r.sqlite")
    _json(["sweep", "run", str(spec), "--store", store, "--executor", "batched"])
    status = _json(["sweep", "status", "--store", store])
    (row,) = status["experiments"]
    assert row == {
        "experiment": "cli",
        "kind": "sweep",
        "queued": 0,
        "running": 0,
        "done": 4,
        "diverged": 0,
        "failed": 0,
        "total": 4,
    }
    table = runner.invoke(app, ["sweep", "status", "--store", store])
    assert table.exit_code == 0
    for word in ("experiment", "done", "running", "failed", "remaining", "cli"):
        assert word in table.stdout
    for fmt in ("csv", "parquet"):
        out = _json(
            ["sweep", "export", "--format", fmt, "--store", store, "--out", str(tmp_path / fmt)]
        )
        files = {p.rsplit("/", 1)[-1] for p in out["files"]}
        assert f"losses.{fmt}" in files and f"runs.{fmt}" in files
    losses = pd.read_parquet(tmp_path / "parquet" / "losses.parquet")
    assert len(losses) == 4 * 31


def test_specs_lists_the_shipped_examples():
    from overparam.studies.registry import STUDY_NAMES, get

    out = _json(["sweep", "specs"])
    assert set(out) == {"quick", *(f"study:{n}" for n in STUDY_NAMES)}
    lr = out["study:linear-rate"]["quick"]
    assert [s["name"] for s in lr] == [s.name for s in get("linear-rate").specs("quick")]
    text = runner.invoke(app, ["sweep", "specs"]).stdout
    assert "quick" in text and "points" in text and "study:linear-rate" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sweep", "run", "no-such-spec"], "error: spec: got 'no-such-spec'"),
        (
            ["sweep", "run", "quick", "--executor", "ray", "--address", "x", "--workers", "0"],
            "workers",
        ),
        (["sweep", "run", "quick", "--address", "auto", "--store", NOWHERE], "address"),
        (["sweep", "status", "--store", "/nonexistent/r.sqlite"], "error: store"),
        (["sweep", "export", "--store", "/nonexistent/r.sqlite"], "error: store"),
        (["critical-width", "--n", "0"], "error: n: got 0"),
        (["critical-width", "--success", "2"], "error: success: got 2.0"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message):
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_bad_spec_field_names_it(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(SPEC.replace("width = [8, 16]", "width = [8, -1]"))
    result = runner.invoke(app, ["sweep", "run", str(bad), "--store", str(tmp_path / "r.sqlite")])
    assert result.exit_code == 2
    assert result.output.startswith("error: grid.width: got -1; allowed: an integer >= 1")


def test_critical_width_json(tmp_path):
    store = tmp_path / "r.sqlite"
    args = ["critical-width", "--parameterization", "zou-gu", "--depth", "2", "--n", "6"]
    args += ["--d", "4", "--width-min", "2", "--width-max", "64", "--seeds", "2"]
    args += ["--max-steps", "150", "--target-ratio", "0.05", "--rel-tol", "0"]
    args += ["--dtype", "float64", "--store", str(store)]
    out = _json(args)
    assert out["found"] and isinstance(out["width"], int) and out["success_rate"] == 1.0
    assert out["target_ratio"] == 0.05 and out["seeds"] == [0, 1]
    assert out["evaluations"][0]["width"] == 2
    crit = load(store).critical
    assert list(crit["width"]) == [out["width"]]
    text = runner.invoke(app, args)
    assert text.exit_code == 0 and f"critical width {out['width']}" in text.stdout


def test_readme_sweep_command_uses_the_default_store(tmp_path, monkeypatch):
    from overparam.sweep import shipped_specs

    monkeypatch.chdir(tmp_path)  # the default store is ./overparam-results/results.sqlite
    result = runner.invoke(
        app, ["sweep", "run", str(shipped_specs()["quick"]), "--executor", "batched"]
    )
    assert result.exit_code == 0, result.output
    assert "quick: 6 runs: done 6" in result.stdout
    assert (tmp_path / "overparam-results" / "results.sqlite").is_file()
    status = _json(["sweep", "status"])
    assert status["experiments"][0]["done"] == 6
    export = _json(["sweep", "export", "--format", "csv"])
    assert all(p.startswith("overparam-results/export/") for p in export["files"])


@pytest.mark.slow  # the README's exact command: 5 seeds x ~6 widths x 1000 steps
def test_readme_critical_width_command(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["critical-width", "--parameterization", "zou-gu", "--depth", "2", "--n", "32"]
    out = _json(args)
    assert out["found"] and out["width"] >= 1 and out["success_rate"] >= 0.9
    assert out["config"]["n"] == 32 and out["config"]["depth"] == 2
