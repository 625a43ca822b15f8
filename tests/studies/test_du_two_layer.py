"""Study ``du-two-layer``: the plan is Du et al.'s Section 5 setting, the evidence frames equal a
hand computation from the stored rows, and every claim is consistent on data built to satisfy
it and contradicted on data built to violate it."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from overparam.studies import du_two_layer as du
from overparam.studies.claims import assert_falsifiable
from overparam.studies.study import StudyData

WIDTHS, SEEDS, STEPS = (64, 256, 1024), (0, 1), 120
LAM0, LAM_MAX, ETA, L0 = 0.25, 3.5, 1.0 / 3.5, 2.0
A_MAX = {64: 3.0, 256: 3.5, 1024: 4.0}


def _analyze(data: StudyData) -> dict:
    res = du.STUDY.analyze(data)
    for f in res.figures:
        plt.close(f.figure)
    return {j.key: j for j in res.judgements}, res


def crafted(good: bool) -> StudyData:
    """Stored-like frames of 6 runs: curves, flips, distances and measurements that satisfy
    (``good``) or violate every claim."""
    rho = 1.0 - ETA * LAM0 / 2.0
    runs, losses, probes, meas = [], [], [], []
    rid = 0
    for seed in SEEDS:
        for w in WIDTHS:
            rid += 1
            runs.append(
                dict(
                    run_id=rid,
                    status="done",
                    width=w,
                    seed=seed,
                    activation="relu",
                    depth=1,
                    parameterization="du",
                    n=du.N,
                    lr_used=ETA,
                    initial_loss=L0,
                    dtype="float64",
                )
            )
            meas.append(dict(width=w, seed=seed, lambda0=LAM0, lambda_max=LAM_MAX, a_max=A_MAX[w]))
            # good: wider contracts faster, always under rho^t; bad: wider contracts slower,
            # and every curve starts with a step above rho^t
            octaves = math.log2(w / 32)
            q = rho * 0.5**octaves if good else 0.5 ** (1.0 / octaves)
            curve = L0 * q ** np.arange(STEPS + 1)
            if not good:
                curve[1] = 2.0 * L0
            losses += [dict(run_id=rid, step=s, loss=v) for s, v in enumerate(curve)]
            noise = 1.0 + 0.01 * seed
            frac = 0.2 * (w / 64.0) ** (-0.5 if good else 0.3) * noise
            dist_du = 0.05 * A_MAX[w] * (w / 64.0) ** (-0.5 if good else 0.3) * noise
            for s in (0, STEPS // 2, STEPS):
                scale = s / STEPS
                probes.append(
                    dict(
                        run_id=rid,
                        step=s,
                        probe="flips",
                        quantity="fraction",
                        layer="W1",
                        value=frac * scale,
                        bound=np.nan,
                        ratio=np.nan,
                    )
                )
                # stored in the papers' units: Du's distance times sqrt(c_sigma / m)
                probes.append(
                    dict(
                        run_id=rid,
                        step=s,
                        probe="movement",
                        quantity="max_row",
                        layer="W1",
                        value=dist_du * scale * math.sqrt(2.0 / w),
                        bound=np.nan,
                        ratio=np.nan,
                    )
                )
    probes = pd.DataFrame(probes)
    if not good:  # the distance far beyond R': scale every stored distance up 1000-fold
        probes.loc[probes["probe"] == "movement", "value"] *= 1000.0
    return StudyData(
        pd.DataFrame(runs), pd.DataFrame(losses), probes, pd.DataFrame(meas), scale="quick"
    )


def test_plan_is_section_5():
    for scale, runs in (("quick", 6), ("full", 21)):
        cfgs = du.STUDY.configs(scale)
        assert len(cfgs) == runs and len({c.config_hash() for c in cfgs}) == runs
        assert {
            (c.parameterization, c.depth, c.trainable, c.dtype, c.activation.value) for c in cfgs
        } == {("du", 1, "W1", "float64", "relu")}
        widths = sorted({c.width for c in cfgs})
        assert widths[-1] / widths[0] == (16 if scale == "quick" else 64)
        for seed in {c.seed for c in cfgs}:  # one step size per data seed, shared by every width
            assert {c.lr for c in cfgs if c.seed == seed} == {du.step_size(seed)}
            assert sorted(c.width for c in cfgs if c.seed == seed) == widths
    lam_min, lam_max = du.gram_spectrum(0)
    assert 0 < lam_min < lam_max and du.step_size(0) == pytest.approx(1 / lam_max)


def test_every_claim_is_falsifiable():
    for claim in du.CLAIMS:
        assert_falsifiable(claim)


def test_per_run_table_by_hand():
    data = crafted(True)
    t = du.per_run_table(data).set_index("run_id")
    runs = data.runs.set_index("run_id")
    for rid, r in runs.iterrows():
        w, c = r["width"], data.losses[data.losses["run_id"] == rid]
        ratio = c["loss"].to_numpy() / c["loss"].iloc[0]
        steps = c["step"].to_numpy()[ratio <= 1e-6][0]
        assert t.loc[rid, "steps_to_target"] == steps
        assert t.loc[rid, "steps_scaled"] == pytest.approx(steps * ETA * LAM0 / 2, rel=1e-12)
        p = data.probes[(data.probes["run_id"] == rid) & (data.probes["probe"] == "movement")]
        dist = p["value"].max() * math.sqrt(w / 2.0)
        assert t.loc[rid, "max_distance"] == pytest.approx(dist, rel=1e-12)
        assert t.loc[rid, "distance_per_a"] == pytest.approx(dist / A_MAX[w], rel=1e-12)
        r_prime = 4 * math.sqrt(32) * A_MAX[w] * math.sqrt(2 * L0) / (math.sqrt(w) * LAM0)
        assert t.loc[rid, "R_prime"] == pytest.approx(r_prime, rel=1e-12)
        assert t.loc[rid, "rho"] == pytest.approx(1 - ETA * LAM0 / 2)
        f = data.probes[(data.probes["run_id"] == rid) & (data.probes["probe"] == "flips")]
        assert t.loc[rid, "flip_fraction"] == f["value"].max()


@pytest.fixture(scope="module")
def good():
    """The analysis of the satisfying data set: ({key: judgement}, result)."""
    return _analyze(crafted(True))


def test_every_claim_consistent_on_satisfying_data(good):
    j, res = good
    assert {k: v.verdict for k, v in j.items()} == dict.fromkeys(
        [c.key for c in du.CLAIMS], "consistent"
    )
    assert [f.name for f in res.figures] == ["loss", "pattern_changes", "distance"]
    assert all("du-2019-two-layer" in f.caption for f in res.figures)
    # the flips bound sqrt(2/pi) R with R measured is shown, not judged
    assert len(res.context) == 3 and any(r"\sqrt{2/\pi}\, R" in c.label for c in res.context)


def test_every_claim_contradicted_on_violating_data():
    j, _ = _analyze(crafted(False))
    assert {k: v.verdict for k, v in j.items()} == dict.fromkeys(
        [c.key for c in du.CLAIMS], "contradicted"
    )


def test_rate_measured_is_the_worst_step(good):
    data = crafted(True)
    rho = 1 - ETA * LAM0 / 2
    worst = 0.0
    for _, c in data.losses.groupby("run_id"):
        loss, t = c["loss"].to_numpy(), c["step"].to_numpy()
        worst = max(worst, float(np.max(loss[1:] / loss[0] / rho ** t[1:])))
    assert good[0]["rate"].tightness == pytest.approx(worst, rel=1e-9)
    # the distance bound's tightness: max over runs of distance / R', by hand
    t = du.per_run_table(data)
    assert good[0]["distance-bound"].tightness == pytest.approx(
        float((t["max_distance"] / t["R_prime"]).max()), rel=1e-12
    )


def test_a_transient_above_the_rate_is_contradicted():
    # a curve 3x above rho^t for a few steps and faster afterwards: the theorem has no constant
    data = crafted(True)
    losses = data.losses.copy()
    bump = (losses["step"] > 0) & (losses["step"] <= 3)
    losses.loc[bump, "loss"] = 3.0 * L0 * (1 - ETA * LAM0 / 2) ** losses.loc[bump, "step"]
    j, _ = _analyze(StudyData(data.runs, losses, data.probes, data.measurements))
    assert j["rate"].verdict == "contradicted" and j["rate"].tightness == pytest.approx(3.0)


def test_smooth_runs_are_outside_assumptions():
    data = crafted(True)
    runs = data.runs.assign(activation="softplus")
    j, _ = _analyze(StudyData(runs, data.losses, data.probes, data.measurements))
    assert {v.verdict for v in j.values()} == {"outside assumptions"}


def test_nothing_stored_is_inconclusive():
    empty = pd.DataFrame()
    j, res = _analyze(StudyData(empty, empty, empty, empty))
    assert {v.verdict for v in j.values()} == {"inconclusive"} and not res.figures
