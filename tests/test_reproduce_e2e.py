"""`overparam reproduce --quick` end to end, as a user runs it: the real studies, the real CLI,
the page checked in headless Chromium; then a second run killed with SIGKILL mid-way and resumed
must end with the same summary of claims."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from browser_helpers import CHROMIUM, inspect_report

pytestmark = pytest.mark.slow

COMMAND = [sys.executable, "-m", "overparam", "reproduce", "--quick"]


def _summary(report: Path) -> str:
    return re.search(r"<table id='summary'>.*?</table>", report.read_text(), re.S).group(0)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, dict, float]:
    out = tmp_path_factory.mktemp("reference")
    start = time.perf_counter()
    proc = subprocess.run(
        [*COMMAND, "--out", str(out), "--json"], capture_output=True, text=True, timeout=1500
    )
    wall = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, json.loads(proc.stdout), wall


def test_quick_suite_writes_report(reference, tmp_path):
    out, summary, wall = reference
    print(f"reproduce --quick: {wall:.1f} s wall, {summary['executed_runs']} runs")
    report = out / "report.html"
    assert Path(summary["report"]).resolve() == report.resolve()
    assert summary["claims"], "every study contributes claims"
    studies = {c["study"] for c in summary["claims"]}
    assert studies == set(summary["studies"])
    pngs = sorted((out / "figures").glob("*.png"))
    assert pngs and all(p.stat().st_size > 0 for p in pngs)
    assert len(list((out / "figures").glob("*.svg"))) == len(pngs)
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed")
    seen, console = inspect_report(report, tmp_path)
    assert console == [], console
    assert seen["svgs"] == len(pngs)  # every figure inline as SVG
    assert seen["images"] == seen["decoded"]  # and any PNG fallback decodes
    assert seen["summaryRows"] == 1 + len(summary["claims"])
    assert seen["external"] == 0


def _done_runs(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT COUNT(*) FROM runs WHERE status = 'done'").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_killed_and_resumed_gives_the_same_report(reference, tmp_path):
    out_ref, summary, _ = reference
    out = tmp_path / "resumed"
    proc = subprocess.Popen(
        [*COMMAND, "--out", str(out), "--json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 600
    target = max(2, summary["executed_runs"] // 3)
    while _done_runs(out / "results.sqlite") < target and time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    killed = proc.poll() is None
    if killed:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert killed, "the run finished before it could be killed"
    partial = _done_runs(out / "results.sqlite")
    assert 0 < partial < summary["executed_runs"]
    resumed = subprocess.run(
        [*COMMAND, "--out", str(out), "--json"], capture_output=True, text=True, timeout=1500
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    again = json.loads(resumed.stdout)
    assert again["executed_runs"] <= summary["executed_runs"] - partial + 2
    with sqlite3.connect(out / "results.sqlite") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        dup = conn.execute("SELECT COUNT(*) - COUNT(DISTINCT config_hash) FROM runs").fetchone()[0]
        assert dup == 0
    assert again["claims"] == summary["claims"]
    assert _summary(out / "report.html") == _summary(out_ref / "report.html")
