"""Study ``no-critical-points``: its plan trains both papers' ReLU networks, and its claims are
judged on stored rows as recomputed here by hand; each verdict follows the data when the
stored values are replaced by ones built so that the answer is known."""

from __future__ import annotations

import dataclasses

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from overparam.store import load
from overparam.studies import assert_falsifiable
from overparam.studies import no_critical_points as nc
from overparam.studies.claims import EPS
from overparam.studies.reproduce import run_studies, study_data
from overparam.studies.study import StudyData

# 30 steps: the same code paths as the real plan in about a second (the runs need not converge)
TINY = nc.Size(widths=(16, 32, 64), seeds=(0, 1), steps=30)


@pytest.mark.parametrize("scale", ["quick", "full"])
def test_plan_is_both_networks_at_every_width_and_seed(scale):
    s = nc.SIZES[scale]
    cfgs = nc.STUDY.configs(scale)
    assert len({c.config_hash() for c in cfgs}) == len(cfgs)
    got = [(c.parameterization, c.seed, c.width) for c in cfgs]
    want = [(p, q, w) for p in nc.PARAMETERIZATIONS for q in s.seeds for w in s.widths]
    assert got == want
    assert {(c.depth, c.n, c.d, c.dtype, c.activation) for c in cfgs} == {
        (nc.DEPTH, nc.N, nc.D, "float64", "relu")
    }
    assert all(c.target_ratio == nc.TARGET_RATIO and c.steps == nc.STEPS for c in cfgs)
    probes = {p.split(":")[0] for c in cfgs for p in c.probes}
    assert probes == {"gradient_ratio", "semi_smoothness"}
    assert s.widths[-1] / s.widths[0] >= 16


def test_every_claim_is_falsifiable():
    for claim in nc.CLAIMS:
        assert_falsifiable(claim)


@pytest.fixture
def no_figures(monkeypatch):
    """Verdict tests skip drawing (about a second per analysis on one core)."""
    monkeypatch.setattr(nc, "_figures", lambda data, t: [])


def _judged(data: StudyData) -> tuple[dict, object]:
    res = nc.STUDY.analyze(data)
    for f in res.figures:
        plt.close(f.figure)
    return {j.key: j for j in res.judgements}, res


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> StudyData:
    path = tmp_path_factory.mktemp("no-critical-points") / "results.sqlite"
    study = dataclasses.replace(nc.STUDY, plan=lambda scale: nc.plan_for(TINY, scale))
    run_studies([study], store_path=path, scale="quick", executor="batched")
    data = study_data(load(path), path, study, "quick")
    assert (data.runs["status"] == "done").all() and len(data.runs) == 12
    return data


def _probe(data: StudyData, quantity: str, parameterization: str) -> pd.DataFrame:
    p = data.probes[data.probes["quantity"] == quantity]
    runs = data.runs[["run_id", "parameterization", "width"]]
    p = p.drop(columns=[c for c in ("parameterization", "width") if c in p])
    p = p.merge(runs, on="run_id")
    return p[p["parameterization"] == parameterization]


def test_claims_on_stored_runs_match_a_hand_computation(stored):
    judged, res = _judged(stored)
    assert [f.name for f in res.figures] == [
        "gradient_ratio",
        "gradient_ratio_vs_width",
        "semi_smoothness",
    ]
    az = _probe(stored, "lower_allen_zhu", "allen-zhu")
    assert judged["lower-allen-zhu"].tightness == pytest.approx((az["value"] / az["bound"]).min())
    up = _probe(stored, "upper_allen_zhu", "allen-zhu")
    assert judged["upper-allen-zhu"].tightness == pytest.approx((up["value"] / up["bound"]).max())
    zg = _probe(stored, "lower_zou_gu", "zou-gu")
    assert judged["lower-zou-gu"].tightness == pytest.approx((zg["value"] / zg["bound"]).min())
    for key, rows in (("grows-zou-gu", zg), ("grows-allen-zhu", az)):
        mins = rows.groupby("run_id").agg(width=("width", "first"), v=("value", "min"))
        slope = np.polyfit(np.log(mins["width"]), np.log(mins["v"]), 1)[0]
        assert judged[key].measured.startswith(f"slope {slope:.3f} ")
    for p in nc.PARAMETERIZATIONS:
        res_rows = _probe(stored, "residual", p)
        loss = stored.losses.set_index(["run_id", "step"])["loss"]
        at = loss.loc[list(zip(res_rows["run_id"], res_rows["step"], strict=True))].to_numpy()
        resolved = np.abs(res_rows["value"].to_numpy()) > 64 * EPS["float64"] * at
        r = res_rows[resolved]
        assert judged[f"semi-smooth-{p}"].tightness == pytest.approx(
            (r["value"] / r["bound"]).max()
        )
    done = int((stored.runs["train_status"] == "converged").sum())
    assert judged["never-stalls"].measured.startswith(f"{done} of 12 defined")
    table = res.tables["per_width (median over seeds)"]
    assert len(table) == 6 and set(table["parameterization"]) == set(nc.PARAMETERIZATIONS)


def _with(data: StudyData, quantity: str, parameterization: str, make) -> StudyData:
    """The stored data with one quantity's values replaced by make(rows) on one network."""
    p = data.probes.copy()
    sel = (p["quantity"] == quantity) & p["run_id"].isin(
        data.runs.loc[data.runs["parameterization"] == parameterization, "run_id"]
    )
    width = p.loc[sel, "run_id"].map(data.runs.set_index("run_id")["width"]).astype(float)
    p.loc[sel, "value"] = make(p.loc[sel], width)
    return dataclasses.replace(data, probes=p)


@pytest.mark.parametrize(
    "key, quantity, p, good, bad",
    [
        ("lower-zou-gu", "lower_zou_gu", "zou-gu", 2.0, 0.5),
        ("lower-allen-zhu", "lower_allen_zhu", "allen-zhu", 2.0, 0.5),
        ("upper-allen-zhu", "upper_allen_zhu", "allen-zhu", 0.5, 2.0),
        ("semi-smooth-zou-gu", "residual", "zou-gu", 0.5, 2.0),
        ("semi-smooth-allen-zhu", "residual", "allen-zhu", 0.5, 2.0),
    ],
)
def test_bound_verdicts_follow_the_data(no_figures, stored, key, quantity, p, good, bad):
    """A ratio of 1/2 below the bound is consistent, 2x beyond it contradicted: a constant C
    is no longer absorbed ("holds with constant C" of the former rule)."""
    for factor, verdict in ((good, "consistent"), (bad, "contradicted")):
        data = _with(stored, quantity, p, lambda rows, w, f=factor: f * rows["bound"])
        assert _judged(data)[0][key].verdict == verdict


def test_residuals_within_round_off_are_inconclusive(no_figures, stored):
    data = _with(
        stored, "residual", "zou-gu", lambda rows, w: 1e-20 * rows["bound"] / rows["bound"]
    )
    j = _judged(data)[0]["semi-smooth-zou-gu"]
    assert j.verdict == "inconclusive" and "resolution" in j.reason


@pytest.mark.parametrize("p", nc.PARAMETERIZATIONS)
def test_growth_verdict_follows_the_data(no_figures, stored, p):
    quantity, key = nc.LOWER[p][0], f"grows-{p}"
    for power, verdict in ((1.0, "consistent"), (0.5, "contradicted")):
        data = _with(stored, quantity, p, lambda rows, w, k=power: 3.0 * w**k * (1 + rows["step"]))
        assert _judged(data)[0][key].verdict == verdict


def test_a_run_that_stalls_contradicts(no_figures, stored):
    runs = stored.runs.copy()
    runs["train_status"] = "converged"
    assert _judged(dataclasses.replace(stored, runs=runs))[0]["never-stalls"].verdict == (
        "consistent"
    )
    runs.loc[runs.index[0], "train_status"] = "max_steps"
    assert _judged(dataclasses.replace(stored, runs=runs))[0]["never-stalls"].verdict == (
        "contradicted"
    )


def test_nothing_stored_is_inconclusive():
    empty = pd.DataFrame()
    judged, res = _judged(StudyData(empty, empty, empty, empty))
    assert {j.verdict for j in judged.values()} == {"inconclusive"} and not res.figures
