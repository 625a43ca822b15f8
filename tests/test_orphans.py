"""No orphans: ``overparam sweep run --executor local --workers 2`` killed with SIGKILL at any
moment (while it imports, while its workers import torch, while they train) leaves no process
behind, and resuming the sweep stores every grid point exactly once.

Survivors are found by environment: the killed command gets a unique marker that every
descendant inherits, and pool workers carry ``OVERPARAM_SWEEP_OWNER=<writer pid>``. Each test
kills only the processes it started (by pid).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest
from test_sweep_reliability import _count, _grid_hashes, _query, _write_spec

from overparam.lifeline import OWNER_ENV
from overparam.sweep import run_sweep

MARK_ENV = "OVERPARAM_TEST_ORPHAN_MARK"
GRACE_S = 3.0
START_TIMEOUT_S = 120.0


def _marked(mark: str, owner: int) -> list[psutil.Process]:
    """Live processes that descend from the killed command: its marker, or its owner pid."""
    found = []
    for p in psutil.process_iter():
        try:
            env = p.environ()
            if p.status() == psutil.STATUS_ZOMBIE:
                continue
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if env.get(MARK_ENV) == mark or env.get(OWNER_ENV) == str(owner):
            found.append(p)
    return found


def _workers(mark: str, owner: int) -> list[psutil.Process]:
    return [p for p in _marked(mark, owner) if p.pid != owner]


class Killed:
    """One ``overparam sweep run`` in its own session, with a unique environment marker."""

    def __init__(self, spec: Path, store: Path, executor: str = "local") -> None:
        self.mark = uuid.uuid4().hex
        env = {**os.environ, "OMP_NUM_THREADS": "1", MARK_ENV: self.mark}
        env.pop(OWNER_ENV, None)
        cmd = [sys.executable, "-m", "overparam", "sweep", "run", str(spec), "--store", str(store)]
        self.proc = subprocess.Popen(
            [*cmd, "--executor", executor, "--workers", "2", "--quiet"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.started = time.monotonic()

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):  # it may have finished already
            os.kill(self.proc.pid, signal.SIGKILL)  # the writer only, never its group
        self.proc.wait(timeout=30)

    def survivors(self, grace: float = GRACE_S) -> list[str]:
        """Descendants still alive ``grace`` seconds after the kill (polled; [] once all gone)."""
        deadline = time.monotonic() + grace
        while True:
            alive = _marked(self.mark, self.proc.pid)
            if not alive or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        out = []
        for p in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                out.append(f"{p.pid} {' '.join(p.cmdline())[:80]}")
        return out

    def cleanup(self) -> None:
        for p in _marked(self.mark, self.proc.pid):
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)


def _wait_until(sweep: Killed, moment: str | float | int, store: Path) -> None:
    """Block until ``moment``: seconds after start (float), "worker" (a pool worker exists: it
    is importing torch) or k runs stored as done (int; "run" is 1)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if isinstance(moment, float):
            if time.monotonic() - sweep.started >= moment:
                return
        elif moment == "worker":
            workers = _workers(sweep.mark, sweep.proc.pid)
            if any("multiprocessing-fork" in " ".join(p.cmdline()) for p in workers):
                return
        elif _count(store, "done") >= (1 if moment == "run" else moment):
            return
        assert sweep.proc.poll() is None, f"the sweep ended before {moment!r}"
        assert time.monotonic() < deadline, f"no {moment!r} within {START_TIMEOUT_S} s"
        time.sleep(0.01 if isinstance(moment, float) else 0.05)


def _kill_and_resume(tmp_path: Path, moments: list, steps: int, seeds: int) -> None:
    spec = _write_spec(tmp_path, steps, seeds)
    for i, moment in enumerate(moments):
        store = tmp_path / f"r{i}.sqlite"
        sweep = Killed(spec, store)
        try:
            _wait_until(sweep, moment, store)
            sweep.kill()
            left = sweep.survivors()
        finally:
            sweep.cleanup()
        assert left == [], (moment, left)
        # Resume in this process (one worker): the killed writer's claims are re-queued.
        result = run_sweep(spec, store=store, executor="local", workers=1)
        assert result.complete and result.counts["done"] == seeds, (moment, result)
        rows = _query(store, "SELECT config_hash, status FROM runs")
        assert sorted(h for h, _ in rows) == sorted(_grid_hashes(spec)), moment
        assert all(s == "done" for _, s in rows), (moment, rows)


def test_sigkill_while_importing_starting_workers_and_training_leaves_no_process(tmp_path):
    _kill_and_resume(tmp_path, [0.1, "worker", "run"], steps=1000, seeds=4)


@pytest.mark.slow
def test_sigkill_at_ten_moments_leaves_no_process(tmp_path):
    # The writer's own imports (~3 s), pool start-up, then training. Clock moments stay inside
    # the start-up (a fast machine ran all 8 runs within 9 s); later moments count stored runs,
    # so they fall while the workers train on any machine.
    moments = [0.1, 1.0, 2.0, 3.0, "worker", "run", 2, 4, 6, 7]
    _kill_and_resume(tmp_path, moments, steps=5000, seeds=8)


def _child(parent_gone: bool) -> subprocess.CompletedProcess[bytes]:
    """Exit code of a child that calls die_with_parent with the right or a wrong parent pid."""
    code = (
        "import os, sys; from overparam.lifeline import die_with_parent; "
        f"print(die_with_parent(os.getppid() {'+ 10**6' if parent_gone else ''})); sys.exit(0)"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)


def test_die_with_parent_exits_when_the_parent_already_changed():
    gone = _child(parent_gone=True)
    assert gone.returncode == 1 and gone.stdout == b""  # exited before returning
    alive = _child(parent_gone=False)
    assert alive.returncode == 0
    assert alive.stdout.decode().strip() == ("prctl" if sys.platform == "linux" else "watch")
