"""``overparam generalization`` through typer's CliRunner: JSON object, table, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from overparam.cli.generalization import register
from overparam.data import digits
from overparam.generalization import ntk_bound

app = typer.Typer()


@app.callback()
def _root() -> None:
    """Test app: the callback keeps ``generalization`` a named subcommand."""


register(app)
runner = CliRunner()

SMALL = ["generalization", "--data", "digits", "--noise", "0.2", "--n", "80", "--width", "32"]


def _json(args: list[str]) -> dict:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_json_is_one_object_with_rows_means_and_the_bound():
    out = _json([*SMALL, "--seeds", "2"])
    assert out["seeds"] == [0, 1] and len(out["rows"]) == 2
    assert out["config"]["noise"] == 0.2 and out["config"]["parameterization"] == "cao-gu"
    assert out["config"]["algorithm"] == "online-sgd" and out["config"]["lr"] == 1 / 32
    for row in out["rows"]:
        assert 0.0 <= row["test_error"] <= 1.0 and 0 <= row["output_iterate"] < 80
        assert row["bound_analytic"] > row["confidence_term"] > 0
        assert row["jitter_analytic"] == 0.0 and "jitter_empirical" in row
        assert row["ntrf_loss"] > 0 and row["ntrf_gap"] <= 1e-4
    mean = out["mean"]
    assert "n" not in mean and "seed" not in mean and 0 <= mean["expected_test_error"] <= 1
    assert "labels" not in out["config"] or out["config"]["labels"] != "teacher"
    assert mean["bound_analytic"] == pytest.approx(
        np.mean([r["bound_analytic"] for r in out["rows"]])
    )
    # the CLI reports the library's bound for the same data
    train, _ = digits(noise=0.2, n=80, seed=0)
    assert out["rows"][0]["bound_analytic"] == pytest.approx(ntk_bound(train.X, train.y, 2).bound)


def test_options_reach_the_library():
    out = _json(
        [*SMALL, "--seeds", "1", "--kernel", "empirical", "--no-ntrf", "--c-ntk", "2",
         "--delta", "0.1", "--lr", "0.05", "--depth", "3"]
    )  # fmt: skip
    row = out["rows"][0]
    assert "bound_analytic" not in row and "ntrf_loss" not in row
    assert row["bound_empirical"] == pytest.approx(
        2 * 3 * np.sqrt(row["complexity_empirical"] / 80) + np.sqrt(np.log(10) / 80)
    )
    assert out["config"]["lr"] == 0.05 and out["config"]["depth"] == 3


def test_sphere_runs_with_a_held_out_split():
    args = ["generalization", "--data", "sphere", "--n", "60", "--width", "32", "--seeds", "1"]
    out = _json([*args, "--n-test", "50", "--no-ntrf"])
    assert out["config"]["data"] == "sphere" and out["config"]["labels"] == "teacher"
    assert 0.0 <= out["rows"][0]["test_error"] <= 1.0


def test_table_output():
    result = runner.invoke(app, [*SMALL, "--seeds", "1", "--no-ntrf"])
    assert result.exit_code == 0, result.output
    assert "NTK bound" in result.output and "mean" in result.output


@pytest.mark.parametrize(
    "extra,needle",
    [
        (["--noise", "1.5"], "noise"),
        (["--depth", "1"], "depth"),
        (["--seeds", "0"], "seeds"),
        (["--delta", "0"], "delta"),
        (["--radius-factor", "-1"], "radius_factor"),
    ],
)
def test_bad_input_exits_2_naming_the_field(extra, needle):
    result = runner.invoke(app, [*SMALL, "--no-ntrf", *extra])
    assert result.exit_code == 2
    assert needle in result.output


def test_unknown_choice_is_a_usage_error():
    result = runner.invoke(app, ["generalization", "--data", "mnist"])
    assert result.exit_code == 2
