"""The report's "Your networks" chapter: a user's width sweep and single runs from the store,
judged by the claim engine where a claim can fail, shown as context where none applies, and
read in Chromium like the default report."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import torch
from report_browser import AVAILABLE, look
from torch import nn

from overparam.byon import measure, width_sweep
from overparam.studies import reproduce as R

F64 = torch.float64


class NTKLinear(nn.Module):
    def __init__(self, fan_in: int, fan_out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(fan_out, fan_in, dtype=F64))

    def forward(self, x):
        return x @ self.weight.T / math.sqrt(self.weight.shape[1])


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> tuple[Path, object]:
    path = tmp_path_factory.mktemp("own") / "results.sqlite"
    g = torch.Generator().manual_seed(0)
    X = torch.randn(10, 6, generator=g, dtype=F64)
    X = X / X.norm(dim=1, keepdim=True)
    y = torch.randn(10, 1, generator=g, dtype=F64)

    def make(m):
        return nn.Sequential(NTKLinear(6, m), nn.ReLU(), NTKLinear(m, 1))

    sweep = width_sweep(make, [16, 32, 64], X, y, seeds=(0, 1), steps=8, lr=1.0, probe_every=4,
                        store=str(path))  # fmt: skip
    torch.manual_seed(0)
    measure(make(8), X, y, steps=4, lr=1.0, probes=["movement"], store=str(path),
            experiment="single")  # fmt: skip
    return path, sweep


def test_the_report_judges_the_stored_sweep_as_the_sweep_did(store):
    path, sweep = store
    report = R.build_report(path, path.parent / "report.json", fmt="json")
    data = json.loads(report.path.read_text())
    claims = [c for c in report.claims if c["study"] == "own-width-sweep"]
    assert {c["key"]: c["verdict"] for c in claims} == {j.key: j.verdict for j in sweep.judgements}
    assert not [c for c in report.claims if c["study"] == "own-single"]  # context, not claims
    assert "own-single" in json.dumps(data)
    assert (path.parent / "figures" / "own-width-sweep-scaling.svg").exists()


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(not AVAILABLE, reason="Debian's chromium or playwright is missing")
@pytest.mark.parametrize("width", [1400, 800])
def test_the_own_networks_chapter_reads_at_every_width(store, width, tmp_path):
    path, _ = store
    report = R.build_report(path, path.parent / "report.html").path
    artifacts = Path(os.environ.get("OVERPARAM_ARTIFACTS", tmp_path))
    artifacts.mkdir(parents=True, exist_ok=True)
    seen, messages = look(report, width, screenshot=artifacts / f"own-report-{width}.png")
    assert messages == []
    assert seen["scrollWidth"] <= seen["viewport"]
    assert seen["figures"] and all(f["smallest"] >= 10.0 for f in seen["figures"])
    assert seen["broken"] == [] and seen["totals"] == seen["summaryRows"] == 3
