"""The ``gnn-skip`` study on the claim engine: its plan (one shared step size per graph, the same
runs as before), the speed measurements against hand computations from stored rows, and the
verdict of every claim on synthetic frames built so the answer is known either way."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from overparam.studies import VERDICTS, assert_falsifiable, judge
from overparam.studies import gnn_skip as g
from overparam.studies.registry import get
from overparam.studies.study import StudyData

LN10 = math.log(1.0 / g.EPS)


@pytest.fixture(autouse=True)
def _close_figures():
    """Every analysis opens figures; close them so no test sees matplotlib's too-many warning."""
    import matplotlib.pyplot as plt

    yield
    plt.close("all")


# -- plan and measurements ---------------------------------------------------------------------


def test_registered_under_its_name():
    assert get("gnn-skip") is g.STUDY
    assert {c.key for c in g.STUDY.claims} == {
        "skip",
        "depth",
        "depth-plain",
        "labels",
        "prediction",
        "bound",
    }


@pytest.mark.parametrize("claim", g.CLAIMS, ids=lambda c: c.key)
def test_every_claim_is_falsifiable(claim):
    assert_falsifiable(claim)


def test_quick_plan_shares_one_step_size_per_graph():
    specs = g.STUDY.specs("quick")
    assert [s.name for s in specs] == ["study/gnn-skip/quick/seed-0"]
    quick = g.STUDY.configs("quick")
    assert len(quick) == 8 and len({c.config_hash() for c in quick}) == 8
    assert {(c.arch, c.data, c.test_fraction, c.dtype) for c in quick} == {
        ("gnn", "sbm", 0.0, "float64")
    }
    assert {(c.depth, c.skip, c.noise) for c in quick} == {
        (h, s, n) for h in (1, 4) for s in (False, True) for n in (0.0, 1.0)
    }
    lrs = {c.lr for c in quick}
    assert len(lrs) == 1
    # eta = 0.5 / max lambda_max(c Theta_0), the kernels recomputed per run by ``measure``
    meas = g.measure("quick")
    assert len(meas) == 8
    assert next(iter(lrs)) * meas["lambda_max"].max() == pytest.approx(g.LR_FRACTION, rel=1e-12)
    assert (meas["lr"] == next(iter(lrs))).all()
    # the bound is log(1/eps) / (2 eta lambda_min) of each row
    expect = LN10 / (2 * meas["lr"] * meas["lambda_min"])
    assert np.allclose(meas["bound_steps"], expect, rtol=1e-12)


def test_full_plan_one_spec_per_graph_seed():
    specs = g.STUDY.specs("full")
    assert [s.name for s in specs] == [f"study/gnn-skip/full/seed-{s}" for s in (0, 1, 2)]
    full = g.STUDY.configs("full")
    assert len(full) == 48 and len({c.config_hash() for c in full}) == 48
    assert {c.depth for c in full} == {1, 2, 4, 8}
    for spec in specs:
        assert len({c.lr for c in spec.configs()}) == 1  # one step size per graph
        assert len({c.seed for c in spec.configs()}) == 1


def test_linearized_steps_by_hand():
    """One eigenvalue: (1 - lr lam)^(2t) <= eps at t = ceil(log eps / (2 log(1 - lr lam)))."""
    ev, vec, r0 = np.array([0.5]), np.eye(1), np.array([1.0])
    t = g.linearized_steps(ev, vec, r0, lr=0.2, eps=0.1)
    assert t == math.ceil(math.log(0.1) / (2 * math.log(0.9)))
    assert g.linearized_steps(ev, vec, r0, lr=5.0) == math.inf  # beyond 2 / lambda


def test_linearized_steps_slowest_component_decides():
    """Two components of equal weight: sum (1 - lr lam_i)^(2t) / 2 <= eps, checked by scan."""
    ev, vec, r0 = np.array([0.1, 1.0]), np.eye(2), np.array([1.0, 1.0])
    t = g.linearized_steps(ev, vec, r0, lr=0.5, eps=0.1)
    ratio = [(0.95 ** (2 * s) + 0.5 ** (2 * s)) / 2 for s in range(200)]
    assert t == next(s for s, r in enumerate(ratio) if r <= 0.1)


# -- synthetic stored rows ---------------------------------------------------------------------


def rate_of(depth: int, skip: bool, noise: float, faster: bool) -> float:
    """Excess loss exp(-rate t): faster with skip, depth and community labels (or the reverse)."""
    up = (1 + 2 * skip) * (1 + 0.5 * math.log2(depth)) * (1 + 3 * (noise == 0.0))
    down = (1 + 2 * (not skip)) * (1 + 0.5 * math.log2(8 / depth)) * (1 + 3 * (noise == 1.0))
    return 0.01 * (up if faster else down)


def synthetic(
    faster: bool = True,
    *,
    depths=(1, 2, 4),
    seeds=(0, 1),
    steps: int = 300,
    rate=None,
    pred=1.1,
    bound=1.5,
    lr=0.1,
    lambda_max=1.0,
) -> StudyData:
    """Curves L_t = L* + exp(-rate t) (L* = 0.1); predicted steps ``pred`` (a factor, or a
    function of the measured t) times the measured t, bound steps ``bound`` times it."""
    rate = rate or (lambda h, s, n: rate_of(h, s, n, faster))
    rows, losses, meas = [], [], []
    rid = 0
    for seed in seeds:
        for h in depths:
            for skip in (False, True):
                for noise in g.LABEL_NOISE:
                    r = rate(h, skip, noise)
                    curve = 0.1 + np.exp(-r * np.arange(steps + 1))
                    rows.append(dict(depth=h, skip=skip, noise=noise, seed=seed, run_id=rid,
                                     status="done", lr_used=lr))  # fmt: skip
                    losses += [dict(run_id=rid, step=t, loss=v) for t, v in enumerate(curve)]
                    t_eps = LN10 / r
                    p = pred(t_eps) if callable(pred) else pred * t_eps
                    meas.append(dict(depth=h, skip=skip, noise=noise, seed=seed, lr=lr,
                                     L_star=0.1, lambda_max=lambda_max, lambda_min=r / 20,
                                     pred_steps=p, bound_steps=bound * t_eps))  # fmt: skip
                    rid += 1
    return StudyData(pd.DataFrame(rows), pd.DataFrame(losses), pd.DataFrame(), pd.DataFrame(meas))


def verdicts(data: StudyData) -> dict[str, str]:
    return {j.key: j.verdict for j in g.STUDY.analyze(data).judgements}


def test_convergence_table_against_hand_computation():
    data = synthetic()
    t = g.convergence_table(data)
    assert len(t) == len(data.runs) == 24
    for _, row in t.iterrows():
        r = rate_of(row["depth"], row["skip"], row["noise"], True)
        assert row["steps_to_eps"] == math.ceil(LN10 / r)  # first t with exp(-r t) <= 0.1
        assert row["final_excess"] == pytest.approx(math.exp(-r * 300), rel=1e-9)
        assert row["budget"] == 300 and row["eta"] == 0.1


def test_pairs_and_relative_steps_by_hand():
    data = synthetic()
    ev = g.evidence(data)
    skip = ev.frames["skip"].set_index(["depth", "noise", "seed"])
    for (h, noise, _), row in skip.iterrows():
        assert row["steps_skip"] == math.ceil(LN10 / rate_of(h, True, noise, True))
        assert row["steps_plain"] == math.ceil(LN10 / rate_of(h, False, noise, True))
    assert len(skip) == 3 * 2 * 2
    labels = ev.frames["labels"]
    assert len(labels) == 3 * 2 * 2 and (labels["steps_community"] < labels["steps_random"]).all()
    depth = ev.frames["depth"]
    assert depth["skip"].all() and not ev.frames["depth-plain"]["skip"].any()
    group = depth[(depth["noise"] == 0.0) & (depth["seed"] == 0)].sort_values("depth")
    steps = [math.ceil(LN10 / rate_of(h, True, 0.0, True)) for h in (1, 2, 4)]
    geo = math.exp(np.mean(np.log(steps)))
    assert np.allclose(group["relative_steps"], np.array(steps) / geo)


def test_prediction_censored_at_the_stored_steps():
    """Predicted steps beyond the 300 stored steps become inf, like a run that never got there."""
    data = synthetic(pred=lambda t: 10.0 * t)
    frame = g.evidence(data).frames["prediction"]
    expect = np.where(frame["pred_steps"] <= 300, frame["pred_steps"], np.inf)
    assert np.array_equal(frame["pred_censored"].to_numpy(), expect)
    assert np.isinf(expect).any() and np.isfinite(expect).any()
    assert np.allclose(frame["eta_lambda_max"], 0.1 * 1.0)
    assert np.allclose(frame["steps_over_budget"], frame["steps_to_eps"] / 300)


def test_stored_skip_as_text():
    """Stores may hand booleans back as 0/1 or 'True'; the join still works."""
    data = synthetic()
    runs = data.runs.assign(skip=data.runs["skip"].map(lambda v: "True" if v else "False"))
    meas = data.measurements.assign(skip=data.measurements["skip"].astype(int))
    t = g.convergence_table(StudyData(runs, data.losses, data.probes, meas))
    assert len(t) == len(runs) and t["skip"].sum() == len(runs) // 2


def test_diverged_runs_are_left_out():
    data = synthetic()
    runs = data.runs.assign(status=np.where(data.runs["run_id"] == 0, "diverged", "done"))
    t = g.convergence_table(StudyData(runs, data.losses, data.probes, data.measurements))
    assert len(t) == len(runs) - 1 and 0 not in set(t["run_id"])


# -- verdicts ----------------------------------------------------------------------------------


def test_consistent_when_the_data_say_so():
    result = g.STUDY.analyze(synthetic(faster=True))
    got = {j.key: j.verdict for j in result.judgements}
    assert got == dict.fromkeys(got, "consistent"), [(j.key, j.measured) for j in result.judgements]
    assert [f.name for f in result.figures] == [
        "gnn_skip_curves",
        "gnn_skip_speed",
        "gnn_skip_prediction",
    ]
    assert all(f.caption and f.figure.axes for f in result.figures)
    assert "convergence" in result.tables and result.context


def test_contradicted_when_the_data_say_so():
    """Skip, depth and community labels slower; prediction reversed; every run past its bound."""
    got = verdicts(synthetic(faster=False, pred=lambda t: 1e4 / t, bound=0.5))
    assert got == dict.fromkeys(got, "contradicted"), got


def test_pairs_where_neither_run_converged_are_not_support():
    """Plain runs never converge, skip runs converge only at depth 4: the pairs of
    non-converged runs are undefined (counted apart), leaving too few defined pairs."""

    def rate(h, skip, noise):
        return 0.1 if (skip and h == 4) else 1e-4

    data = synthetic(rate=rate, depths=(1, 4), seeds=(0,))
    j = next(x for x in g.STUDY.analyze(data).judgements if x.key == "skip")
    assert j.verdict == "inconclusive"
    assert "2 of 2 defined pairs" in j.measured and "2 undefined" in j.measured


def test_a_converged_run_beats_a_censored_one():
    """Skip converges everywhere, plain nowhere: every pair is defined and supports."""

    def rate(h, skip, noise):
        return 0.1 if skip else 1e-4

    ev = g.evidence(synthetic(rate=rate))
    frame = ev.frames["skip"]
    assert np.isinf(frame["steps_plain"]).all() and np.isfinite(frame["steps_skip"]).all()
    j = judge(next(c for c in g.CLAIMS if c.key == "skip"), frame)
    assert j.verdict == "consistent" and "0 undefined" in j.measured


def test_depth_on_two_depths_is_inconclusive():
    got = verdicts(synthetic(depths=(1, 4), seeds=(0, 1, 2)))
    assert got["depth"] == got["depth-plain"] == "inconclusive"
    assert got["skip"] == got["labels"] == "consistent"


def test_bound_beyond_the_budget_is_vacuous():
    """A bound of more steps than were run cannot fail (a converged run is within it)."""
    got = verdicts(synthetic(bound=1000.0))  # bound 1000 t_eps >> 300 steps
    assert got["bound"] == "vacuous"


def test_bound_failed_by_a_run_that_never_converged():
    """A run censored at the budget with a bound inside the budget breaks the bound."""

    def rate(h, skip, noise):
        return 1e-4 if (h, skip, noise) == (1, False, 1.0) else 0.1

    data = synthetic(rate=rate)
    meas = data.measurements.copy()
    meas["bound_steps"] = 100.0  # < 300 stored steps for every run
    got = verdicts(StudyData(data.runs, data.losses, data.probes, meas))
    assert got["bound"] == "contradicted"


def test_unstable_step_size_is_outside_assumptions():
    got = verdicts(synthetic(lambda_max=30.0))  # eta lambda_max = 3 > 2
    assert got["prediction"] == got["bound"] == "outside assumptions"


def test_no_runs_is_inconclusive_everywhere():
    empty = StudyData(pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), pd.DataFrame())
    result = g.STUDY.analyze(empty)
    assert {j.verdict for j in result.judgements} == {"inconclusive"}
    assert not result.figures


# -- end to end on the real quick plan ---------------------------------------------------------


@pytest.mark.slow
def test_quick_plan_end_to_end(tmp_path):
    from overparam.store import load
    from overparam.studies.reproduce import analyze_store, run_studies

    store = tmp_path / "results.sqlite"
    assert run_studies([g.STUDY], store_path=store, scale="quick", executor="batched") == 8
    [(study, scale, data, result, error)] = analyze_store(store, only=["gnn-skip"])
    assert error is None and scale == "quick" and study is g.STUDY
    assert {j.verdict for j in result.judgements} <= set(VERDICTS)
    # steps to EPS recomputed by hand from the stored loss rows of every run
    tables = load(store)
    t = g.convergence_table(data).set_index("run_id")
    meas = data.measurements
    for run_id, row in t.iterrows():
        m = meas[
            (meas["depth"] == row["depth"])
            & (meas["skip"] == row["skip"])
            & (meas["noise"] == row["noise"])
        ]
        loss = tables.losses[tables.losses["run_id"] == run_id].sort_values("step")["loss"]
        excess = (loss.to_numpy() - m["L_star"].iloc[0]) / (loss.iloc[0] - m["L_star"].iloc[0])
        hit = np.nonzero(excess <= g.EPS)[0]
        assert row["steps_to_eps"] == (float(hit[0]) if len(hit) else math.inf)
    # the skip claim counts as undefined exactly the pairs where neither run converged
    pairs = g.evidence(data).frames["skip"]
    neither = int((np.isinf(pairs["steps_skip"]) & np.isinf(pairs["steps_plain"])).sum())
    j = next(x for x in result.judgements if x.key == "skip")
    assert f"{neither} undefined" in j.measured
