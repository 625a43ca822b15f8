"""Store faults give the real reason: a full disk (a real SQLITE_FULL from ``max_page_count``)
or a store that turns read-only mid-run (``query_only``, which refuses writes even as root)
stops the sweep with ``store: got ...; allowed: a writable location (<SQLite's reason>)``,
exit 2 from the CLI, leaves no run claimed by a live owner, and a resumed sweep gives the same
results as one that never failed. A zombie owner counts as dead."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from overparam.cli import app
from overparam.config import build_config
from overparam.store import Owner, RunResult, Store, load
from overparam.store import sqlite as sqlite_mod
from overparam.store.integrity import StoreError
from overparam.sweep import parse_spec, run_sweep

pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning"  # lr="auto" uses torch.func.jvp
)
runner = CliRunner()
FULL = "database or disk is full"
READONLY = "attempt to write a readonly database"
SPEC = {
    "name": "faults",
    "base": {
        "parameterization": "zou-gu",
        "n": 6,
        "d": 4,
        "width": 8,
        "depth": 2,
        "steps": 400,
        "dtype": "float64",
    },
    "grid": {"seed": [0, 1, 2, 3, 4]},
}
SPEC_TOML = """
name = "faults"
[base]
parameterization = "zou-gu"
n = 6
d = 4
width = 8
depth = 2
steps = 400
dtype = "float64"
[grid]
seed = [0, 1, 2, 3, 4]
"""


def _error_lines(stderr: str) -> list[str]:
    """The error lines of stderr (progress lines may precede them)."""
    return [line for line in stderr.splitlines() if line.startswith("error")]


def _same(resumed: dict[str, list[float]], clean: dict[str, list[float]], exact: bool) -> bool:
    """Equal losses per config: bit for bit, or to 1e-10 of the initial loss where some runs
    were batched (its products sum in another order, see overparam.sweep.batched)."""
    if exact or resumed.keys() != clean.keys():
        return resumed == clean
    return all(resumed[h] == pytest.approx(c, rel=0, abs=1e-10 * c[0]) for h, c in clean.items())


def _full(conn: sqlite3.Connection) -> None:
    """No more pages for this connection: the next write that grows the file is SQLITE_FULL."""
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")


def _readonly(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA query_only = 1")


def _fault_at(monkeypatch, k: int, fault) -> dict[str, int]:
    """Apply ``fault`` to the writer's connection just before its ``k``-th finish."""
    calls = {"n": 0}
    real = Store.finish

    def finish(self, owner, run_id, result):
        calls["n"] += 1
        if calls["n"] == k:
            fault(self._conn)
        return real(self, owner, run_id, result)

    monkeypatch.setattr(Store, "finish", finish)
    return calls


def _losses(path: Path) -> dict[str, list[float]]:
    t = load(path)
    hashes = dict(zip(t.runs["id"], t.runs["config_hash"], strict=True))
    return {hashes[i]: g["loss"].tolist() for i, g in t.losses.groupby("run_id")}


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> dict[str, list[float]]:
    """The losses of a sweep that never failed."""
    path = tmp_path_factory.mktemp("clean") / "r.sqlite"
    run_sweep(parse_spec(SPEC), store=path, executor="local", workers=1)
    return _losses(path)


def test_full_disk_inside_finish_is_the_real_reason_and_rolls_back(tmp_path):
    with Store(tmp_path / "r.sqlite") as db:
        (rid,) = db.enqueue(db.experiment("a", {}), [build_config({}, steps=3)]).values()
        owner = Owner()
        db.claim(owner, [rid], 1)
        _full(db._conn)
        big = RunResult("done", "max_steps", losses=tuple(range(20000)))
        with pytest.raises(StoreError) as err:
            db.finish(owner, rid, big)
        assert str(err.value) == f"store: got '{db.path}'; allowed: a writable location ({FULL})"
        assert "rollback" not in str(err.value)
        assert not db._conn.in_transaction
        # Nothing half-written: the run is still claimed, with no losses.
        assert db.query("SELECT status FROM runs WHERE id = ?", (rid,))[0][0] == "running"
        assert db.query("SELECT COUNT(*) FROM losses")[0][0] == 0
        assert db.release(owner) == 1  # an UPDATE in place still fits
        db._conn.execute("PRAGMA max_page_count = 1073741823")
        db.claim(owner, [rid], 1)
        assert db.finish(owner, rid, big) and db.verify() == (1, [])


@pytest.mark.parametrize(
    ("fault", "reason", "executor"),
    [(_full, FULL, "local"), (_readonly, READONLY, "local"), (_readonly, READONLY, "batched")],
)
def test_fault_mid_sweep_releases_claims_and_resume_gives_the_same_results(
    tmp_path, monkeypatch, clean, fault, reason, executor
):
    path = tmp_path / "r.sqlite"
    calls = _fault_at(monkeypatch, 3, fault)
    with pytest.raises(StoreError) as err:
        run_sweep(parse_spec(SPEC), store=path, executor=executor, workers=1)
    assert str(err.value) == f"store: got '{path}'; allowed: a writable location ({reason})"
    assert calls["n"] == 3
    with Store(path, mode="read") as db:
        status = [r[0] for r in db.query("SELECT status FROM runs ORDER BY id")]
    assert status.count("done") == 2 and "running" not in status  # claims went back to queued
    monkeypatch.undo()
    again = run_sweep(parse_spec(SPEC), store=path, executor="local", workers=1)
    assert again.counts["done"] == 5 and again.executed == 3 and again.skipped == 2
    assert _same(_losses(path), clean, exact=executor == "local")


def test_cli_full_disk_is_one_line_exit_2(tmp_path, monkeypatch, clean):
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC_TOML)
    store = tmp_path / "r.sqlite"
    _fault_at(monkeypatch, 2, _full)
    args = ["sweep", "run", str(spec), "--store", str(store), "--workers", "1", "--quiet"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert _error_lines(result.stderr) == [
        f"error: store: got '{store}'; allowed: a writable location ({FULL})"
    ]
    assert "Traceback" not in result.output and "rollback" not in result.output
    monkeypatch.undo()
    assert runner.invoke(app, args).exit_code == 0
    assert _losses(store) == clean


def test_read_only_store_at_open_is_one_line_exit_2_and_unchanged(tmp_path, monkeypatch):
    """A store SQLite can only open read-only (a read-only file or mount; simulated with a
    ``mode=ro`` connection, which refuses writes even as root)."""
    store = tmp_path / "r.sqlite"
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC_TOML.replace("[0, 1, 2, 3, 4]", "[0]"))
    with Store(store) as db:
        db.experiment("x", {})
    before = store.read_bytes()
    real = sqlite3.connect

    def connect(database, *args, uri=False, **kw):
        if not uri and str(database) == str(store):
            return real(f"file:{store}?mode=ro", *args, uri=True, **kw)
        return real(database, *args, uri=uri, **kw)

    monkeypatch.setattr(sqlite_mod.sqlite3, "connect", connect)
    for args in (
        ["sweep", "run", str(spec), "--store", str(store), "--quiet"],
        ["critical-width", "--n", "4", "--d", "4", "--width-max", "16", "--store", str(store)],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert _error_lines(result.stderr) == [
            f"error: store: got '{store}'; allowed: a writable location ({READONLY})"
        ]
        assert "Traceback" not in result.output
    monkeypatch.undo()
    assert store.read_bytes() == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through chmod")
def test_read_only_folder_is_the_real_reason(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(StoreError, match=r"a writable location \("):
            Store(folder / "r.sqlite")
    finally:
        folder.chmod(0o755)


_CHILD = """
import sqlite3, sys
from overparam.store import Store
real = Store.finish
calls = [0]
def finish(self, owner, run_id, result):
    calls[0] += 1
    if calls[0] == 2:  # the store turns read-only, for every connection of this process
        self._conn.execute("PRAGMA query_only = 1")
        connect = Store._connect
        def ro(self, durable):
            conn = connect(self, durable)
            conn.execute("PRAGMA query_only = 1")
            return conn
        Store._connect = ro
    return real(self, owner, run_id, result)
Store.finish = finish
from overparam.cli import main
sys.argv = ["overparam", *sys.argv[1:]]
main()
"""


@pytest.mark.slow  # a fresh interpreter imports torch: several seconds
def test_claims_left_by_a_writer_that_could_not_release_are_requeued_on_next_open(tmp_path, clean):
    """Where the store refuses even the release, the claims stay running under the writer's
    pid; once that process has exited, the next writer re-queues them at once."""
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC_TOML)
    store = tmp_path / "r.sqlite"
    args = ["sweep", "run", str(spec), "--store", str(store), "--executor", "batched"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, *args, "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 2, proc.stderr
    assert _error_lines(proc.stderr) == [
        f"error: store: got '{store}'; allowed: a writable location ({READONLY})"
    ]
    assert "Traceback" not in proc.stderr
    with Store(store, mode="read") as db:
        rows = db.query("SELECT status, owner_pid FROM runs ORDER BY id")
    assert [r[0] for r in rows] == ["done"] + ["running"] * 4
    pids = {r[1] for r in rows[1:]}  # the claims of the writer, which has exited
    assert len(pids) == 1 and not sqlite_mod._pid_alive(pids.pop())
    start = time.monotonic()
    again = run_sweep(parse_spec(SPEC), store=store, executor="local", workers=1, stale_after=3600)
    assert again.counts["done"] == 5 and again.executed == 4
    assert time.monotonic() - start < 60  # re-queued at once, not after stale_after
    assert _same(_losses(store), clean, exact=False)  # the first run was batched


def _state(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rfind(")") + 2]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_a_killed_unreaped_owner_is_dead(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        assert sqlite_mod._pid_alive(child.pid) and sqlite_mod._pid_alive(os.getpid())
        os.kill(child.pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while _state(child.pid) != "Z":  # killed, not yet waited for
            assert time.monotonic() < deadline
            time.sleep(0.01)
        os.kill(child.pid, 0)  # the zombie still exists for kill()
        assert not sqlite_mod._pid_alive(child.pid)
        with Store(tmp_path / "r.sqlite") as db:
            e = db.experiment("a", {})
            ids = list(db.enqueue(e, [build_config({}, seed=s) for s in range(2)]).values())
            db.claim(Owner(pid=child.pid), ids[:1], 1)
            db.claim(Owner(), ids[1:], 1)
            assert db.requeue_stale(stale_after=3600) == 1  # at once, not after an hour
            status = {r[0]: r[1] for r in db.query("SELECT id, status FROM runs")}
            assert status == {ids[0]: "queued", ids[1]: "running"}
    finally:
        child.kill()
        child.wait()
