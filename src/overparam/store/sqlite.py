"""The results database: SQLite in WAL mode, resumable, append-only for finished runs.

Tables (one row per ...):

==================  ===========================================================================
``experiments``     named sweep / critical-width search, with its spec as JSON
``runs``            run config (JSON + hash, unique: a config is trained at most once per store),
                    status queued / running / done / diverged / failed, train status, error,
                    seeds, resolved lr, losses at start / end, accuracies, wall time, executor,
                    worker host / pid, torch threads and device of that worker, package / torch
                    / python versions, git commit, the claim (owner token, host, pid, attempts)
                    and its heartbeat, and the checksum of the stored rows
``experiment_runs`` which runs an experiment asked for (a run can serve several experiments)
``losses``          (run_id, step, loss): the per-step objective of finished runs
``records``         tidy probe rows (run_id, idx, step, probe, layer, value, bound, extra JSON)
``critical``        critical-width results, one per experiment and grid point
==================  ===========================================================================

Concurrency and crash safety:

- WAL journal, a busy timeout on every connection, ``synchronous=NORMAL`` (a committed
  transaction survives a killed process; ``durable=True`` selects ``FULL``, which also survives
  power loss at the price of an fsync per commit).
- Claims are atomic: ``BEGIN IMMEDIATE`` takes the write lock, then queued rows become running
  with this owner's token, so two processes never run one config.
- A finished run is written in one transaction (run row, every loss and record), and only if
  the run is still claimed by the writer's owner token: no half-written and no duplicate rows.
- Claims whose heartbeat is older than ``stale_after`` seconds, or whose owner process on this
  host no longer exists (or is a zombie), go back to queued.

Integrity (see :mod:`overparam.store.integrity`): a file is checked before it is opened for
anything (not SQLite, truncated, damaged pages, another schema, a newer schema version: a
:class:`~overparam.store.integrity.StoreError`, and nothing is written to it); a finished run's
checksum is written in the transaction that stores it and checked whenever it is read for
analysis. A store fault (read-only, disk full) is a ``StoreError`` with SQLite's reason.

Schema versions: 1 had no checksums and no threads / device columns; opening a version-1 store
for writing migrates it in place (one transaction) and computes the checksums of its finished
runs then, so a version-1 run's checksum certifies its rows as they were found at migration.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from overparam.config import RunConfig, build_config
from overparam.errors import ConfigError
from overparam.store import integrity
from overparam.store.integrity import SCHEMA_VERSION, ChecksumError, StoreError
from overparam.store.result import STATUSES, TERMINAL, RunResult

#: Where results go unless ``--store`` / ``path`` says otherwise (relative to the working dir).
DEFAULT_PATH = Path("overparam-results") / "results.sqlite"
# Host parameter limit of old SQLite builds is 999; IN-lists are chunked below it.
_CHUNK = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS experiments (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    spec TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    config_hash TEXT NOT NULL UNIQUE,
    config TEXT NOT NULL,
    status TEXT NOT NULL
        CHECK (status IN ('queued', 'running', 'done', 'diverged', 'failed')),
    train_status TEXT,
    error TEXT,
    seed INTEGER,
    seeds TEXT,
    lr_used REAL,
    steps_run INTEGER,
    initial_loss REAL,
    final_loss REAL,
    train_accuracy REAL,
    test_accuracy REAL,
    wall_s REAL,
    executor TEXT,
    host TEXT,
    worker_pid INTEGER,
    threads INTEGER,
    device TEXT,
    package_version TEXT,
    torch_version TEXT,
    python_version TEXT,
    git_commit TEXT,
    owner TEXT,
    owner_host TEXT,
    owner_pid INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    heartbeat REAL,
    checksum TEXT,
    checksum_parts TEXT
);
CREATE INDEX IF NOT EXISTS runs_status ON runs (status);
CREATE TABLE IF NOT EXISTS experiment_runs (
    experiment_id INTEGER NOT NULL REFERENCES experiments (id),
    run_id INTEGER NOT NULL REFERENCES runs (id),
    PRIMARY KEY (experiment_id, run_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS losses (
    run_id INTEGER NOT NULL REFERENCES runs (id),
    step INTEGER NOT NULL,
    loss REAL,
    PRIMARY KEY (run_id, step)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records (
    run_id INTEGER NOT NULL REFERENCES runs (id),
    idx INTEGER NOT NULL,
    step INTEGER,
    probe TEXT,
    layer TEXT,
    value REAL,
    bound REAL,
    extra TEXT,
    PRIMARY KEY (run_id, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS critical (
    experiment_id INTEGER NOT NULL REFERENCES experiments (id),
    point_hash TEXT NOT NULL,
    point TEXT NOT NULL,
    base_config TEXT NOT NULL,
    width INTEGER,
    success_rate REAL,
    found INTEGER NOT NULL,
    result TEXT NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (experiment_id, point_hash)
);
"""

_FINISH = """
UPDATE runs SET status = ?, train_status = ?, error = ?, lr_used = ?, steps_run = ?,
    initial_loss = ?, final_loss = ?, train_accuracy = ?, test_accuracy = ?, wall_s = ?,
    executor = ?, host = ?, worker_pid = ?, threads = ?, device = ?, package_version = ?,
    torch_version = ?, python_version = ?, git_commit = ?, finished = ?, heartbeat = ?
WHERE id = ? AND status = 'running' AND owner = ?
"""


@dataclass(frozen=True)
class Owner:
    """Who holds a claim: a fresh token per runner, with its host and pid (for liveness)."""

    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)


@dataclass(frozen=True)
class Claim:
    """A run this owner may now compute: its row id, hash and config."""

    run_id: int
    config_hash: str
    config: RunConfig


def config_json(cfg: RunConfig) -> str:
    """The canonical JSON stored for a config (the text its hash is computed from)."""
    return json.dumps(cfg.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


def _chunks(seq: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` of this host still runs: it exists and is not a zombie (killed
    but not yet reaped by its parent, it will never write again)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # without /proc (macOS) kill() has the last word; with it, pid just exited
        return not Path("/proc/self").exists()
    state = stat[stat.rfind(")") + 2 :][:1]  # the field after "(comm)", which may hold spaces
    return state not in ("Z", "X")


def _num(v: Any) -> float | None:
    """A float for SQLite, or None (NaN is stored as NULL by SQLite anyway)."""
    if v is None:
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def _jsonable(v: Any) -> Any:
    if hasattr(v, "item") and callable(v.item):  # torch / numpy scalars
        try:
            return v.item()
        except (ValueError, RuntimeError):
            return str(v)
    return v


def record_row(run_id: int, idx: int, rec: Mapping[str, Any]) -> tuple[Any, ...]:
    """A probe record as a ``records`` row; keys beyond the six columns go to ``extra`` JSON."""
    core = ("step", "probe", "layer", "value", "bound")
    extra = {k: _jsonable(v) for k, v in rec.items() if k not in core}
    step = rec.get("step")
    return (
        run_id,
        idx,
        None if step is None else int(step),
        None if rec.get("probe") is None else str(rec["probe"]),
        None if rec.get("layer") is None else str(rec["layer"]),
        _num(rec.get("value")),
        _num(rec.get("bound")),
        json.dumps(extra, sort_keys=True, default=str) if extra else None,
    )


def count_by_status(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Per experiment: name, kind, the number of its runs in each status, and the total."""
    rows = conn.execute(
        "SELECT e.id, e.name, e.kind, r.status, COUNT(r.id) FROM experiments e"
        " LEFT JOIN experiment_runs er ON er.experiment_id = e.id"
        " LEFT JOIN runs r ON r.id = er.run_id GROUP BY e.id, r.status ORDER BY e.id"
    ).fetchall()
    table: dict[int, dict[str, Any]] = {}
    for eid, name, kind, status, n in rows:
        entry = table.setdefault(
            int(eid), {"experiment": name, "kind": kind, **dict.fromkeys(STATUSES, 0)}
        )
        if status is not None:
            entry[status] = int(n)
    for entry in table.values():
        entry["total"] = sum(entry[s] for s in STATUSES)
    return list(table.values())


def _set_wal(conn: sqlite3.Connection, path: Path, timeout: float) -> None:
    # Switching the journal mode can report SQLITE_BUSY without consulting the busy
    # handler while another process opens the file; retry until the timeout.
    deadline = time.monotonic() + timeout
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            break
        except sqlite3.OperationalError as e:
            if ("locked" not in str(e) and "busy" not in str(e)) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    if str(mode).lower() != "wal":
        raise ConfigError("store", str(path), "a file system that supports WAL")


def _migrate_v1(c: sqlite3.Connection) -> None:
    """Version 1 -> 2 inside the caller's write transaction: the new columns, and the
    checksums of every finished run, computed from its rows as found now."""
    have = {r[1] for r in c.execute("PRAGMA table_info(runs)")}
    for col, kind in integrity.V2_COLUMNS:
        if col not in have:
            c.execute(f"ALTER TABLE runs ADD COLUMN {col} {kind}")
    _seal(c, None)
    c.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (SCHEMA_VERSION,))


def _seal(c: sqlite3.Connection, ids: Sequence[int] | None) -> int:
    """Write the checksums of the finished runs among ``ids`` (all: None) as their rows stand
    now, inside the caller's write transaction. Returns how many."""
    ids = None if ids is None else sorted(ids)
    runs = [r for r in integrity.result_rows(c, ids) if r[1] in TERMINAL]
    keep = None if ids is None else [int(r[0]) for r in runs]
    found = integrity.compute(
        runs, integrity.loss_digests(c, keep), integrity.record_digests(c, keep)
    )
    c.executemany(
        "UPDATE runs SET checksum = ?, checksum_parts = ? WHERE id = ?",
        [(d.checksum(), d.parts_text(), i) for i, d in found.items()],
    )
    return len(found)


class Store:
    """One connection to a results database.

    ``mode="write"`` creates the file (and its folder) if missing and migrates a version-1
    store in place; ``mode="read"`` opens an existing store read-only and never writes to it.
    Either way the file is checked first (:func:`overparam.store.integrity.inspect_file`), so a
    file that is not a sound results database of a schema this overparam reads is a
    :class:`StoreError` naming it, before a byte is written. Use one :class:`Store` per thread.
    Every method that writes does so in its own transaction; a store that refuses a write
    (read-only, full, locked past the timeout) raises :class:`StoreError` with SQLite's reason.

    Args:
        path: the SQLite file (default ``./overparam-results/results.sqlite``).
        timeout: seconds to wait for another writer's lock before raising.
        durable: ``synchronous=FULL`` (survives power loss) instead of ``NORMAL`` (survives a
            killed process, the failure the sweep is built for, without an fsync per run).
        mode: "write" or "read".
        check: check the file first; False only for a further connection to a store this
            process has opened already (the heartbeat thread's).
    """

    def __init__(
        self,
        path: str | Path = DEFAULT_PATH,
        *,
        timeout: float = 60.0,
        durable: bool = False,
        mode: Literal["read", "write"] = "write",
        check: bool = True,
    ) -> None:
        if mode not in ("read", "write"):
            raise ConfigError("mode", mode, "read, write")
        self.path = Path(path)
        self.mode = mode
        self.timeout = timeout
        current = int(SCHEMA_VERSION)
        found = integrity.inspect_file(self.path, must_exist=mode == "read") if check else current
        if mode == "read" and found is None:
            raise StoreError(self.path, "an overparam results database (the file is empty)")
        #: The schema version of the open store (a read-only version-1 store stays 1).
        self.schema_version = current if mode == "write" else int(found or current)
        self._conn = self._connect(durable) if mode == "write" else self._connect_read()
        if mode == "write" and found != current:
            self._initialize()

    @classmethod
    def open(
        cls, path: str | Path = DEFAULT_PATH, mode: Literal["read", "write"] = "read", **kw: Any
    ) -> Store:
        """A checked :class:`Store` at ``path`` for reading (default) or writing."""
        return cls(path, mode=mode, **kw)

    def _connect(self, durable: bool) -> sqlite3.Connection:
        conn = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                str(self.path), timeout=self.timeout, isolation_level=None, check_same_thread=False
            )
            conn.row_factory = sqlite3.Row
            _set_wal(conn, self.path, self.timeout)
            conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
            conn.execute("PRAGMA foreign_keys = ON")
        except (OSError, sqlite3.Error) as e:
            if conn is not None:
                conn.close()
            why = str(e)
            if isinstance(e, OSError) and e.strerror:
                why = e.strerror + (f": {e.filename}" if e.filename else "")
            raise StoreError(self.path, f"a writable location ({why})") from e
        except BaseException:
            if conn is not None:
                conn.close()
            raise
        return conn

    def _connect_read(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                integrity.uri(self.path, "ro"),
                uri=True,
                timeout=self.timeout,
                isolation_level=None,
                check_same_thread=False,
            )
            conn.execute("PRAGMA query_only = 1")
        except sqlite3.Error as e:
            raise StoreError(self.path, f"a readable file ({e})") from e
        conn.row_factory = sqlite3.Row
        return conn

    def _initialize(self) -> None:
        """Create the schema of a new store, or migrate a version-1 store (one transaction;
        the version is read again under the write lock, so concurrent writers agree)."""
        with self._write() as c:
            has_meta = c.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
            ).fetchone()
            row = (
                c.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
                if has_meta
                else None
            )
            if row is not None and str(row[0]) == SCHEMA_VERSION:
                return
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    c.execute(stmt)
            if row is None:
                c.execute("INSERT INTO meta (key, value) VALUES ('schema', ?)", (SCHEMA_VERSION,))
                return
            _migrate_v1(c)

    # -- plumbing -------------------------------------------------------------------------
    def _fault(self, e: sqlite3.Error) -> Exception:
        """The :class:`StoreError` for a store that refused an operation (others unchanged)."""
        msg = str(e)
        if isinstance(e, sqlite3.OperationalError):
            if "locked" in msg or "busy" in msg:
                return StoreError(
                    self.path,
                    f"a store no other process keeps locked for {self.timeout:g} s ({msg})",
                )
            return StoreError(self.path, f"a writable location ({msg})")
        if type(e) is sqlite3.DatabaseError:  # malformed, not a database, ...
            return StoreError(self.path, f"an overparam results database ({msg})")
        return e

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; ``BEGIN IMMEDIATE`` takes the lock up front (busy timeout).

        On any error the transaction is rolled back if SQLite has not done so already (it does
        by itself for SQLITE_FULL, SQLITE_IOERR, ...), and a store fault is raised as a
        :class:`StoreError` carrying SQLite's reason."""
        c = self._conn
        try:
            c.execute("BEGIN IMMEDIATE")
            try:
                yield c
                c.execute("COMMIT")
            except BaseException:
                if c.in_transaction:
                    with suppress(sqlite3.Error):
                        c.execute("ROLLBACK")
                raise
        except sqlite3.Error as e:
            fault = self._fault(e)
            if fault is e:
                raise
            raise fault from e

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """One read transaction (a consistent snapshot); store faults as :class:`StoreError`."""
        c = self._conn
        own = not c.in_transaction
        try:
            if own:
                c.execute("BEGIN")
            try:
                yield c
            finally:
                if own and c.in_transaction:
                    with suppress(sqlite3.Error):
                        c.execute("COMMIT")
        except sqlite3.Error as e:
            fault = self._fault(e)
            if fault is e:
                raise
            raise fault from e

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Run a read-only SQL query (for tests and tools)."""
        return self._conn.execute(sql, params).fetchall()

    def integrity_check(self) -> str:
        """``PRAGMA integrity_check``: "ok" for a sound database."""
        return str(self._conn.execute("PRAGMA integrity_check").fetchone()[0])

    # -- experiments and queueing ---------------------------------------------------------
    def experiment(self, name: str, spec: Mapping[str, Any], *, kind: str = "sweep") -> int:
        """The id of experiment ``name`` (created, or its spec updated to ``spec``)."""
        now = time.time()
        text = json.dumps(spec, sort_keys=True, default=str)
        with self._write() as c:
            c.execute(
                "INSERT INTO experiments (name, kind, spec, created, updated) VALUES (?,?,?,?,?)"
                " ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, kind = excluded.kind,"
                " updated = excluded.updated",
                (name, kind, text, now, now),
            )
            row = c.execute("SELECT id FROM experiments WHERE name = ?", (name,)).fetchone()
        return int(row[0])

    def enqueue(
        self, experiment_id: int, configs: Iterable[RunConfig], *, retry_failed: bool = False
    ) -> dict[str, int]:
        """Add each config as a queued run unless its hash is already stored, and link it to
        the experiment. Returns {config_hash: run_id} in the order given.

        With ``retry_failed``, runs stored as failed are queued again (their error cleared).
        Done and diverged runs are never re-run: a config's result is deterministic.
        """
        now = time.time()
        rows: dict[str, tuple[Any, ...]] = {}
        for cfg in configs:
            h = cfg.config_hash()
            if h not in rows:
                rows[h] = (h, config_json(cfg), cfg.seed, json.dumps(cfg.seeds()), now)
        hashes = list(rows)
        ids: dict[str, int] = {}
        with self._write() as c:
            c.executemany(
                "INSERT OR IGNORE INTO runs (config_hash, config, status, seed, seeds, created)"
                " VALUES (?, ?, 'queued', ?, ?, ?)",
                rows.values(),
            )
            for part in _chunks(hashes):
                marks = ",".join("?" * len(part))
                for r in c.execute(
                    f"SELECT id, config_hash FROM runs WHERE config_hash IN ({marks})", part
                ):
                    ids[r[1]] = int(r[0])
            c.executemany(
                "INSERT OR IGNORE INTO experiment_runs (experiment_id, run_id) VALUES (?, ?)",
                [(experiment_id, ids[h]) for h in hashes],
            )
            if retry_failed:
                for part in _chunks([ids[h] for h in hashes]):
                    marks = ",".join("?" * len(part))
                    c.execute(
                        "UPDATE runs SET status = 'queued', error = NULL, owner = NULL,"
                        " checksum = NULL, checksum_parts = NULL"
                        f" WHERE status = 'failed' AND id IN ({marks})",
                        part,
                    )
        return {h: ids[h] for h in hashes}

    def requeue_stale(self, stale_after: float) -> int:
        """Queue again the running claims whose heartbeat is older than ``stale_after`` s, or
        whose owner process on this host has exited. Returns how many were re-queued."""
        now, host = time.time(), socket.gethostname()
        with self._write() as c:
            rows = c.execute(
                "SELECT id, owner_host, owner_pid, heartbeat FROM runs WHERE status = 'running'"
            ).fetchall()
            stale = [
                int(r["id"])
                for r in rows
                if (r["heartbeat"] is None or r["heartbeat"] < now - stale_after)
                or (
                    r["owner_host"] == host
                    and r["owner_pid"] is not None
                    and not _pid_alive(int(r["owner_pid"]))
                )
            ]
            for part in _chunks(stale):
                marks = ",".join("?" * len(part))
                c.execute(
                    "UPDATE runs SET status = 'queued', owner = NULL"
                    f" WHERE status = 'running' AND id IN ({marks})",
                    part,
                )
        return len(stale)

    def claim(self, owner: Owner, run_ids: Sequence[int], limit: int) -> list[Claim]:
        """Atomically move up to ``limit`` queued runs among ``run_ids`` (lowest id first) to
        running under ``owner``. Another process can never claim the same run."""
        if limit <= 0:
            return []
        now = time.time()
        out: list[Claim] = []
        with self._write() as c:
            for part in _chunks(sorted(run_ids)):
                marks = ",".join("?" * len(part))
                rows = c.execute(
                    f"SELECT id, config_hash, config FROM runs WHERE status = 'queued'"
                    f" AND id IN ({marks}) ORDER BY id LIMIT ?",
                    (*part, limit - len(out)),
                ).fetchall()
                if rows:
                    got = [int(r["id"]) for r in rows]
                    marks2 = ",".join("?" * len(got))
                    c.execute(
                        "UPDATE runs SET status = 'running', owner = ?, owner_host = ?,"
                        " owner_pid = ?, attempts = attempts + 1, started = ?, heartbeat = ?"
                        f" WHERE status = 'queued' AND id IN ({marks2})",
                        (owner.token, owner.host, owner.pid, now, now, *got),
                    )
                    out.extend(
                        Claim(int(r["id"]), r["config_hash"], build_config(json.loads(r["config"])))
                        for r in rows
                    )
                if len(out) >= limit:
                    break
        return out

    def heartbeat(self, owner: Owner) -> None:
        """Mark every run ``owner`` holds as alive now."""
        self._conn.execute(
            "UPDATE runs SET heartbeat = ? WHERE owner = ? AND status = 'running'",
            (time.time(), owner.token),
        )

    def release(self, owner: Owner) -> int:
        """Queue again every run ``owner`` still holds (on a stop, orderly or after a fault).

        Best effort, so that it can run while another error propagates: if this connection's
        write is refused it tries a fresh connection, and if the store refuses that too (it is
        read-only, or full) it returns 0. The claims then stay running until the next writer
        re-queues them: at once when the owner process has exited (same host), otherwise once
        their heartbeat is stale.
        """
        sql = (
            "UPDATE runs SET status = 'queued', owner = NULL WHERE owner = ? AND status = 'running'"
        )
        try:
            with self._write() as c:
                return c.execute(sql, (owner.token,)).rowcount
        except StoreError:
            if self.mode == "read":
                return 0
        try:
            other = Store(self.path, timeout=min(self.timeout, 5.0), check=False)
        except StoreError:
            return 0
        try:
            with other._write() as c:
                return c.execute(sql, (owner.token,)).rowcount
        except StoreError:
            return 0
        finally:
            other.close()

    def finish(self, owner: Owner, run_id: int, result: RunResult) -> bool:
        """Store a finished run in one transaction: its row, every loss and probe record, and
        the checksum of those rows as stored.

        Returns False (and writes nothing) if ``owner`` no longer holds the claim, e.g. because
        a stale claim was re-queued and another process took it.
        """
        if result.status not in TERMINAL:
            raise ConfigError("status", result.status, ", ".join(TERMINAL))
        with self._write() as c:
            return self._store_result(c, owner, run_id, result)

    def save_finished(
        self, experiment_id: int, config: Mapping[str, Any], result: RunResult
    ) -> tuple[int, bool]:
        """Store a run computed outside the queue (a user's own model, measured by
        :func:`overparam.measure` or :func:`overparam.track`) in one transaction: its row with
        ``config`` as JSON, every loss and record, the checksum, and the link to the
        experiment. A config already stored finished is kept as it is (same config, same
        result). Returns (run_id, whether it was written now)."""
        if result.status not in TERMINAL:
            raise ConfigError("status", result.status, ", ".join(TERMINAL))
        text = json.dumps(dict(config), sort_keys=True, default=str)
        h = "external:" + hashlib.sha256(text.encode()).hexdigest()
        owner = Owner()
        now = time.time()
        with self._write() as c:
            row = c.execute("SELECT id, status FROM runs WHERE config_hash = ?", (h,)).fetchone()
            if row is not None and row["status"] in TERMINAL:
                run_id, written = int(row["id"]), False
            else:
                if row is None:
                    c.execute(
                        "INSERT INTO runs (config_hash, config, status, seed, seeds, created)"
                        " VALUES (?, ?, 'queued', ?, NULL, ?)",
                        (h, text, config.get("seed"), now),
                    )
                    row = c.execute("SELECT id FROM runs WHERE config_hash = ?", (h,)).fetchone()
                run_id = int(row["id"])
                c.execute(
                    "UPDATE runs SET status = 'running', owner = ?, owner_host = ?,"
                    " owner_pid = ?, started = ?, heartbeat = ? WHERE id = ?",
                    (owner.token, owner.host, owner.pid, now, now, run_id),
                )
                written = self._store_result(c, owner, run_id, result)
            c.execute(
                "INSERT OR IGNORE INTO experiment_runs (experiment_id, run_id) VALUES (?, ?)",
                (experiment_id, run_id),
            )
        return run_id, written

    def _store_result(
        self, c: sqlite3.Connection, owner: Owner, run_id: int, result: RunResult
    ) -> bool:
        """Inside a write transaction: the finished run's row, losses, records and checksum,
        if ``owner`` holds the claim (else nothing, and False)."""
        losses = result.losses
        now = time.time()
        v = result.versions
        cur = c.execute(
            _FINISH,
            (
                result.status,
                result.train_status,
                result.error,
                _num(result.lr),
                result.steps if losses else None,
                _num(losses[0]) if losses else None,
                _num(losses[-1]) if losses else None,
                _num(result.train_accuracy),
                _num(result.test_accuracy),
                float(result.wall_s),
                result.executor,
                result.host,
                result.pid,
                result.threads,
                result.device,
                v.get("package"),
                v.get("torch"),
                v.get("python"),
                v.get("git"),
                now,
                now,
                run_id,
                owner.token,
            ),
        )
        if cur.rowcount != 1:
            return False
        c.execute("DELETE FROM losses WHERE run_id = ?", (run_id,))
        c.execute("DELETE FROM records WHERE run_id = ?", (run_id,))
        loss_rows = [  # as SQLite stores them: NaN -> NULL, -0.0 -> 0.0
            (run_id, t, None if (f := float(x)) != f else f + 0.0) for t, x in enumerate(losses)
        ]
        c.executemany("INSERT INTO losses (run_id, step, loss) VALUES (?, ?, ?)", loss_rows)
        record_rows = [record_row(run_id, i, r) for i, r in enumerate(result.records)]
        c.executemany(
            "INSERT INTO records (run_id, idx, step, probe, layer, value, bound, extra)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            record_rows,
        )
        d = integrity.Digests(  # the run row as read back; the rows as SQLite stores them
            integrity.digest(integrity.result_rows(c, [run_id])[0][4:]),
            integrity.table_digest(loss_rows, integrity.LOSS_KINDS),
            integrity.table_digest(
                integrity.records_as_stored(record_rows), integrity.RECORD_KINDS
            ),
        )
        c.execute(
            "UPDATE runs SET checksum = ?, checksum_parts = ? WHERE id = ?",
            (d.checksum(), d.parts_text(), run_id),
        )
        return True

    # -- reading --------------------------------------------------------------------------
    def states(self, run_ids: Sequence[int], *, verify: bool = True) -> dict[int, sqlite3.Row]:
        """{run_id: row (id, config_hash, status, train_status, error, final_loss, steps_run)}.

        With ``verify`` (the default: these rows decide a critical width) the finished runs
        among them are checked against their checksums first.

        Raises:
            ChecksumError: a finished run's stored rows differ from its checksum.
        """
        out: dict[int, sqlite3.Row] = {}
        with self._read() as c:
            for part in _chunks(list(run_ids)):
                marks = ",".join("?" * len(part))
                for r in c.execute(
                    "SELECT id, config_hash, status, train_status, error, final_loss, steps_run"
                    f" FROM runs WHERE id IN ({marks})",
                    part,
                ):
                    out[int(r["id"])] = r
            finished = [i for i, r in out.items() if r["status"] in TERMINAL]
            if verify and finished and self.schema_version >= 2:
                _, bad = integrity.check(c, finished)
                if bad:
                    raise ChecksumError(self.path, bad)
        return out

    def seal(self, run_ids: Sequence[int] | None = None) -> int:
        """Accept the stored rows of the finished runs among ``run_ids`` (all: None) as they
        are now: recompute and write their checksums (one transaction). Only for rows changed
        on purpose, such as a test that edits outcomes with SQL; returns how many."""
        with self._write() as c:
            return _seal(c, run_ids)

    def verify(self) -> tuple[int, list[integrity.Damage]]:
        """(finished runs checked, those whose rows differ from their checksum), in one
        snapshot. A version-1 store opened read-only has no checksums: (0, [])."""
        if self.schema_version < 2:
            return 0, []
        with self._read() as c:
            return integrity.check(c)

    def counts(self) -> list[dict[str, Any]]:
        """Per experiment: name, kind and the number of runs in each status (+ total)."""
        with self._read() as c:
            return count_by_status(c)

    # -- critical width -------------------------------------------------------------------
    def save_critical(
        self,
        experiment_id: int,
        point: Mapping[str, Any],
        base_config: RunConfig,
        result: Mapping[str, Any],
    ) -> None:
        """Store (or replace) the critical-width result of one grid point."""
        text = json.dumps(dict(point), sort_keys=True, default=str)
        with self._write() as c:
            c.execute(
                "INSERT OR REPLACE INTO critical (experiment_id, point_hash, point, base_config,"
                " width, success_rate, found, result, updated) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    experiment_id,
                    base_config.config_hash(),
                    text,
                    config_json(base_config),
                    result.get("width"),
                    _num(result.get("success_rate")),
                    int(bool(result.get("found"))),
                    json.dumps(result, sort_keys=True, default=str),
                    time.time(),
                ),
            )
