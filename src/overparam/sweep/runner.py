"""Running a sweep spec against the store, resumable at any point (:func:`run_sweep`): the
grid's configs go through :func:`overparam.sweep.queue.run_configs` inside one
:func:`overparam.sweep.session.run_session`, so running the same spec again skips what is
finished, re-queues what a dead writer held and waits for what a live one holds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from overparam.store.result import TERMINAL
from overparam.store.sqlite import DEFAULT_PATH
from overparam.sweep.critical import run_critical_spec
from overparam.sweep.executors import Executor
from overparam.sweep.queue import HEARTBEAT_S, STALE_AFTER_S, Progress, RunStats, run_configs
from overparam.sweep.session import Heartbeat, open_executor, run_session
from overparam.sweep.spec import SweepSpec, load_spec

__all__ = ["Heartbeat", "RunStats", "SweepResult", "open_executor", "run_configs", "run_sweep"]


@dataclass(frozen=True)
class SweepResult:
    """The outcome of :func:`run_sweep`.

    Attributes:
        counts: runs of the experiment by status (queued, running, done, diverged, failed).
        executed: runs this call computed and wrote; skipped: runs already finished before.
        store_ms_per_run: writer time in the store (queueing, claims, stale checks and writes)
            per executed run; write_ms_per_run: the one-transaction writes alone.
        complete: False if the wall-clock budget stopped the sweep early (re-run to continue).
        critical: critical-width results per grid point, for a ``[critical]`` spec.
    """

    experiment: str
    store: Path
    executor: str
    total: int
    counts: dict[str, int]
    executed: int
    skipped: int
    wall_s: float
    store_ms_per_run: float
    write_ms_per_run: float
    complete: bool
    critical: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "store": str(self.store),
            "executor": self.executor,
            "total": self.total,
            "counts": self.counts,
            "executed": self.executed,
            "skipped": self.skipped,
            "wall_s": round(self.wall_s, 3),
            "store_ms_per_run": round(self.store_ms_per_run, 3),
            "write_ms_per_run": round(self.write_ms_per_run, 3),
            "complete": self.complete,
            "critical": self.critical,
        }


def run_sweep(
    spec: SweepSpec | str | Path,
    *,
    store: str | Path = DEFAULT_PATH,
    executor: str | Executor = "local",
    workers: int | None = None,
    address: str | None = None,
    max_batch: int = 256,
    stale_after: float = STALE_AFTER_S,
    heartbeat_s: float = HEARTBEAT_S,
    retry_failed: bool = False,
    progress: Progress | None = None,
) -> SweepResult:
    """Run (or resume) every run of ``spec`` against the store at ``store``.

    Args:
        spec: a :class:`SweepSpec`, a TOML path or a shipped spec name.
        store: the SQLite results database (created if missing).
        executor: "local", "batched" or "ray" (see :mod:`overparam.sweep.executors`), or an
            executor object. workers / address / max_batch: passed to it.
        stale_after: seconds without heartbeat before another writer's claim is re-queued.
        heartbeat_s: how often this writer refreshes its claims.
        retry_failed: run again the runs stored as failed.
        progress: called with (finished runs, total runs).

    Returns:
        A :class:`SweepResult`; ``complete`` is False only when ``budget.wall_s`` ran out.
    """
    from overparam.errors import require_float, require_int

    # A claim must outlive a heartbeat, else live runs are re-queued forever (and 0, NaN never end).
    require_float("heartbeat_s", heartbeat_s, 0.0, lo_open=True)
    require_float(
        "stale_after",
        stale_after,
        heartbeat_s,
        lo_open=True,
        allowed=f"a finite number of seconds > the {heartbeat_s:g} s heartbeat",
    )
    require_int("max_batch", max_batch)
    spec = spec if isinstance(spec, SweepSpec) else load_spec(spec)
    start = time.perf_counter()
    deadline = None if spec.budget.wall_s is None else time.monotonic() + spec.budget.wall_s
    critical: list[dict[str, Any]] = []
    with run_session(
        store,
        executor,
        workers=workers,
        address=address,
        max_batch=max_batch,
        heartbeat_s=heartbeat_s,
    ) as session:
        db, owner, ex = session.store, session.owner, session.executor
        kind = "critical-width" if spec.critical is not None else "sweep"
        exp_id = db.experiment(spec.name, spec.to_dict(), kind=kind)
        if spec.critical is not None:
            stats, critical = run_critical_spec(
                spec,
                db,
                exp_id,
                ex,
                owner=owner,
                progress=progress,
                stale_after=stale_after,
                deadline=deadline,
            )
        else:
            stats = run_configs(
                db,
                exp_id,
                spec.configs(),
                ex,
                owner=owner,
                progress=progress,
                stale_after=stale_after,
                retry_failed=retry_failed,
                deadline=deadline,
            )
        counts = next(c for c in db.counts() if c["experiment"] == spec.name)
    return SweepResult(
        experiment=spec.name,
        store=Path(store),
        executor=getattr(ex, "name", str(executor)),
        total=counts["total"],
        counts={k: counts[k] for k in ("queued", "running", *TERMINAL)},
        executed=stats.executed,
        skipped=stats.skipped,
        wall_s=time.perf_counter() - start,
        store_ms_per_run=1e3 * stats.store_s / max(stats.executed, 1),
        write_ms_per_run=1e3 * stats.write_s / max(stats.executed, 1),
        complete=stats.complete,
        critical=critical,
    )
