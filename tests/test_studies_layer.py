"""The studies layer as a whole: every registered claim can fail, every plan is the TOML a user
can run, the report layer renders without training code, and a study run through
``studies show --toml`` -> ``sweep run`` -> ``report`` gives the claims ``reproduce`` gives."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from overparam.cli import app
from overparam.studies import registry
from overparam.studies.claims import assert_falsifiable
from overparam.studies.plan import NO_RUNS, to_toml
from overparam.studies.study import SCALES
from overparam.sweep.spec import load_specs

REPORT = Path(__file__).parents[1] / "src" / "overparam" / "report"
TRAINING = ("overparam.ntk", "overparam.train", "overparam.models")
CLAIMS = [(s.name, c) for s in registry.select() for c in s.claims]


def test_every_study_declares_claims_with_known_citations():
    assert len(CLAIMS) >= 2 * len(registry.STUDY_NAMES)
    for study in registry.select():
        assert study.claims, study.name
        for c in study.claims:
            assert c.cite.split(",")[0] in study.cites, (study.name, c.key, c.cite)


@pytest.mark.parametrize(("study", "claim"), CLAIMS, ids=[f"{s}:{c.key}" for s, c in CLAIMS])
def test_every_registered_claim_can_come_out_either_way(study, claim):
    assert_falsifiable(claim)


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("name", registry.STUDY_NAMES)
def test_plan_round_trips_through_toml(tmp_path, name, scale):
    study = registry.get(name)
    path = tmp_path / "plan.toml"
    path.write_text(to_toml(study.specs(scale)))
    if not study.specs(scale):  # a study that only measures: nothing to sweep
        assert study.measure is not None and path.read_text() == NO_RUNS
        return
    specs = load_specs(path)
    assert [s.name for s in specs] == [s.name for s in study.specs(scale)]
    again = [c.config_hash() for s in specs for c in s.configs()]
    assert again == [c.config_hash() for c in study.configs(scale)]


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_report_is_a_pure_renderer():
    files = sorted(REPORT.rglob("*.py"))
    assert files
    for f in files:
        bad = sorted(m for m in _imports(f) if m.startswith(TRAINING))
        assert bad == [], (f.name, bad)
    code = (
        "import sys, overparam.report.html, overparam.report.fate\n"
        f"print([m for m in sys.modules if m.startswith({TRAINING!r})])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.replace("'", '"')) == []


def _claims(payload: dict) -> list[tuple]:
    return [(c["study"], c["key"], c["verdict"], c["measured"], c["tightness"]) for c in payload]


TRAINED = [n for n in registry.STUDY_NAMES if registry.get(n).specs("quick")]
ROUND_TRIP = [
    pytest.param(n, marks=() if n == "linear-rate" else pytest.mark.slow) for n in TRAINED
]


@pytest.mark.parametrize("name", ROUND_TRIP)
def test_toml_then_sweep_run_then_report_equals_reproduce(tmp_path, name):
    """The plan printed by `studies show --toml`, run by `sweep run` into a fresh store, then
    `report`, gives the claims `reproduce --quick` gives into another."""
    runner = CliRunner()
    shown = runner.invoke(app, ["studies", "show", name, "--scale", "quick", "--toml"])
    assert shown.exit_code == 0, shown.output
    spec = tmp_path / "plan.toml"
    spec.write_text(shown.stdout)
    store = tmp_path / "swept.sqlite"
    run = runner.invoke(
        app, ["sweep", "run", str(spec), "--store", str(store), "--executor", "batched", "--quiet"]
    )
    assert run.exit_code == 0, run.output
    rep = runner.invoke(
        app, ["report", "--store", str(store), "--out", str(tmp_path / "r.html"), "--json"]
    )
    assert rep.exit_code == 0, rep.output
    swept = json.loads(rep.stdout)
    out = tmp_path / "reproduced"
    args = ["--quick", "--only", name, "--out", str(out), "--executor", "batched", "--json"]
    repro = runner.invoke(app, ["reproduce", *args, "--quiet"])
    assert repro.exit_code == 0, repro.output
    reproduced = json.loads(repro.stdout)
    assert _claims(swept["claims"]) == _claims(reproduced["claims"])
    assert swept["verdicts"] == reproduced["verdicts"]
    assert sum(swept["verdicts"].values()) == len(registry.get(name).claims)


def test_studies_list_and_show_state_the_registry():
    runner = CliRunner()
    listed = json.loads(runner.invoke(app, ["studies", "list", "--json"]).stdout)["studies"]
    assert [s["name"] for s in listed] == list(registry.STUDY_NAMES)
    for row in listed:
        study = registry.get(row["name"])
        assert row["claims"] == len(study.claims)
        assert row["runs"] == {s: len(study.configs(s)) for s in SCALES}
    shown = json.loads(runner.invoke(app, ["studies", "show", "depth", "--json"]).stdout)
    study = registry.get("depth")
    assert [c["key"] for c in shown["claims"]] == [c.key for c in study.claims]
    assert [c["test"] for c in shown["claims"]] == [c.test.describe() for c in study.claims]
    assert shown["hypotheses"] == [h.describe() for h in study.hypotheses]
    assert sum(s["runs"] for s in shown["specs"]) == len(study.configs("full"))
