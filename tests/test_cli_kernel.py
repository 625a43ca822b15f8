"""``overparam kernel`` through typer's CliRunner: exit codes, the JSON object against the
library, the rich table, and one-line errors for bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from overparam.cli.kernel import register
from overparam.data import sphere
from overparam.ntk.analytic import analytic

app = typer.Typer()


@app.callback()
def _root() -> None:
    """Test app: the callback keeps ``kernel`` a named subcommand."""


register(app)
runner = CliRunner()


def test_json_matches_the_library():
    args = ["kernel", "--n", "60", "--d", "8", "--depth", "4", "--activation", "relu"]
    result = runner.invoke(app, [*args, "--seed", "3", "--mu", "0.4", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert set(out) >= {"seconds", "shape", "trace", "lambda_min", "lambda_max"}
    K = analytic(sphere(60, 8, mu=0.4, seed=3).X, depth=4).ntk
    eig = np.linalg.eigvalsh(K)
    assert out["shape"] == [60, 60]
    assert out["trace"] == pytest.approx(np.trace(K), rel=1e-12)
    assert out["lambda_min"] == pytest.approx(eig[0], rel=1e-8)
    assert out["lambda_max"] == pytest.approx(eig[-1], rel=1e-12)
    assert out["seconds"] >= 0


def test_seed_paper_options_reach_the_library():
    args = ["kernel", "--n", "20", "--d", "5", "--depth", "2", "--parameterization", "zou-gu"]
    out = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    K = analytic(sphere(20, 5, seed=0).X, depth=2, parameterization="zou-gu").ntk
    assert out["trace"] == pytest.approx(np.trace(K), rel=1e-12)
    assert out["parameterization"] == "zou-gu"
    args = [
        "kernel",
        "--n",
        "20",
        "--d",
        "5",
        "--depth",
        "2",
        "--activation",
        "tanh",
        "--weight-std",
        "1.2",
        "--bias-std",
        "0.3",
        "--json",
    ]
    out = json.loads(runner.invoke(app, args).stdout)
    K = analytic(
        sphere(20, 5, seed=0).X, depth=2, activation="tanh", weight_std=1.2, bias_std=0.3
    ).ntk
    assert out["trace"] == pytest.approx(np.trace(K), rel=1e-12)


def test_table_output():
    result = runner.invoke(app, ["kernel", "--n", "10", "--d", "4", "--depth", "2"])
    assert result.exit_code == 0, result.output
    assert "analytic NTK" in result.stdout
    for key in ("seconds", "shape", "trace", "lambda_min", "lambda_max"):
        assert key in result.stdout


@pytest.mark.parametrize(
    "args, field",
    [
        (["--depth", "0"], "depth"),
        (["--parameterization", "zou-gu", "--activation", "tanh"], "activation"),
        (["--parameterization", "du", "--bias-std", "0.1"], "bias_std"),
        (["--mu", "1.5"], "mu"),
        (["--n", "0"], "n"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, field):
    result = runner.invoke(app, ["kernel", "--n", "5", "--d", "4", *args])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {field}:")
    assert result.stderr.count("\n") == 1


def test_unknown_activation_is_rejected_by_the_parser():
    result = runner.invoke(app, ["kernel", "--activation", "elu"])
    assert result.exit_code == 2
