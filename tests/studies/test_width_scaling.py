"""Study ``width-scaling``: the plan trains both deep relu parameterizations, the evidence
frames are the per-run suprema of the stored rows (checked by hand), and every claim comes out
consistent, contradicted or outside assumptions exactly where the crafted data say."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from overparam.studies import width_scaling as ws
from overparam.studies.claims import assert_falsifiable
from overparam.studies.study import StudyData

WIDTHS, SEEDS = (64, 256, 1024), (0, 1)
SMOOTH_KEYS = ("ntk_drift", "linear_gap")  # lee-2019, Theorem 2.1: not proved for relu


def crafted(
    shift: float, *, activation: str = "relu", over_bound: bool = False, noise: float = 0.01
) -> StudyData:
    """Every quantity q stored as c w^(theory + shift) at three steps and two layers (the
    supremum: the last step of layer W1), the movement bound 10 w^(-1/2) (or 0.001 w^(-1/2)
    with ``over_bound``); seed 1 stores (1 + noise) times seed 0's values."""
    runs, probes = [], []
    rid = 0
    for p in ws.PARAMETERIZATIONS:
        for seed in SEEDS:
            for w in WIDTHS:
                rid += 1
                runs.append(
                    dict(
                        run_id=rid,
                        status="done",
                        width=w,
                        seed=seed,
                        parameterization=p,
                        activation=activation,
                        depth=2,
                        n=16,
                        lr_used=0.1,
                        initial_loss=1.0,
                        dtype="float32",
                    )
                )
                bound = (0.001 if over_bound else 10.0) * w**-0.5
                for q in ws.QUANTITIES:
                    top = 0.5 * w ** (q.theory + shift) * (1.0 + noise * seed)
                    layers = ("all",) if q.key == "movement" else ("W1", "W2")
                    for step, frac in ((0, 0.0), (10, 0.5), (20, 1.0)):
                        for layer, f in zip(layers, (1.0, 0.3), strict=False):
                            probes.append(
                                dict(
                                    run_id=rid,
                                    step=step,
                                    probe=q.probe,
                                    quantity=q.quantity,
                                    layer=layer,
                                    value=top * frac * f,
                                    bound=bound if q.key == "movement" else np.nan,
                                    ratio=np.nan,
                                )
                            )
    empty = pd.DataFrame()
    return StudyData(pd.DataFrame(runs), empty, pd.DataFrame(probes), empty, scale="quick")


def _judge(data: StudyData) -> tuple[dict, object]:
    res = ws.STUDY.analyze(data)
    for f in res.figures:
        plt.close(f.figure)
    return {j.key: j for j in res.judgements}, res


def _expected(slopes: str, lee: str, bound: str) -> dict[str, str]:
    out = {}
    for p in ws.PARAMETERIZATIONS:
        for q in ws.QUANTITIES:
            out[f"{p}/{q.key}"] = lee if q.key in SMOOTH_KEYS else slopes
        out[f"{p}/movement-bound"] = bound
    return out


def test_plan_trains_both_relu_parameterizations():
    for scale, runs in (("quick", 12), ("full", 36)):
        cfgs = ws.STUDY.configs(scale)
        assert len(cfgs) == runs and len({c.config_hash() for c in cfgs}) == runs
        assert {c.parameterization for c in cfgs} == {"zou-gu", "allen-zhu"}
        assert {c.activation.value for c in cfgs} == {"relu"}
        assert {(c.depth, c.n, c.target_ratio, c.lr) for c in cfgs} == {(2, 16, 1e-3, "auto")}
        widths = sorted({c.width for c in cfgs})
        assert widths[-1] / widths[0] >= 16
        assert any(p.startswith("linearization:linear_run=true") for p in cfgs[0].probes)


def test_every_claim_is_falsifiable():
    assert len(ws.CLAIMS) == 2 * (len(ws.QUANTITIES) + 1)
    for claim in ws.CLAIMS:
        assert_falsifiable(claim)


def test_per_run_table_is_the_supremum_by_hand():
    data = crafted(-0.2)
    t = ws.per_run_table(data).set_index("run_id")
    p = data.probes
    for q in ws.QUANTITIES:
        rows = p[(p["probe"] == q.probe) & (p["quantity"] == q.quantity)]
        sup = rows.groupby("run_id")["value"].max()
        assert np.allclose(t.loc[sup.index, q.key], sup, rtol=1e-15)
    bound = p[p["quantity"] == "omega"].groupby("run_id")["bound"].max()
    assert np.allclose(t.loc[bound.index, "movement_bound"], bound, rtol=1e-15)


@pytest.fixture(scope="module")
def falls_faster():
    """Every quantity falls 0.2 faster than its bound's rate (an upper bound: consistent)."""
    return _judge(crafted(-0.2))


def test_faster_than_the_bound_is_consistent(falls_faster):
    j, res = falls_faster
    assert {k: v.verdict for k, v in j.items()} == _expected(
        "consistent", "outside assumptions", "consistent"
    )
    assert [f.name for f in res.figures] == [
        "movement",
        "flips",
        "hidden_drift",
        "ntk_drift",
        "linearization",
    ]


def test_fits_table_and_measured_slope_by_hand(falls_faster):
    j, res = falls_faster
    data = crafted(-0.2)
    t = ws.per_run_table(data)
    fits = res.tables["fits"]
    assert set(fits["parameterization"]) == set(ws.PARAMETERIZATIONS)
    for q in ws.QUANTITIES:
        sub = t[t["parameterization"] == "zou-gu"]
        slope = np.polyfit(np.log(sub["width"]), np.log(sub[q.key]), 1)[0]
        row = fits[(fits["parameterization"] == "zou-gu") & (fits["quantity"] == q.key)].iloc[0]
        assert row["slope"] == pytest.approx(slope, rel=1e-9)
        assert row["slope"] == pytest.approx(q.theory - 0.2, abs=0.01)
        if q.key not in SMOOTH_KEYS:
            assert j[f"zou-gu/{q.key}"].tightness == pytest.approx(slope / q.theory, rel=1e-9)
    ratio = (t["movement"] / t["movement_bound"]).max()
    assert j["allen-zhu/movement-bound"].tightness == pytest.approx(ratio, rel=1e-12)


def test_rising_quantities_and_a_broken_bound_are_contradicted():
    j, _ = _judge(crafted(+0.8, over_bound=True))
    assert {k: v.verdict for k, v in j.items()} == _expected(
        "contradicted", "outside assumptions", "contradicted"
    )


def test_flat_quantities_are_contradicted_or_inconclusive():
    # theory + shift = 0 for movement: a quantity that does not fall is not O(m^(-1/2)) ...
    j, _ = _judge(crafted(+0.5))
    assert j["zou-gu/movement"].verdict == "contradicted"
    # ... but with seeds 4x apart the interval contains 0 and the data resolve no trend
    j, _ = _judge(crafted(+0.5, noise=3.0))
    assert j["zou-gu/movement"].verdict == "inconclusive"
    assert "contains 0" in j["zou-gu/movement"].reason


def test_kernel_claims_are_judged_on_smooth_runs():
    j, _ = _judge(crafted(-0.2, activation="softplus"))
    expected = _expected("outside assumptions", "consistent", "outside assumptions")
    assert {k: v.verdict for k, v in j.items()} == expected


def test_nothing_stored_is_inconclusive():
    empty = pd.DataFrame()
    j, res = _judge(StudyData(empty, empty, empty, empty))
    assert {v.verdict for v in j.values()} == {"inconclusive"} and not res.figures
