"""Making a list of configs finished runs of the store: queue, claim, compute, write.

One process is the writer: it queues the configs (a config already stored is never queued
twice), claims queued runs atomically, hands them to an executor and writes each finished run in
one transaction. Run again against the same store it

- skips every run already done, diverged or failed (by config hash),
- re-queues claims whose heartbeat is stale or whose owner process on this host is gone (a
  writer killed with SIGKILL), and computes them,
- waits for runs another live process holds, so it returns when every config is finished.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from overparam.config import RunConfig
from overparam.store.result import TERMINAL
from overparam.store.sqlite import Owner, Store
from overparam.sweep.executors import Executor

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
