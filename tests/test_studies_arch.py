"""The ``depth`` and ``gnn-skip`` studies: plans are valid and small, measurements have their
columns, and each analysis turns tiny synthetic frames (built so the answer is known) into its
claims and figures; end to end on the real quick plans (slow)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from overparam.report.studies import depth, gnn_skip
from overparam.report.study import STUDIES, StudyData

# -- registration and plans --------------------------------------------------------------------


def test_registered():
    assert STUDIES["depth"] is depth.STUDY
    assert STUDIES["gnn-skip"] is gnn_skip.STUDY


def test_depth_plan():
    quick, full = depth.plan(True), depth.plan(False)
    assert len(quick) == 12 and len(full) == 80
    assert {c.arch for c in full} == {"fc", "resnet"}
    assert {c.parameterization for c in full} == {"du"}
    assert all(c.target_ratio == depth.TARGET_RATIO and c.lr == "auto" for c in full)
    assert len({c.config_hash() for c in full}) == len(full)


def test_gnn_plan_shares_one_step_size_per_graph():
    quick = gnn_skip.plan(True)
    assert len(quick) == 8
    assert {(c.arch, c.data, c.test_fraction) for c in quick} == {("gnn", "sbm", 0.0)}
    assert {c.skip for c in quick} == {False, True} and {c.noise for c in quick} == {0.0, 1.0}
    lrs = {c.lr for c in quick}
    assert len(lrs) == 1 and 0 < next(iter(lrs)) < 10


def test_depth_measure_quick():
    m = depth.measure(True)
    assert set(m["quantity"]) == {"norm_spread", "gram_lambda_min"}
    assert set(m["arch"]) == {"fc", "resnet"}
    assert (m["value"] > 0).all()


def test_linearized_steps_by_hand():
    """One eigenvalue: (1 - lr lam)^(2t) <= eps at t = ceil(log eps / (2 log(1 - lr lam)))."""
    ev, vec, r0 = np.array([0.5]), np.eye(1), np.array([1.0])
    t = gnn_skip.linearized_steps(ev, vec, r0, lr=0.2, eps=0.1)
    assert t == math.ceil(math.log(0.1) / (2 * math.log(0.9)))
    assert gnn_skip.linearized_steps(ev, vec, r0, lr=5.0) == math.inf  # beyond 2 / lambda


# -- depth: synthetic frames -------------------------------------------------------------------


def depth_frames() -> StudyData:
    """fc needs width 64 at depth 32 (narrow deep runs fail), the ResNet trains at every width;
    resnet steps flat in depth; norms and Grams as the theory says."""
    rows, losses = [], []
    rid = 0
    for arch in ("fc", "resnet"):
        for h in (2, 8, 32):
            for w in (16, 64):
                for seed in (0, 1):
                    ok = not (arch == "fc" and h == 32 and w == 16)
                    steps = 600 if not ok else (100 if arch == "resnet" else 50 + 5 * h)
                    rows.append(dict(arch=arch, depth=h, width=w, seed=seed, run_id=rid,
                                     status="done", train_status="converged" if ok else "max_steps",
                                     steps=600))  # fmt: skip
                    losses += [dict(run_id=rid, step=t, loss=0.99**t) for t in (0, steps)]
                    rid += 1
    meas = []
    for h in (2, 8, 32):
        meas.append(dict(quantity="norm_spread", arch="fc", depth=h, width=32, value=1.5 * h))
        meas.append(dict(quantity="norm_spread", arch="resnet", depth=h, width=32, value=2.0))
        meas.append(dict(quantity="gram_lambda_min", arch="fc", depth=h, width=math.inf,
                         value=0.2 / h**0.3))  # fmt: skip
        meas.append(dict(quantity="gram_lambda_min", arch="resnet", depth=h, width=math.inf,
                         value=0.1 / h**2))  # fmt: skip
    return StudyData(pd.DataFrame(rows), pd.DataFrame(losses), pd.DataFrame(), pd.DataFrame(meas))


def test_depth_analysis_on_synthetic_frames():
    result = depth.analyze(depth_frames())
    verdicts = {c.claim: c.verdict for c in result.claims}
    assert len(result.claims) == 4
    assert set(verdicts.values()) == {"holds"}, verdicts
    assert {f.name for f in result.figures} == {
        "depth_width_needed",
        "depth_iterations",
        "depth_norms",
        "depth_gram",
    }
    wn = result.tables["width_needed"].set_index(["arch", "depth"])["width_needed"]
    assert wn[("fc", 32)] == 64 and wn[("resnet", 32)] == 16 and wn[("fc", 2)] == 16
    for f in result.figures:
        assert f.caption and f.figure.axes


def test_depth_width_needed_censored():
    t = pd.DataFrame(dict(arch=["fc"] * 2, depth=[4, 4], width=[16, 32], seed=[0, 0],
                          converged=[True, False], steps=[10.0, 600.0]))  # fmt: skip
    assert depth.width_needed(t)["width_needed"].iloc[0] == math.inf


def test_depth_analysis_without_runs():
    empty = StudyData(pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), pd.DataFrame())
    (claim,) = depth.analyze(empty).claims
    assert claim.verdict == "not measured"


# -- gnn-skip: synthetic frames ----------------------------------------------------------------


def gnn_frames() -> StudyData:
    """Exponential excess-loss curves whose rate grows with skip, depth and clean labels."""
    rows, losses, meas = [], [], []
    rid = 0
    for seed in (0, 1):
        for h in (1, 4):
            for skip in (False, True):
                for noise in (0.0, 1.0):
                    rate = 0.01 * (1 + 2 * skip) * (1 + 0.5 * (h == 4)) * (1 + 3 * (noise == 0))
                    curve = 0.1 + np.exp(-rate * np.arange(301))  # L* = 0.1
                    rows.append(dict(depth=h, skip=skip, noise=noise, seed=seed, run_id=rid,
                                     status="done", train_status="max_steps"))  # fmt: skip
                    losses += [dict(run_id=rid, step=t, loss=v) for t, v in enumerate(curve)]
                    pred = math.log(1 / gnn_skip.EPS) / rate
                    meas.append(dict(depth=h, skip=skip, noise=noise, seed=seed, lr=0.1,
                                     L_star=0.1, lambda_max=1.0, lambda_min=rate / 20,
                                     pred_steps=pred * 1.1, bound_steps=pred * 10))  # fmt: skip
                    rid += 1
    return StudyData(pd.DataFrame(rows), pd.DataFrame(losses), pd.DataFrame(), pd.DataFrame(meas))


def test_gnn_analysis_on_synthetic_frames():
    result = gnn_skip.analyze(gnn_frames())
    verdicts = [c.verdict for c in result.claims]
    assert len(result.claims) == 5
    assert verdicts == ["holds"] * 5, [(c.claim, c.measured) for c in result.claims]
    assert [f.name for f in result.figures] == [
        "gnn_skip_curves",
        "gnn_skip_speed",
        "gnn_skip_prediction",
    ]
    table = result.tables["convergence"]
    # rate 0.01 * 3 * 1.5 * 4 = 0.18: excess 0.1 at t = ceil(log(10) / 0.18) = 13
    row = table[(table.depth == 4) & table.skip & (table.noise == 0.0) & (table.seed == 0)]
    assert float(row["steps_to_eps"].iloc[0]) == math.ceil(math.log(10) / 0.18)


def test_gnn_stored_skip_as_text():
    """Stores may hand booleans back as 0/1 or 'True'; the join still works."""
    data = gnn_frames()
    runs = data.runs.assign(skip=data.runs["skip"].map(lambda v: "True" if v else "False"))
    table = gnn_skip.convergence_table(runs, data.losses, data.measurements.assign(
        skip=data.measurements["skip"].astype(int)))  # fmt: skip
    assert len(table) == len(runs)


# -- end to end on the real quick plans --------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("study", [depth, gnn_skip])
def test_quick_plan_end_to_end(study):
    from overparam.train.run import run

    rows, losses = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch jvp's one-time warning
        for i, cfg in enumerate(study.plan(True)):
            h = run(cfg)
            rows.append({**cfg.model_dump(mode="json"), "run_id": i, "status": "done",
                         "train_status": h.status})  # fmt: skip
            losses += [dict(run_id=i, step=t, loss=v) for t, v in enumerate(h.losses)]
    data = StudyData(pd.DataFrame(rows), pd.DataFrame(losses), pd.DataFrame(), study.measure(True))
    result = study.analyze(data)
    assert result.figures and result.claims
    assert all(c.verdict != "not measured" for c in result.claims[:3])
