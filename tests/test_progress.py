"""overparam.progress: plain lines at the right times (an injected clock), the ETA arithmetic,
the timer thread writing with no update, stderr only; and ``sweep run`` through typer's
CliRunner (stderr not a terminal): a progress line on stderr, JSON alone on stdout."""

from __future__ import annotations

import io
import json
import re
import time
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from overparam.progress import Reporter, StudyProgress, Task, TrainProgress, format_duration

pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning"
)
LINE = re.compile(r"^(?P<label>[^:]+): (?P<done>\d+)/(?P<total>\d+) (?P<unit>\w+), elapsed \S+, ")


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def _reporter(clock: Clock, **kwargs) -> tuple[Reporter, io.StringIO]:
    out = io.StringIO()
    kwargs.setdefault("timer", False)
    return Reporter("sweep s", "runs", stream=out, tty=False, clock=clock, **kwargs), out


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (5.9, "5s"), (59, "59s"), (60, "1m00s"), (65, "1m05s"), (7384, "2h03m04s")],
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_lines_at_start_every_ten_seconds_and_at_the_end():
    clock = Clock()
    rep, out = _reporter(clock)
    rep.start()
    assert out.getvalue() == ""  # the start line waits for the total
    rep.update(0, 10)
    assert _lines(out) == ["sweep s: 0/10 runs, elapsed 0s, ETA ?"]
    clock.t = 4.0
    rep.update(2)  # not yet due: 4 s since the last line
    assert len(_lines(out)) == 1
    clock.t = 10.0
    assert rep.tick()
    # 2 runs in 10 s: 8 left at 0.2 per second.
    assert _lines(out)[-1] == "sweep s: 2/10 runs, elapsed 10s, ETA 40s"
    clock.t = 19.9
    rep.update(5)
    assert not rep.tick() and len(_lines(out)) == 2
    clock.t = 20.0
    rep.update(6)  # an update writes the line once it is due
    assert _lines(out)[-1] == "sweep s: 6/10 runs, elapsed 20s, ETA 13s"  # 20 * 4 / 6 = 13.3
    clock.t = 25.0
    rep.update(10)  # not due: the end line follows at once
    rep.close()
    assert _lines(out)[-1] == "sweep s: 10/10 runs, elapsed 25s, done"
    assert len(_lines(out)) == 4
    rep.close()  # idempotent
    assert len(_lines(out)) == 4


def test_resumed_work_does_not_count_in_the_rate():
    clock = Clock()
    rep, out = _reporter(clock)
    rep.start()
    clock.t = 2.0
    rep.update(40, 100)  # 40 runs were stored before: found, not computed
    clock.t = 12.0
    rep.update(50)
    # 10 runs in the 10 s since the first update: 50 left take 50 s (not 12 * 50 / 50).
    assert rep.line() == "sweep s: 50/100 runs, elapsed 12s, ETA 50s"
    rep.close()
    assert _lines(out)[-1] == "sweep s: 50/100 runs, elapsed 12s, stopped"  # short of total


@pytest.mark.parametrize(("rate", "total", "t"), [(0.5, 100, 30.0), (3.0, 1000, 7.0), (1, 9, 8)])
def test_eta_at_a_constant_rate_is_the_remaining_work_over_the_rate(rate, total, t):
    task = Task("x", "runs", total, started=0.0, baseline=0, first_at=0.0)
    task.done = int(rate * t)
    assert task.done == rate * t  # whole items at these rates and times
    assert task.eta(t) == pytest.approx((total - task.done) / rate, rel=1e-12)
    task.done = total
    assert task.eta(t) == 0.0


def test_the_timer_writes_a_line_when_no_update_comes():
    clock = Clock()
    rep, out = _reporter(clock, timer=True)
    with rep:
        rep.update(0, 1)  # one long run: nothing finishes
        assert len(_lines(out)) == 1
        clock.t = 9.9
        time.sleep(0.8)  # the timer wakes at least every 0.5 s: not due yet
        assert len(_lines(out)) == 1
        clock.t = 10.0
        deadline = time.monotonic() + 5.0
        while len(_lines(out)) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _lines(out)[1] == "sweep s: 0/1 runs, elapsed 10s, ETA ?"
        clock.t = 25.0
        deadline = time.monotonic() + 5.0
        while len(_lines(out)) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _lines(out)[2] == "sweep s: 0/1 runs, elapsed 25s, ETA ?"
    assert rep._thread is not None and not rep._thread.is_alive()


def test_the_timer_keeps_real_time():
    out = io.StringIO()
    with Reporter("x", "runs", 3, stream=out, tty=False, every=0.05):
        time.sleep(0.6)
    lines = _lines(out)
    # start + about one line per 0.05 s + end; a loaded machine may skip some wake-ups.
    assert 4 <= len(lines) <= 16, lines
    assert all(LINE.match(line) for line in lines)


def test_delay_keeps_short_work_silent_and_long_work_visible():
    clock = Clock()
    rep, out = _reporter(clock, delay=10.0)
    with rep:
        rep.update(0, 100)
        clock.t = 3.0
        rep.update(100)
    assert out.getvalue() == ""
    clock.t = 0.0
    rep, out = _reporter(clock, delay=10.0)
    with rep:
        rep.update(0, 100)
        clock.t = 10.0
        rep.update(50)
        clock.t = 15.0
    assert _lines(out) == [
        "sweep s: 50/100 runs, elapsed 10s, ETA 10s",
        "sweep s: 50/100 runs, elapsed 15s, stopped",
    ]


def test_work_without_a_total_says_running_then_done():
    clock = Clock()
    out = io.StringIO()
    with Reporter("ntk n=4", "", stream=out, tty=False, clock=clock, timer=False) as rep:
        clock.t = 12.0
        rep.tick()
        clock.t = 16.5
    assert _lines(out) == [
        "ntk n=4: running, elapsed 0s",
        "ntk n=4: running, elapsed 12s",
        "ntk n=4: done, elapsed 16s",
    ]


def test_an_error_ends_with_stopped_and_quiet_prints_nothing():
    clock = Clock()
    rep, out = _reporter(clock)
    with pytest.raises(RuntimeError), rep:
        rep.update(1, 4)
        raise RuntimeError("boom")
    assert _lines(out)[-1] == "sweep s: 1/4 runs, elapsed 0s, stopped"
    quiet = io.StringIO()
    with Reporter("q", stream=quiet, tty=False, enabled=False, clock=clock) as rep:
        rep.update(1, 2)
        clock.t = 100.0
        rep.update(2)
    assert quiet.getvalue() == ""


def test_progress_goes_to_stderr_never_stdout(capsys):
    with Reporter("sweep s", "runs", 2, every=0.01) as rep:
        rep.update(1)
        time.sleep(0.05)
        rep.update(2)
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert lines[0] == "sweep s: 0/2 runs, elapsed 0s, ETA ?"
    assert lines[-1].startswith("sweep s: 2/2 runs, elapsed ") and lines[-1].endswith(", done")


def test_reproduce_lines_show_studies_and_the_current_study():
    clock = Clock()
    out = io.StringIO()
    bar = StudyProgress(2, stream=out, tty=False, clock=clock, timer=False)
    with bar:
        bar("du-two-layer", -1, -1)
        bar("du-two-layer", 0, 4)
        clock.t = 10.0
        bar("du-two-layer", 2, 4)
        clock.t = 20.0
        bar("depth", -1, -1)
        bar("depth", 3, 6)  # 3 found stored
        clock.t = 30.0
        bar("depth", 4, 6)
        bar("writing report", -2, -2)
        clock.t = 45.0
    lines = _lines(out)
    assert lines[0] == "reproduce: 0/2 studies, elapsed 0s, ETA ?"
    assert lines[1] == (
        "reproduce: 0/2 studies, elapsed 10s, ETA ? | du-two-layer: 2/4 runs, elapsed 10s, ETA 10s"
    )
    # The new study's segment appears before its first update (its total is not known yet).
    assert lines[2] == "reproduce: 1/2 studies, elapsed 20s, ETA 20s | depth: running, elapsed 0s"
    # 1 of the 3 runs left took 10 s (the 3 stored do not count): 2 more take 20 s.
    assert lines[3] == (
        "reproduce: 1/2 studies, elapsed 30s, ETA 30s | depth: 4/6 runs, elapsed 10s, ETA 20s"
    )
    assert lines[4] == (
        "reproduce: 2/2 studies, elapsed 45s, done | writing report: done, elapsed 15s"
    )


def test_train_progress_counts_steps_with_the_loss():
    clock = Clock()
    out = io.StringIO()
    cb = TrainProgress(stream=out, tty=False, clock=clock, timer=False, every=10.0)
    history = SimpleNamespace(status="converged")
    with cb:
        cb.on_start(SimpleNamespace(steps=1000))
        for step in range(1, 400):
            clock.t = step * 0.05  # 20 steps per second
            cb.on_step(SimpleNamespace(step=step, loss=1.0 / step))
        cb.on_end(SimpleNamespace(step=399, steps=1000, history=history))
    lines = _lines(out)
    # Silent for the first 10 s (step 200), then a line, then the end.
    assert lines[0] == "train: 200/1000 steps, elapsed 10s, ETA 40s, loss 5.000e-03"
    assert lines[1] == "train: 399/1000 steps, elapsed 19s, converged, loss 2.506e-03"
    assert len(lines) == 2


SPEC = """
name = "cli-progress"
[base]
parameterization = "zou-gu"
n = 6
d = 4
depth = 2
width = 8
steps = 30
dtype = "float64"
[grid]
seed = [0, 1, 2]
"""


def test_sweep_run_writes_progress_on_stderr_and_json_alone_on_stdout(tmp_path, monkeypatch):
    from overparam import progress
    from overparam.cli import app

    monkeypatch.setattr(progress, "COMMAND_DELAY_S", 0.0)  # this sweep takes well under 1 s

    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    args = ["sweep", "run", str(spec), "--store", str(tmp_path / "r.sqlite"), "--workers", "1"]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["counts"]["done"] == 3
    lines = result.stderr.splitlines()
    assert lines[0] == "sweep cli-progress: 0/3 runs, elapsed 0s, ETA ?"
    assert re.fullmatch(r"sweep cli-progress: 3/3 runs, elapsed \d+s, done", lines[-1]), lines
    quiet = CliRunner().invoke(app, [*args, "--json", "--quiet"])
    assert quiet.exit_code == 0 and quiet.stderr == ""
    assert json.loads(quiet.stdout)["skipped"] == 3
