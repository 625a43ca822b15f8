"""The report pipeline: studies through the store, resumable, regenerated from stored results,
the verdicts counted, and the HTML checked in a real browser (Debian's headless Chromium)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from browser_helpers import CHROMIUM
from study_helpers import grid_plan, use_studies

from overparam.report.html import FigureFile, Section, render
from overparam.studies import plots
from overparam.studies import reproduce as R
from overparam.studies.claims import Claim, Judgement, Ratio, Slope, Threshold
from overparam.studies.study import Context, Evidence, FigureSpec, Study

WIDTHS = {"quick": (16, 32), "full": (16, 32, 64)}


def _measure(scale: str) -> pd.DataFrame:
    w = np.array([16, 32, 64, 128])
    return pd.DataFrame({"width": w, "value": 8.0 / w})


CLAIMS = (
    Claim(
        "toy-slope",
        "the toy value falls like m^(-1)",
        cite="zou-gu-2019, Lemma 4.2",
        quantity="value",
        test=Slope(-1.0, 0.1),
    ),
    Claim(
        "loss-falls",
        "GD lowers the loss",
        cite="zou-gu-2019, Theorem 3.3",
        quantity="final_loss",
        test=Ratio(bound="initial_loss"),
    ),
    Claim(
        "runs",
        "every run took at least one step",
        cite="zou-gu-2019, Theorem 3.3",
        quantity="steps",
        test=Threshold(at_least=1),
    ),
)


def _evidence(data) -> Evidence:
    fig, (ax,) = plots.new_figure()
    stats = plots.mean_band(data.runs, "width", "final_loss")
    plots.plot_band(ax, stats, "width", label="final loss")
    plots.loglog(ax, "width m", "final loss")
    return Evidence(
        frames={"toy-slope": data.measurements, "loss-falls": data.runs, "runs": data.runs},
        figures=[FigureSpec("loss", "final loss against width", fig)],
        context=[Context("runs stored", str(len(data.runs)), why="a count")],
    )


def _toy(name: str = "toy", evidence=_evidence) -> Study:
    return Study(
        name=name,
        title="Toy study",
        cites=("zou-gu-2019",),
        description="",
        claims=CLAIMS,
        plan=grid_plan(name, WIDTHS),
        evidence=evidence,
        measure=_measure,
    )


@pytest.fixture()
def toy_study(monkeypatch):
    study = _toy()
    use_studies(monkeypatch, study)
    return study


def _summary(html_text: str) -> str:
    return re.search(r"<table id='summary'>.*?</table>", html_text, re.S).group(0)


def test_reproduce_stores_resumes_and_regenerates(tmp_path, toy_study):
    out = tmp_path / "out"
    first = R.reproduce(out=out, quick=True, executor="local", workers=1)
    assert first.executed == 4
    by_key = {c["key"]: c for c in first.claims}
    assert by_key["toy-slope"]["verdict"] == "consistent"
    assert by_key["toy-slope"]["tightness"] == pytest.approx(1.0)
    assert by_key["runs"]["measured"].endswith("over 4 rows")
    assert first.verdicts == {
        "consistent": sum(c["verdict"] == "consistent" for c in first.claims),
        "contradicted": sum(c["verdict"] == "contradicted" for c in first.claims),
        "inconclusive": sum(c["verdict"] == "inconclusive" for c in first.claims),
        "vacuous": 0,
        "outside assumptions": 0,
    }
    again = R.reproduce(out=out, quick=True, executor="local", workers=1)
    assert again.executed == 0  # everything was stored already
    html_first = (out / "report.html").read_text()
    # `overparam report` path: regenerate from the store alone, without training.
    report = R.build_report(out / "results.sqlite", tmp_path / "again.html")
    assert report.claims == first.claims
    assert _summary(report.path.read_text()) == _summary(html_first)
    assert (out / "figures" / "toy-loss.png").stat().st_size > 0
    assert (out / "figures" / "toy-loss.svg").stat().st_size > 0
    # The full scale is another experiment: it trains the runs quick lacks (width 64).
    full = R.reproduce(out=out, quick=False, executor="local", workers=1)
    assert full.executed == 2


def test_summary_counts_each_verdict(tmp_path, toy_study):
    result = R.reproduce(out=tmp_path, quick=True, executor="local", workers=1)
    text = result.report.read_text()
    counts = dict(re.findall(r"data-verdict='([a-z ]+)' data-count='(\d+)'", text))
    assert {k: int(v) for k, v in counts.items()} == result.verdicts
    rows = re.findall(r"<tr class='\w+' data-verdict='([a-z ]+)'", _summary(text))
    assert len(rows) == len(result.claims) == sum(result.verdicts.values())
    assert "runs stored" in text  # context is shown, not judged


def test_report_command_writes_each_format(tmp_path, toy_study):
    """``overparam report --format md|json`` writes report.md / report.json beside the store
    (or at ``--out``) with the claims and counts ``--json`` prints; a bad format is one line."""
    import json

    from typer.testing import CliRunner

    from overparam.cli import app

    first = R.reproduce(out=tmp_path, quick=True, executor="local", workers=1)
    store, runner = str(tmp_path / "results.sqlite"), CliRunner()
    for fmt in ("md", "json"):
        done = runner.invoke(app, ["report", "--store", store, "--format", fmt, "--json"])
        assert done.exit_code == 0, done.output
        summary = json.loads(done.stdout)
        assert summary["report"] == str(tmp_path / f"report.{fmt}")
        assert summary["claims"] == first.claims and summary["verdicts"] == first.verdicts
    payload = json.loads((tmp_path / "report.json").read_text())
    assert payload["claims"] == first.claims and payload["verdicts"] == first.verdicts
    assert payload["runs"] == first.runs
    md = (tmp_path / "report.md").read_text()
    assert len(re.findall(r"^\| <a id=\"summary-toy-", md, re.M)) == len(first.claims)
    out = tmp_path / "elsewhere" / "draft.md"
    done = runner.invoke(app, ["report", "--store", store, "--format", "md", "--out", str(out)])
    assert done.exit_code == 0 and out.read_text().startswith("# overparam")
    bad = runner.invoke(app, ["report", "--store", store, "--format", "pdf"])
    assert bad.exit_code == 2 and bad.stdout == ""
    assert bad.stderr.strip() == "error: format: got 'pdf'; allowed: html, md, json"


def test_unknown_study_is_a_config_error(toy_study):
    from overparam.errors import ConfigError
    from overparam.studies.registry import select

    with pytest.raises(ConfigError, match="only: got 'nope'; allowed: toy"):
        select(["nope"])


def test_broken_analysis_keeps_the_others(tmp_path, monkeypatch, capsys):
    def broken(data):
        raise RuntimeError("analysis exploded")

    use_studies(monkeypatch, _toy("good"), _toy("bad", broken))
    result = R.reproduce(out=tmp_path, quick=True, executor="local", workers=1)
    text = result.report.read_text()
    assert "analysis failed: RuntimeError: analysis exploded" in text
    assert [c["study"] for c in result.claims] == ["good"] * len(CLAIMS)


def test_a_frame_for_an_undeclared_claim_is_refused(tmp_path, monkeypatch, capsys):
    def stray(data):
        return Evidence(frames={"not-declared": data.runs})

    use_studies(monkeypatch, _toy("stray", stray))
    result = R.reproduce(out=tmp_path, quick=True, executor="local", workers=1)
    assert "evidence.frames: got &#x27;not-declared&#x27;" in result.report.read_text()


def test_html_escapes_and_embeds(tmp_path):
    fig, (ax,) = plots.new_figure()
    ax.plot([1, 2], [1, 4])
    png, svg = plots.save(fig, tmp_path, "f")
    judged = Judgement("k", "a<b", "zou-gu-2019, Lemma 4.2", "consistent", "1", "2")
    section = Section("s", "<Title>", "src", "", [judged], [FigureFile("f", "caption & more", png)])
    text = render([section], title="t", meta={"k": "v"})
    assert "a&lt;b" in text and "&lt;Title&gt;" in text and "caption &amp; more" in text
    # the SVG inline (its <text> elements included), a link to its file around it
    figure = re.search(r"<figure [^>]*><a class='figlink' href='figures/f.svg'><svg .*?</svg></a>",
                       text, re.S)  # fmt: skip
    assert figure is not None and "<?xml" not in text and "src='data:" not in text
    assert len(re.findall(r"<text\b", figure.group(0))) == len(
        re.findall(r"<text\b", svg.read_text())
    )
    assert "http://" not in text and "https://" not in text
    svg.unlink()  # without it, the PNG as a data URI
    text = render([section], title="t", meta={"k": "v"})
    assert "src='data:image/png;base64," in text and "<svg" not in text


#: What the page's reader sees: overflow, figures, the summary's visible rows.
SEEN = """() => {
  const de = document.documentElement;
  const rows = Array.from(document.querySelectorAll('#summary tbody tr'));
  return {
    scrollWidth: de.scrollWidth, clientWidth: de.clientWidth,
    figures: Array.from(document.querySelectorAll('figure svg')).map(s => {
      const r = s.getBoundingClientRect(); return [r.width, r.height]; }),
    visible: rows.filter(r => !r.hidden).map(r => [r.dataset.verdict,
      r.cells[5].getAttribute('data-sort')]),
    count: (document.getElementById('filter-count') || {}).textContent,
  };
}"""


def _open(browser, url: str, width: int):
    """A page of ``width`` CSS px at ``url``, with the console lines and requests it makes."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    console, requests = [], []
    page.on("console", lambda m: console.append(m.text))
    page.on("pageerror", lambda e: console.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(url)
    return page, console, requests


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_report_in_headless_chromium(tmp_path, toy_study):
    """No request leaves the page, nothing is logged, nothing overflows at 800 or 1400 px; the
    summary sorts by a column and filters by verdict."""
    sync_api = pytest.importorskip("playwright.sync_api")
    result = R.reproduce(out=tmp_path / "out", quick=True, executor="local", workers=1)
    url, n = result.report.as_uri(), len(result.claims)
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            for width in (800, 1400):
                page, console, requests = _open(browser, url, width)
                seen = page.evaluate(SEEN)
                assert console == [] and requests == [url]
                assert seen["scrollWidth"] <= seen["clientWidth"] == width
                assert len(seen["figures"]) == 1
                assert all(0 < w <= 490.5 and h > 0 for w, h in seen["figures"])
                assert len(seen["visible"]) == n and seen["count"] == f"{n} of {n} claims shown"
            tightness = page.locator("#summary thead th", has_text="tightness")
            tightness.click()
            keys = [k for _, k in page.evaluate(SEEN)["visible"]]
            numbers = [float(k) for k in keys if k]
            assert numbers == sorted(numbers) and len(numbers) >= 2
            assert keys == [k for k in keys if k] + [k for k in keys if not k]  # empty last
            tightness.click()
            again = [float(k) for _, k in page.evaluate(SEEN)["visible"] if k]
            assert again == sorted(numbers, reverse=True)
            page.select_option("#filter-verdict", "consistent")
            seen = page.evaluate(SEEN)
            want = result.verdicts["consistent"]
            assert [v for v, _ in seen["visible"]] == ["consistent"] * want
            assert seen["count"] == f"{want} of {n} claims shown"
            page.select_option("#filter-verdict", "")
            page.click("#summary tbody tr >> a >> nth=0")
            assert page.evaluate("location.hash").startswith("#claim-toy-")
            assert console == []
        finally:
            browser.close()
