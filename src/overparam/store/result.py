"""What a finished run hands to the store: :class:`RunResult`, built from a History or an error.

Workers (a process pool, a Ray task, the batched trainer) build these and send them back; only the
sweep's single writer turns them into rows. Store statuses map from training statuses as

=====================  ===============  ==============================================
training outcome       store ``status``  kept in
=====================  ===============  ==============================================
"converged"            done             ``train_status`` = "converged"
"max_steps"            done             ``train_status`` = "max_steps"
"diverged"             diverged         ``train_status`` = "diverged"
an exception           failed           ``error`` (exception type, message, traceback)
=====================  ===============  ==============================================
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import traceback
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

#: Store statuses of a run: claimable, claimed, and the three terminal ones.
STATUSES = ("queued", "running", "done", "diverged", "failed")
TERMINAL = ("done", "diverged", "failed")


def _worker_versions() -> dict[str, str | None]:
    """A copy of :func:`versions` (RunResult's field of that name hides it in the class body)."""
    return dict(versions())


@dataclass(frozen=True)
class RunResult:
    """The stored outcome of one run.

    Attributes:
        status: "done", "diverged" or "failed" (see the module table).
        train_status: the History status ("converged", "max_steps", "diverged"); None if failed.
        losses: L(W_t) for t = 0..steps_run (the History's per-step losses).
        records: tidy probe rows {step, probe, layer, value, bound, ...}.
        lr: the numeric step size used (after "auto" / "theory" resolution).
        wall_s: training wall time; for a batched group, the group's time divided by its size.
        error: for failed runs, "ExceptionType: message" followed by the traceback.
        executor: which executor ran it ("local", "batched", "ray", ...).
        host, pid: where the run was computed (a worker, not necessarily the writer).
        threads: ``torch.get_num_threads()`` of that worker when the result was built.
        device: the torch device the run trained on ("cpu", "cuda:0"); None if unknown (a run
            that failed before its device was resolved).
        versions: package / torch / python versions and git commit of that worker.
    """

    status: str
    train_status: str | None = None
    losses: tuple[float, ...] = ()
    records: tuple[dict[str, Any], ...] = ()
    lr: float | None = None
    wall_s: float = 0.0
    train_accuracy: float | None = None
    test_accuracy: float | None = None
    error: str | None = None
    executor: str = "local"
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    threads: int = field(default_factory=lambda: torch_threads())
    device: str | None = None
    versions: dict[str, str | None] = field(default_factory=_worker_versions)

    @property
    def steps(self) -> int:
        return max(len(self.losses) - 1, 0)


def torch_threads() -> int:
    """The intra-op thread count torch uses in this process."""
    import torch

    return int(torch.get_num_threads())


def used_device(device: Any) -> str | None:
    """The device a run used, with its index ("cuda" -> "cuda:0", the current CUDA device);
    None for None or a device torch cannot parse."""
    if device is None:
        return None
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        return None
    if dev.type == "cuda" and dev.index is None and torch.cuda.is_available():
        return f"cuda:{torch.cuda.current_device()}"
    return str(dev)


@cache
def versions() -> dict[str, str | None]:
    """Package, torch and Python versions and the source tree's git commit (None outside a
    checkout) of the process that computes a run; saved with every result."""
    import torch

    from overparam import __version__

    return {
        "package": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "git": _git_commit(),
    }


def _git_commit() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def status_of(train_status: str) -> str:
    """Store status of a History status: diverged stays, converged / max_steps are done."""
    return "diverged" if train_status == "diverged" else "done"


def from_history(history: Any, *, executor: str, device: Any = None) -> RunResult:
    """A :class:`RunResult` from an :class:`overparam.train.History`, built in the process
    that trained it (its torch threads are recorded). ``device``: the device used (default:
    the History's ``config["device"]``)."""
    if device is None:
        device = (getattr(history, "config", None) or {}).get("device")
    return RunResult(
        status=status_of(history.status),
        train_status=history.status,
        losses=tuple(float(v) for v in history.losses),
        records=tuple(dict(r) for r in history.records),
        lr=None if history.lr is None else float(history.lr),
        wall_s=float(history.wall_s),
        train_accuracy=history.train_accuracy,
        test_accuracy=history.test_accuracy,
        error=history.error,
        executor=executor,
        device=used_device(device),
    )


def from_error(
    exc: BaseException, *, executor: str, wall_s: float = 0.0, device: Any = None
) -> RunResult:
    """A failed :class:`RunResult` whose ``error`` is the exception line and its traceback;
    ``device``: the run's configured device, if known."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    head = f"{type(exc).__name__}: {exc}"
    return RunResult(
        status="failed",
        error=f"{head}\n{text}",
        wall_s=wall_s,
        executor=executor,
        device=used_device(device),
    )
