"""Study ``linear-rate``: its plan runs Du et al.'s Theorem 5.1 with smooth activations (ReLU
beside them), and its claims are judged on the stored rows as recomputed here by hand."""

from __future__ import annotations

import dataclasses

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from overparam.store import load
from overparam.studies import linear_rate as lr
from overparam.studies.reproduce import run_studies, study_data
from overparam.studies.study import StudyData

TINY = lr.Size(widths=(32, 64, 128), seeds=(0, 1), steps=40, activations=("softplus", "relu"))


@pytest.mark.parametrize("scale", ["quick", "full"])
def test_plan_runs_the_theorem_with_smooth_activations(scale):
    cfgs = lr.STUDY.configs(scale)
    assert len({c.config_hash() for c in cfgs}) == len(cfgs)
    acts = {c.activation for c in cfgs}
    assert "softplus" in acts and "relu" in acts
    assert (scale == "full") == ("tanh" in acts)
    assert {(c.parameterization, c.depth, c.dtype) for c in cfgs} == {("du", 2, "float64")}
    widths = sorted({c.width for c in cfgs})
    assert widths[-1] / widths[0] >= 16


def _judged(data: StudyData) -> dict:
    res = lr.STUDY.analyze(data)
    for f in res.figures:
        plt.close(f.figure)
    return {j.key: j for j in res.judgements}, res


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> StudyData:
    path = tmp_path_factory.mktemp("linear-rate") / "results.sqlite"
    study = dataclasses.replace(lr.STUDY, plan=lambda scale: lr.plan_for(TINY, scale))
    run_studies([study], store_path=path, scale="quick", executor="batched")
    data = study_data(load(path), path, study, "quick")
    assert (data.runs["status"] == "done").all()
    return data


def _worst_envelope(data: StudyData, activation_is_relu: bool) -> float:
    rho = data.probes[data.probes["quantity"] == "contraction"].groupby("run_id")["bound"].first()
    act = data.runs.set_index("run_id")["activation"]
    worst = 0.0
    for rid, c in data.losses.groupby("run_id"):
        if (act[rid] == "relu") != activation_is_relu:
            continue
        c = c.sort_values("step")
        loss, t = c["loss"].to_numpy(), c["step"].to_numpy()
        worst = max(worst, float(np.max(loss[1:] / loss[0] / rho[rid] ** t[1:])))
    return worst


def test_claims_on_stored_runs_match_a_hand_computation(stored):
    judged, res = _judged(stored)
    assert [f.name for f in res.figures] == ["loss_curves", "kernel_regime"]
    assert judged["rate"].tightness == pytest.approx(_worst_envelope(stored, False), rel=1e-9)
    assert judged["rate"].verdict in ("consistent", "contradicted")
    assert judged["rate-relu"].verdict == "outside assumptions"
    assert "activation = relu" in judged["rate-relu"].reason
    # the prediction slope: a least-squares fit of the smooth runs' last-step errors
    p = stored.probes
    p = p[p["quantity"] == "loss_curve_error"]
    last = p[p["step"] == p.groupby("run_id")["step"].transform("max")]
    cols = ["run_id", "width", "activation"]
    last = last.merge(stored.runs[cols], on="run_id", suffixes=("_probe", ""))
    last = last[last["activation"] != "relu"]
    slope = np.polyfit(np.log(last["width"]), np.log(last["value"]), 1)[0]
    assert judged["prediction"].measured.startswith(f"slope {slope:.3g} ")
    lam = stored.probes[stored.probes["quantity"] == "lambda_min"]
    lam = lam.merge(stored.runs[["run_id", "activation"]], on="run_id", suffixes=("_probe", ""))
    lam = lam[lam["activation"] != "relu"]
    assert judged["kernel-conditioned"].tightness == pytest.approx(
        float((lam["value"] / lam["bound"]).min())
    )


def test_rate_verdict_follows_the_losses(stored):
    rho = stored.probes[stored.probes["quantity"] == "contraction"]
    rho = rho.groupby("run_id")["bound"].first()
    L = stored.losses.copy()
    r = L["run_id"].map(rho)
    for curve, verdict in ((r ** (2.0 * L["step"]), "consistent"),
                           (r ** (0.5 * L["step"]), "contradicted")):  # fmt: skip
        losses = L.assign(loss=np.where(L["step"] == 0, 1.0, curve))
        data = dataclasses.replace(stored, losses=losses)
        assert _judged(data)[0]["rate"].verdict == verdict


def test_nothing_stored_is_inconclusive():
    empty = pd.DataFrame()
    judged, res = _judged(StudyData(empty, empty, empty, empty))
    assert {j.verdict for j in judged.values()} == {"inconclusive"} and not res.figures
