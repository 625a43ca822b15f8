"""The report pipeline: studies through the store, resumable, regenerated from stored results,
and the HTML checked in a real browser (Debian's headless Chromium)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from browser_helpers import CHROMIUM, inspect_report

from overparam.config import build_config
from overparam.report import plots
from overparam.report import reproduce as R
from overparam.report.html import render
from overparam.report.study import Claim, FigureSpec, Study, StudyResult


def _plan(quick: bool):
    widths = (16, 32) if quick else (16, 32, 64)
    return [
        build_config(n=8, d=4, width=w, depth=1, steps=30, seed=s, dtype="float64")
        for w in widths
        for s in (0, 1)
    ]


def _measure(quick: bool) -> pd.DataFrame:
    return pd.DataFrame({"width": [16, 32], "value": [0.5, 0.25]})


def _analyze(data) -> StudyResult:
    fig, (ax,) = plots.new_figure()
    stats = plots.mean_band(data.runs, "width", "final_loss")
    plots.plot_band(ax, stats, "width", label="final loss")
    plots.loglog(ax, "width m", "final loss")
    slope = float(
        np.polyfit(np.log(data.measurements["width"]), np.log(data.measurements["value"]), 1)[0]
    )
    claims = [
        Claim("toy slope", "zou-gu-2019, Lemma 4.2", f"{slope:.3f}", "-1", "holds"),
        Claim("runs stored", "-", str(len(data.runs)), "-", "holds"),
    ]
    return StudyResult(claims, [FigureSpec("loss", "final loss against width", fig)])


@pytest.fixture()
def toy_study(monkeypatch):
    registry = {"toy": Study("toy", "Toy study", "zou-gu-2019", _plan, _analyze, _measure)}
    monkeypatch.setattr(R, "load_studies", lambda: registry)
    return registry["toy"]


def _summary(html_text: str) -> str:
    return re.search(r"<table id='summary'>.*?</table>", html_text, re.S).group(0)


def test_reproduce_stores_resumes_and_regenerates(tmp_path, toy_study):
    out = tmp_path / "out"
    first = R.reproduce(out=out, quick=True, executor="local", workers=1)
    assert first.executed == 4
    assert {c["claim"]: c["measured"] for c in first.claims}["runs stored"] == "4"
    assert {c["claim"]: c["measured"] for c in first.claims}["toy slope"] == "-1.000"
    again = R.reproduce(out=out, quick=True, executor="local", workers=1)
    assert again.executed == 0  # everything was stored already
    html_first = (out / "report.html").read_text()
    # `overparam report` path: regenerate from the store alone, without training.
    path, claims = R.write_report(out / "results.sqlite", tmp_path / "again.html")
    assert claims == first.claims
    assert _summary(path.read_text()) == _summary(html_first)
    assert (out / "figures" / "toy-loss.png").stat().st_size > 0
    assert (out / "figures" / "toy-loss.svg").stat().st_size > 0
    # The full mode is another experiment: it trains the runs quick mode lacks (width 64).
    full = R.reproduce(out=out, quick=False, executor="local", workers=1)
    assert full.executed == 2


def test_unknown_study_is_a_config_error(toy_study):
    from overparam.errors import ConfigError

    with pytest.raises(ConfigError, match="only: got 'nope'; allowed: toy"):
        R.select(["nope"])


def test_broken_analysis_keeps_the_others(tmp_path, monkeypatch, capsys):
    def broken(data):
        raise RuntimeError("analysis exploded")

    registry = {
        "good": Study("good", "Good", "-", _plan, _analyze, _measure),
        "bad": Study("bad", "Bad", "-", _plan, broken, None),
    }
    monkeypatch.setattr(R, "load_studies", lambda: registry)
    result = R.reproduce(out=tmp_path, quick=True, executor="local", workers=1)
    text = result.report.read_text()
    assert "analysis failed: RuntimeError: analysis exploded" in text
    assert [c["study"] for c in result.claims] == ["good", "good"]


def test_html_escapes_and_embeds(tmp_path):
    from overparam.report.html import FigureFile, Section

    fig, (ax,) = plots.new_figure()
    ax.plot([1, 2], [1, 4])
    png, _ = plots.save(fig, tmp_path, "f")
    section = Section(
        "s",
        "<Title>",
        "src",
        "",
        [Claim("a<b", "x", "1", "2", "holds")],
        [FigureFile("f", "caption & more", png)],
    )
    text = render([section], title="t", meta={"k": "v"})
    assert "a&lt;b" in text and "&lt;Title&gt;" in text and "caption &amp; more" in text
    assert "src='data:image/png;base64," in text
    assert "http://" not in text and "https://" not in text


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_report_in_headless_chromium(tmp_path, toy_study):
    result = R.reproduce(out=tmp_path / "out", quick=True, executor="local", workers=1)
    seen, console = inspect_report(result.report, tmp_path)
    assert console == [], console
    assert seen["images"] == 1 and seen["decoded"] == 1
    assert all(w > 0 and h > 0 for w, h in seen["sizes"])
    assert seen["summaryRows"] == 1 + len(result.claims)
    assert "toy slope" in seen["summaryText"]
    assert seen["external"] == 0
