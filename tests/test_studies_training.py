"""The training studies (``du-two-layer``, ``width-scaling``, ``no-critical-points``,
``linear-rate``): plans are valid and small, and each analysis, run on a tiny result set stored
by the real ``reproduce`` machinery, gives its figures, tables and claims, with the claims'
numbers recomputed here independently from the stored frames; the verdict rules are checked
on frames built so that the answer is known."""

from __future__ import annotations

import math
import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from overparam.report.reproduce import _study_data, experiment_name, run_studies
from overparam.report.studies import _common
from overparam.report.studies import du_two_layer as du
from overparam.report.studies import linear_rate as lr
from overparam.report.studies import no_critical_points as nc
from overparam.report.studies import width_scaling as ws
from overparam.report.study import STUDIES, Study, StudyData, StudyResult
from overparam.store import load

VERDICTS = {"holds", "holds with constant C", "does not hold at this scale"}
MODULES = {"du-two-layer": du, "width-scaling": ws, "no-critical-points": nc, "linear-rate": lr}

# Tiny scales: the same code paths as the real plans, each study trained in about a second.
TINY = {
    "du-two-layer": du.Scale(widths=(32, 128, 512), seeds=(0, 1), steps=40),
    "width-scaling": ws.Scale(widths=(32, 64, 128), seeds=(0, 1)),
    "no-critical-points": nc.Scale(widths=(32, 64, 128), seeds=(0, 1)),
    "linear-rate": lr.Scale(widths=(32, 64, 128), seeds=(0, 1), steps=40),
}


def _slope(text: str) -> float:
    """The slope of a claim's measured text "slope -0.52 [-0.60, -0.45]"."""
    return float(re.match(r"slope (-?[\d.]+)", text).group(1))


def _number(text: str, after: str) -> float:
    return float(re.search(re.escape(after) + r"\s*(-?[\d.eE+-]+)", text).group(1))


def _polyfit(x, y) -> float:
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = (x > 0) & (y > 0)
    return float(np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0])


def _claim(res: StudyResult, start: str):
    found = [c for c in res.claims if c.claim.startswith(start)]
    assert len(found) == 1, [c.claim for c in res.claims]
    return found[0]


def _analyze(module, data: StudyData) -> StudyResult:
    res = module.analyze(data)
    for f in res.figures:
        plt.close(f.figure)
    return res


# -- registration and plans --------------------------------------------------------------------


@pytest.mark.parametrize("name", list(MODULES))
def test_registered(name):
    assert STUDIES[name] is MODULES[name].STUDY


@pytest.mark.parametrize("name", list(MODULES))
@pytest.mark.parametrize("quick", [True, False])
def test_plans_are_distinct_and_small(name, quick):
    cfgs = MODULES[name].plan(quick)
    assert len({c.config_hash() for c in cfgs}) == len(cfgs)
    widths = sorted({c.width for c in cfgs})
    assert widths[-1] / widths[0] >= 16  # the issue: widths spanning at least 16x
    assert 2 <= len({c.seed for c in cfgs}) <= 3
    if quick:
        assert len(cfgs) <= 12 and widths[-1] <= 1024 and all(c.steps <= 500 for c in cfgs)


def test_du_plan_is_section_5():
    cfgs = du.plan(False)
    assert {(c.parameterization, c.depth, c.trainable, c.dtype) for c in cfgs} == {
        ("du", 1, "W1", "float64")
    }
    assert max(c.width for c in cfgs) / min(c.width for c in cfgs) == 64
    for seed in {c.seed for c in cfgs}:  # one step size per data seed, shared by every width
        lrs = {c.lr for c in cfgs if c.seed == seed}
        assert lrs == {du.step_size(seed)}
    lam_min, lam_max = du.gram_spectrum(0)
    assert 0 < lam_min < lam_max and du.step_size(0) == pytest.approx(1 / lam_max)


def test_deep_plans_use_both_parameterizations():
    for module in (ws, nc):
        assert {c.parameterization for c in module.plan(True)} == {"zou-gu", "allen-zhu"}
    assert {c.dtype for c in nc.plan(True)} == {"float64"}
    assert {c.parameterization for c in lr.plan(True)} == {"du"}


# -- the tiny stored result set ----------------------------------------------------------------


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """Each study's tiny plan trained and stored by ``run_studies``, read back as the report
    reads it: {name: StudyData}."""
    path = tmp_path_factory.mktemp("studies") / "results.sqlite"
    studies = []
    for name, module in MODULES.items():
        scale = TINY[name]
        measure = (lambda q, s=scale: du.measure_for(s)) if module is du else None
        studies.append(
            Study(
                name=name,
                title=name,
                source=module.SOURCE,
                plan=lambda q, m=module, s=scale: m.plan_for(s),
                analyze=module.analyze,
                measure=measure,
            )
        )
    executed = run_studies(studies, store_path=path, quick=True, workers=1)
    assert executed == sum(len(s.plan(True)) for s in studies)
    tables = load(path)
    data = {s.name: _study_data(tables, path, experiment_name(s, True)) for s in studies}
    for name, d in data.items():
        assert (d.runs["status"] == "done").all(), name
    return data


def _per_run_max(data: StudyData, probe: str, quantity: str, layer=None, how="max", col="value"):
    p = data.probes
    p = p[(p["probe"] == probe) & (p["quantity"] == quantity)]
    if layer is not None:
        p = p[p["layer"] == layer]
    v = p.groupby("run_id")[col].agg(how).rename("v").reset_index()
    return v.merge(data.runs[["run_id", "width", "seed", "parameterization"]], on="run_id")


def test_du_two_layer_tiny(stored):
    data = stored["du-two-layer"]
    res = _analyze(du, data)
    assert [f.name for f in res.figures] == ["loss", "pattern_changes", "distance"]
    assert all("du-2019-two-layer" in f.caption for f in res.figures)
    table = res.tables["per_width (median over seeds)"]
    assert list(table["width"]) == [32, 128, 512]
    assert len(res.claims) == 6 and {c.verdict for c in res.claims} <= VERDICTS
    # the flip-fraction slope: an independent fit of the stored rows
    flips = _per_run_max(data, "flips", "fraction", layer="W1")
    claim = _claim(res, "fraction of changed activation patterns")
    assert _slope(claim.measured) == pytest.approx(_polyfit(flips["width"], flips["v"]), abs=0.006)
    # the distance in Du et al.'s units: stored max_row (papers' units) times sqrt(m / 2)
    dist = _per_run_max(data, "movement", "max_row", layer="W1")
    dist["du"] = dist["v"] * np.sqrt(dist["width"] / 2)
    claim = _claim(res, "max_r ||w_r(k) - w_r(0)||")
    assert _slope(claim.measured) == pytest.approx(_polyfit(dist["width"], dist["du"]), abs=0.006)
    assert table["max_distance"].iloc[0] == pytest.approx(dist["du"][dist["width"] == 32].median())
    # Theorem 4.1's rate, from the stored losses and the measured lambda_0
    meas = data.measurements.set_index(["width", "seed"])
    worst = 0.0
    for _, r in data.runs.iterrows():
        c = data.losses[data.losses["run_id"] == r["run_id"]].sort_values("step")
        lam0 = meas.loc[(r["width"], r["seed"]), "lambda0"]
        rho = 1 - r["lr_used"] * lam0 / 2
        t, loss = c["step"].to_numpy()[1:], c["loss"].to_numpy()
        worst = max(worst, float(np.max(loss[1:] / loss[0] / rho**t)))
    claim = _claim(res, "GD converges linearly")
    assert _number(claim.measured, "max_t L_t/(rho^t L_0) =") == pytest.approx(worst, rel=5e-3)


def test_du_verdicts_follow_the_data(stored):
    data = stored["du-two-layer"]
    p = data.probes.copy()
    flips = (p["probe"] == "flips") & (p["quantity"] == "fraction")
    for exponent, verdict in ((-0.5, "holds"), (0.3, "does not hold at this scale")):
        q = p.copy()
        q.loc[flips, "value"] = 0.01 * q.loc[flips, "width"].astype(float) ** exponent
        res = _analyze(du, StudyData(data.runs, data.losses, q, data.measurements))
        assert _claim(res, "fraction of changed activation patterns").verdict == verdict


def test_width_scaling_tiny(stored):
    data = stored["width-scaling"]
    res = _analyze(ws, data)
    assert [f.name for f in res.figures] == [
        "movement",
        "flips",
        "hidden_drift",
        "ntk_drift",
        "linearization",
    ]
    fits = res.tables["fits"]
    assert set(fits["parameterization"]) == {"zou-gu", "allen-zhu"}
    assert set(fits["quantity"]) == {q.key for q in ws.QUANTITIES}
    assert len(res.claims) == 2 * (len(ws.QUANTITIES) + 1)
    assert {c.verdict for c in res.claims} <= VERDICTS | {"not measured"}
    for p in ("zou-gu", "allen-zhu"):
        omega = _per_run_max(data, "movement", "omega")
        omega = omega[omega["parameterization"] == p]
        row = fits[(fits["parameterization"] == p) & (fits["quantity"] == "movement")].iloc[0]
        assert row["slope"] == pytest.approx(_polyfit(omega["width"], omega["v"]), rel=1e-9)
        assert row["low"] <= row["slope"] <= row["high"] and row["theory"] == -0.5
    ntk = _per_run_max(data, "ntk_drift", "relative_drift")
    ntk = ntk[ntk["parameterization"] == "zou-gu"]
    claim = _claim(res, "zou-gu: relative NTK drift")
    assert _slope(claim.measured) == pytest.approx(_polyfit(ntk["width"], ntk["v"]), abs=0.006)


def test_width_scaling_verdicts_follow_the_data(stored):
    data = stored["width-scaling"]
    p = data.probes.copy()
    rows = (p["probe"] == "movement") & (p["quantity"] == "omega")
    cases = ((-0.5, "holds"), (-1.2, "holds"), (0.2, "does not hold at this scale"))
    for exponent, verdict in cases:
        q = p.copy()
        q.loc[rows, "value"] = 0.3 * q.loc[rows, "width"].astype(float) ** exponent
        res = _analyze(ws, StudyData(data.runs, data.losses, q, data.measurements))
        claim = _claim(res, "zou-gu: weight movement")
        assert claim.verdict == verdict
        assert _slope(claim.measured) == pytest.approx(exponent, abs=0.006)
        if exponent == -1.2:
            assert "faster than the bound" in claim.note


def test_no_critical_points_tiny(stored):
    data = stored["no-critical-points"]
    res = _analyze(nc, data)
    assert [f.name for f in res.figures] == [
        "gradient_ratio",
        "gradient_ratio_vs_width",
        "semi_smoothness",
    ]
    assert len(res.claims) == 8 and {c.verdict for c in res.claims} <= VERDICTS
    table = res.tables["per_width (median over seeds)"]
    assert len(table) == 6 and set(table["parameterization"]) == {"zou-gu", "allen-zhu"}
    p = data.probes
    az = p[(p["quantity"] == "lower_allen_zhu") & (p["parameterization"] == "allen-zhu")]
    claim = _claim(res, "allen-zhu: gradient lower bound")
    assert _number(claim.measured, "min measured/bound") == pytest.approx(
        float(az["ratio"].min()), rel=5e-3
    )
    zg = _per_run_max(data, "gradient_ratio", "lower_zou_gu", how="min")
    zg = zg[zg["parameterization"] == "zou-gu"]
    claim = _claim(res, "zou-gu: min over training")
    assert _slope(claim.measured) == pytest.approx(_polyfit(zg["width"], zg["v"]), abs=0.006)
    res_rows = p[(p["quantity"] == "residual") & (p["parameterization"] == "zou-gu")]
    claim = _claim(res, "zou-gu: semi-smoothness")
    assert "Lemma 4.4" in claim.claim
    assert _number(claim.measured, "max measured/bound") == pytest.approx(
        float(res_rows["ratio"].max()), rel=5e-3
    )
    converged = (data.runs["train_status"] == "converged").all()
    expected = "holds" if converged else "does not hold at this scale"
    assert _claim(res, "GD never stalls").verdict == expected


def test_no_critical_points_verdicts_follow_the_data(stored):
    data = stored["no-critical-points"]
    p = data.probes.copy()
    rows = (p["quantity"] == "lower_zou_gu") & (p["parameterization"] == "zou-gu")
    widths = p.loc[rows, "width"].astype(float)
    cases = (
        (2.0 + 0 * widths, "holds"),
        (0.5 + 0 * widths, "holds with constant C"),  # C = 2, the same at every width
        (50.0 / widths, "does not hold at this scale"),  # the ratio shrinks like 1/m
    )
    for ratio, verdict in cases:
        q = p.copy()
        q.loc[rows, "ratio"] = ratio
        res = _analyze(nc, StudyData(data.runs, data.losses, q, data.measurements))
        claim = _claim(res, "zou-gu: gradient lower bound")
        assert claim.verdict == verdict
        if verdict == "holds with constant C":
            assert "C = 2" in claim.note


def test_linear_rate_tiny(stored):
    data = stored["linear-rate"]
    res = _analyze(lr, data)
    assert [f.name for f in res.figures] == ["loss_curves", "kernel_regime"]
    assert len(res.claims) == 3 and {c.verdict for c in res.claims} <= VERDICTS
    table = res.tables["per_width (median over seeds)"]
    assert list(table["width"]) == [32, 64, 128]
    last = data.probes.groupby("run_id")["step"].max()
    p = data.probes
    p = p[(p["quantity"] == "loss_curve_error") & (p["step"] == p["run_id"].map(last))]
    err = p.merge(data.runs[["run_id", "width"]], on="run_id", suffixes=("_p", ""))
    claim = _claim(res, "the kernel prediction")
    assert _slope(claim.measured) == pytest.approx(_polyfit(err["width"], err["value"]), abs=0.006)
    # the rate claim, recomputed from the stored losses and the probe's rho
    contraction = data.probes[data.probes["quantity"] == "contraction"]
    rho = contraction.groupby("run_id")["bound"].first()
    worst = 0.0
    for rid, c in data.losses.groupby("run_id"):
        c = c.sort_values("step")
        loss, t = c["loss"].to_numpy(), c["step"].to_numpy()
        worst = max(worst, float(np.max(loss[1:] / loss[0] / rho[rid] ** t[1:])))
    claim = _claim(res, "GD converges linearly")
    assert _number(claim.measured, "max_t L_t/(rho^t L_0) =") == pytest.approx(worst, rel=5e-3)


def test_linear_rate_verdicts_follow_the_data(stored):
    data = stored["linear-rate"]
    rho = data.probes[data.probes["quantity"] == "contraction"].groupby("run_id")["bound"].first()
    L = data.losses.copy()
    r = L["run_id"].map(rho)
    cases = (
        (r ** (2.0 * L["step"]), "holds"),  # faster than rho^t
        (3.0 * r ** (2.0 * L["step"]), "holds with constant C"),  # a transient above it
        (r ** (0.5 * L["step"]), "does not hold at this scale"),  # slower than rho^t
    )
    for curve, verdict in cases:
        losses = L.assign(loss=np.where(L["step"] == 0, 1.0, curve))
        res = _analyze(lr, StudyData(data.runs, losses, data.probes, data.measurements))
        assert _claim(res, "GD converges linearly").verdict == verdict


@pytest.mark.parametrize("name", list(MODULES))
def test_nothing_stored_is_not_measured(name):
    empty = pd.DataFrame()
    res = MODULES[name].analyze(StudyData(empty, empty, empty, empty))
    assert [c.verdict for c in res.claims] == ["not measured"] and not res.figures


# -- the verdict rules -------------------------------------------------------------------------


def _frame(widths, values):
    return pd.DataFrame({"width": widths, "y": values})


def test_slope_verdicts():
    w = np.repeat([64, 128, 256, 512, 1024], 2).astype(float)
    noise = np.tile([0.97, 1.03], 5)
    exact = _common.fit_or_none(_frame(w, 2 * w**-0.5 * noise), "y")
    assert exact.exponent == pytest.approx(_polyfit(w, 2 * w**-0.5 * noise))
    assert _common.slope_verdict(exact, -0.5)[0] == "holds"
    steep = _common.fit_or_none(_frame(w, w**-1.0 * noise), "y")
    assert _common.slope_verdict(steep, -0.5, "upper")[0] == "holds"  # within an upper bound
    assert _common.slope_verdict(steep, -0.5, "exact")[0] == "does not hold at this scale"
    rising = _common.fit_or_none(_frame(w, w**0.3 * noise), "y")
    assert _common.slope_verdict(rising, -0.5)[0] == "does not hold at this scale"
    flat = _common.fit_or_none(_frame(w, np.tile([1.0, 3.0], 5) * w**-0.02), "y")
    verdict, note = _common.slope_verdict(flat, -0.5)
    assert verdict == "does not hold at this scale" and "contains 0" in note
    assert _common.slope_verdict(None, -0.5)[0] == "not measured"
    claim, _ = _common.slope_claim(_frame(w, w**-0.5), "y", -0.5, claim="c", source="s")
    assert claim.theory == "<= -1/2" and claim.measured.startswith("slope -0.50")


def test_ratio_verdicts():
    w = np.array([64, 256, 1024] * 2, dtype=float)
    df = pd.DataFrame({"width": w})
    assert _common.ratio_verdict(df.assign(ratio=0.5), "upper")[0] == "holds"
    verdict, C, _ = _common.ratio_verdict(df.assign(ratio=3.0), "upper")
    assert verdict == "holds with constant C" and C == 3.0
    assert _common.ratio_verdict(df.assign(ratio=w / 10), "upper")[0] == (
        "does not hold at this scale"
    )
    assert _common.ratio_verdict(df.assign(ratio=2.0), "lower")[0] == "holds"
    verdict, C, _ = _common.ratio_verdict(df.assign(ratio=0.25), "lower")
    assert verdict == "holds with constant C" and C == 4.0
    assert _common.ratio_verdict(df.assign(ratio=10 / w), "lower")[0] == (
        "does not hold at this scale"
    )
    assert _common.ratio_verdict(df.assign(ratio=np.nan), "upper")[0] == "not measured"


def test_rate_summary_by_hand():
    t = np.arange(0, 11)
    C, tail = _common.rate_summary(t, 0.8**t, 0.9)
    assert (C, tail) == pytest.approx((0.8 / 0.9, 0.8))
    C, tail = _common.rate_summary(t, 2 * 0.8**t, 0.9)  # a transient: C > 1, tail < rho
    assert (C, tail) == pytest.approx((2 * 0.8 / 0.9, 0.8))
    assert math.isnan(_common.rate_summary(np.array([0]), np.array([1.0]), 0.9)[0])


def test_plot_helpers_draw_through_the_data():
    from overparam.report.plots import bound_line, fitted_line, new_figure, theory_through

    fig, (ax,) = new_figure()
    stats = pd.DataFrame({"width": [64.0, 1024.0], "mean": [1.0, 0.25]})
    theory_through(ax, stats, "width", -0.5, label="theory")
    fitted_line(ax, [64, 1024], -0.5, 0.0)
    bound_line(ax, 1.0, label="bound")
    _, y = ax.lines[0].get_data()
    assert np.allclose(y[1] / y[0], (1024 / 64) ** -0.5)
    assert np.sqrt(y[0] * y[1]) == pytest.approx(0.5)
    assert ax.lines[0].get_linestyle() == "--" and ax.lines[1].get_linestyle() == ":"
    plt.close(fig)
