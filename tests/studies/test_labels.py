"""Study ``labels``: its plan is GD on digits over label noise and seeds, every claim is judged
on the stored rows as recomputed here by hand (steps to 10% of L(0), the worst late gap to the
linearized curve), and crafted rows move each verdict; the Cao-Gu bound, stated for
Algorithm 2, is outside assumptions on GD runs."""

from __future__ import annotations

import dataclasses
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from overparam.store import load
from overparam.studies import labels as lb
from overparam.studies.claims import assert_falsifiable
from overparam.studies.reproduce import run_studies, study_data
from overparam.studies.study import StudyData

EMPTY = pd.DataFrame()
TINY = lb.Size(n=30, width=64, steps=20, noises=(0.0, 0.5, 1.0), seeds=(0,))


@pytest.mark.parametrize("scale", ["quick", "full"])
def test_plan_is_gd_on_digits_over_noise_and_seed(scale):
    s = lb.SIZES[scale]
    cfgs = lb.STUDY.configs(scale)
    assert len({c.config_hash() for c in cfgs}) == len(cfgs) == len(s.noises) * len(s.seeds)
    assert {(c.noise, c.seed) for c in cfgs} == {(p, q) for p in s.noises for q in s.seeds}
    assert {0.0, 1.0} <= {c.noise for c in cfgs}
    assert all(c.data == "digits" and c.depth == 1 and c.parameterization == "zou-gu" for c in cfgs)
    assert all(c.algorithm == "gd" and c.lr == "auto" and c.target_ratio is None for c in cfgs)


def test_every_claim_is_falsifiable():
    for claim in lb.CLAIMS:
        assert_falsifiable(claim)
    assert [c.key for c in lb.CLAIMS] == [
        "complexity-noise", "speed", "linearized", "arora-bound", "cao-gu-bound"
    ]  # fmt: skip


def test_checkpoints_and_the_linearized_curve_in_closed_form():
    assert lb.checkpoints(300) == [0, 1, 2, 5, 10, 20, 50, 100, 200, 300]
    rng = np.random.default_rng(0)
    a = rng.standard_normal((6, 6))
    theta, r0, lr, c = a @ a.T, rng.standard_normal(6), 0.05, 1 / 6
    steps = [0, 1, 3, 10]
    got = lb.linearized_losses(theta, r0, lr, c, steps)
    r, want = r0.copy(), []
    for t in range(11):  # GD on the linear model, step by step
        if t in steps:
            want.append(0.5 * c * float(r @ r))
        r = r - lr * c * theta @ r
    np.testing.assert_allclose(got, want, rtol=1e-12)
    q, n, lam = 40.0, 100, 0.02
    assert lb.arora_bound(q, n, lam) == pytest.approx(
        math.sqrt(0.8) + math.sqrt(math.log(100 / (0.02 * lb.DELTA)) / 100)
    )


# -- crafted runs and curves ----------------------------------------------------------------


def crafted(late_gap: float = 0.0, speed_order: int = 1, bound: float = 3.0) -> StudyData:
    """Loss curves decaying at a rate that falls with q = y^T H^-1 y; the linearized curve
    equal to the measured one except, from step 50 on, ||r_t^lin|| = ||r_t|| - late_gap ||r_0||
    (floored at 0.1 ||r_t||); test error rising with noise; Arora bound ``bound`` x sqrt(q)/20."""
    runs, losses, meas = [], [], []
    rid = 0
    for noise, q in ((0.0, 100.0), (0.5, 400.0), (1.0, 900.0)):
        for seed in (0, 1):
            qs = q * (1 + 0.05 * seed)
            rate = 1.0 - 2.0 / math.sqrt(qs) if speed_order > 0 else 1.0 - math.sqrt(qs) / 400
            runs.append(dict(run_id=rid, status="done", noise=noise, seed=seed, n=50,
                             algorithm="gd", depth=1, test_accuracy=0.9 - 0.4 * noise,
                             train_accuracy=1.0))  # fmt: skip
            curve = np.array([2.0 * rate**t for t in range(101)])
            losses += [dict(run_id=rid, step=t, loss=v) for t, v in enumerate(curve)]
            meas.append(dict(quantity="complexity", noise=noise, seed=seed, n=50, q_hinf=qs,
                             lambda0=0.05, y_norm2=50.0,
                             arora_bound=bound * math.sqrt(qs) / 20, cg_bound=5.0))  # fmt: skip
            for t in lb.checkpoints(100):
                norm = math.sqrt(curve[t])
                if t >= 50:
                    norm = max(norm - late_gap * math.sqrt(curve[0]), 0.1 * norm)
                meas.append(dict(quantity="linearized_loss", noise=noise, seed=seed, n=50,
                                 step=t, value=norm**2))  # fmt: skip
            rid += 1
    return StudyData(pd.DataFrame(runs), pd.DataFrame(losses), EMPTY, pd.DataFrame(meas))


def judged(data: StudyData) -> tuple[dict, object]:
    res = lb.STUDY.analyze(data)
    for f in res.figures:
        plt.close(f.figure)
    return {j.key: j for j in res.judgements}, res


def test_crafted_runs_against_a_hand_computation():
    data = crafted()
    j, res = judged(data)
    assert {f.name for f in res.figures} == {
        "labels_loss_curves", "labels_speed", "labels_generalization"
    }  # fmt: skip
    t = res.tables["runs"]
    for r in t.itertuples():  # the first step with loss <= 0.1 L(0), from the curve's rate
        rate = 1.0 - 2.0 / math.sqrt(r.q_hinf)
        assert r.steps_to_10pct == math.ceil(math.log(0.1) / math.log(rate))
    rho = spearmanr(t["q_hinf"], t["steps_to_10pct"]).statistic
    assert j["speed"].verdict == "consistent" and f"Spearman {rho:.2f}" in j["speed"].measured
    assert j["complexity-noise"].verdict == "consistent"
    assert j["linearized"].verdict == "consistent" and j["linearized"].tightness == 0.0
    assert j["arora-bound"].verdict == "vacuous"  # bound 3 sqrt(q)/20 >= 1.5 everywhere
    assert j["cao-gu-bound"].verdict == "outside assumptions"
    assert "algorithm = gd" in j["cao-gu-bound"].reason
    assert res.tables["noise"]["test_error"].tolist() == pytest.approx([0.1, 0.3, 0.5])


def test_faster_for_random_labels_is_contradicted():
    j, _ = judged(crafted(speed_order=-1))
    assert j["speed"].verdict == "contradicted"


def test_a_run_that_never_reaches_10_percent_counts_as_slowest():
    data = crafted()
    losses = data.losses.copy()
    losses.loc[losses["run_id"].isin([4, 5]), "loss"] = 2.0  # noise 1 (the largest q): flat
    t = lb.run_table(data.runs, losses, data.measurements)
    assert np.isinf(t.loc[t["noise"] == 1.0, "steps_to_10pct"]).all()
    assert np.isfinite(t.loc[t["noise"] < 1.0, "steps_to_10pct"]).all()
    j, _ = judged(dataclasses.replace(data, losses=losses))
    assert j["speed"].verdict == "consistent"


def test_a_gap_late_in_training_is_judged_even_when_early_steps_match():
    data = crafted(late_gap=0.2)
    follow = lb.follow_table(data.losses, data.runs, data.measurements)
    early = follow[follow["step"] < 50]
    assert (early["gap"] == 0).all()  # a median over checkpoints would see a match
    late = follow[follow["step"] >= 50]
    worst = late.groupby("run_id")["gap"].max()
    j, _ = judged(data)
    assert j["linearized"].verdict == "contradicted"
    assert j["linearized"].tightness == pytest.approx(float(worst.max()) / lb.FOLLOW_EPS)
    # by hand: |sqrt(L) - sqrt(L_lin)| / sqrt(L_0) on the first run at t = 50
    c = data.losses[data.losses["run_id"] == 0].set_index("step")["loss"]
    lin = max(math.sqrt(c[50]) - 0.2 * math.sqrt(c[0]), 0.1 * math.sqrt(c[50]))
    assert late.iloc[0]["gap"] == pytest.approx((math.sqrt(c[50]) - lin) / math.sqrt(c[0]))
    j, _ = judged(crafted(late_gap=0.05))
    assert j["linearized"].verdict == "consistent"


def test_a_non_trivial_arora_bound_is_judged_both_ways():
    j, _ = judged(crafted(bound=1.0))  # bound sqrt(q)/20 = 0.5 .. 1.54: some points non-trivial
    assert j["arora-bound"].verdict == "consistent"
    j, _ = judged(crafted(bound=0.2))  # bound 0.1 .. 0.31 against errors 0.1 .. 0.5
    assert j["arora-bound"].verdict == "contradicted"


def test_the_cao_gu_bound_is_judged_on_algorithm_2_runs():
    data = crafted()
    runs = data.runs.assign(algorithm="online-sgd")
    j, _ = judged(dataclasses.replace(data, runs=runs))
    assert j["cao-gu-bound"].verdict == "vacuous"  # cg_bound 5 >= 1
    assert j["arora-bound"].verdict == "outside assumptions"  # GD is the theorem's algorithm


def test_context_shows_the_identity_and_the_bound_values():
    data = crafted()
    _, res = judged(data)
    ctx = {c.label: c for c in res.context}
    ident = ctx[r"$y^\top (H^\infty)^{-1} y$ against $\|y\|^2 / \lambda_{\min}(H^\infty)$"]
    assert "1e+03" in ident.value and "identity" in ident.why  # ||y||^2 / lambda0 = 50 / 0.05


def test_nothing_stored_is_inconclusive():
    j, res = judged(StudyData(EMPTY, EMPTY, EMPTY, EMPTY))
    assert {x.verdict for x in j.values()} == {"inconclusive"} and not res.figures


# -- a tiny study stored by run_studies -----------------------------------------------------


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> StudyData:
    path = tmp_path_factory.mktemp("labels") / "results.sqlite"
    study = dataclasses.replace(
        lb.STUDY,
        plan=lambda scale: lb.plan_for(TINY, scale),
        measure=lambda scale: lb.measure_size(TINY),
    )
    run_studies([study], store_path=path, scale="quick", executor="batched")
    data = study_data(load(path), path, study, "quick")
    assert len(data.runs) == 3 and (data.runs["status"] == "done").all()
    return data


@pytest.mark.slow
def test_stored_runs_against_a_hand_computation(stored):
    m = stored.measurements
    comp = m[m["quantity"] == "complexity"]
    assert (comp["q_hinf"] <= comp["y_norm2"] / comp["lambda0"]).all()  # the identity
    lin = m[(m["quantity"] == "linearized_loss") & (m["step"] == 0)].set_index("noise")["value"]
    runs = stored.runs.set_index("run_id")
    first = stored.losses[stored.losses["step"] == 0].set_index("run_id")["loss"]
    for rid, loss0 in first.items():  # the linearized curve starts at the run's own L(W_0)
        assert lin[float(runs.loc[rid, "noise"])] == pytest.approx(loss0, rel=1e-5)
    j, _ = judged(stored)
    gaps = []
    for rid, g in stored.losses.groupby("run_id"):
        noise = float(runs.loc[rid, "noise"])
        p = m[(m["quantity"] == "linearized_loss") & (m["noise"] == noise)]
        p = p.set_index("step")["value"]
        late = [t for t in p.index if t >= TINY.steps / 2]
        loss = g.set_index("step")["loss"]
        gaps.append(max(abs(math.sqrt(loss[t]) - math.sqrt(p[t])) / math.sqrt(p[0]) for t in late))
    assert j["linearized"].tightness == pytest.approx(max(gaps) / lb.FOLLOW_EPS, rel=1e-9)
    assert j["cao-gu-bound"].verdict == "outside assumptions"
