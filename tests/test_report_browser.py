"""The default report as a reader sees it, in headless Chromium at 1400 and 800 px: no page
overflow, wide figures across the content, every figure's text at least 10 px, every in-page link
resolved, the verdict totals equal to the summary's rows, MathML laid out, no console message.
Full-page screenshots go to ``$OVERPARAM_ARTIFACTS`` (default: the test's temporary folder)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from report_browser import AVAILABLE, look

from overparam.studies import reproduce as R

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not AVAILABLE, reason="Debian's chromium or playwright is missing"),
]

#: Smallest text a reader can read at the rendered size, in CSS px.
MIN_TEXT_PX = 10.0
#: A wide (multi-panel) figure spans at least this fraction of the content width.
WIDE_FRACTION = 0.9


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("quick")
    return R.reproduce(out=out, quick=True, executor="local", workers=1).report


@pytest.mark.parametrize("width", [1400, 800])
def test_the_report_reads_at_every_width(report, width, tmp_path):
    artifacts = Path(os.environ.get("OVERPARAM_ARTIFACTS", tmp_path))
    artifacts.mkdir(parents=True, exist_ok=True)
    seen, messages = look(report, width, screenshot=artifacts / f"report-{width}.png")
    print(
        f"{width} px: page height {seen['height']} px, {len(seen['figures'])} figures, smallest "
        f"text {min(f['smallest'] for f in seen['figures']):.1f} px"
    )
    assert messages == []
    assert seen["scrollWidth"] <= seen["viewport"], "the page scrolls sideways"
    assert seen["figures"] and all(f["hasSvg"] for f in seen["figures"])
    for f in seen["figures"]:
        assert f["smallest"] >= MIN_TEXT_PX, f
        assert f["link"].startswith("figures/") and (report.parent / f["link"]).exists(), f
        if f["wide"]:
            assert f["width"] >= WIDE_FRACTION * min(seen["content"], f["displayPx"]), f
    assert seen["links"] > 0 and seen["broken"] == []
    assert seen["totals"] == seen["summaryRows"] > 0
    assert seen["maths"] and all(w > 0 and h > 0 for w, h in seen["maths"])
