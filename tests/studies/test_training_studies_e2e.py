"""``du-two-layer`` and ``width-scaling`` end to end at a tiny scale: planned, trained and
stored by ``run_studies``, read back by ``study_data`` as the report reads it, and analyzed;
the judged numbers are recomputed here from the stored rows."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest

from overparam.store import load
from overparam.studies import du_two_layer as du
from overparam.studies import width_scaling as ws
from overparam.studies.reproduce import run_studies, study_data

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """{name: (study, StudyData)} of both studies trained at a tiny "quick" scale."""
    mp = pytest.MonkeyPatch()
    mp.setitem(du.SIZES, "quick", du.Size((32, 128, 512), (0, 1), 40))
    mp.setitem(ws.SIZES, "quick", ws.Size((32, 64, 128), (0, 1)))
    path = tmp_path_factory.mktemp("training-studies") / "results.sqlite"
    studies = [du.STUDY, ws.STUDY]
    executed = run_studies(studies, store_path=path, scale="quick", workers=1)
    assert executed == sum(len(s.configs("quick")) for s in studies)
    tables = load(path)
    out = {s.name: (s, study_data(tables, path, s, "quick")) for s in studies}
    yield out
    mp.undo()


def _analyze(study, data):
    res = study.analyze(data)
    for f in res.figures:
        plt.close(f.figure)
    return {j.key: j for j in res.judgements}, res


def test_du_two_layer_end_to_end(stored):
    study, data = stored["du-two-layer"]
    assert (data.runs["status"] == "done").all() and len(data.runs) == 6
    j, res = _analyze(study, data)
    assert [f.name for f in res.figures] == ["loss", "pattern_changes", "distance"]
    # Theorem 4.1's worst step, from the stored losses, lr_used and the measured lambda_0
    meas = data.measurements.set_index(["width", "seed"])
    worst = 0.0
    for _, r in data.runs.iterrows():
        c = data.losses[data.losses["run_id"] == r["run_id"]].sort_values("step")
        rho = 1 - r["lr_used"] * meas.loc[(r["width"], r["seed"]), "lambda0"] / 2
        loss, t = c["loss"].to_numpy(), c["step"].to_numpy()
        worst = max(worst, float(np.max(loss[1:] / loss[0] / rho ** t[1:])))
    assert j["rate"].tightness == pytest.approx(worst, rel=1e-9)
    # the flip-fraction slope: numpy's least squares on the stored per-run maxima
    p = data.probes
    flips = p[(p["probe"] == "flips") & (p["quantity"] == "fraction") & (p["layer"] == "W1")]
    v = flips.groupby("run_id")["value"].max()
    w = data.runs.set_index("run_id").loc[v.index, "width"].astype(float)
    slope = np.polyfit(np.log(w), np.log(v), 1)[0]
    assert j["flips-slope"].measured.startswith(f"slope {slope:.3f}")
    assert j["flips-slope"].tightness == pytest.approx(slope / -0.5, rel=1e-9)
    # the distance in Du et al.'s units: stored max_row times sqrt(m / 2), over R'
    t = du.per_run_table(data).set_index("run_id")
    mv = p[(p["probe"] == "movement") & (p["quantity"] == "max_row")].groupby("run_id")["value"]
    dist = mv.max() * np.sqrt(data.runs.set_index("run_id").loc[mv.max().index, "width"] / 2.0)
    assert np.allclose(t.loc[dist.index, "max_distance"], dist, rtol=1e-12)
    assert j["distance-bound"].tightness == pytest.approx(
        float((t["max_distance"] / t["R_prime"]).max()), rel=1e-12
    )
    assert math.isfinite(j["distance-bound"].tightness)


def test_width_scaling_end_to_end(stored):
    study, data = stored["width-scaling"]
    assert (data.runs["status"] == "done").all() and len(data.runs) == 12
    j, res = _analyze(study, data)
    assert len(res.figures) == 5
    for key in ("ntk_drift", "linear_gap"):  # relu runs: outside lee-2019's hypotheses
        assert j[f"zou-gu/{key}"].verdict == "outside assumptions"
    p = data.probes
    for param in ws.PARAMETERIZATIONS:
        rows = p[(p["probe"] == "movement") & (p["quantity"] == "omega")]
        runs = data.runs.set_index("run_id")
        rows = rows[rows["run_id"].map(runs["parameterization"]) == param]
        sup = rows.groupby("run_id").agg(v=("value", "max"))
        sup["w"] = runs.loc[sup.index, "width"]
        slope = np.polyfit(np.log(sup["w"].astype(float)), np.log(sup["v"]), 1)[0]
        assert j[f"{param}/movement"].tightness == pytest.approx(slope / -0.5, rel=1e-9)
        bound = rows.groupby("run_id")["bound"].max()
        ratio = float((sup["v"] / bound.loc[sup.index]).max())
        assert j[f"{param}/movement-bound"].tightness == pytest.approx(ratio, rel=1e-12)
