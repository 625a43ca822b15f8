"""The ``generalization`` study: its plan, a tiny measurement end to end, and its analysis."""

from __future__ import annotations

import pandas as pd
import pytest

from overparam.report.studies import generalization as study
from overparam.report.study import STUDIES, StudyData
from overparam.train.run import run

TINY = study.Scale(
    width=32,
    digits_n=60,
    digits_ns=(20, 30, 60),
    seeds=(0, 1),
    measure_seeds=(0,),
    ntrf_seeds=(0,),
    sphere_n=40,
    sphere_ns=(10, 20, 40),
    n_test=40,
)


def test_registered_with_plan_and_measure():
    s = STUDIES["generalization"]
    assert s is study.STUDY and s.measure is study.measure and "cao-gu-2019" in s.source


@pytest.mark.parametrize("quick", [True, False])
def test_plan_is_algorithm_2_on_digits_over_noise_and_n(quick):
    cfgs = study.plan(quick)
    scale = study.scale_of(quick)
    assert len({c.config_hash() for c in cfgs}) == len(cfgs)
    assert all(c.parameterization == "cao-gu" and c.algorithm == "online-sgd" for c in cfgs)
    assert all(c.steps == c.n and c.lr == 1 / c.width and c.depth == 2 for c in cfgs)
    full = [c for c in cfgs if c.n == scale.digits_n]
    assert sorted({c.noise for c in full}) == list(study.NOISES)
    assert {c.n for c in cfgs if c.noise == 0.0} == set(scale.digits_ns)
    assert {c.seed for c in cfgs} == set(scale.seeds)
    if quick:
        assert len(cfgs) <= 20 and scale.width <= 256 and scale.digits_n <= 300


@pytest.fixture(scope="module")
def tiny_data():
    cfgs = _tiny_plan()
    rows = []
    for c in cfgs:
        h = run(c)
        rows.append(
            {**c.model_dump(mode="json"), "status": "done", "test_accuracy": h.test_accuracy,
             "train_accuracy": h.train_accuracy, "final_loss": h.final_loss}
        )  # fmt: skip
    meas = study.measure_scale(TINY)
    empty = pd.DataFrame()
    return StudyData(pd.DataFrame(rows), empty, empty, meas)


def _tiny_plan():
    points = [(noise, TINY.digits_n) for noise in study.NOISES] + [(0.0, 20), (0.0, 30)]
    return [study.config("digits", p, n, s, TINY) for p, n in points for s in TINY.seeds]


def test_measurements_cover_every_point(tiny_data):
    m = tiny_data.measurements
    for data, ns in (("digits", {20, 30, 60}), ("sphere", {10, 20, 40})):
        n_full = max(ns)
        d = m[m["data"] == data]
        assert sorted(d[d["n"] == n_full]["noise"]) == list(study.NOISES)
        assert set(d["n"]) == ns
        assert (d["bound_analytic"] > d["confidence_term"]).all()
        assert d["bound_empirical"].notna().all()
        ntrf = d[d["n"] == n_full]
        assert (ntrf["ntrf_gap"] <= study.NTRF_TOL).all() and (ntrf["ntrf_loss"] > 0).all()
    assert m["expected_test_error"].between(0, 1).all()  # exact E over the output draw
    assert m[m["data"] == "sphere"]["test_error"].notna().all()
    assert m[m["data"] == "digits"]["test_error"].isna().all() if "test_error" in m else True


def test_analyze_gives_tables_claims_figures_and_the_closing_note(tiny_data):
    res = study.analyze(tiny_data)
    t = res.tables["digits_noise"]
    assert list(t["noise"]) == list(study.NOISES)
    assert t["test_error"].between(0, 1).all() and (t["seeds"] == 2).all()
    assert {"digits_n", "sphere_noise", "sphere_n"} <= set(res.tables)
    texts = [c.claim for c in res.claims]
    assert any("increases with label noise" in c for c in texts)
    assert any("random labels" in c for c in texts)
    assert any("n^(-1/2)" in c for c in texts)
    assert any("NTRF" in c for c in texts)
    assert all(c.verdict in ("holds", "holds with constant C", "does not hold at this scale")
               for c in res.claims)  # fmt: skip
    assert {f.name for f in res.figures} == {"generalization_noise", "generalization_n"}
    assert t["expected_test_error"].between(0, 1).all()
    note = study.closing_note(res)
    assert note.count("digits noise") == len(study.NOISES) and "NTK bound" in note


def test_analyze_verdicts_on_crafted_numbers():
    noise = list(study.NOISES)
    meas = pd.DataFrame(
        {
            "data": "digits", "noise": noise, "n": 100, "seed": 0, "sweep": "noise",
            "complexity_analytic": [10, 20, 30, 40, 50],
            "bound_analytic": [0.5, 0.6, 0.7, 0.8, 0.9],
            "bound_empirical": [0.5, 0.6, 0.7, 0.8, 0.9],
            "confidence_term": 0.1,
        }
    )  # fmt: skip
    runs = pd.DataFrame(
        {"data": "digits", "noise": noise, "n": 100, "seed": 0,
         "test_accuracy": [0.9, 0.85, 0.8, 0.7, 0.5]}
    )  # fmt: skip
    res = study.analyze(StudyData(runs, pd.DataFrame(), pd.DataFrame(), meas))
    verdict = {c.claim: c.verdict for c in res.claims}
    assert verdict["digits: the NTK bound (analytic Theta) increases with label noise"] == "holds"
    assert (
        verdict["digits: the measured test error tracks the bound across noise levels"] == "holds"
    )
    assert (
        verdict["digits: the NTK bound (constants 1) is above the measured test error"] == "holds"
    )
    # a bound that dips is flagged
    dip = meas.assign(bound_analytic=[0.5, 0.4, 0.7, 0.8, 0.9])
    res = study.analyze(StudyData(runs, pd.DataFrame(), pd.DataFrame(), dip))
    verdict = {c.claim: c.verdict for c in res.claims}
    assert (
        verdict["digits: the NTK bound (analytic Theta) increases with label noise"]
        == "does not hold at this scale"
    )


def test_nothing_measured_is_not_measured():
    empty = pd.DataFrame()
    res = study.analyze(StudyData(empty, empty, empty, empty))
    assert [c.verdict for c in res.claims] == ["not measured"]
