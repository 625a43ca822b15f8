"""Running a sweep against the store: queue, claim, compute, write; resumable at any point.

One process is the writer: it queues the grid (a config already stored is never queued twice),
claims queued runs atomically, hands them to an executor and writes each finished run in one
transaction. A background thread refreshes the heartbeat of its claims. Running the same spec
again against the same store therefore

- skips every run already done, diverged or failed (by config hash),
- re-queues claims whose heartbeat is stale or whose owner process on this host is gone (a
  sweep killed with SIGKILL), and computes them,
- waits for runs another live process holds, so it returns when the whole grid is finished.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from overparam.config import RunConfig
from overparam.errors import ConfigError
from overparam.store.result import TERMINAL
from overparam.store.sqlite import DEFAULT_PATH, Owner, Store
from overparam.sweep.executors import Executor, make_executor
from overparam.sweep.spec import SweepSpec, load_spec

#: Progress callback: (finished runs, total runs), called at the start and after each run.
Progress = Callable[[int, int], None]

# A claim whose owner has not refreshed it for a minute is presumed dead (owners on this host
# are checked by pid at once); heartbeats every 10 s leave a wide margin.
STALE_AFTER_S = 60.0
HEARTBEAT_S = 10.0


@dataclass(frozen=True)
class RunStats:
    """What one call of :func:`run_configs` did."""

    run_ids: tuple[int, ...]
    executed: int = 0
    skipped: int = 0
    store_s: float = 0.0
    write_s: float = 0.0
    complete: bool = True


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


class Heartbeat:
    """A daemon thread that marks ``owner``'s claims alive every ``every`` seconds, through
    its own connection."""

    def __init__(self, path: Path, owner: Owner, every: float = HEARTBEAT_S) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, args=(path, owner, every), daemon=True, name="overparam-heartbeat"
        )
        self._thread.start()

    def _loop(self, path: Path, owner: Owner, every: float) -> None:
        try:  # the writer has checked the store already; a refused open ends the beat
            store = Store(path, check=False)
        except ConfigError:
            return
        try:
            while not self._stop.wait(every):
                try:
                    store.heartbeat(owner)
                except Exception:  # a busy database: try again at the next beat
                    continue
        finally:
            store.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)


def run_configs(
    store: Store,
    experiment_id: int,
    configs: Sequence[RunConfig],
    executor: Executor,
    *,
    owner: Owner,
    progress: Progress | None = None,
    stale_after: float = STALE_AFTER_S,
    retry_failed: bool = False,
    deadline: float | None = None,
    poll_s: float = 0.5,
) -> RunStats:
    """Make every config a finished run of the store (or stop at ``deadline``).

    Args:
        store: the writer's connection. experiment_id: from :meth:`Store.experiment`.
        configs: the runs (duplicates and already-stored configs are fine).
        executor: computes what this writer claims (see :mod:`overparam.sweep.executors`).
        owner: this writer's claim identity (its heartbeat thread refreshes it).
        progress: called with (finished, total).
        stale_after: seconds without heartbeat after which another writer's claim is re-queued.
        retry_failed: queue runs stored as failed again.
        deadline: ``time.monotonic()`` after which no new run is claimed.
        poll_s: how often to look at runs held by other writers.
    """
    t0 = time.perf_counter()
    ids = store.enqueue(experiment_id, configs, retry_failed=retry_failed)
    run_ids = tuple(dict.fromkeys(ids.values()))
    store_s = time.perf_counter() - t0
    states = store.states(run_ids, verify=False)  # which to skip; analysis reads verify
    remaining = {i for i in run_ids if states[i]["status"] not in TERMINAL}
    skipped = len(run_ids) - len(remaining)
    total = len(run_ids)
    if progress:
        progress(skipped, total)
    in_flight: set[int] = set()
    executed = 0
    write_s = 0.0
    last_requeue = float("-inf")
    while remaining:
        now = time.monotonic()
        if now - last_requeue >= min(poll_s * 4, stale_after):
            t0 = time.perf_counter()
            store.requeue_stale(stale_after)
            store_s += time.perf_counter() - t0
            last_requeue = now
        stopping = deadline is not None and now >= deadline
        free = executor.capacity - executor.pending()
        if not stopping and free > 0:
            t0 = time.perf_counter()
            claims = store.claim(owner, sorted(remaining - in_flight), free)
            store_s += time.perf_counter() - t0
            if claims:
                executor.submit(claims)
                in_flight.update(c.run_id for c in claims)
        if executor.pending():
            for run_id, result in executor.wait(timeout=poll_s):
                t0 = time.perf_counter()
                written = store.finish(owner, run_id, result)
                write_s += time.perf_counter() - t0
                in_flight.discard(run_id)
                if written:
                    executed += 1
                    remaining.discard(run_id)
                    if progress:
                        progress(total - len(remaining), total)
            continue
        if stopping:
            break
        # Nothing of ours in flight: the rest is held by other writers (or was just re-queued).
        time.sleep(poll_s)
        states = store.states(sorted(remaining), verify=False)
        done_now = {i for i, r in states.items() if r["status"] in TERMINAL}
        if done_now:
            remaining -= done_now
            if progress:
                progress(total - len(remaining), total)
    return RunStats(run_ids, executed, skipped, store_s + write_s, write_s, complete=not remaining)


def open_executor(
    executor: str | Executor,
    *,
    workers: int | None = None,
    address: str | None = None,
    max_batch: int = 256,
) -> tuple[Executor, bool]:
    """(executor, whether the caller owns it and must close it)."""
    if isinstance(executor, str):
        return make_executor(executor, workers=workers, address=address, max_batch=max_batch), True
    return executor, False


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
    ex, owned = open_executor(executor, workers=workers, address=address, max_batch=max_batch)
    try:
        db = Store(store)
    except BaseException:
        if owned:
            ex.close()
        raise
    owner = Owner()
    beat = Heartbeat(db.path, owner, heartbeat_s)
    critical: list[dict[str, Any]] = []
    try:
        kind = "critical-width" if spec.critical is not None else "sweep"
        exp_id = db.experiment(spec.name, spec.to_dict(), kind=kind)
        if spec.critical is not None:
            from overparam.sweep.critical import run_critical_spec

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
    finally:
        beat.stop()
        if owned:
            ex.close()
        db.release(owner)  # claims left by an interrupt go back to the queue
        db.close()
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
