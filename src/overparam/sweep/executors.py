"""Executors: where claimed runs are computed. Results always come back to the one writer.

==========  ==================================================================================
name        what it does; when to prefer it
==========  ==================================================================================
local       a process pool of ``workers`` processes (spawned), ``cores // workers`` torch
            threads each, one run per task; any mix of runs (SGD, probes, widths). With
            ``workers=1`` the runs are trained in the writer's own process, one by one.
batched     GD runs that share an architecture trained together in one vectorized call
            (:mod:`overparam.sweep.batched`); the fastest for many small runs (seeds, step
            sizes). With ``workers > 1`` the batches are spread over a process pool.
ray         Ray tasks on a local instance or an existing cluster (``address="auto"``), one run
            per task; how a sweep goes beyond one machine.
==========  ==================================================================================

An executor takes claims with :meth:`Executor.submit` and hands back ``(run_id, RunResult)``
pairs from :meth:`Executor.wait`; it never touches the store.

A writer killed with SIGKILL leaves no process behind: pool workers die with it, even while
they still import torch (:mod:`overparam.lifeline`), and with them multiprocessing's resource
tracker (it ends when the last holder of its pipe does); a local Ray instance started here
ends with its driver (Ray's own fate sharing; its idle workers within a few seconds).
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
from collections.abc import Sequence
from typing import Any, Protocol

from overparam.config import RunConfig
from overparam.errors import ConfigError
from overparam.lifeline import init_worker, owner_marked
from overparam.store.result import RunResult, from_error
from overparam.store.sqlite import Claim

EXECUTORS = ("local", "batched", "ray")
VALUE_ONLY_FIELDS = ("seed", "lr", "lr_scale", "target_loss", "target_ratio", "steps")
MSG_RAY_MISSING = "local or batched (the ray executor needs Ray: pip install 'overparam[ray]')"


def cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class Executor(Protocol):
    """Computes claimed runs. ``capacity``: how many runs it wants in flight at once."""

    name: str
    capacity: int

    def submit(self, claims: Sequence[Claim]) -> None: ...

    def wait(self, timeout: float) -> list[tuple[int, RunResult]]: ...

    def pending(self) -> int: ...

    def close(self) -> None: ...


# -- the work itself (runs in a worker, or in the writer for workers=1) -------------------


def execute(mode: str, configs: Sequence[RunConfig], executor: str) -> list[RunResult]:
    """Results of ``configs`` in order: ``mode="one"`` trains each with ``overparam.run``,
    ``mode="batched"`` groups GD runs into vectorized batches. Never raises for a run's error:
    that run's result is failed."""
    from overparam.sweep.batched import run_batched, run_one

    if mode == "batched":
        try:
            return run_batched(configs, executor=executor)
        except Exception:  # a bug in batching must not lose the runs: go one by one
            pass
    return [run_one(cfg, executor=executor) for cfg in configs]


def group_key(cfg: RunConfig) -> str:
    """Configs with equal keys (all fields but seed, step size, targets and steps) can usually
    share a batch; the batched trainer checks the exact shapes itself."""
    d = cfg.model_dump(mode="json")
    for f in VALUE_ONLY_FIELDS:
        d.pop(f, None)
    return repr(sorted(d.items()))


def split_for_batches(claims: Sequence[Claim], *, parts: int, max_batch: int) -> list[list[Claim]]:
    """Claims grouped by :func:`group_key`, each group cut into at most ``max_batch`` runs
    and into at least ``parts`` pieces when it is large enough (so every worker gets work)."""
    groups: dict[str, list[Claim]] = {}
    for c in claims:
        groups.setdefault(group_key(c.config), []).append(c)
    out: list[list[Claim]] = []
    for members in groups.values():
        pieces = max(-(-len(members) // max_batch), min(parts, len(members)))
        size = -(-len(members) // pieces)
        out.extend(members[i : i + size] for i in range(0, len(members), size))
    return out


# -- in-process -------------------------------------------------------------------------


class InProcessExecutor:
    """Trains in the writer's process: one run per :meth:`wait` (``mode="one"``), or every
    submitted run in one batched call (``mode="batched"``)."""

    def __init__(self, mode: str = "one", *, name: str = "local", max_batch: int = 256) -> None:
        self.mode, self.name = mode, name
        self.capacity = max_batch if mode == "batched" else 1
        self._queue: list[Claim] = []

    def submit(self, claims: Sequence[Claim]) -> None:
        self._queue.extend(claims)

    def pending(self) -> int:
        return len(self._queue)

    def wait(self, timeout: float) -> list[tuple[int, RunResult]]:
        take = self._queue if self.mode == "batched" else self._queue[:1]
        self._queue = self._queue[len(take) :]
        results = execute(self.mode, [c.config for c in take], self.name)
        return [(c.run_id, r) for c, r in zip(take, results, strict=True)]

    def close(self) -> None:
        self._queue = []


# -- process pool -----------------------------------------------------------------------


class PoolExecutor:
    """A spawned process pool; ``cores // workers`` torch threads per worker."""

    def __init__(
        self,
        workers: int,
        mode: str = "one",
        *,
        name: str = "local",
        max_batch: int = 256,
        threads: int | None = None,
    ) -> None:
        self.mode, self.name, self.workers = mode, name, workers
        self.max_batch = max_batch
        self.threads = threads or max(1, cores() // workers)
        # Two tasks per worker keep the pool busy while results are written.
        self.capacity = workers * (max_batch if mode == "batched" else 2)
        self._pool: cf.ProcessPoolExecutor | None = None
        self._futures: dict[cf.Future[list[RunResult]], list[Claim]] = {}

    def _get_pool(self) -> cf.ProcessPoolExecutor:
        if self._pool is None:
            # spawn, not fork: the writer holds threads (heartbeat) and an OpenMP runtime.
            # Workers die with this process (overparam.lifeline), even while still starting.
            with owner_marked():  # starts multiprocessing's resource tracker
                self._pool = cf.ProcessPoolExecutor(
                    self.workers,
                    mp_context=mp.get_context("spawn"),
                    initializer=init_worker,
                    initargs=(os.getpid(), self.threads),
                )
        return self._pool

    def submit(self, claims: Sequence[Claim]) -> None:
        if self.mode == "batched":
            tasks = split_for_batches(claims, parts=self.workers, max_batch=self.max_batch)
        else:
            tasks = [[c] for c in claims]
        pool = self._get_pool()
        with owner_marked():  # the pool starts its workers in submit
            for task in tasks:
                fut = pool.submit(execute, self.mode, [c.config for c in task], self.name)
                self._futures[fut] = task

    def pending(self) -> int:
        return sum(len(t) for t in self._futures.values())

    def wait(self, timeout: float) -> list[tuple[int, RunResult]]:
        if not self._futures:
            return []
        done, _ = cf.wait(list(self._futures), timeout=timeout, return_when=cf.FIRST_COMPLETED)
        out: list[tuple[int, RunResult]] = []
        broken = False
        for fut in done:
            task = self._futures.pop(fut)
            try:
                results = fut.result()
            except Exception as e:  # the worker died (killed, out of memory): fail its runs
                broken = broken or isinstance(e, cf.process.BrokenProcessPool)
                results = [from_error(e, executor=self.name) for _ in task]
            out.extend((c.run_id, r) for c, r in zip(task, results, strict=True))
        if broken:  # a broken pool fails every pending future; start a fresh one next time
            self._pool = None
        return out

    def close(self) -> None:
        if self._pool is not None:
            for fut in self._futures:
                fut.cancel()
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._futures = {}


# -- ray --------------------------------------------------------------------------------


class RayExecutor:
    """Ray tasks, one run each (``mode="one"``) or one batch each (``mode="batched"``).

    Connects to ``address`` ("auto": an existing cluster) or, when Ray is not initialized and
    no address is given, starts a local instance with ``workers`` CPUs (shut down on close).
    Results return to the writer through the object store.
    """

    def __init__(
        self,
        workers: int | None = None,
        *,
        address: str | None = None,
        mode: str = "one",
        max_batch: int = 256,
    ) -> None:
        try:
            import ray
        except ImportError:
            raise ConfigError("executor", "ray", MSG_RAY_MISSING) from None
        self._ray = ray
        self.name, self.mode, self.max_batch = "ray", mode, max_batch
        self._started = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"log_to_driver": False}
            if address is None:  # a fresh local instance; an existing cluster keeps its own
                kwargs.update(num_cpus=workers or cores(), include_dashboard=False)
            ray.init(address=address, **kwargs)
            self._started = True
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.workers = max(1, workers or cpus)
        self.capacity = self.workers * (max_batch if mode == "batched" else 2)
        self._remote = ray.remote(num_cpus=1)(execute)
        self._refs: dict[Any, list[Claim]] = {}

    def submit(self, claims: Sequence[Claim]) -> None:
        if self.mode == "batched":
            tasks = split_for_batches(claims, parts=self.workers, max_batch=self.max_batch)
        else:
            tasks = [[c] for c in claims]
        for task in tasks:
            ref = self._remote.remote(self.mode, [c.config for c in task], self.name)
            self._refs[ref] = task

    def pending(self) -> int:
        return sum(len(t) for t in self._refs.values())

    def wait(self, timeout: float) -> list[tuple[int, RunResult]]:
        if not self._refs:
            return []
        refs = list(self._refs)
        ready, rest = self._ray.wait(refs, num_returns=1, timeout=timeout)
        if ready and rest:  # collect whatever else is already finished
            more, _ = self._ray.wait(rest, num_returns=len(rest), timeout=0)
            ready = ready + more
        out: list[tuple[int, RunResult]] = []
        for ref in ready:
            task = self._refs.pop(ref)
            try:
                results = self._ray.get(ref)
            except Exception as e:  # the task or its worker died
                results = [from_error(e, executor=self.name) for _ in task]
            out.extend((c.run_id, r) for c, r in zip(task, results, strict=True))
        return out

    def close(self) -> None:
        for ref in self._refs:
            self._ray.cancel(ref, force=True)
        self._refs = {}
        if self._started:
            self._ray.shutdown()
            self._started = False


def make_executor(
    name: str,
    *,
    workers: int | None = None,
    address: str | None = None,
    max_batch: int = 256,
) -> Executor:
    """The executor called ``name`` (see the module table).

    Args:
        workers: processes (local, batched) or concurrent Ray tasks; default: every core for
            local, 1 process for batched (its matrix products use every core), the cluster's
            CPUs for ray.
        address: Ray cluster address ("auto" for an existing one); ray only.
        max_batch: most runs per vectorized call (batched).
    """
    if name not in EXECUTORS:
        raise ConfigError("executor", name, ", ".join(EXECUTORS))
    if workers is not None and workers < 1:
        raise ConfigError("workers", workers, "an integer >= 1")
    if address is not None and name != "ray":
        raise ConfigError("address", address, "only with executor=ray")
    if name == "ray":
        return RayExecutor(workers, address=address, max_batch=max_batch)
    mode = "batched" if name == "batched" else "one"
    n = workers or (1 if name == "batched" else cores())
    if n == 1:
        return InProcessExecutor(mode, name=name, max_batch=max_batch)
    return PoolExecutor(n, mode, name=name, max_batch=max_batch)
