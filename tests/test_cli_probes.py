"""``overparam train --probe`` through typer's CliRunner: exit codes and the JSON summary."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from overparam.cli.train import register
from overparam.probes import ORDER
from overparam.probes.linearization import preload_forward_ad

app = typer.Typer()


@app.callback()
def _root() -> None:
    """Test app: the callback keeps ``train`` a named subcommand."""


register(app)
runner = CliRunner()

SMALL = ["train", "--n", "8", "--d", "4", "--width", "32", "--depth", "2", "--steps", "12"]


@pytest.fixture(autouse=True, scope="module")
def _forward_ad_loaded():
    """lr='auto' and the linearization probe use jvp, whose first call warns (see
    :func:`overparam.probes.linearization.preload_forward_ad`)."""
    preload_forward_ad()


def _json(args: list[str]) -> dict:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_probe_all_prints_every_probe_with_its_bounds():
    out = _json([*SMALL, "--parameterization", "allen-zhu", "--dtype", "float64", "--probe", "all"])
    assert list(out["probes"]) == list(ORDER)
    for name, entry in out["probes"].items():
        assert entry["lemma"].startswith("["), name
        quantities = {q: v for q, v in entry.items() if q != "lemma"}
        assert quantities, name
        for q, v in quantities.items():
            assert set(v) >= {"last", "extreme", "ratio", "worst_ratio", "kind"}, (name, q)
        bounded = [v for v in quantities.values() if v["kind"] != "none"]
        assert bounded, f"{name} has no quantity with a bound"
        assert any(v["ratio"] is not None or v["worst_ratio"] is not None for v in bounded)
    movement = out["probes"]["movement"]["spectral"]
    assert movement["last"]["step"] == 12 and movement["last"]["bound"] > 0


def test_repeatable_probe_flag_and_options():
    out = _json(
        [*SMALL, "--probe", "norms", "--probe", "linearization:linear_run=true",
         "--probe-every", "4"]
    )  # fmt: skip
    assert list(out["probes"]) == ["norms", "linearization"]
    assert "linear_run_gap" in out["probes"]["linearization"]
    assert out["probes"]["norms"]["min"]["rows"] == 2 * 4  # 2 layers x steps 0, 4, 8, 12


def test_without_probes_there_is_no_probe_key():
    assert "probes" not in _json(SMALL)


@pytest.mark.parametrize("spec", ["nope", "norms:color=red", "linearization:linear_run=maybe"])
def test_bad_probe_exits_2_naming_it(spec):
    result = runner.invoke(app, [*SMALL, "--probe", spec, "--json"])
    assert result.exit_code == 2
    assert "error: probes" in result.output
    if spec == "nope":
        assert "'nope'" in result.output and "semi_smoothness" in result.output
