"""Measurements: tidy rows a study computes without training (kernels, bounds), stored beside
the runs so a report can be regenerated from the database alone.

One table ``measurements (experiment_id, idx, row JSON)``, created on the first save; an
experiment's rows are written in one transaction, replacing any previous ones, so they are never
half-written. :func:`load` only reads (a read-only connection), so a report never writes to the
store it reads.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import suppress
from pathlib import Path

import pandas as pd

from overparam.store.integrity import StoreError, uri

_SCHEMA = """
CREATE TABLE IF NOT EXISTS measurements (
    experiment_id INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    row TEXT NOT NULL,
    PRIMARY KEY (experiment_id, idx)
) WITHOUT ROWID
"""


def _connect(path: str | Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=60.0, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 60000")
    conn.execute(_SCHEMA)
    return conn


def _clean(value):
    if isinstance(value, float) and value != value:
        return None
    if hasattr(value, "item"):
        return value.item()
    return value


def save(path: str | Path, experiment_id: int, rows: pd.DataFrame) -> int:
    """Replace experiment ``experiment_id``'s measurements with ``rows`` (one transaction).

    Raises:
        StoreError: the store refused the write (read-only, full), with SQLite's reason.
    """
    records = [{k: _clean(v) for k, v in r.items()} for r in rows.to_dict(orient="records")]
    conn = None
    try:
        conn = _connect(path)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("DELETE FROM measurements WHERE experiment_id = ?", (experiment_id,))
        conn.executemany(
            "INSERT INTO measurements (experiment_id, idx, row) VALUES (?, ?, ?)",
            [(experiment_id, i, json.dumps(r, default=str)) for i, r in enumerate(records)],
        )
        conn.execute("COMMIT")
    except sqlite3.Error as e:
        raise StoreError(path, f"a writable location ({e})") from e
    finally:
        if conn is not None:
            if conn.in_transaction:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            conn.close()
    return len(records)


def load(path: str | Path, experiment_id: int) -> pd.DataFrame | None:
    """The stored rows of an experiment, or None if it has none stored yet (read-only)."""
    try:
        conn = sqlite3.connect(uri(Path(path), "ro"), uri=True, timeout=60.0)
    except sqlite3.Error as e:
        raise StoreError(path, f"a readable file ({e})") from e
    try:
        table = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'measurements'"
        ).fetchone()
        rows = (
            conn.execute(
                "SELECT row FROM measurements WHERE experiment_id = ? ORDER BY idx",
                (experiment_id,),
            ).fetchall()
            if table
            else []
        )
    except sqlite3.Error as e:
        raise StoreError(path, f"an overparam results database ({e})") from e
    finally:
        conn.close()
    if not rows:
        return None
    return pd.DataFrame.from_records([json.loads(r[0]) for r in rows])
