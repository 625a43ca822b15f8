"""overparam.store: the SQLite results database every sweep writes (WAL, resumable).

:class:`Store` is the writer's connection (queue, claim, heartbeat, finish); :func:`load` reads a
database into pandas DataFrames and :func:`export` writes them as CSV or Parquet.
"""

from overparam.store.frames import Tables as Tables
from overparam.store.frames import export as export
from overparam.store.frames import load as load
from overparam.store.frames import summary_counts as summary_counts
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
    "STATUSES",
    "TERMINAL",
    "Claim",
    "Owner",
    "RunResult",
    "Store",
    "Tables",
    "export",
    "from_error",
    "from_history",
    "load",
    "summary_counts",
]
