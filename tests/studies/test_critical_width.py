"""Study ``critical-width``: its plan is the whole doubling width grid of every point of the star
(the same grid at both scales, so one Grid describes every stored critical width), its evidence
is the per-seed critical width recomputed here by hand, and each exponent claim comes out
consistent, contradicted or (beyond the grid's resolution) inconclusive as built."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from overparam.studies import critical_width as cw
from overparam.studies.claims import (
    CONSISTENT,
    CONTRADICTED,
    INCONCLUSIVE,
    OUTSIDE,
    assert_falsifiable,
    loglog_fit,
)
from overparam.studies.study import StudyData

EMPTY = pd.DataFrame()


@pytest.mark.parametrize("scale", ["quick", "full"])
def test_plan_is_the_grid_of_every_point(scale):
    s = cw.SIZES[scale]
    cfgs = cw.STUDY.configs(scale)
    assert len({c.config_hash() for c in cfgs}) == len(cfgs)
    pts = {(c.n, c.depth, c.phi) for c in cfgs}
    assert pts == set(cw.points(s)) and cw.BASE in pts
    assert len(pts) == len(s.ns) + len(s.depths) + len(s.phis) - 2  # the base point once
    frame = pd.DataFrame([(c.n, c.depth, c.phi, c.width, c.seed) for c in cfgs],
                         columns=["n", "depth", "phi", "width", "seed"])  # fmt: skip
    for (_, depth, _), group in frame.groupby(["n", "depth", "phi"]):
        widths = cw.WIDTHS_SHALLOW if depth == 1 else cw.WIDTHS_DEEP
        assert sorted(set(group["width"])) == list(widths)
        assert len(group) == len(widths) * len(s.seeds)
    assert all(c.data == "close-pair" and c.min_separation >= 2 * c.phi for c in cfgs)
    assert all(c.target_ratio == cw.TARGET_RATIO and c.steps == cw.STEPS for c in cfgs)
    assert {(c.parameterization, c.activation) for c in cfgs} == {("zou-gu", "relu")}
    assert len(cfgs) == {"quick": 166, "full": 393}[scale]


def test_every_claim_is_falsifiable_and_its_grid_matches_the_plan():
    for claim in cw.CLAIMS:
        assert_falsifiable(claim)
    grids = {c.key: c.test.grid for c in cw.CLAIMS}
    assert (grids["exponent-n"].low, grids["exponent-n"].high) == (4.0, 16384.0)
    assert (grids["exponent-L"].low, grids["exponent-L"].high) == (4.0, 1024.0)
    # the stated tolerance is the log^3(m) factor's share of the bound's slope, not a slack
    tol = {c.key: c.test.tolerance for c in cw.CLAIMS}
    assert 0 < tol["exponent-phi"] < 1 and 0 < tol["exponent-n"] < 1.5


def test_smallest_stable():
    w = np.array([4, 8, 16, 32])
    assert cw.smallest_stable(w, np.array([True, False, True, True])) == 16  # a lucky 4
    assert cw.smallest_stable(w, np.array([True, True, True, False])) == math.inf
    assert cw.smallest_stable(w, np.ones(4, bool)) == 4


# -- synthetic runs ------------------------------------------------------------------------------

POINTS = [(8, 1, 0.4), (16, 1, 0.4), (32, 1, 0.4), (16, 2, 0.4), (16, 3, 0.4), (16, 1, 0.2),
          (16, 1, 0.1)]  # fmt: skip


def _needed(n: int, depth: int, phi: float, seed: int, p_phi: float) -> float:
    """The width each synthetic run needs: n^1, flat in L, (1/phi)^p_phi; seed 1 twice."""
    return 4.0 * (n / 8) * (0.4 / phi) ** p_phi * (2 if seed == 1 else 1)


def critical_runs(p_phi: float, *, activation: str = "relu") -> pd.DataFrame:
    rows = []
    for n, depth, phi in POINTS:
        widths = cw.WIDTHS_SHALLOW if depth == 1 else cw.WIDTHS_DEEP
        for seed in (0, 1):
            for w in widths:
                ok = w >= _needed(n, depth, phi, seed, p_phi)
                if (n, depth, phi, seed, w) == (32, 1, 0.4, 0, 4):
                    ok = True  # a lucky narrow width: must not count
                rows.append(dict(n=n, depth=depth, phi=phi, width=w, seed=seed, status="done",
                                 train_status="converged" if ok else "max_steps",
                                 activation=activation, parameterization="zou-gu"))  # fmt: skip
    return pd.DataFrame(rows)


def _analyze(runs: pd.DataFrame):
    res = cw.STUDY.analyze(StudyData(runs, EMPTY, EMPTY, EMPTY))
    for f in res.figures:
        plt.close(f.figure)
    return {j.key: j for j in res.judgements}, res


def test_evidence_is_the_per_seed_critical_width_by_hand():
    ev = cw.evidence(StudyData(critical_runs(5.0), EMPTY, EMPTY, EMPTY))
    for f in ev.figures:
        plt.close(f.figure)
    phi = ev.frames["exponent-phi"]
    assert sorted(set(phi["inv_phi"])) == [2.5, 5.0, 10.0] and len(phi) == 6
    for r in phi.itertuples():
        # the smallest power of 2 (>= 4) at or above the need
        need = _needed(r.n, r.depth, r.phi, r.seed, 5.0)
        assert r.critical_width == 2 ** math.ceil(math.log2(max(need, 4)))
    n = ev.frames["exponent-n"].set_index(["n", "seed"])["critical_width"]
    assert n[(32, 0)] == 16  # the lucky width 4 does not count
    assert set(ev.frames["exponent-L"]["depth"]) == {1, 2, 3}
    # context: the bounds calculator's width over the measured one, in log10
    from overparam.theory import bounds

    row = {b.key: b for b in bounds(n=8, depth=1, phi=0.4)}["zou-gu-2019/thm-3.3"]
    pts = ev.tables["points"].set_index(["n", "depth", "phi"])
    factor = row.width_log10 - math.log10(pts.loc[(8, 1, 0.4), "critical_width"])
    assert pts.loc[(8, 1, 0.4), "zou-gu-2019_factor_log10"] == pytest.approx(factor)
    zg = next(c for c in ev.context if c.label.startswith("Zou & Gu"))
    assert f"10^{pts['zou-gu-2019_factor_log10'].min():.1f}" in zg.value
    # the displayed exponent is the least-squares slope of the same rows
    ex = ev.tables["exponents"].set_index("symbol")
    slope = np.polyfit(np.log(phi["inv_phi"]), np.log(phi["critical_width"]), 1)[0]
    assert ex.loc["1/phi", "seed_exponent"] == pytest.approx(slope, abs=1e-9)


def test_phi_exponent_above_the_theorys_is_contradicted_below_is_consistent():
    steep, _ = _analyze(critical_runs(6.0))
    assert steep["exponent-phi"].verdict == CONTRADICTED, steep["exponent-phi"]
    flat, _ = _analyze(critical_runs(2.0))
    assert flat["exponent-phi"].verdict == CONSISTENT, flat["exponent-phi"]
    # independent: the fitted slope of the judged rows
    x = np.repeat([2.5, 5.0, 10.0], 2)
    y = np.array([[2 ** math.ceil(math.log2(max(_needed(16, 1, 0.4 * 2.5 / v, s, 2.0), 4)))
                   for s in (0, 1)] for v in (2.5, 5.0, 10.0)]).ravel()  # fmt: skip
    fit = loglog_fit(x, y, n_boot=200, level=0.95, seed=0)
    assert f"slope {fit.slope:.3f}" in flat["exponent-phi"].measured


def test_exponents_beyond_the_grids_resolution_are_inconclusive():
    j, _ = _analyze(critical_runs(2.0))
    for key in ("exponent-n", "exponent-L"):
        assert j[key].verdict == INCONCLUSIVE and "p_max" in j[key].reason, j[key]
    # n = 8..32 over the grid 4..16384: p_max = log(4096) / log(4) = 6 < 8
    assert "p_max = log(high/low)/log(x_max/x_min) = 6.00" in j["exponent-n"].reason


def test_other_activations_are_outside_assumptions_and_no_runs_not_measured():
    j, _ = _analyze(critical_runs(2.0, activation="softplus"))
    assert {v.verdict for v in j.values()} == {OUTSIDE}
    j, res = _analyze(EMPTY)
    assert {v.verdict for v in j.values()} == {INCONCLUSIVE} and not res.context
