"""overparam.store: the SQLite results database every sweep writes (WAL, resumable).

:class:`Store` is the writer's connection (queue, claim, heartbeat, finish); :func:`load` reads a
database into pandas DataFrames and :func:`export` writes them as CSV or Parquet. A file that
is not a sound results database is a :class:`StoreError` before anything is written to it, and
every finished run is checksummed (:mod:`overparam.store.integrity`): a run whose rows changed
is a :class:`ChecksumError` when read for analysis.
"""

from overparam.store.frames import Tables as Tables
from overparam.store.frames import export as export
from overparam.store.frames import load as load
from overparam.store.frames import summary_counts as summary_counts
from overparam.store.integrity import SCHEMA_VERSION as SCHEMA_VERSION
from overparam.store.integrity import ChecksumError as ChecksumError
from overparam.store.integrity import StoreError as StoreError
from overparam.store.result import STATUSES as STATUSES
from overparam.store.result import TERMINAL as TERMINAL
from overparam.store.result import RunResult as RunResult
from overparam.store.result import from_error as from_error
from overparam.store.result import from_history as from_history
from overparam.store.sqlite import DEFAULT_PATH as DEFAULT_PATH
from overparam.store.sqlite import Claim as Claim
from overparam.store.sqlite import Owner as Owner
from overparam.store.sqlite import Store as Store

__all__ = [
    "DEFAULT_PATH",
    "SCHEMA_VERSION",
    "STATUSES",
    "TERMINAL",
    "ChecksumError",
    "Claim",
    "Owner",
    "RunResult",
    "Store",
    "StoreError",
    "Tables",
    "export",
    "from_error",
    "from_history",
    "load",
    "summary_counts",
]
