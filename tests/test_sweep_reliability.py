"""Crash safety across processes: ``overparam sweep run`` killed with SIGKILL mid-run resumes to
exactly the grid, and two concurrent writers on one store never corrupt it or run a config twice.

Each test starts real ``python -m overparam`` processes (with timeouts) in their own session, and
kills only those processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from overparam.sweep import load_spec

# Runs of ~0.2-1 s each (float64, 1000 steps), so a kill lands inside a run.
SPEC = """
name = "crash"
[base]
parameterization = "zou-gu"
n = 16
d = 8
width = 48
depth = 2
steps = {steps}
lr = 0.05
dtype = "float64"
[grid]
seed = {seeds}
"""
TIMEOUT_S = 300


def _write_spec(tmp_path: Path, steps: int, seeds: int) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(SPEC.format(steps=steps, seeds=list(range(seeds))))
    return path


class Sweep:
    """A ``python -m overparam sweep run`` process in its own session; output goes to files."""

    count = 0

    def __init__(self, spec: Path, store: Path, *extra: str) -> None:
        Sweep.count += 1
        self.out = store.parent / f"out{Sweep.count}.txt"
        self.err = store.parent / f"err{Sweep.count}.txt"
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        cmd = [sys.executable, "-m", "overparam", "sweep", "run", str(spec), "--store", str(store)]
        with self.out.open("w") as out, self.err.open("w") as err:
            self.proc = subprocess.Popen(
                [*cmd, "--quiet", *extra],
                env=env,
                stdout=out,
                stderr=err,
                text=True,
                start_new_session=True,  # its own process group: cleanup kills only it
            )

    def wait(self, timeout: float = TIMEOUT_S) -> tuple[int, str, str]:
        rc = self.proc.wait(timeout=timeout)
        return rc, self.out.read_text(), self.err.read_text()

    def kill_group(self) -> None:
        with contextlib.suppress(ProcessLookupError):  # the group may be gone already
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)


def _query(store: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(store, timeout=30)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _count(store: Path, status: str) -> int:
    if not store.exists():
        return 0
    try:
        return _query(store, f"SELECT COUNT(*) FROM runs WHERE status = '{status}'")[0][0]
    except sqlite3.OperationalError:  # the schema is being created
        return 0


def _check_sound(store: Path, steps: int) -> None:
    """Integrity, and no half-written run: finished runs have every loss, others none."""
    assert _query(store, "PRAGMA integrity_check") == [("ok",)]
    bad = _query(
        store,
        "SELECT r.id, r.status, r.steps_run, COUNT(l.step) FROM runs r"
        " LEFT JOIN losses l ON l.run_id = r.id GROUP BY r.id",
    )
    for run_id, status, steps_run, n_losses in bad:
        if status in ("done", "diverged"):
            assert n_losses == steps_run + 1 == steps + 1, (run_id, status, n_losses)
        else:
            assert n_losses == 0, (run_id, status, n_losses)


def _grid_hashes(spec: Path) -> set[str]:
    return {c.config_hash() for c in load_spec(spec).configs()}


@pytest.mark.parametrize("workers", ["1", pytest.param("2", marks=pytest.mark.slow)])
def test_sigkill_mid_run_then_resume_runs_the_grid_exactly_once(tmp_path, workers):
    steps, seeds = 1000, 6
    spec, store = _write_spec(tmp_path, steps, seeds), tmp_path / "r.sqlite"
    first = Sweep(spec, store, "--executor", "local", "--workers", workers)
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while _count(store, "done") < 2:
            assert first.proc.poll() is None, first.wait()
            assert time.monotonic() < deadline, "the first sweep made no progress"
            time.sleep(0.05)
        os.kill(first.proc.pid, signal.SIGKILL)  # the writer only; its pool workers exit
        rc, _, _ = first.wait(30)
    finally:
        first.kill_group()
    assert rc == -signal.SIGKILL
    done_before = _count(store, "done")
    assert 2 <= done_before < seeds
    assert _count(store, "running") >= 1  # claims of the killed writer, left behind
    _check_sound(store, steps)

    resumed = Sweep(spec, store, "--executor", "local", "--workers", workers, "--json")
    try:
        rc, out, err = resumed.wait()
    finally:
        resumed.kill_group()
    assert rc == 0, err
    summary = json.loads(out)
    assert summary["complete"] and summary["counts"]["done"] == seeds
    assert summary["skipped"] == done_before and summary["executed"] == seeds - done_before
    rows = _query(store, "SELECT config_hash, status, attempts FROM runs")
    assert {h for h, _, _ in rows} == _grid_hashes(spec) and len(rows) == seeds
    assert all(s == "done" for _, s, _ in rows)
    assert any(a == 2 for _, _, a in rows)  # the run killed mid-way ran again
    _check_sound(store, steps)


def test_two_writers_on_one_store_run_each_config_once(tmp_path):
    steps, seeds = 400, 8
    spec, store = _write_spec(tmp_path, steps, seeds), tmp_path / "r.sqlite"
    sweeps = [Sweep(spec, store, "--executor", "local", "--workers", "1", "--json")]
    time.sleep(0.2)
    sweeps.append(Sweep(spec, store, "--executor", "batched", "--max-batch", "2", "--json"))
    outs = []
    try:
        for sw in sweeps:
            rc, out, err = sw.wait()
            assert rc == 0, err
            outs.append(json.loads(out))
    finally:
        for sw in sweeps:
            sw.kill_group()
    assert all(o["complete"] and o["counts"]["done"] == seeds for o in outs)
    assert sum(o["executed"] for o in outs) == seeds  # each config computed by one writer
    rows = _query(store, "SELECT config_hash, status, attempts, executor FROM runs")
    assert {r[0] for r in rows} == _grid_hashes(spec) and len(rows) == seeds
    assert all(r[1] == "done" and r[2] == 1 for r in rows)
    assert _query(store, "SELECT COUNT(*) FROM experiments") == [(1,)]
    assert _query(store, "SELECT COUNT(*) FROM experiment_runs") == [(seeds,)]
    _check_sound(store, steps)
