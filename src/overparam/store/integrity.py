"""What makes a file a readable results database, and the checksums of its stored runs.

:func:`inspect_file` decides, before anything opens the file for writing, whether a path is a
results database overparam can use: not a SQLite file, a truncated one, one with damaged pages,
another program's schema or a newer schema version are each a :class:`StoreError` naming the
file and the problem. The check reads the file without writing a byte: the header in Python,
the rest through a SQLite connection opened ``immutable`` (no lock, no ``-wal`` / ``-shm``
files) when no ``-wal`` file lies beside the database, or read-only when one does.

Checksums: every finished run carries SHA-256 digests of three parts of its stored rows,

===========  ================================================================================
``result``   the run row's :data:`RESULT_COLUMNS` (config, status, error, lr, losses at start /
             end, accuracies, provenance)
``losses``   every ``losses`` row (run_id, step, loss), by step
``records``  every ``records`` row (run_id, idx, step, probe, layer, value, bound, extra), by idx
===========  ================================================================================

Each digest is of the values as SQLite stores them (NaN is NULL, -0.0 is 0.0), in a canonical
encoding that is exact for every float and explicit about NULL:

- ``result``: SHA-256 of the row as compact ASCII JSON (floats as their round-trip ``repr``,
  NULL as ``null``).
- ``losses`` / ``records``: SHA-256 of the row count (uint64) followed, column by column, by a
  one-letter kind, the number of NULLs (uint32) and, if any, one byte per row (1: NULL), then
  the values: integer columns as int64, REAL columns as IEEE-754 float64 (NULL written as 0),
  both little-endian, and text columns as one compact ASCII JSON array. (Binary, so that
  hashing the thousands of losses of a run costs microseconds, not a float repr each.)

``runs.checksum_parts`` holds the three hex digests ("result:losses:records") and
``runs.checksum`` the SHA-256 of that text. A row whose stored types do not fit the encoding
(say, text in a REAL column) gets a digest of its JSON instead, which never matches.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sqlite3
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote

from overparam.errors import ConfigError

SCHEMA_VERSION = "2"
#: Tables every results database has (``measurements`` is created on first use).
TABLES = ("meta", "experiments", "runs", "experiment_runs", "losses", "records", "critical")
#: Columns of ``runs`` a version-1 store has; version 2 adds :data:`V2_COLUMNS`.
V1_COLUMNS = (
    "id",
    "config_hash",
    "config",
    "status",
    "train_status",
    "error",
    "lr_used",
    "steps_run",
    "initial_loss",
    "final_loss",
    "train_accuracy",
    "test_accuracy",
    "executor",
    "torch_version",
    "owner",
    "owner_pid",
    "heartbeat",
)
V2_COLUMNS: tuple[tuple[str, str], ...] = (
    ("threads", "INTEGER"),
    ("device", "TEXT"),
    ("checksum", "TEXT"),
)
V2_COLUMNS += (("checksum_parts", "TEXT"),)
#: The run-row columns the ``result`` digest covers, in order.
RESULT_COLUMNS = (
    "config_hash",
    "config",
    "status",
    "train_status",
    "error",
    "lr_used",
    "steps_run",
    "initial_loss",
    "final_loss",
    "train_accuracy",
    "test_accuracy",
    "executor",
    "threads",
    "device",
    "torch_version",
)
LOSS_COLUMNS = ("run_id", "step", "loss")
RECORD_COLUMNS = ("run_id", "idx", "step", "probe", "layer", "value", "bound", "extra")
#: Column kinds for the binary encoding: i integer, I nullable integer, r nullable REAL,
#: t nullable text.
LOSS_KINDS = "iir"
RECORD_KINDS = "iiIttrrt"
PARTS = ("result", "losses", "records")
_TERMINAL = ("done", "diverged", "failed")
_MAGIC = b"SQLite format 3\x00"
_CHUNK = 500


class StoreError(ConfigError):
    """A results database that cannot be used: ``store: got '<path>'; allowed: <what>``."""

    def __init__(self, path: str | Path, allowed: str) -> None:
        super().__init__("store", str(path), allowed)
        self.path = Path(path)


class ChecksumError(StoreError):
    """Stored runs whose rows no longer match their checksums."""

    def __init__(self, path: str | Path, damaged: Sequence[Damage]) -> None:
        first = damaged[0]
        more = f" and {len(damaged) - 1} more" if len(damaged) > 1 else ""
        super().__init__(
            path,
            f"runs whose stored rows match their checksums (damaged: {first.describe()}{more};"
            " `overparam store verify` lists every damaged run)",
        )
        self.damaged = tuple(damaged)


@dataclass(frozen=True)
class Damage:
    """A stored run whose rows differ from its checksum: which parts differ ("result",
    "losses", "records"), or ("checksum",) if the checksum itself is missing or altered."""

    run_id: int
    config_hash: str
    parts: tuple[str, ...]

    def describe(self) -> str:
        return f"run {self.run_id} (config {self.config_hash}): {', '.join(self.parts)}"

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "config_hash": self.config_hash, "parts": list(self.parts)}


class Digests(NamedTuple):
    """The SHA-256 hex digests of a run's three parts."""

    result: str
    losses: str
    records: str

    def parts_text(self) -> str:
        return ":".join(self)

    def checksum(self) -> str:
        return _sha(self.parts_text())


# -- the file ------------------------------------------------------------------------------


def _not_db(path: Path, why: str) -> StoreError:
    return StoreError(path, f"an overparam results database ({why})")


def _header_problem(path: Path, wal: bool) -> str | None:
    """Why the first 100 bytes say this is not a sound SQLite file, or None."""
    size = path.stat().st_size
    if size == 0:
        return None
    with path.open("rb") as f:
        head = f.read(100)
    if len(head) < 100 or not head.startswith(_MAGIC):
        return "file is not a database"
    page = int.from_bytes(head[16:18], "big")
    page = 65536 if page == 1 else page
    if page < 512 or page & (page - 1):
        return "file is not a database"
    if wal:  # pages may live in the -wal file; SQLite checks the rest
        return None
    pages = int.from_bytes(head[28:32], "big")
    counter, valid_for = head[24:28], head[92:96]
    if size % page or (counter == valid_for and pages and size < pages * page):
        want = f" of {pages * page}" if counter == valid_for and pages else ""
        return f"truncated database: {size}{want} bytes"
    return None


def uri(path: Path, mode: str) -> str:
    """A ``file:`` URI for ``path`` with ``mode`` ("ro", "immutable")."""
    query = "immutable=1" if mode == "immutable" else f"mode={mode}"
    return f"file:{quote(str(path.resolve()))}?{query}"


def inspect_file(path: str | Path, *, must_exist: bool, quick_check: bool = True) -> int | None:
    """The schema version of the results database at ``path``; None for a path that does not
    exist yet (only with ``must_exist=False``) or an empty database. Writes nothing.

    Raises:
        StoreError: a missing file (``must_exist``), a folder, an unreadable file, not a SQLite
            database, a truncated or damaged one (``PRAGMA quick_check``), another schema, or
            a schema version newer than :data:`SCHEMA_VERSION`.
    """
    p = Path(path)
    if not p.exists():
        if must_exist:
            raise StoreError(p, "an existing results database (run `overparam sweep run` first)")
        return None
    if p.is_dir():
        raise StoreError(p, "a results database file (this is a folder)")
    wal = Path(f"{p}-wal").exists()
    try:
        problem = _header_problem(p, wal)
    except OSError as e:
        raise StoreError(p, f"a readable file ({e.strerror or e})") from None
    if problem:
        raise _not_db(p, problem)
    try:
        conn = sqlite3.connect(uri(p, "ro" if wal else "immutable"), uri=True, timeout=60.0)
    except sqlite3.Error as e:
        raise StoreError(p, f"a readable file ({e})") from None
    try:
        return _inspect_schema(conn, p, quick_check)
    except sqlite3.DatabaseError as e:
        raise _not_db(p, str(e)) from None
    finally:
        conn.close()


def connect_read(path: str | Path) -> tuple[sqlite3.Connection, int]:
    """A read-only connection to the results database at ``path`` once :func:`inspect_file`
    has passed it (it must exist and not be empty), and its schema version.

    Raises:
        StoreError: as :func:`inspect_file`, and for an empty file.
    """
    p = Path(path)
    version = inspect_file(p, must_exist=True)
    if version is None:
        raise StoreError(p, "an overparam results database (the file is empty)")
    try:
        return sqlite3.connect(uri(p, "ro"), uri=True, timeout=60.0), version
    except sqlite3.Error as e:
        raise StoreError(p, f"a readable file ({e})") from e


def _inspect_schema(conn: sqlite3.Connection, p: Path, quick_check: bool) -> int | None:
    objects = conn.execute("SELECT type, name FROM sqlite_master").fetchall()
    if not objects:
        return None
    tables = {name for kind, name in objects if kind == "table"}
    missing = [t for t in TABLES if t not in tables]
    if missing:
        found = ", ".join(sorted(tables)[:6]) or "none"
        raise _not_db(p, f"no table {', '.join(missing)}; tables found: {found}")
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    if row is None:
        raise _not_db(p, "no schema version in table meta")
    try:
        version = int(row[0])
    except (TypeError, ValueError):
        raise _not_db(p, f"schema version {row[0]!r} is not one overparam writes") from None
    if version > int(SCHEMA_VERSION) or version < 1:
        raise _not_db(
            p,
            f"schema version {version}; this overparam reads versions 1 to {SCHEMA_VERSION}:"
            " upgrade overparam",
        )
    have = {r[1] for r in conn.execute("PRAGMA table_info(runs)")}
    need = list(V1_COLUMNS) + ([c for c, _ in V2_COLUMNS] if version >= 2 else [])
    lacking = [c for c in need if c not in have]
    if lacking:
        raise _not_db(p, f"table runs lacks column {', '.join(lacking)}")
    if quick_check:
        verdict = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
        if verdict != "ok":
            text = " ".join(str(verdict).replace("*** in database main ***", "").split())
            raise _not_db(p, f"damaged: {text}")  # one line
    return version


# -- checksums -----------------------------------------------------------------------------


def _blob(v: Any) -> str:
    if isinstance(v, bytes):
        return "blob:" + v.hex()
    raise TypeError(type(v).__name__)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def digest(rows: Sequence[Sequence[Any]]) -> str:
    """SHA-256 hex of rows as compact ASCII JSON (floats as round-trip repr, NULL as null)."""
    return _sha(json.dumps(list(rows), separators=(",", ":"), default=_blob))


def _column(kind: str, col: tuple) -> bytes:
    if kind == "t":
        return b"t" + json.dumps(col, separators=(",", ":"), default=_blob).encode("ascii")
    nulls = col.count(None)
    mask = bytes(x is None for x in col) if nulls else b""
    values = [0 if x is None else x for x in col] if nulls else col
    fmt = "q" if kind in "iI" else "d"
    return (
        kind.encode() + struct.pack("<I", nulls) + mask + struct.pack(f"<{len(col)}{fmt}", *values)
    )


def table_digest(rows: Sequence[Sequence[Any]], kinds: str) -> str:
    """SHA-256 hex of ``rows`` in the binary column encoding of the module docstring."""
    try:
        cols = list(zip(*rows, strict=True)) if rows else [()] * len(kinds)
        body = struct.pack("<Q", len(rows)) + b"".join(
            _column(k, c) for k, c in zip(kinds, cols, strict=True)
        )
    except (struct.error, TypeError, ValueError, OverflowError):  # types no writer stores
        body = b"mistyped:" + json.dumps(list(rows), default=_blob).encode("ascii")
    return hashlib.sha256(body).hexdigest()


EMPTY_LOSSES = table_digest([], LOSS_KINDS)
EMPTY_RECORDS = table_digest([], RECORD_KINDS)


def as_stored(x: float | None) -> float | None:
    """A REAL value as SQLite gives it back: NaN is NULL, -0.0 is 0.0, the rest exact."""
    if x is None or x != x:
        return None
    return x + 0.0


def records_as_stored(rows: Sequence[Sequence[Any]]) -> list[tuple]:
    """``records`` rows (:data:`RECORD_COLUMNS`) with their REAL columns as SQLite stores them."""
    return [(*r[:5], as_stored(r[5]), as_stored(r[6]), r[7]) for r in rows]


def grouped(rows: Iterable[Sequence[Any]], kinds: str) -> dict[int, str]:
    """{run_id: digest of its rows} for rows sorted by run_id (their first column)."""
    return {
        int(k): table_digest(list(g), kinds) for k, g in itertools.groupby(rows, key=itemgetter(0))
    }


def _in_chunks(
    conn: sqlite3.Connection, sql: str, ids: Sequence[int] | None, order: str
) -> Iterable[tuple]:
    cur = conn.cursor()
    cur.row_factory = None  # plain tuples, whatever the connection's row factory
    if ids is None:
        yield from cur.execute(f"{sql} ORDER BY {order}")
        return
    col = "id" if order.startswith("id") else "run_id"
    for lo in range(0, len(ids), _CHUNK):
        part = ids[lo : lo + _CHUNK]
        marks = ",".join("?" * len(part))
        yield from cur.execute(f"{sql} WHERE {col} IN ({marks}) ORDER BY {order}", part)


def result_rows(conn: sqlite3.Connection, ids: Sequence[int] | None) -> list[tuple]:
    """(id, status, checksum, checksum_parts, *RESULT_COLUMNS) of the runs ``ids`` (all: None)."""
    cols = ", ".join(RESULT_COLUMNS)
    sql = f"SELECT id, status, checksum, checksum_parts, {cols} FROM runs"
    return list(_in_chunks(conn, sql, ids, "id"))


def loss_digests(conn: sqlite3.Connection, ids: Sequence[int] | None) -> dict[int, str]:
    sql = f"SELECT {', '.join(LOSS_COLUMNS)} FROM losses"
    return grouped(_in_chunks(conn, sql, ids, "run_id, step"), LOSS_KINDS)


def record_digests(conn: sqlite3.Connection, ids: Sequence[int] | None) -> dict[int, str]:
    sql = f"SELECT {', '.join(RECORD_COLUMNS)} FROM records"
    return grouped(_in_chunks(conn, sql, ids, "run_id, idx"), RECORD_KINDS)


def compute(
    runs: Sequence[tuple], losses: dict[int, str], records: dict[int, str]
) -> dict[int, Digests]:
    """{run_id: Digests} of :func:`result_rows` rows, given the per-run loss / record digests."""
    return {
        int(r[0]): Digests(
            digest(r[4:]),
            losses.get(int(r[0]), EMPTY_LOSSES),
            records.get(int(r[0]), EMPTY_RECORDS),
        )
        for r in runs
    }


def damaged(runs: Sequence[tuple], losses: dict[int, str], records: dict[int, str]) -> list[Damage]:
    """The finished runs among :func:`result_rows` rows whose rows differ from their checksum."""
    out = []
    finished = [r for r in runs if r[1] in _TERMINAL]
    for r, d in zip(finished, compute(finished, losses, records).values(), strict=True):
        stored_sum, stored_parts = r[2], r[3]
        parts = str(stored_parts).split(":") if stored_parts else []
        if stored_sum is None or len(parts) != 3 or _sha(str(stored_parts)) != stored_sum:
            out.append(Damage(int(r[0]), str(r[4]), ("checksum",)))
            continue
        bad = tuple(name for name, want, got in zip(PARTS, parts, d, strict=True) if want != got)
        if bad:
            out.append(Damage(int(r[0]), str(r[4]), bad))
    return out


def check(conn: sqlite3.Connection, ids: Sequence[int] | None = None) -> tuple[int, list[Damage]]:
    """(finished runs checked, damaged ones) among ``ids`` (every run: None)."""
    ids = None if ids is None else sorted(ids)
    runs = result_rows(conn, ids)
    finished = [r for r in runs if r[1] in _TERMINAL]
    if not finished:
        return 0, []
    keep = [int(r[0]) for r in finished] if ids is not None else None
    bad = damaged(finished, loss_digests(conn, keep), record_digests(conn, keep))
    return len(finished), bad
