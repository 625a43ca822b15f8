"""Every script in ``examples/`` runs, at small sizes, and what it prints is what it measured."""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from overparam.store import load

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def example(name: str) -> dict:
    return runpy.run_path(str(EXAMPLES / name), run_name="example")


def test_the_examples_folder_is_covered():
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == [
        "cnn_digits.py",
        "layernorm_mlp.py",
        "own_training_loop.py",
    ]


def test_cnn_with_max_pooling_on_digits(capsys):
    h = example("cnn_digits.py")["main"](channels=8, n=32, steps=12)
    assert h.losses[-1] < h.losses[0]
    flips = {r["layer"] for r in h.records if r["probe"] == "flips"}
    assert flips == {"1", "4"}  # the two nn.ReLU modules, found by their hooks
    moved = {r["layer"] for r in h.records if r["quantity"] == "relative_frobenius"}
    assert len(moved) == 6  # every weight and bias tensor of the three layers
    drift = {r["step"]: r["value"] for r in h.records if r["quantity"] == "relative_drift"}
    assert drift[0] == 0.0 and drift[max(drift)] > 0.0
    assert "no bound applies" in capsys.readouterr().out


def test_layernorm_mlp_width_sweep_judged_by_the_claim_engine():
    r = example("layernorm_mlp.py")["main"](widths=(32, 64, 128, 256), seeds=(0, 1), steps=10)
    verdicts = {j.key: j.verdict for j in r.judgements}
    assert set(verdicts) == {"ntk-drift", "relative-movement", "flip-fraction"}
    assert verdicts["relative-movement"] == "consistent"
    assert (r.exponents["slope"] < 0).all()


def test_user_loop_with_the_tracker_stores_its_records(tmp_path):
    store = tmp_path / "runs.sqlite"
    h = example("own_training_loop.py")["main"](steps=20, store=str(store), width=32)
    t = load(store)
    assert len(t.runs) == 1 and len(t.records) == len(h.records) > 0
    drift = [r["value"] for r in h.records if r["quantity"] == "relative_drift"]
    assert drift[0] == 0.0 and all(v > 0 for v in drift[1:])
    assert len(h.losses) == 20


def test_the_loop_example_runs_as_a_script_and_its_run_reaches_the_report(tmp_path):
    store = tmp_path / "runs.sqlite"
    subprocess.run(
        [sys.executable, str(EXAMPLES / "own_training_loop.py"), "--steps", "10", "--width",
         "16", "--store", str(store)], check=True, capture_output=True, text=True,
    )  # fmt: skip
    out = tmp_path / "report.md"
    subprocess.run(
        [sys.executable, "-m", "overparam", "report", "--store", str(store), "--format", "md",
         "--out", str(out)], check=True, capture_output=True, text=True,
    )  # fmt: skip
    text = out.read_text()
    assert "Your networks" in text and "Your network: track" in text
    assert "no paper's bound applies" in text.lower() or "No paper's bound applies" in text


@pytest.mark.parametrize("name", ["cnn_digits.py", "layernorm_mlp.py", "own_training_loop.py"])
def test_every_example_has_a_docstring_with_its_command(name):
    doc = example(name)["__doc__"]
    assert f"python examples/{name}" in doc
