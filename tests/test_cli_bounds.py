"""``overparam bounds`` through typer's CliRunner: exit codes, JSON rows, the rich table."""

from __future__ import annotations

import json
import math

import pytest
import typer
from typer.testing import CliRunner

from overparam.cli.bounds import register
from overparam.theory import bounds, bounds_for, format_log10

app = typer.Typer()


@app.callback()
def _root() -> None:
    """Test app: the callback keeps ``bounds`` a named subcommand."""


register(app)
runner = CliRunner()

ISSUE_ARGS = ["bounds", "--n", "100", "--depth", "3", "--phi", "0.1"]
THM_3_3 = "zou-gu-2019/thm-3.3"


def _json(args: list[str]) -> list[dict]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert isinstance(rows, list)
    return rows


def test_json_lists_every_row_with_formulas_sorted_by_width():
    rows = _json(ISSUE_ARGS)
    lib = {b.key: b for b in bounds(n=100, depth=3, phi=0.1)}
    assert {r["key"] for r in rows} == set(lib) and len(rows) == 14
    for r in rows:
        assert r["formula"].startswith("m = Omega") and r["paper"] and r["theorem"]
        if r["width_log10"] is None:  # unavailable rows say why
            assert r["missing"]
        else:
            assert r["width_log10"] == pytest.approx(lib[r["key"]].width_log10, abs=1e-12)
    widths = [r["width_log10"] for r in rows if r["width_log10"] is not None]
    assert widths == sorted(widths)
    assert all(r["width_log10"] is None for r in rows[len(widths) :])
    # Theorem 3.3 at n=100, L=3, phi=0.1: m = n^8 L^12 log^3(m) / phi^4.
    z = next(r for r in rows if r["key"] == THM_3_3)
    x = z["width_log10"]
    assert x == pytest.approx(
        math.log10(100**8 * 3**12 / 0.1**4) + 3 * math.log10(x * math.log(10))
    )


def test_options_reach_the_library():
    args = [*ISSUE_ARGS, "--batch", "10", "--k", "2", "--eps", "1e-6", "--no-log-factor"]
    args += ["--constant", "10", "--lambda0", "0.001", "--x-norm", "2", "--lambda-min-k", "0.01"]
    rows = {r["key"]: r for r in _json(args)}
    assert all(r["width_log10"] is not None for r in rows.values())
    z = rows[THM_3_3]
    assert z["width_log10"] == pytest.approx(1 + math.log10(2 * 100**8 * 3**12 / 0.1**4))
    assert z["iterations_log10"] == pytest.approx(1 + math.log10(100**2 * 9 * math.log(1e6) / 0.1))
    sgd = rows["zou-gu-2019/thm-3.8"]
    assert sgd["width_log10"] == pytest.approx(1 + math.log10(2 * 100**17 * 3**12 / (1e4 * 1e-8)))
    deep = rows["du-2019-deep/table-1"]
    c2 = {r["key"]: r for r in _json([*args, "--depth-constant", "2"])}["du-2019-deep/table-1"]
    assert c2["width_log10"] - deep["width_log10"] == pytest.approx(3 * math.log10(2))


def test_table_with_theory_over_practice():
    result = runner.invoke(app, [*ISSUE_ARGS, "--batch", "32", "--measured-width", "1000"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "theory / practice" in out and "Zou & Gu 2019, Theorem 3.3" in out
    z = next(b for b in bounds(n=100, depth=3, phi=0.1, batch=32) if b.key == THM_3_3)
    assert format_log10(z.width_log10 - 3.0) in out  # m_theory / 1000
    assert format_log10(z.width_log10) in out
    assert "unavailable" in out and "lambda0 not given" in out


def test_json_theory_over_practice():
    rows = _json([*ISSUE_ARGS, "--measured-width", "256"])
    z = next(r for r in rows if r["key"] == THM_3_3)
    assert z["theory_over_practice_log10"] == pytest.approx(z["width_log10"] - math.log10(256))


@pytest.mark.parametrize(
    ("args", "field", "value"),
    [
        (["--n", "0", "--depth", "3"], "n", "0"),
        (["--n", "100", "--depth", "3", "--phi", "3"], "phi", "3.0"),
        (["--n", "100", "--depth", "3", "--phi", "0"], "phi", "0.0"),
        (["--n", "100", "--depth", "0"], "depth", "0"),
        (["--n", "100", "--depth", "3", "--batch", "200"], "batch", "200"),
        (["--n", "100", "--depth", "3", "--eps", "2"], "eps", "2.0"),
        (["--n", "100", "--depth", "3", "--delta", "0"], "delta", "0.0"),  # the option's name
        ([*ISSUE_ARGS[1:], "--measured-width", "-5"], "measured_width", "-5.0"),
        (["--depth", "2", "--data", "digits", "--lambda0", "0.1"], "lambda0", "0.1"),
        (["--depth", "2"], "n", "None"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, field, value):
    result = runner.invoke(app, ["bounds", *args])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {field}: got {value}; allowed: ")
    assert result.stdout == ""


def test_data_sphere_uses_the_measured_inputs():
    from overparam.data import sphere

    rows = {r["key"]: r for r in _json(["bounds", "--depth", "2", "--data", "sphere", "--n", "24"])}
    lib = {b.key: b for b in bounds_for(sphere(24, 10), 2)}
    assert set(rows) == set(lib)
    for key in (THM_3_3, "du-2019-two-layer/table-1", "oymak-2019/table-1", "du-2019-deep/thm-5.1"):
        assert lib[key].available
        assert rows[key]["width_log10"] == pytest.approx(lib[key].width_log10, rel=1e-12)


def test_data_digits_renders_a_table():
    result = runner.invoke(app, ["bounds", "--depth", "2", "--data", "digits", "--n", "120"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("digits (relu K^(L)): n=120 k=1 phi=")
    assert "Du et al. 2019b, Theorem 5.1" in result.stdout
