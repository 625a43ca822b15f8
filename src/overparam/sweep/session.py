"""One run session: an executor, an open store, this writer's owner identity and the heartbeat
that keeps its claims alive, set up and torn down in one place (:func:`run_session`) for
``overparam sweep run``, ``overparam reproduce`` and ``overparam critical-width``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from overparam.errors import ConfigError
from overparam.store.sqlite import DEFAULT_PATH, Owner, Store
from overparam.sweep.executors import Executor, make_executor
from overparam.sweep.queue import HEARTBEAT_S


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


@dataclass(frozen=True)
class RunSession:
    """What :func:`run_session` yields: the writer's store, owner and executor."""

    store: Store
    owner: Owner
    executor: Executor


@contextmanager
def run_session(
    store: str | Path | Store = DEFAULT_PATH,
    executor: str | Executor = "local",
    *,
    workers: int | None = None,
    address: str | None = None,
    max_batch: int = 256,
    heartbeat_s: float = HEARTBEAT_S,
) -> Iterator[RunSession]:
    """Open the executor and the store, start the heartbeat; on exit (an interrupt included)
    stop it, close what was opened here and release this writer's claims, so runs it had
    claimed go back to the queue.

    An open :class:`Store` is used as given and left open; an executor object is not closed.
    """
    ex, owned = open_executor(executor, workers=workers, address=address, max_batch=max_batch)
    try:
        db = store if isinstance(store, Store) else Store(store)
    except BaseException:
        if owned:
            ex.close()
        raise
    owner = Owner()
    beat = Heartbeat(db.path, owner, heartbeat_s)
    try:
        yield RunSession(db, owner, ex)
    finally:
        beat.stop()
        if owned:
            ex.close()
        db.release(owner)
        if not isinstance(store, Store):
            db.close()
