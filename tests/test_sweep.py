"""Sweeps end to end in one process: the batched trainer reproduces one-by-one training, the
runner resumes and records failures, and the executors agree."""

from __future__ import annotations

import math

import numpy as np
import pytest

from overparam.config import build_config
from overparam.errors import ConfigError
from overparam.run import resolve_lr, run, setup
from overparam.store import Store, from_history, load
from overparam.sweep import make_executor, parse_spec, run_batched, run_sweep
from overparam.sweep.batched import not_batchable, structure_key, train_batched
from overparam.sweep.executors import InProcessExecutor, PoolExecutor, split_for_batches

# lr="auto" uses torch.func.jvp, whose first use imports a module that calls torch.jit.script.
pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning"
)

TINY = {"parameterization": "zou-gu", "n": 8, "d": 4, "width": 16, "depth": 2, "steps": 60}
TINY_CFG = build_config(TINY)


def _spec(name="t", grid=None, **base):
    return parse_spec(
        {
            "name": name,
            "base": {**TINY, "dtype": "float64", **base},
            "grid": grid if grid is not None else {"width": [8, 16], "seed": [0, 1]},
        }
    )


def _assert_same(a, b, rtol):
    """Two RunResults from the same config agree (statuses exact, losses to rtol)."""
    assert (a.status, a.train_status) == (b.status, b.train_status)
    assert len(a.losses) == len(b.losses)
    np.testing.assert_allclose(a.losses, b.losses, rtol=rtol, atol=0)
    assert a.lr == b.lr
    assert a.train_accuracy == b.train_accuracy


# -- batched == one by one ------------------------------------------------------------------


def _mixed_configs(dtype):
    base = {**TINY, "dtype": dtype}
    return [
        *(build_config(base, seed=s) for s in range(3)),  # lr = auto, measured per run
        build_config(base, seed=3, lr=0.05),
        build_config(base, seed=4, target_ratio=0.05),  # stops early, at its own step
        build_config(base, seed=5, target_loss=1e-3, steps=80),
        build_config(base, seed=6, lr=1e4),  # diverges
        build_config(base, seed=7, width=8),  # another architecture: its own batch
        build_config(base, seed=8, parameterization="ntk", lr=0.5, bias_std=0.1),
        build_config(base, seed=9, mu=0.3, labels="sign"),
    ]


def test_batched_equals_sequential_float64():
    cfgs = _mixed_configs("float64")
    batched = run_batched(cfgs)
    singles = [from_history(run(c), executor="local") for c in cfgs]
    statuses = {r.train_status for r in batched}
    assert {"converged", "max_steps", "diverged"} <= statuses
    for a, b in zip(batched, singles, strict=True):
        assert a.executor == "batched"
        _assert_same(a, b, rtol=1e-10)


def test_batched_float32_is_close_to_sequential():
    cfgs = [c for c in _mixed_configs("float32") if c.lr != 1e4]
    for a, b in zip(run_batched(cfgs), [run(c) for c in cfgs], strict=True):
        assert a.train_status == b.status and len(a.losses) == len(b.losses)
        # Rounding of batched vs single matrix products: ~1e-7 per step, stays ~1e-5 of L(W_0).
        err = np.abs(np.subtract(a.losses, b.losses)).max() / b.losses[0]
        assert err < 1e-4, err


def test_train_batched_leaves_models_trained_and_checks_architecture():
    cfgs = [build_config({**TINY, "dtype": "float64"}, seed=s) for s in range(2)]
    setups = [setup(c) for c in cfgs]
    lrs = [resolve_lr(s) for s in setups]
    histories = train_batched(setups, lrs)
    for s, h, c in zip(setups, histories, cfgs, strict=True):
        ref = run(c, keep_params=True)
        for name, p in s.model.trainable_parameters().items():
            want = ref.final_params[name].numpy()
            np.testing.assert_allclose(p.detach().numpy(), want, rtol=1e-10, err_msg=name)
        assert h.wall_s > 0 and h.records == []
    other = setup(build_config({**TINY, "dtype": "float64"}, width=8))
    with pytest.raises(ValueError, match="share one architecture"):
        train_batched([setups[0], other], [0.1, 0.1])
    assert structure_key(setups[0]) == structure_key(setups[1]) != structure_key(other)


def test_what_cannot_batch_runs_one_by_one():
    sgd = build_config(TINY, algorithm="sgd", batch=4, steps=5)
    probed = build_config(TINY, probes=("movement",), steps=5)
    bad = build_config(TINY, parameterization="ntk", lr="theory")  # fails in resolve_lr
    assert not_batchable(sgd) and not_batchable(probed) and not_batchable(TINY_CFG) is None
    r_sgd, r_probed, r_bad = run_batched([sgd, probed, bad])
    _assert_same(r_sgd, from_history(run(sgd), executor="x"), rtol=0)
    assert r_probed.status == "done" and r_probed.records
    assert r_bad.status == "failed" and "lr" in r_bad.error and "Traceback" in r_bad.error


# -- the runner ---------------------------------------------------------------------------


def test_sweep_resumes_without_rerunning(tmp_path):
    path = tmp_path / "r.sqlite"
    seen = []
    first = run_sweep(
        _spec(), store=path, executor="batched", progress=lambda a, b: seen.append((a, b))
    )
    assert first.complete and first.executed == 4 and first.counts["done"] == 4
    assert seen[0] == (0, 4) and seen[-1] == (4, 4)
    again = run_sweep(_spec(), store=path, executor="local", workers=1)
    assert again.executed == 0 and again.skipped == 4 and again.counts["done"] == 4
    bigger = run_sweep(
        _spec(grid={"width": [8, 16], "seed": [0, 1, 2]}), store=path, executor="local", workers=1
    )
    assert bigger.executed == 2 and bigger.skipped == 4
    tables = load(path)
    assert len(tables.runs) == 6 and tables.runs["attempts"].eq(1).all()
    assert len(tables.losses) == 6 * (TINY["steps"] + 1)
    assert tables.losses.duplicated(["run_id", "step"]).sum() == 0


def test_local_and_batched_store_the_same_results(tmp_path):
    a = run_sweep(_spec(), store=tmp_path / "a.sqlite", executor="batched")
    b = run_sweep(_spec(), store=tmp_path / "b.sqlite", executor="local", workers=1)
    assert a.counts == b.counts
    la, lb = load(tmp_path / "a.sqlite"), load(tmp_path / "b.sqlite")
    ra, rb = la.runs.set_index("config_hash"), lb.runs.set_index("config_hash")
    assert set(ra.index) == set(rb.index)
    assert (ra["executor"] == "batched").all() and (rb["executor"] == "local").all()
    np.testing.assert_allclose(ra["final_loss"], rb.loc[ra.index, "final_loss"], rtol=1e-10)
    np.testing.assert_allclose(la.losses["loss"], lb.losses["loss"], rtol=1e-10)


@pytest.mark.parametrize("executor", ["batched", "local"])
def test_diverged_and_failed_runs_are_stored_and_the_sweep_goes_on(tmp_path, executor):
    spec = parse_spec(
        {
            "name": "mixed",
            "base": {**TINY, "dtype": "float64"},
            "grid": {"lr": [0.05, 1e4, "theory"], "parameterization": ["zou-gu", "ntk"]},
        }
    )
    result = run_sweep(spec, store=tmp_path / "r.sqlite", executor=executor, workers=1)
    assert result.complete
    runs = load(tmp_path / "r.sqlite").runs.set_index(["lr", "parameterization"])
    assert runs.loc[(0.05, "zou-gu"), "status"] == "done"
    assert runs.loc[(1e4, "zou-gu"), "status"] == "diverged"
    assert runs.loc[(1e4, "zou-gu"), "train_status"] == "diverged"
    assert runs.loc[("theory", "zou-gu"), "status"] == "done"
    failed = runs.loc[("theory", "ntk")]
    assert failed["status"] == "failed" and "lr" in failed["error"]
    assert math.isnan(failed["final_loss"])
    assert result.counts == {"queued": 0, "running": 0, "done": 3, "diverged": 2, "failed": 1}


def test_wall_budget_stops_claiming_and_a_rerun_finishes(tmp_path):
    raw = {"name": "b", "base": {**TINY}, "grid": {"seed": [0, 1]}, "budget": {"wall_s": 1e-9}}
    first = run_sweep(parse_spec(raw), store=tmp_path / "r.sqlite", executor="batched")
    assert not first.complete and first.counts["queued"] == 2 and first.executed == 0
    raw["budget"] = {}
    second = run_sweep(parse_spec(raw), store=tmp_path / "r.sqlite", executor="batched")
    assert second.complete and second.counts["done"] == 2


def test_runs_held_by_another_live_writer_are_waited_for(tmp_path):
    """A run claimed by another (live) owner is not taken over; once that owner finishes it,
    the sweep sees it done and returns."""
    import threading

    from overparam.store import Owner, from_history

    path = tmp_path / "r.sqlite"
    spec = _spec(grid={"seed": [0, 1]})
    other = Owner()
    with Store(path) as db:
        ids = db.enqueue(db.experiment(spec.name, spec.to_dict()), spec.configs())
        (held,) = db.claim(other, list(ids.values())[:1], 1)

    def finish_later():
        with Store(path) as db:
            db.finish(other, held.run_id, from_history(run(held.config), executor="other"))

    timer = threading.Timer(1.0, finish_later)
    timer.start()
    result = run_sweep(spec, store=path, executor="batched")
    timer.join()
    assert result.complete and result.executed == 1 and result.counts["done"] == 2
    runs = load(path).runs
    assert sorted(runs["executor"]) == ["batched", "other"] and runs["attempts"].eq(1).all()


# -- executors ------------------------------------------------------------------------------


def test_make_executor_choices_and_errors():
    assert isinstance(make_executor("local", workers=1), InProcessExecutor)
    batched = make_executor("batched")
    assert isinstance(batched, InProcessExecutor) and batched.capacity == 256
    pool = make_executor("local", workers=2)
    assert isinstance(pool, PoolExecutor) and pool.capacity == 4
    pool.close()
    with pytest.raises(ConfigError, match="local, batched, ray"):
        make_executor("dask")
    with pytest.raises(ConfigError, match="workers"):
        make_executor("local", workers=0)
    with pytest.raises(ConfigError, match="only with executor=ray"):
        make_executor("local", address="auto")


def test_split_for_batches_groups_by_architecture():
    from overparam.store.sqlite import Claim

    cfgs = [build_config(TINY, width=w, seed=s) for w in (8, 16) for s in range(5)]
    claims = [Claim(i, c.config_hash(), c) for i, c in enumerate(cfgs)]
    pieces = split_for_batches(claims, parts=2, max_batch=256)
    assert sorted(len(p) for p in pieces) == [2, 2, 3, 3]
    assert all(len({c.config.width for c in p}) == 1 for p in pieces)
    assert len(split_for_batches(claims, parts=1, max_batch=2)) == 6


@pytest.mark.slow  # spawning two workers that import torch takes ~10-20 s on a shared box
def test_pool_executor_two_workers(tmp_path):
    """The spawned 2-process pool stores what in-process training stores."""
    spec = _spec(grid={"seed": [0, 1, 2]})
    a = run_sweep(spec, store=tmp_path / "a.sqlite", executor="local", workers=2)
    run_sweep(spec, store=tmp_path / "b.sqlite", executor="local", workers=1)
    assert a.counts["done"] == 3 and a.executed == 3
    la, lb = load(tmp_path / "a.sqlite").losses, load(tmp_path / "b.sqlite").losses
    np.testing.assert_allclose(la["loss"], lb["loss"], rtol=1e-10)
    pids = set(load(tmp_path / "a.sqlite").runs["worker_pid"])
    assert len(pids) >= 1 and pids.isdisjoint(set(load(tmp_path / "b.sqlite").runs["worker_pid"]))


def test_probe_records_are_stored_tidily(tmp_path):
    """A spec's probes run one by one (also under the batched executor) and their records land
    in the records table with the probe's extra keys as columns."""
    spec = parse_spec(
        {
            "name": "probed",
            "probes": ["movement", "flips"],
            "probe_every": 10,
            "base": {**TINY, "steps": 20},
            "grid": {"seed": [0, 1]},
        }
    )
    result = run_sweep(spec, store=tmp_path / "r.sqlite", executor="batched")
    assert result.counts["done"] == 2
    tables = load(tmp_path / "r.sqlite")
    recs = tables.records
    assert set(recs["probe"]) == {"movement", "flips"}
    assert recs.groupby("run_id").size().min() > 0
    assert {"run_id", "idx", "step", "layer", "value", "bound", "extra"} <= set(recs.columns)
    assert set(recs["width"].dropna()) == {TINY["width"]}  # an extra key, now a column
    expected = run(build_config(spec.base_fields(), seed=0)).records
    first = recs[recs["run_id"] == tables.runs.set_index("seed").loc[0, "id"]]
    assert len(first) == len(expected)
    np.testing.assert_allclose(
        first.sort_values("idx")["value"].to_numpy(dtype=float),
        [r["value"] for r in expected],
        rtol=1e-6,
    )
