"""Progress of long commands, on stderr only (stdout is kept for results and ``--json``).

- stderr is a terminal: rich bars (label, bar, done/total, unit, elapsed, ETA, a note such as
  the loss).
- otherwise (a log file, a pipe, CI): plain lines
  ``<label>: <done>/<total> <unit>, elapsed 1m05s, ETA 2m10s`` at the start, whenever
  ``every`` seconds (10) have passed since the last line (a background timer writes one even
  when nothing finishes, so a single long run does not look hung) and at the end. The ETA
  extrapolates the rate so far; work found finished at the first update (a resumed sweep's
  stored runs) does not count in that rate; "ETA ?" until one item has finished.

One :class:`Reporter` serves every command: ``sweep run`` and ``critical-width`` (runs, the
``(finished, total)`` callback of :mod:`overparam.sweep.runner`), ``reproduce``
(:class:`StudyProgress`: studies, and the current study's runs), ``train``
(:class:`TrainProgress`: steps, lines only once a run has taken ``delay`` seconds) and ``ntk`` /
``kernel`` (a task without a total: "running" lines, then "done" with the elapsed time).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

#: Seconds between plain progress lines.
EVERY_S = 10.0
#: Commands whose bad input fails at once print no progress line before this many seconds,
#: so their error stays the one line on stderr.
COMMAND_DELAY_S = 1.0
#: Longest sleep of the timer thread (it re-reads the clock after each).
_TIMER_MAX_WAIT_S = 0.5


def format_duration(seconds: float) -> str:
    """``5s``, ``1m05s``, ``2h03m04s`` (whole seconds, rounded down)."""
    s = max(0, int(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h}h{m:02d}m{s:02d}s"
    return f"{m}m{s:02d}s" if m else f"{s}s"


@dataclass
class Task:
    """One line segment: ``label: done/total unit, elapsed ..., ETA ...``.

    ``baseline`` and ``first_at``: ``done`` and the clock at the first update; the rate is
    (done - baseline) / (now - first_at).
    """

    label: str
    unit: str
    total: int | None
    started: float
    done: int = 0
    baseline: int | None = None
    first_at: float | None = None
    note: str = ""
    rich_id: Any = None

    def eta(self, now: float) -> float | None:
        """Seconds left at the rate so far; None before the first finished item."""
        if self.total is None or self.baseline is None or self.first_at is None:
            return None
        if self.done >= self.total:
            return 0.0
        progressed = self.done - self.baseline
        if progressed <= 0:
            return None
        return (now - self.first_at) * (self.total - self.done) / progressed

    def text(self, now: float, final: str | None = None) -> str:
        """The segment at ``now``; ``final`` ("done", "stopped") replaces the ETA."""
        elapsed = f"elapsed {format_duration(now - self.started)}"
        note = f", {self.note}" if self.note else ""
        if self.total is None:
            count = f" {self.done} {self.unit}".rstrip() if self.done else ""
            state = final or "running"
            return f"{self.label}:{count} {state}, {elapsed}{note}"
        eta = self.eta(now)
        tail = final or ("ETA ?" if eta is None else f"ETA {format_duration(eta)}")
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.label}: {self.done}/{self.total}{unit}, {elapsed}, {tail}{note}"


class Reporter:
    """Progress of one command (see the module doc); a context manager.

    Args:
        label / unit / total: the main task ("sweep quick", "runs", 64); total may come later
            with :meth:`update` (the start line then waits for it) or, with ``unit=""``, never
            (a computation without steps).
        enabled: False prints nothing (``--quiet``).
        stream: where to write (default: ``sys.stderr`` at construction).
        tty: rich bars (True) or plain lines (False); default: ``stream.isatty()``.
        every: seconds between plain lines.
        delay: plain lines only once the command has run this long (0: a start line at once);
            a command that ends sooner prints nothing.
        clock: monotonic seconds (injected by tests).
        timer: run the background thread that writes lines when no update comes.
        transient: rich bars vanish at the end (for short computations).
    """

    def __init__(
        self,
        label: str,
        unit: str = "runs",
        total: int | None = None,
        *,
        enabled: bool = True,
        stream: TextIO | None = None,
        tty: bool | None = None,
        every: float = EVERY_S,
        delay: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        timer: bool = True,
        transient: bool = False,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if not enabled:
            self.mode = "off"
        elif tty if tty is not None else _isatty(self.stream):
            self.mode = "bars"
        else:
            self.mode = "lines"
        self.every, self.delay, self.clock = every, delay, clock
        self._use_timer, self._transient = timer, transient
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._rich: Any = None
        self._started_at: float | None = None
        self._last_line: float | None = None
        self._closed = False
        self.lines_written = 0
        self.main = Task(label, unit, total, started=clock())
        self.tasks: list[Task] = [self.main]

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> Reporter:
        """Begin: the rich display, or the start line (unless ``delay``) and the timer."""
        with self._lock:
            if self._started_at is not None:
                return self
            now = self.clock()
            self._started_at = now
            for t in self.tasks:
                t.started = now
            if self.mode == "bars":
                self._start_rich()
            elif self.mode == "lines":
                if self._due(now):
                    self._emit(now)
                if self._use_timer:
                    self._thread = threading.Thread(
                        target=self._timer, daemon=True, name="overparam-progress"
                    )
                    self._thread.start()
        return self

    def close(self, final: str = "done") -> None:
        """End: the last line (``final`` instead of the ETA; none if no line was written, as
        for work shorter than ``delay`` or an error before the first update), and stop the
        timer / the rich display. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._stop.set()
            if self.mode == "bars" and self._rich is not None:
                self._rich.stop()
            elif self.mode == "lines" and self._last_line is not None:
                self._emit(self.clock(), final)  # only after a first line: errors stay one line
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)

    def __enter__(self) -> Reporter:
        return self.start()

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.close("done" if exc_type is None else "stopped")

    # -- updates ------------------------------------------------------------------------

    def update(
        self,
        done: int,
        total: int | None = None,
        *,
        note: str | None = None,
        task: Task | None = None,
    ) -> None:
        """``done`` items of ``task`` (default: the main one) are finished, of ``total``."""
        with self._lock:
            t = task or self.main
            now = self.clock()
            if t.baseline is None:
                t.baseline, t.first_at = done, now
            t.done = done
            if total is not None:
                t.total = total
            if note is not None:
                t.note = note
            if self.mode == "bars" and self._rich is not None:
                self._rich_update(t)
            elif self.mode == "lines" and self._due(now):
                self._emit(now)

    def __call__(self, done: int, total: int) -> None:
        """The sweep runner's callback: (finished runs, total runs)."""
        self.update(done, total)

    def add_task(self, label: str, unit: str = "runs", total: int | None = None) -> Task:
        """A second segment (bar) after the main one, e.g. the current study's runs."""
        with self._lock:
            t = Task(label, unit, total, started=self.clock())
            self.tasks.append(t)
            if self.mode == "bars" and self._rich is not None:
                self._rich_add(t)
            return t

    def remove_task(self, task: Task) -> None:
        with self._lock:
            if task in self.tasks and task is not self.main:
                self.tasks.remove(task)
                if self.mode == "bars" and self._rich is not None:
                    self._rich.remove_task(task.rich_id)

    # -- plain lines --------------------------------------------------------------------

    def line(self, final: str | None = None) -> str:
        """The current progress line: every task's segment, joined by " | "; ``final``
        ("done", "stopped", ...) replaces the ETAs ("done" reads "stopped" for a task short of
        its total)."""
        with self._lock:
            return self._text(self.clock(), final)

    def _text(self, now: float, final: str | None) -> str:
        parts = []
        for t in self.tasks:
            state = final
            if state == "done" and t.total is not None and t.done < t.total:
                state = "stopped"
            parts.append(t.text(now, state))
        return " | ".join(parts)

    def tick(self) -> bool:
        """Write a line if one is due (the timer calls this); True if it wrote."""
        with self._lock:
            if self.mode != "lines" or self._closed or self._started_at is None:
                return False
            now = self.clock()
            if not self._due(now):
                return False
            self._emit(now)
            return True

    def _next_due(self) -> float:
        assert self._started_at is not None
        if self._last_line is not None:
            return self._last_line + self.every
        if self.main.total is None and self.main.unit:  # a count whose total is not known yet:
            return self._started_at + max(self.delay, self.every)  # wait for it (or `every`)
        return self._started_at + self.delay

    def _due(self, now: float) -> bool:
        return self._started_at is not None and now >= self._next_due()

    def _emit(self, now: float, final: str | None = None) -> None:
        text = self._text(now, final)
        try:
            self.stream.write(text + "\n")
            self.stream.flush()
        except (OSError, ValueError):  # a closed stream: stop writing, never fail the command
            self.mode = "off"
            self._stop.set()
            return
        self._last_line = now
        self.lines_written += 1

    def _timer(self) -> None:
        while True:
            with self._lock:
                wait = self._next_due() - self.clock() if not self._closed else 0.0
            if self._stop.wait(min(max(wait, 0.005), _TIMER_MAX_WAIT_S)):
                return
            self.tick()

    # -- rich bars ----------------------------------------------------------------------

    def _start_rich(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._rich = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[unit]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[note]}"),
            console=Console(file=self.stream),
            transient=self._transient,
        )
        self._rich.start()
        for t in self.tasks:
            self._rich_add(t)

    def _rich_add(self, t: Task) -> None:
        t.rich_id = self._rich.add_task(
            t.label, total=t.total, completed=t.done, unit=t.unit, note=t.note
        )

    def _rich_update(self, t: Task) -> None:
        self._rich.update(t.rich_id, total=t.total, completed=t.done, note=t.note)


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class StudyProgress:
    """``overparam reproduce``'s callback ``(study, done, total)``: one task over the studies,
    one over the current study's runs. ``(name, -1, -1)``: a study starts; ``(name, -2, -2)``:
    a stage that is not a study starts (writing the report)."""

    def __init__(self, n_studies: int, **kwargs: Any) -> None:
        self.reporter = Reporter("reproduce", "studies", n_studies, **kwargs)
        self.current: Task | None = None
        self.finished = 0

    def __call__(self, study: str, done: int, total: int) -> None:
        r = self.reporter
        if done < 0:
            if self.current is not None:
                r.remove_task(self.current)
                self.finished += 1
            self.current = r.add_task(study, "runs" if done == -1 else "", None)
            r.update(min(self.finished, r.main.total or self.finished))
            return
        if self.current is not None:
            r.update(done, total, task=self.current)

    def __enter__(self) -> StudyProgress:
        self.reporter.start()
        self.reporter.update(0)
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None and self.current is not None and self.current.unit == "runs":
            self.finished += 1  # the last study (when no report stage followed it)
            self.reporter.update(min(self.finished, self.reporter.main.total or self.finished))
        self.reporter.close("done" if exc_type is None else "stopped")


class TrainProgress:
    """``overparam train``'s callback: steps, with the loss as the note. Plain lines only
    once the run has taken ``delay`` seconds (default: ``every``)."""

    def __init__(self, *, delay: float = EVERY_S, **kwargs: Any) -> None:
        self.reporter = Reporter("train", "steps", delay=delay, **kwargs)

    def on_start(self, state: Any) -> None:
        self.reporter.start()
        self.reporter.update(0, state.steps)

    def on_step(self, state: Any) -> None:
        self.reporter.update(state.step, note=f"loss {state.loss:.3e}")

    def on_end(self, state: Any) -> None:
        status = state.history.status
        self.reporter.close(status if status in ("converged", "diverged") else "done")

    def __enter__(self) -> TrainProgress:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.reporter.close("done" if exc_type is None else "stopped")
