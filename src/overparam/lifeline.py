"""Pool workers that die with the process that started them.

A sweep's pool workers must not outlive their writer: a writer killed with SIGKILL cannot shut
its pool down, and its idle workers would wait on the task queue forever, holding the caller's
pipes (and, through them, multiprocessing's resource tracker). This module imports nothing
heavy, so that a spawned worker runs :func:`init_worker` a few milliseconds after it starts,
long before it imports torch:

1. Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``, so the kernel kills the worker when its
   parent ends. The signal follows the parent *thread* that started the worker; overparam's
   pools start their workers from the thread that submits work and closes the pool.
2. The race: the parent may have died between the worker's start and the prctl call; the
   worker then already belongs to another parent (init or a subreaper) and exits at once.
3. Elsewhere (no prctl): a daemon thread that exits the worker as soon as ``os.getppid()``
   changes, polling every :data:`WATCH_S` seconds.

Every worker also carries ``OVERPARAM_SWEEP_OWNER=<writer pid>`` in its environment (set by
:func:`owner_marked` around the start of the workers), so survivors can be told apart.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator

#: Environment variable holding the pid of the process that started a pool worker.
OWNER_ENV = "OVERPARAM_SWEEP_OWNER"
#: Poll interval of the getppid watch where prctl is not available.
WATCH_S = 0.2
_PR_SET_PDEATHSIG = 1


def _set_death_signal() -> bool:
    """Ask the kernel to SIGKILL this process when its parent thread ends (Linux only)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent: int, every: float) -> None:
    while True:
        time.sleep(every)
        if os.getppid() != parent:
            os._exit(1)


def die_with_parent(parent: int) -> str:
    """Make this process end when ``parent`` (its parent's pid) ends.

    Returns "prctl" (the kernel's parent-death signal) or "watch" (a getppid polling thread).
    Exits the process at once if ``parent`` is no longer its parent.
    """
    how = "prctl" if _set_death_signal() else "watch"
    if os.getppid() != parent:  # the parent died before the death signal was set
        os._exit(1)
    if how == "watch":
        threading.Thread(
            target=_watch, args=(parent, WATCH_S), daemon=True, name="overparam-orphan-watch"
        ).start()
    return how


def init_worker(parent: int, threads: int) -> None:
    """Pool worker initializer: die with ``parent`` first, then set ``threads`` torch threads
    (workers x threads = cores)."""
    die_with_parent(parent)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)


@contextlib.contextmanager
def owner_marked() -> Iterator[None]:
    """While active, processes started from here inherit ``OVERPARAM_SWEEP_OWNER=<this pid>``;
    the previous value (or its absence) is restored afterwards."""
    before = os.environ.get(OWNER_ENV)
    os.environ[OWNER_ENV] = str(os.getpid())
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(OWNER_ENV, None)
        else:
            os.environ[OWNER_ENV] = before
