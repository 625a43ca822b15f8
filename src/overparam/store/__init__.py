"""overparam.store: the SQLite results database every sweep writes (WAL, resumable).

:class:`Store` is the writer's connection (queue, claim, heartbeat, finish); :func:`load` reads a
database into pandas DataFrames and :func:`export` writes them as CSV or Parquet. A file that
is not a sound results database is a :class:`StoreError` before anything is written to it, and
every finished run is checksummed (:mod:`overparam.store.integrity`): a run whose rows changed
is a :class:`ChecksumError` when read for analysis.

Names are imported on first use, so that reading a store's integrity layer
(:mod:`overparam.store.integrity`, e.g. for the report) does not import the writer and the
config models behind it.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "Tables": "overparam.store.frames",
    "export": "overparam.store.frames",
    "load": "overparam.store.frames",
    "summary_counts": "overparam.store.frames",
    "SCHEMA_VERSION": "overparam.store.integrity",
    "ChecksumError": "overparam.store.integrity",
    "StoreError": "overparam.store.integrity",
    "STATUSES": "overparam.store.result",
    "TERMINAL": "overparam.store.result",
    "RunResult": "overparam.store.result",
    "from_error": "overparam.store.result",
    "from_history": "overparam.store.result",
    "DEFAULT_PATH": "overparam.store.sqlite",
    "Claim": "overparam.store.sqlite",
    "Owner": "overparam.store.sqlite",
    "Store": "overparam.store.sqlite",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'overparam.store' has no attribute {name!r}")
