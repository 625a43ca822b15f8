"""Stores that cannot be read say so and are never written; every finished run is checksummed,
checked when read for analysis and by ``overparam store verify``; version-1 stores migrate;
every stored run records its provenance (executor, torch threads, torch version, device)."""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import sqlite3
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from overparam.cli import app
from overparam.config import build_config
from overparam.store import Owner, RunResult, Store, load
from overparam.store import integrity as integ
from overparam.store.integrity import ChecksumError, StoreError, inspect_file
from overparam.store.result import from_history
from overparam.sweep import parse_spec, run_sweep

runner = CliRunner()
SPEC = """
name = "bad"
[base]
parameterization = "zou-gu"
n = 4
d = 4
width = 8
depth = 2
steps = 3
lr = 0.1
[grid]
seed = [0]
"""


def _configs(n: int = 4):
    return [build_config({}, n=4, d=4, width=8, steps=3, seed=s) for s in range(n)]


def _fill(path: Path, runs: int = 4, losses: int = 3000) -> list[int]:
    """A store of ``runs`` finished runs with ``losses`` losses and two records each."""
    rng = random.Random(0)
    with Store(path) as db:
        e = db.experiment("a", {})
        ids = list(db.enqueue(e, _configs(runs)).values())
        owner = Owner()
        db.claim(owner, ids, runs)
        for i in ids:
            recs = (
                {"step": 0, "probe": "movement", "layer": "W1", "value": rng.random(), "w": 8},
                {"step": 1, "probe": "flips", "value": None, "bound": 2.0},
            )
            values = tuple(rng.random() for _ in range(losses))
            assert db.finish(owner, i, RunResult("done", "max_steps", values, recs, lr=0.1))
    return ids


@pytest.fixture(scope="module")
def good_bytes(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("good") / "r.sqlite"
    _fill(path)
    assert not Path(f"{path}-wal").exists()  # the last close checkpointed and removed it
    return path.read_bytes()


def _sql(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for s in statements:
            conn.execute(s)
    finally:
        conn.close()


def _make(kind: str, path: Path, good: bytes) -> str:
    """Write a store of ``kind`` at ``path``; returns the words its error must contain."""
    page = int.from_bytes(good[16:18], "big")
    if kind == "random bytes":
        path.write_bytes(random.Random(1).randbytes(4096))
        return "(file is not a database)"
    if kind == "text file":
        path.write_text("width,depth\n8,2\n" * 40)
        return "(file is not a database)"
    if kind == "truncated":
        path.write_bytes(good[: len(good) // 2])
        return f"(truncated database: {len(good) // 2} of {len(good)} bytes)"
    if kind == "garbage page":
        pages = len(good) // page
        mid = page * (pages // 2)
        path.write_bytes(good[:mid] + random.Random(2).randbytes(page) + good[mid + page :])
        return "(damaged: "
    if kind == "other schema":
        _sql(path, "CREATE TABLE foo (x)", "INSERT INTO foo VALUES (1)")
        return "(no table meta, experiments, runs"
    if kind == "missing runs":
        path.write_bytes(good)
        _sql(path, "DROP TABLE runs")
        return "(no table runs; tables found: critical, experiment_runs, experiments"
    if kind == "newer schema":
        path.write_bytes(good)
        _sql(path, "UPDATE meta SET value = '3' WHERE key = 'schema'")
        return "(schema version 3; this overparam reads versions 1 to 2: upgrade overparam)"
    raise AssertionError(kind)


KINDS = [
    "random bytes",
    "text file",
    "truncated",
    "garbage page",
    "other schema",
    "missing runs",
    "newer schema",
]


def _commands(store: Path, tmp: Path) -> dict[str, list[str]]:
    spec = tmp / "spec.toml"
    spec.write_text(SPEC)
    s = str(store)
    tiny = ["--n", "4", "--d", "4", "--depth", "2", "--width-min", "8", "--width-max", "16"]
    return {
        "sweep run": ["sweep", "run", str(spec), "--store", s, "--executor", "batched", "--quiet"],
        "sweep status": ["sweep", "status", "--store", s],
        "sweep export": ["sweep", "export", "--store", s, "--out", str(tmp / "export")],
        "report": ["report", "--store", s, "--out", str(tmp / "report.html")],
        "critical-width": ["critical-width", *tiny, "--seeds", "1", "--store", s],
        "store verify": ["store", "verify", "--store", s],
        "reproduce": ["reproduce", "--quick", "--only", "du-two-layer", "--out", str(store.parent)],
    }


@pytest.mark.parametrize("kind", KINDS)
def test_unreadable_store_is_one_line_exit_2_and_never_written(tmp_path, good_bytes, kind):
    folder = tmp_path / "store"
    folder.mkdir()
    store = folder / "results.sqlite"
    words = _make(kind, store, good_bytes)
    before = store.read_bytes()
    os.utime(store, ns=(1_000_000_000, 1_000_000_000))  # any later write would move it
    head = f"error: store: got '{store}'; allowed: an overparam results database "
    wrong = {}
    for name, args in _commands(store, tmp_path).items():
        result = runner.invoke(app, args)
        line = result.stderr.strip()
        checks = {
            "exit 2": result.exit_code == 2,
            "one line": result.stderr.splitlines() == [line],
            "names the file and the problem": line.startswith(head) and words in line,
            "no traceback": "Traceback" not in result.output,
            "bytes unchanged": store.read_bytes() == before,
            "mtime unchanged": store.stat().st_mtime_ns == 1_000_000_000,
            "no -wal / -shm": sorted(p.name for p in folder.iterdir()) == ["results.sqlite"],
        }
        if not all(checks.values()):
            wrong[name] = ([k for k, ok in checks.items() if not ok], result.output)
    assert not wrong, wrong


def test_missing_store_is_an_error_for_readers_and_created_by_writers(tmp_path):
    store = tmp_path / "new" / "results.sqlite"
    for name, args in _commands(store, tmp_path).items():
        if name in ("sweep run", "critical-width", "reproduce"):
            continue
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (name, result.output)
        assert "an existing results database" in result.stderr, name
        assert not store.parent.exists(), name  # nothing created
    (tmp_path / "empty.sqlite").write_bytes(b"")  # an empty file: nothing to read
    result = runner.invoke(app, ["store", "verify", "--store", str(tmp_path / "empty.sqlite")])
    assert result.exit_code == 2 and "(the file is empty)" in result.stderr
    result = runner.invoke(app, _commands(store, tmp_path)["sweep run"])
    assert result.exit_code == 0, result.output
    assert inspect_file(store, must_exist=True) == 2
    assert load(store).runs["status"].tolist() == ["done"]


def test_a_store_inspected_under_another_writer_is_read_not_written(tmp_path):
    path = tmp_path / "r.sqlite"
    ids = _fill(path, runs=2, losses=10)
    with Store(path) as writer:  # open: the -wal file exists, so the check reads through it
        writer.experiment("b", {})
        assert Path(f"{path}-wal").exists()
        assert inspect_file(path, must_exist=True) == 2
        with Store(path, mode="read") as reader:
            assert reader.verify() == (2, [])
            assert set(reader.states(ids)) == set(ids)
            with pytest.raises(StoreError, match=r"a writable location \(attempt to write a read"):
                reader.experiment("c", {})
    with Store(path, mode="read") as reader:
        assert {r["experiment"] for r in reader.counts()} == {"a", "b"}


# -- checksums -----------------------------------------------------------------------------


def _sha_json(rows) -> str:
    """The run row's canonical form, computed here: SHA-256 of compact ASCII JSON."""
    return hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).hexdigest()


def _binary(rows, kinds: str) -> str:
    """The canonical form of losses / records, written here with numpy: the row count, then
    per column its kind, NULL count, NULL mask, and int64 / float64 values or a JSON array."""
    out = np.array([len(rows)], "<u8").tobytes()
    for kind, col in zip(kinds, zip(*rows, strict=True), strict=True):
        if kind == "t":
            out += b"t" + json.dumps(list(col), separators=(",", ":")).encode()
            continue
        null = np.array([v is None for v in col])
        out += kind.encode() + np.array([null.sum()], "<u4").tobytes()
        out += null.astype("u1").tobytes() if null.any() else b""
        dtype = "<i8" if kind in "iI" else "<f8"
        out += np.array([0 if v is None else v for v in col], dtype).tobytes()
    return hashlib.sha256(out).hexdigest()


def test_checksum_is_sha256_of_the_stored_rows(tmp_path):
    path = tmp_path / "r.sqlite"
    with Store(path) as db:
        (rid,) = db.enqueue(db.experiment("a", {}), _configs(1)).values()
        owner = Owner()
        db.claim(owner, [rid], 1)
        rec = {"step": 2, "probe": "norms", "layer": "h1", "value": 1.5, "bound": None, "k": 3}
        losses = (1.0, -0.0, float("nan"), float("inf"))  # SQLite: -0.0 -> 0.0, NaN -> NULL
        res = RunResult("diverged", "diverged", losses, (rec,), lr=0.25, executor="local")
        assert db.finish(owner, rid, res)
        row = db.query("SELECT * FROM runs WHERE id = ?", (rid,))[0]
    want_losses = _binary([(rid, 0, 1.0), (rid, 1, 0.0), (rid, 2, None), (rid, 3, math.inf)], "iir")
    want_records = _binary([(rid, 0, 2, "norms", "h1", 1.5, None, '{"k": 3}')], "iiIttrrt")
    result_row = [row[c] for c in integ.RESULT_COLUMNS]
    assert result_row[2:9] == ["diverged", "diverged", None, 0.25, 3, 1.0, math.inf]
    assert want_losses != _binary(
        [(rid, 0, 1.0), (rid, 1, -0.0), (rid, 2, None), (rid, 3, math.inf)], "iir"
    )
    want = f"{_sha_json(result_row)}:{want_losses}:{want_records}"
    assert row["checksum_parts"] == want
    assert row["checksum"] == hashlib.sha256(want.encode()).hexdigest()


@pytest.mark.parametrize(
    ("sql", "part"),
    [
        ("UPDATE losses SET loss = loss * (1 + 1e-12) WHERE run_id = {i} AND step = 7", "losses"),
        ("DELETE FROM losses WHERE run_id = {i} AND step = 2999", "losses"),
        ("UPDATE records SET value = 0.5 WHERE run_id = {i} AND idx = 0", "records"),
        ("UPDATE runs SET final_loss = 0.0 WHERE id = {i}", "result"),
        (
            "UPDATE runs SET config = replace(config, '\"width\":8', '\"width\":9') WHERE id = {i}",
            "result",
        ),
        ("UPDATE runs SET checksum = NULL WHERE id = {i}", "checksum"),
    ],
)
def test_a_changed_row_is_named_by_verify_and_refused_for_analysis(tmp_path, sql, part):
    path = tmp_path / "r.sqlite"
    ids = _fill(path)
    victim = ids[2]
    _sql(path, sql.format(i=victim))
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        config_hash = conn.execute(
            "SELECT config_hash FROM runs WHERE id = ?", (victim,)
        ).fetchone()[0]
    result = runner.invoke(app, ["store", "verify", "--store", str(path)])
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines() == [
        f"damaged: run {victim} (config {config_hash}): {part}",
        f"1 of {len(ids)} finished runs damaged in {path}",
    ]
    out = json.loads(runner.invoke(app, ["store", "verify", "--store", str(path), "--json"]).stdout)
    assert out["damaged"] == [{"run_id": victim, "config_hash": config_hash, "parts": [part]}]
    assert out["verified"] == len(ids) - 1 and not out["ok"]
    with Store(path, mode="read") as reader:
        reads = (lambda: load(path), lambda: reader.states(ids))
        errors = []
        for read in reads:
            with pytest.raises(ChecksumError) as err:
                read()
            errors.append(err)
    for err in errors:
        assert f"run {victim} (config {config_hash}): {part}" in str(err.value)
        assert str(err.value).startswith(f"store: got '{path}'; allowed: runs whose stored rows")
    assert load(path, verify=False).runs["id"].tolist() == ids  # an explicit opt-out
    report = runner.invoke(app, ["report", "--store", str(path), "--out", str(tmp_path / "r.html")])
    assert report.exit_code == 2 and f"run {victim} (config {config_hash})" in report.stderr


def test_verify_a_clean_store(tmp_path):
    path = tmp_path / "r.sqlite"
    ids = _fill(path, runs=3, losses=5)
    with Store(path) as db:  # a queued run has no checksum yet and is not counted
        db.enqueue(db.experiment("a", {}), _configs(4))
    result = runner.invoke(app, ["store", "verify", "--store", str(path)])
    assert result.exit_code == 0, result.output
    assert (
        result.stdout.strip() == f"ok: {len(ids)} runs verified (1 queued or running, not finished)"
    )


_real = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(2**62), 2**62)
_text = st.text(max_size=12)  # any unicode: stored as TEXT, hashed as ASCII JSON


@settings(max_examples=25)
@given(
    losses=st.lists(_real, max_size=20),
    records=st.lists(
        st.fixed_dictionaries(
            {"step": st.none() | st.integers(0, 10**6), "probe": st.none() | _text},
            optional={"layer": _text, "value": st.none() | _real, "bound": _real, "x": _text},
        ),
        max_size=5,
    ),
    error=st.none() | _text,
    acc=st.none() | _real,
)
def test_no_false_alarm_for_any_stored_values(losses, records, error, acc):
    """Whatever SQLite does to the values (-0.0 -> 0.0, integers in REAL columns, NaN -> NULL),
    the checksum is of the rows as stored, so a clean run always verifies."""
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "r.sqlite") as db:
        (rid,) = db.enqueue(db.experiment("a", {}), _configs(1)).values()
        owner = Owner()
        db.claim(owner, [rid], 1)
        res = RunResult(
            "done",
            "max_steps",
            tuple(losses),
            tuple(records),
            lr=acc,
            error=error,
            test_accuracy=acc,
        )
        assert db.finish(owner, rid, res)
        assert db.verify() == (1, [])
        assert load(db.path).losses["step"].tolist() == list(range(len(losses)))


# -- schema versions -------------------------------------------------------------------------


def _as_version_1(path: Path) -> None:
    """Turn a version-2 store into the version-1 layout (no threads, device, checksums)."""
    drops = [f"ALTER TABLE runs DROP COLUMN {c}" for c, _ in integ.V2_COLUMNS]
    _sql(path, *drops, "UPDATE meta SET value = '1' WHERE key = 'schema'")


def test_version_1_store_is_read_as_is_and_migrated_on_open_for_writing(tmp_path):
    path = tmp_path / "r.sqlite"
    ids = _fill(path, runs=3, losses=50)
    _as_version_1(path)
    tables = load(path)  # read-only: no migration, provenance columns present but empty
    assert tables.runs["threads"].isna().all() and tables.runs["device"].isna().all()
    assert inspect_file(path, must_exist=True) == 1
    result = runner.invoke(app, ["store", "verify", "--store", str(path)])
    assert result.exit_code == 0 and "version-1 store has no checksums yet" in result.stdout
    before = load(path)
    with Store(path) as db:  # writing: migrated in place
        assert db.query("SELECT value FROM meta WHERE key = 'schema'")[0][0] == "2"
        assert db.verify() == (3, [])
        row = db.query("SELECT * FROM runs WHERE id = ?", (ids[0],))[0]
        losses = db.query("SELECT run_id, step, loss FROM losses WHERE run_id = ?", (ids[0],))
    assert row["checksum_parts"].split(":")[1] == _binary([tuple(r) for r in losses], "iir")
    assert load(path).losses.equals(before.losses)
    _sql(path, f"UPDATE losses SET loss = 7.0 WHERE run_id = {ids[1]} AND step = 3")
    with pytest.raises(ChecksumError, match=f"run {ids[1]} "):
        load(path)


# -- provenance ------------------------------------------------------------------------------


def test_every_run_records_executor_threads_torch_version_and_device(tmp_path):
    spec = parse_spec(
        {
            "name": "prov",
            "base": {"parameterization": "zou-gu", "n": 4, "d": 4, "width": 8, "steps": 3},
            "grid": {"seed": [0, 1]},
        }
    )
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        run_sweep(spec, store=tmp_path / "r.sqlite", executor="batched", workers=1)
    finally:
        torch.set_num_threads(threads)
    runs = load(tmp_path / "r.sqlite").runs
    assert (
        runs[["executor", "threads", "torch_version", "device"]].values.tolist()
        == [["batched", 1, torch.__version__, "cpu"]] * 2
    )
    from overparam.run import run

    history = run(build_config({}, n=4, d=4, width=8, steps=2))
    assert from_history(history, executor="local").threads == torch.get_num_threads()
    assert integ.SCHEMA_VERSION == "2"


def test_seal_accepts_rows_changed_on_purpose(tmp_path):
    path = tmp_path / "r.sqlite"
    ids = _fill(path, runs=3, losses=20)
    _sql(
        path,
        f"UPDATE runs SET status = 'diverged', train_status = 'diverged' WHERE id = {ids[0]}",
        f"UPDATE losses SET loss = 2.0 WHERE run_id = {ids[1]}",
    )
    with Store(path) as db:
        assert [d.run_id for d in db.verify()[1]] == ids[:2]
        assert db.seal([ids[0]]) == 1
        assert [(d.run_id, d.parts) for d in db.verify()[1]] == [(ids[1], ("losses",))]
        assert db.seal() == 3 and db.verify() == (3, [])
    assert load(path).runs.set_index("id").loc[ids[0], "status"] == "diverged"
