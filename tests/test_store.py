"""The results store: queueing is idempotent, claims are atomic, a finished run is written whole
or not at all, stale claims come back, and ``load`` / ``export`` read it all."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import time

import pandas as pd
import pytest

from overparam.config import build_config
from overparam.errors import ConfigError
from overparam.store import Owner, RunResult, Store, export, load, summary_counts
from overparam.store import sqlite as sqlite_mod


def _configs(n: int = 4):
    return [build_config({}, n=4, d=4, width=8, steps=3, seed=s) for s in range(n)]


def _result(steps: int = 3, **kw) -> RunResult:
    losses = tuple(1.0 / (t + 1) for t in range(steps + 1))
    return RunResult("done", "max_steps", losses=losses, lr=0.1, **kw)


@pytest.fixture
def db(tmp_path):
    store = Store(tmp_path / "r.sqlite")
    yield store
    store.close()


def test_wal_mode_and_schema(db):
    assert db.query("PRAGMA journal_mode")[0][0] == "wal"
    tables = {r[0] for r in db.query("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"experiments", "runs", "experiment_runs", "losses", "records", "critical"} <= tables
    assert db.integrity_check() == "ok"


def test_enqueue_is_idempotent_and_links_experiments(db):
    e1 = db.experiment("a", {"x": 1})
    e2 = db.experiment("b", {"x": 2})
    cfgs = _configs()
    ids = db.enqueue(e1, cfgs + cfgs[:2])  # duplicates in one call
    assert list(ids) == [c.config_hash() for c in cfgs]
    assert db.enqueue(e1, cfgs) == ids  # again: same rows
    assert db.enqueue(e2, cfgs[:1]) == {cfgs[0].config_hash(): ids[cfgs[0].config_hash()]}
    assert db.query("SELECT COUNT(*) FROM runs")[0][0] == 4
    assert db.query("SELECT COUNT(*) FROM experiment_runs")[0][0] == 5
    assert db.experiment("a", {"x": 3}) == e1  # same name, same id, spec updated
    counts = {c["experiment"]: c for c in db.counts()}
    assert counts["a"]["queued"] == 4 and counts["b"]["total"] == 1


def test_claim_is_exclusive_and_finish_writes_one_transaction(db):
    e = db.experiment("a", {})
    ids = list(db.enqueue(e, _configs()).values())
    me, other = Owner(), Owner()
    mine = db.claim(me, ids, 3)
    assert [c.run_id for c in mine] == ids[:3]
    assert mine[0].config.config_hash() == mine[0].config_hash  # config JSON round-trips
    theirs = db.claim(other, ids, 10)
    assert [c.run_id for c in theirs] == ids[3:]
    assert db.claim(other, ids, 10) == []
    # Only the owner of a claim can finish it; a second finish writes nothing.
    assert not db.finish(other, ids[0], _result())
    assert db.finish(me, ids[0], _result(records=({"step": 0, "probe": "p", "value": 1.0},)))
    assert not db.finish(me, ids[0], _result())
    rows = db.query("SELECT step, loss FROM losses WHERE run_id = ? ORDER BY step", (ids[0],))
    assert [tuple(r) for r in rows] == [(t, 1.0 / (t + 1)) for t in range(4)]
    run = db.query("SELECT * FROM runs WHERE id = ?", (ids[0],))[0]
    assert run["status"] == "done" and run["train_status"] == "max_steps"
    assert run["steps_run"] == 3 and run["final_loss"] == 0.25 and run["attempts"] == 1
    assert run["torch_version"] and run["package_version"] and run["host"]
    assert db.query("SELECT COUNT(*) FROM records WHERE run_id = ?", (ids[0],))[0][0] == 1


def test_concurrent_claims_from_threads_never_overlap(tmp_path):
    path = tmp_path / "r.sqlite"
    with Store(path) as s:
        ids = list(s.enqueue(s.experiment("a", {}), _configs(40)).values())
    got: list[list[int]] = []

    def worker():
        with Store(path) as s:
            owner, mine = Owner(), []
            while claims := s.claim(owner, ids, 3):
                mine.extend(c.run_id for c in claims)
            got.append(mine)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    flat = [i for g in got for i in g]
    assert sorted(flat) == sorted(ids) and len(flat) == len(set(flat))


def test_a_failing_write_leaves_no_half_written_run(db, monkeypatch):
    e = db.experiment("a", {})
    (rid,) = db.enqueue(e, _configs(1)).values()
    owner = Owner()
    db.claim(owner, [rid], 1)
    calls = {"n": 0}
    real = sqlite_mod.record_row

    def flaky(run_id, idx, rec):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk on fire")
        return real(run_id, idx, rec)

    monkeypatch.setattr(sqlite_mod, "record_row", flaky)
    recs = tuple({"step": t, "probe": "p", "value": float(t)} for t in range(3))
    with pytest.raises(RuntimeError):
        db.finish(owner, rid, _result(records=recs))
    assert db.query("SELECT status FROM runs WHERE id = ?", (rid,))[0][0] == "running"
    assert db.query("SELECT COUNT(*) FROM losses")[0][0] == 0
    assert db.query("SELECT COUNT(*) FROM records")[0][0] == 0
    monkeypatch.setattr(sqlite_mod, "record_row", real)
    assert db.finish(owner, rid, _result(records=recs))
    assert db.query("SELECT COUNT(*) FROM records")[0][0] == 3


def test_stale_and_dead_claims_are_requeued(db, tmp_path):
    e = db.experiment("a", {})
    ids = list(db.enqueue(e, _configs(3)).values())
    alive = Owner()
    db.claim(alive, ids[:1], 1)
    # A claim by a process that has exited (same host): re-queued at once.
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead = Owner(pid=int(proc.stdout))
    db.claim(dead, ids[1:2], 1)
    # A claim from another host whose heartbeat is old: re-queued after stale_after.
    remote = Owner(host="elsewhere", pid=os.getpid())
    db.claim(remote, ids[2:], 1)
    assert db.requeue_stale(stale_after=60.0) == 1
    status = {r[0]: r[1] for r in db.query("SELECT id, status FROM runs")}
    assert status[ids[1]] == "queued" and status[ids[2]] == "running"
    time.sleep(0.05)
    db.heartbeat(alive)
    assert db.requeue_stale(stale_after=0.03) == 1  # the remote one; ours just beat
    status = {r[0]: r[1] for r in db.query("SELECT id, status FROM runs")}
    assert status == {ids[0]: "running", ids[1]: "queued", ids[2]: "queued"}
    # The dead owner's late result is refused; the next claim counts a second attempt.
    assert not db.finish(dead, ids[1], _result())
    (again,) = db.claim(alive, ids[1:2], 1)
    assert db.query("SELECT attempts FROM runs WHERE id = ?", (again.run_id,))[0][0] == 2
    assert db.release(alive) == 2
    assert db.query("SELECT COUNT(*) FROM runs WHERE status = 'queued'")[0][0] == 3


def test_failed_and_diverged_results_and_retry(db):
    e = db.experiment("a", {})
    ids = list(db.enqueue(e, _configs(2)).values())
    owner = Owner()
    db.claim(owner, ids, 2)
    diverged = RunResult("diverged", "diverged", losses=(1.0, math.inf, math.nan))
    failed = RunResult("failed", error="ValueError: boom\nTraceback ...")
    assert db.finish(owner, ids[0], diverged) and db.finish(owner, ids[1], failed)
    losses = db.query("SELECT loss FROM losses WHERE run_id = ? ORDER BY step", (ids[0],))
    assert [r[0] for r in losses] == [1.0, math.inf, None]  # NaN is stored as NULL
    assert db.query("SELECT error FROM runs WHERE id = ?", (ids[1],))[0][0].startswith("Value")
    with pytest.raises(ConfigError, match="status"):
        db.finish(owner, ids[0], RunResult("running"))
    db.enqueue(e, _configs(2))  # neither is queued again by default
    assert db.query("SELECT COUNT(*) FROM runs WHERE status = 'queued'")[0][0] == 0
    db.enqueue(e, _configs(2), retry_failed=True)  # only the failed one comes back
    rows = {r[0]: (r[1], r[2]) for r in db.query("SELECT id, status, error FROM runs")}
    assert rows == {ids[0]: ("diverged", None), ids[1]: ("queued", None)}


def test_load_and_export(db, tmp_path):
    e = db.experiment("a", {"grid": {"seed": [0, 1]}})
    ids = list(db.enqueue(e, _configs(2)).values())
    owner = Owner()
    db.claim(owner, ids, 2)
    rec = {
        "step": 1,
        "probe": "movement",
        "layer": "W1",
        "value": 0.5,
        "bound": 2.0,
        "quantity": "spectral",
        "width": 8,
    }
    db.finish(owner, ids[0], _result(records=(rec,)))
    tables = load(db.path)
    assert set(tables.as_dict()) == {
        "experiments",
        "runs",
        "experiment_runs",
        "losses",
        "records",
        "critical",
    }
    runs = tables.runs.set_index("id")
    assert runs.loc[ids[0], "status"] == "done" and runs.loc[ids[1], "status"] == "running"
    assert runs.loc[ids[0], "width"] == 8 and runs.loc[ids[1], "seed"] == 1  # config columns
    assert len(tables.losses) == 4 and tables.losses["run_id"].eq(ids[0]).all()
    r = tables.records.iloc[0]
    assert (r["probe"], r["layer"], r["value"], r["bound"]) == ("movement", "W1", 0.5, 2.0)
    assert r["quantity"] == "spectral" and json.loads(r["extra"])["width"] == 8
    assert tables.experiment_runs["experiment"].eq("a").all()
    assert len(tables.for_experiment("a").runs) == 2
    with pytest.raises(ConfigError, match="experiment"):
        tables.for_experiment("nope")
    assert summary_counts(db.path)[0]["done"] == 1
    for fmt in ("csv", "parquet"):
        files = export(db.path, tmp_path / fmt, format=fmt)
        assert [f.name for f in files][1] == f"runs.{fmt}"
        read = pd.read_csv if fmt == "csv" else pd.read_parquet
        assert len(read(tmp_path / fmt / f"losses.{fmt}")) == 4
        assert len(read(tmp_path / fmt / f"runs.{fmt}")) == 2
    with pytest.raises(ConfigError, match="format"):
        export(db.path, tmp_path, format="xlsx")  # type: ignore[arg-type]


def test_missing_database_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="existing results database"):
        load(tmp_path / "nope.sqlite")
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(ConfigError, match=r"writable location \(File exists: .*file"):
        Store(tmp_path / "file" / "x.sqlite")


def test_used_device_names_the_cuda_index(monkeypatch):
    import torch

    from overparam.store.result import used_device

    assert used_device("cpu") == "cpu" and used_device(torch.device("cpu")) == "cpu"
    assert used_device(None) is None and used_device("not-a-device") is None
    assert used_device("cuda:1") == "cuda:1"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 3)
    assert used_device("cuda") == "cuda:3"  # the device a bare "cuda" resolves to


def test_open_for_reading_never_creates_and_refuses_writes(tmp_path):
    path = tmp_path / "r.sqlite"
    with pytest.raises(ConfigError, match="existing results database"):
        Store.open(path)
    assert not path.exists()
    with Store.open(path, mode="write") as db:
        e = db.experiment("a", {})
    with Store.open(path) as db:
        assert db.mode == "read" and db.schema_version == 2
        with pytest.raises(ConfigError, match=r"a writable location \(attempt to write"):
            db.enqueue(e, _configs(1))
        assert db.release(Owner()) == 0
    with pytest.raises(ConfigError, match="mode"):
        Store(path, mode="append")  # type: ignore[arg-type]
