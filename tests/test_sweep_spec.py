"""Sweep specs: grid ranges expand as documented, every error names field / value / allowed,
and the shipped specs load."""

from __future__ import annotations

import pytest

from overparam.errors import ConfigError
from overparam.sweep import load_spec, parse_spec, shipped_specs
from overparam.sweep.spec import expand_axis, load_specs


def _spec(**kw):
    raw = {"name": "t", "base": {"n": 4, "d": 4, "steps": 2}, "grid": {"width": [8]}}
    raw.update(kw)
    return parse_spec(raw)


@pytest.mark.parametrize(
    ("axis", "expected"),
    [
        ([3, 1], [3, 1]),
        ({"log2": [6, 9]}, [64, 128, 256, 512]),
        ({"log2": [0, 0]}, [1]),
        ({"range": [0, 3]}, [0, 1, 2]),
        ({"range": [10, 0, -5]}, [10, 5]),
        ({"linspace": [0.0, 1.0, 3]}, [0.0, 0.5, 1.0]),
        ({"geomspace": [0.01, 1, 3]}, [0.01, 0.1, 1.0]),
    ],
)
def test_axis_forms(axis, expected):
    assert expand_axis("x", axis) == pytest.approx(expected)


def test_grid_is_the_cartesian_product_last_axis_fastest():
    spec = _spec(grid={"width": {"log2": [3, 4]}, "seed": {"range": [0, 3]}})
    assert spec.points() == [{"width": w, "seed": s} for w in (8, 16) for s in range(3)]
    cfgs = spec.configs()
    assert [(c.width, c.seed, c.n) for c in cfgs[:2]] == [(8, 0, 4), (8, 1, 4)]
    assert len({c.config_hash() for c in cfgs}) == 6
    assert _spec(grid={}).points() == [{}]


def test_probes_apply_to_every_run():
    spec = _spec(probes=["movement"], probe_every=5)
    assert all(c.probes == ("movement",) and c.probe_every == 5 for c in spec.configs())


@pytest.mark.parametrize(
    ("raw", "field", "text"),
    [
        ({"grid": {"wdith": [8]}}, "grid.wdith", "a RunConfig field"),
        ({"grid": {"width": [8, 0]}}, "grid.width", "an integer >= 1"),
        ({"grid": {"width": []}}, "grid.width", "non-empty list"),
        ({"grid": {"width": {"log3": [1, 2]}}}, "grid.width", "log2 = [a, b]"),
        ({"grid": {"width": {"log2": [5, 2]}}}, "grid.width.log2", "a <= b"),
        ({"grid": {"width": {"range": [1.5, 3]}}}, "grid.width.range", "integers"),
        ({"grid": {"lr": {"geomspace": [0, 1, 3]}}}, "grid.lr.geomspace", "positive"),
        ({"base": {"mu": 2.0}}, "base.mu", "open interval (0, 1)"),
        ({"base": {"depht": 2}}, "base.depht", "a RunConfig field"),
        ({"budget": {"max_runs": 2}, "grid": {"seed": [0, 1, 2]}}, "budget.max_runs", "3 runs"),
        ({"budget": {"max_run": 2}}, "budget.max_run", "max_runs, wall_s"),
        ({"nmae": "x"}, "nmae", "one of: name"),
        ({"name": "has space"}, "name", "letters, digits"),
        ({"probes": ["no-such-probe"]}, "probes", "movement"),
    ],
)
def test_errors_name_field_value_and_allowed(raw, field, text):
    with pytest.raises(ConfigError) as info:
        _spec(**raw)
    err = info.value
    assert err.field == field, str(err)
    assert text in err.allowed, str(err)
    assert "\n" not in str(err)


def test_critical_spec_rules():
    crit = {"target_ratio": 0.01, "max_steps": 10}
    spec = _spec(grid={"n": [4, 8]}, critical=crit)
    assert spec.critical is not None and spec.critical.seed_list() == (0, 1, 2, 3, 4)
    with pytest.raises(ConfigError, match=r"grid\.width.*critical search sets"):
        _spec(grid={"width": [8]}, critical=crit)
    with pytest.raises(ConfigError, match="exactly one of target_loss, target_ratio"):
        _spec(grid={}, critical={"max_steps": 10})
    with pytest.raises(ConfigError, match=r"critical\.width_min"):
        _spec(grid={}, critical={**crit, "width_min": 64, "width_max": 8})


CRITICAL_TOML = """
name = "critical-width-n"
description = "zou-gu, L=2: critical width at n = 8, 16, 32"
[base]
parameterization = "zou-gu"
depth = 2
d = 16
lr = "auto"
[grid]
n = [8, 16, 32]
[critical]
target_ratio = 0.01
max_steps = 500
seeds = 5
width_min = 4
width_max = 4096
"""


def test_shipped_specs_load_and_validate(tmp_path):
    names = shipped_specs()
    assert set(names) == {"quick"}  # the studies ship their own plans (studies show --toml)
    for name, path in names.items():
        spec = load_spec(name)
        assert spec == load_spec(path) and spec.description
        assert spec.configs()
    path = tmp_path / "critical.toml"
    path.write_text(CRITICAL_TOML)
    crit = load_spec(path).critical
    assert (crit.target_ratio, crit.success, crit.seed_list()) == (0.01, 0.9, (0, 1, 2, 3, 4))


def test_a_file_of_sweep_tables_gives_every_spec(tmp_path):
    path = tmp_path / "many.toml"
    one = '[[sweep]]\nname = "a"\n[sweep.base]\nwidth = 8\n[sweep.grid]\nseed = [0, 1]\n'
    path.write_text(one + one.replace('"a"', '"b"'))
    specs = load_specs(path)
    assert [s.name for s in specs] == ["a", "b"]
    assert [c.seed for s in specs for c in s.configs()] == [0, 1, 0, 1]
    with pytest.raises(ConfigError, match="load_specs"):
        load_spec(path)
    path.write_text(one + one)
    with pytest.raises(ConfigError, match=r"^sweep\.name: got 'a'"):
        load_specs(path)
    path.write_text(one.replace("width = 8", "width = -1"))
    with pytest.raises(ConfigError, match=r"^sweep\[0\]\.base\.width"):
        load_specs(path)


def test_load_spec_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"shipped spec: .*quick"):
        load_spec("no-such-spec")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [unclosed")
    with pytest.raises(ConfigError, match="valid TOML"):
        load_spec(bad)
    bad.write_text('name = "x"\n[grid]\nwidth = {log2 = [1, 2], range = [1, 2]}\n')
    with pytest.raises(ConfigError, match=r"grid\.width"):
        load_spec(bad)
