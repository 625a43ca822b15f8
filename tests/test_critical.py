"""critical_width: the search finds a known threshold, and real searches are stored like sweeps."""

from __future__ import annotations

import json

import pytest

from overparam.config import build_config
from overparam.errors import ConfigError
from overparam.store import Store, load
from overparam.sweep import critical_width, parse_spec, run_sweep
from overparam.sweep.critical import log2_grid, search, width_configs

pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning"  # lr="auto" uses torch.func.jvp
)

BASE = build_config({"parameterization": "zou-gu", "n": 6, "d": 4, "depth": 2, "dtype": "float64"})


def _threshold(per_seed: dict[int, int]):
    """Synthetic success: run (width, seed) reaches the target iff width >= per_seed[seed]."""
    calls: list[int] = []

    def evaluate(cfgs):
        calls.append(cfgs[0].width)
        return [c.width >= per_seed[c.seed] for c in cfgs]

    return evaluate, calls


def test_log2_grid():
    assert log2_grid(8, 64) == [8, 16, 32, 64]
    assert log2_grid(8, 100) == [8, 16, 32, 64, 100]
    assert log2_grid(5, 5) == [5]


@pytest.mark.parametrize("threshold", [1, 9, 37, 300, 1000, 4095])
def test_finds_a_sharp_threshold_exactly(threshold):
    evaluate, calls = _threshold(dict.fromkeys(range(3), threshold))
    r = critical_width(
        BASE,
        target_ratio=0.1,
        max_steps=10,
        seeds=3,
        width_min=1,
        width_max=4096,
        rel_tol=0,
        evaluate=evaluate,
    )
    assert r.found and r.width == threshold and r.success_rate == 1.0
    assert len(calls) == len(set(calls)) <= 2 * 12 + 1  # doubling, then bisection
    assert r.at_min == (threshold == 1)


def test_success_fraction_picks_the_right_seed_quantile():
    # Seed s succeeds from width 100 + 10 s; 9 of 10 seeds need the 9th smallest threshold.
    per_seed = {s: 100 + 10 * s for s in range(10)}
    evaluate, _ = _threshold(per_seed)
    kw = dict(target_ratio=0.1, max_steps=10, seeds=10, width_min=8, rel_tol=0, evaluate=evaluate)
    r = critical_width(BASE, success=0.9, **kw)
    assert r.width == 180 and r.success_rate == 0.9
    assert critical_width(BASE, success=0.5, **kw).width == 140
    assert critical_width(BASE, success=1.0, **kw).width == 190
    coarse = critical_width(BASE, success=0.9, **{**kw, "rel_tol": 0.1})
    assert 180 <= coarse.width <= 180 * 1.1
    assert [w for w, _ in coarse.evaluations][:6] == [8, 16, 32, 64, 128, 256]


def test_not_found_and_validation():
    evaluate, _ = _threshold(dict.fromkeys(range(2), 10**6))
    r = critical_width(
        BASE, target_loss=1e-3, max_steps=5, seeds=2, width_max=64, evaluate=evaluate
    )
    assert not r.found and r.width is None and r.success_rate is None
    assert [w for w, _ in r.evaluations] == [8, 16, 32, 64]
    with pytest.raises(ConfigError, match="target"):
        critical_width(BASE, max_steps=5, evaluate=evaluate)
    with pytest.raises(ConfigError, match="success"):
        critical_width(BASE, target_ratio=0.1, max_steps=5, success=0, evaluate=evaluate)
    with pytest.raises(ConfigError, match="seeds"):
        critical_width(BASE, target_ratio=0.1, max_steps=5, seeds=[1, 1], evaluate=evaluate)
    with pytest.raises(ConfigError, match="width_min"):
        critical_width(BASE, target_ratio=0.1, max_steps=5, width_min=64, width_max=8)
    with pytest.raises(ConfigError, match="algorithm"):
        critical_width(build_config({}, algorithm="online-sgd"), target_ratio=0.1, max_steps=5)


def test_search_assumes_nothing_beyond_its_evaluations():
    seen = []
    width, evals = search(
        lambda w: seen.append(w) or float(w >= 20), success=1.0, width_min=4, width_max=64
    )
    assert width == 20 and evals == [(w, float(w >= 20)) for w in seen]


def test_width_configs_override_width_seed_steps_and_targets():
    base = build_config({}, width=999, seed=7, steps=5, target_loss=1.0)
    cfgs = width_configs(base, 32, (0, 1), max_steps=40, target_loss=None, target_ratio=0.5)
    assert [(c.width, c.seed, c.steps, c.target_loss, c.target_ratio) for c in cfgs] == [
        (32, 0, 40, None, 0.5),
        (32, 1, 40, None, 0.5),
    ]


def test_real_search_is_stored_and_resumes_from_the_store(tmp_path):
    path = tmp_path / "r.sqlite"
    kw = dict(target_ratio=0.05, max_steps=150, seeds=2, width_min=2, width_max=64, rel_tol=0)
    first = critical_width(BASE, store=path, **kw)
    assert first.found and 2 <= first.width <= 64 and first.success_rate == 1.0
    assert first.experiment.startswith("critical-width/") and first.store == str(path)
    tables = load(path)
    n_runs = len(tables.runs)
    assert n_runs == 2 * len(first.evaluations)
    assert set(tables.runs["steps"]) == {150} and set(tables.runs["seed"]) == {0, 1}
    (row,) = tables.critical.itertuples()
    assert row.width == first.width and json.loads(row.result)["found"]
    with Store(path) as db:  # nothing queued or running is left behind
        left = db.query("SELECT COUNT(*) FROM runs WHERE status IN ('queued', 'running')")
        assert left[0][0] == 0
    again = critical_width(BASE, store=path, **kw)  # every run is found in the store
    assert again.width == first.width and again.evaluations == first.evaluations
    assert len(load(path).runs) == n_runs


def test_critical_spec_runs_per_grid_point(tmp_path):
    spec = parse_spec(
        {
            "name": "crit",
            "base": {"parameterization": "zou-gu", "d": 4, "depth": 2, "dtype": "float64"},
            "grid": {"n": [4, 8]},
            "critical": {
                "target_ratio": 0.05,
                "max_steps": 150,
                "seeds": 2,
                "width_min": 2,
                "width_max": 64,
                "rel_tol": 0.0,
            },
        }
    )
    result = run_sweep(spec, store=tmp_path / "r.sqlite", executor="batched")
    assert result.complete and [r["point"] for r in result.critical] == [{"n": 4}, {"n": 8}]
    crit = load(tmp_path / "r.sqlite").critical.sort_values("n")
    assert list(crit["n"]) == [4, 8] and crit["found"].all()
    assert list(crit["width"]) == [r["width"] for r in result.critical]
    again = run_sweep(spec, store=tmp_path / "r.sqlite", executor="local", workers=1)
    assert again.executed == 0 and [r["width"] for r in again.critical] == list(crit["width"])
