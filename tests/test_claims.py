"""The claim engine on hand-made frames: every verdict kind, the grid- and dtype-resolution
rules, hypotheses, tightness numbers and fitted slopes against direct computations."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kendalltau, spearmanr

from overparam.errors import ConfigError
from overparam.references import REFERENCES
from overparam.studies import (
    VERDICTS,
    Claim,
    Fraction,
    Grid,
    Hypothesis,
    Monotone,
    Rank,
    Rate,
    Ratio,
    Resolution,
    Slope,
    Threshold,
    count_verdicts,
    judge,
)
from overparam.studies.claims import loglog_fit


def claim(test, quantity: str = "value", **kw) -> Claim:
    return Claim("k", "a claim", "zou-gu-2019, Lemma 4.2", quantity, test, **kw)


def power_law(p: float, noise: float, seed: int = 0, reps: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = np.repeat(np.geomspace(16, 1024, 5), reps)
    return pd.DataFrame({"width": x, "value": 2.0 * x**p * np.exp(noise * rng.normal(size=x.size))})


# ---------------------------------------------------------------------------------------------
# Slope: the fit, the bootstrap and the verdict rules
# ---------------------------------------------------------------------------------------------


def test_fit_matches_polyfit_and_tightness_is_the_exponent_ratio():
    df = power_law(-0.45, 0.2, seed=3)
    slope, intercept = np.polyfit(np.log(df["width"]), np.log(df["value"]), 1)
    fit = loglog_fit(df["width"].to_numpy(), df["value"].to_numpy(), n_boot=500, level=0.9, seed=1)
    assert fit.slope == pytest.approx(slope, abs=1e-12)
    assert fit.intercept == pytest.approx(intercept, abs=1e-12)
    j = judge(claim(Slope(-0.5, 0.3)), df)
    assert j.tightness == pytest.approx(slope / -0.5, rel=1e-12)
    assert f"slope {slope:.3f}" in j.measured


def test_bootstrap_interval_matches_an_independent_resampling():
    df = power_law(0.7, 0.3, seed=5)
    x, y = df["width"].to_numpy(), df["value"].to_numpy()
    fit = loglog_fit(x, y, n_boot=300, level=0.9, seed=7)
    order = np.lexsort((y, x))  # the documented row order: sorted by (x, y)
    lx, ly = np.log(x[order]), np.log(y[order])
    idx = np.random.default_rng(7).integers(0, x.size, size=(300, x.size))
    boots = [np.polyfit(lx[i], ly[i], 1)[0] for i in idx if np.unique(lx[i]).size > 1]
    low, high = np.quantile(boots, [0.05, 0.95])
    assert (fit.low, fit.high) == pytest.approx((low, high), abs=1e-9)


def test_bootstrap_is_deterministic_and_ignores_row_order():
    df = power_law(-0.5, 0.3, seed=2)
    a = judge(claim(Slope(-0.5, 0.1)), df)
    b = judge(claim(Slope(-0.5, 0.1)), df.sample(frac=1.0, random_state=4))
    assert a == b
    c = judge(claim(Slope(-0.5, 0.1, seed=1)), df)
    assert c.measured != a.measured  # the seed is a field: another seed, another interval


def test_slope_verdicts():
    exact = power_law(-0.5, 0.01)
    assert judge(claim(Slope(-0.5, 0.1)), exact).verdict == "consistent"
    # a slope 1 away is contradicted, whichever side
    assert judge(claim(Slope(-0.5, 0.1)), power_law(0.5, 0.01)).verdict == "contradicted"
    assert judge(claim(Slope(-0.5, 0.1)), power_law(-1.5, 0.01)).verdict == "contradicted"
    # an upper bound: a faster fall is consistent, a slower one contradicted
    assert judge(claim(Slope(-0.5, 0.1, kind="at_most")), power_law(-1.5, 0.01)).verdict == (
        "consistent"
    )
    assert judge(claim(Slope(-0.5, 0.1, kind="at_least")), power_law(-1.5, 0.01)).verdict == (
        "contradicted"
    )


def test_interval_straddling_the_boundary_is_inconclusive():
    df = power_law(-0.4, 0.6, seed=1)  # noisy: the interval is wide
    fit = loglog_fit(
        df["width"].to_numpy(), df["value"].to_numpy(), n_boot=2000, level=0.95, seed=0
    )
    assert fit.low < -0.4 < fit.high  # it contains the edge of [-0.6, -0.4]
    j = judge(claim(Slope(-0.5, 0.1)), df)
    assert j.verdict == "inconclusive" and "straddles" in j.reason


def test_interval_containing_zero_never_supports_a_trend():
    df = power_law(0.0, 0.1, seed=4)
    fit = loglog_fit(
        df["width"].to_numpy(), df["value"].to_numpy(), n_boot=2000, level=0.95, seed=0
    )
    assert -0.2 < fit.low < 0 < fit.high < 0.05
    # the region [-0.2, 0.05] contains the whole interval, but a flat quantity is no trend
    j = judge(claim(Slope(-0.075, 0.125)), df)
    assert j.verdict == "inconclusive" and "contains 0" in j.reason
    # whereas a claimed flat quantity is consistent on the same data
    assert judge(claim(Slope(0.0, 0.1)), df).verdict == "consistent"
    # and an interval around 0 far from the region still contradicts
    assert judge(claim(Slope(-1.0, 0.1, kind="at_most")), df).verdict == "contradicted"


def test_fewer_than_three_distinct_x_is_inconclusive():
    df = power_law(-0.5, 0.01)
    two = df[df["width"].isin(sorted(df["width"].unique())[:2])]
    j = judge(claim(Slope(-0.5, 0.1)), two)
    assert j.verdict == "inconclusive" and "2 distinct width" in j.measured


def test_nonpositive_rows_are_left_out_and_counted():
    df = pd.concat([power_law(-0.5, 0.01), pd.DataFrame({"width": [64.0], "value": [0.0]})])
    j = judge(claim(Slope(-0.5, 0.1)), df)
    assert j.verdict == "consistent" and "1 non-positive or non-finite rows" in j.measured


# ---------------------------------------------------------------------------------------------
# Slope: the grid-resolution rule
# ---------------------------------------------------------------------------------------------


def grid_frame(n: list[float], widths: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"n": n, "value": widths})


def test_grid_cannot_resolve_the_theorys_exponent():
    # critical width on a doubling grid 4..16384 over n = 8..64: at most log(4096)/log(8) = 4
    df = grid_frame([8, 16, 32, 64], [16, 64, 256, 1024])
    grid = Grid(2.0, 4.0, 16384.0)
    j = judge(claim(Slope(8.0, 0.5, kind="at_most", x="n", grid=grid)), df)
    p_max = math.log(16384 / 4) / math.log(64 / 8)
    assert j.verdict == "inconclusive"
    assert f"p_max = log(high/low)/log(x_max/x_min) = {p_max:.2f}" in j.reason
    # the same data against an exponent the grid resolves: decided (fitted 2, widened by
    # the exponent step log 2 / log 8 = 1/3, inside <= 3 + 0.1)
    ok = judge(claim(Slope(3.0, 0.1, kind="at_most", x="n", grid=grid)), df)
    assert ok.verdict == "consistent" and "±0.33" in ok.reason


def test_grid_step_widens_the_interval():
    df = grid_frame([8, 16, 32, 64], [16, 64, 256, 1024])  # exactly n^2: bootstrap [2, 2]
    grid = Grid(2.0, 4.0, 16384.0)
    without = judge(claim(Slope(2.1, 0.05, kind="at_most", x="n")), df)
    assert without.verdict == "consistent"
    j = judge(claim(Slope(2.1, 0.05, kind="at_most", x="n", grid=grid)), df)
    assert j.verdict == "inconclusive" and "straddles" in j.reason  # 2 + 1/3 > 2.15


def test_censored_values_can_contradict_an_upper_bound_but_never_confirm_it():
    grid = Grid(2.0, 4.0, 16384.0)
    # the largest n trains at no grid width (inf): censored above
    df = grid_frame([8, 16, 32, 64], [8, 16, 32, math.inf])
    j = judge(claim(Slope(3.0, 0.1, kind="at_most", x="n", grid=grid)), df)
    assert j.verdict == "inconclusive" and "1 censored" in j.reason
    # uncensored, the same small exponent would be consistent
    ok = judge(
        claim(Slope(3.0, 0.1, kind="at_most", x="n", grid=grid)),
        grid_frame([8, 16, 32, 64], [8, 16, 32, 64]),
    )
    assert ok.verdict == "consistent"
    steep = grid_frame([8, 16, 32, 64], [4 * 2, 4 * 2**4, 4 * 2**8, math.inf])
    bad = judge(claim(Slope(1.0, 0.1, kind="at_most", x="n", grid=grid)), steep)
    assert bad.verdict == "contradicted"
    # and confirm a lower bound
    low = judge(claim(Slope(1.0, 0.1, kind="at_least", x="n", grid=grid)), steep)
    assert low.verdict == "consistent"


# ---------------------------------------------------------------------------------------------
# Ratio, Rate, Threshold
# ---------------------------------------------------------------------------------------------


def test_ratio_verdicts_and_tightness_with_constants_one():
    df = pd.DataFrame({"value": [0.1, 0.5, 0.9], "bound": [1.0, 2.0, 1.5]})
    j = judge(claim(Ratio("bound")), df)
    assert j.verdict == "consistent"
    assert j.tightness == pytest.approx(max(0.1, 0.25, 0.6))
    worse = df.assign(value=[0.1, 0.5, 3.0])
    j = judge(claim(Ratio("bound")), worse)
    assert j.verdict == "contradicted" and "1 rows above 1" in j.reason
    assert j.tightness == pytest.approx(2.0)
    # a stated constant 4: 2.0 / 4 <= 1; the tightness stays measured / bound, constants 1
    j = judge(claim(Ratio("bound", constant=4.0)), worse)
    assert j.verdict == "consistent" and j.tightness == pytest.approx(2.0)
    assert "measured / (4·bound)" in j.theory


def test_lower_bound_ratio():
    df = pd.DataFrame({"value": [2.0, 3.0, 1.5], "bound": [1.0, 2.0, 1.0]})
    j = judge(claim(Ratio("bound", at_least=1.0)), df)
    assert j.verdict == "consistent" and j.tightness == pytest.approx(1.5)
    j = judge(claim(Ratio("bound", at_least=1.6)), df)
    assert j.verdict == "contradicted" and "2 rows below 1.6" in j.reason


def test_bound_at_its_trivial_value_is_vacuous():
    # a bound on a probability that is >= 1 everywhere cannot fail
    df = pd.DataFrame({"value": [0.2, 0.3], "bound": [1.0, 4.0]})
    j = judge(claim(Ratio("bound", trivial=1.0)), df)
    assert j.verdict == "vacuous" and "cannot fail" in j.reason
    # mixed: the trivial rows are left out, the others decide
    mixed = pd.DataFrame({"value": [0.2, 0.3, 0.6], "bound": [4.0, 0.5, 0.5]})
    j = judge(claim(Ratio("bound", trivial=1.0)), mixed)
    assert j.verdict == "contradicted" and "1 vacuous rows" in j.measured
    assert j.tightness == pytest.approx(1.2)


def rate_frame(curve: np.ndarray, rho: float) -> pd.DataFrame:
    return pd.DataFrame({"step": np.arange(curve.size), "loss": curve, "rho": rho, "run_id": "a"})


def test_rate_is_judged_on_the_worst_step_including_late_steps():
    rho, t = 0.9, np.arange(30)
    fine = 2.0 * (0.95 * rho) ** t
    j = judge(claim(Rate("rho"), "loss"), rate_frame(fine, rho))
    assert j.verdict == "consistent"
    assert j.tightness == pytest.approx(max((fine[1:] / 2.0) / rho ** t[1:]))
    # the curve stalls over the last 10 steps: the median step is fine, the worst is not
    stall = fine.copy()
    stall[20:] = stall[19]
    ratios = (stall[1:] / 2.0) / rho ** t[1:]
    assert np.median(ratios) < 1 < ratios.max()
    j = judge(claim(Rate("rho"), "loss"), rate_frame(stall, rho))
    assert j.verdict == "contradicted" and "step 29" in j.measured
    assert j.tightness == pytest.approx(ratios.max())
    # a stated constant that covers it
    big = judge(
        claim(Rate("rho", constant=math.ceil(ratios.max())), "loss"), rate_frame(stall, rho)
    )
    assert big.verdict == "consistent"


def test_rate_without_decay_or_steps():
    j = judge(claim(Rate("rho"), "loss"), rate_frame(np.ones(10), 1.0))
    assert j.verdict == "vacuous" and "rho ≥ 1" in j.reason
    j = judge(claim(Rate("rho"), "loss"), rate_frame(np.array([1.0, 0.5]), 0.9))
    assert j.verdict == "inconclusive" and "enough steps" in j.reason


def test_dtype_resolution_rule():
    lam = Claim(
        "lambda-min",
        "the kernel is positive definite",
        "du-2019-deep, Definition 5.1",
        "lambda_min",
        Threshold(at_least=0.0),
        resolution=Resolution("dtype", scale="lambda_max"),
    )
    noise = pd.DataFrame({"lambda_min": [-4e-16], "lambda_max": [1.0], "dtype": ["float64"]})
    j = judge(lam, noise)
    assert j.verdict == "inconclusive" and "below the dtype's resolution" in j.reason
    # without the rule, rounding noise would contradict positive definiteness
    bare = Claim("l", "pd", "du-2019-deep, Definition 5.1", "lambda_min", Threshold(at_least=0.0))
    assert judge(bare, noise).verdict == "contradicted"
    # a resolved negative value still contradicts, a resolved positive one is consistent
    assert judge(lam, noise.assign(lambda_min=-1e-3)).verdict == "contradicted"
    assert judge(lam, noise.assign(lambda_min=1e-3)).verdict == "consistent"
    # float32's eps (1.2e-7) makes 1e-7 unresolvable; in float64 it is resolved
    small = noise.assign(lambda_min=1e-7)
    assert judge(lam, small.assign(dtype="float32")).verdict == "inconclusive"
    assert judge(lam, small).verdict == "consistent"
    # the floor is factor * eps * |scale|, per row
    floor = lam.resolution.floor(small.assign(lambda_max=10.0))
    assert floor[0] == pytest.approx(64 * np.finfo(np.float64).eps * 10.0)


def test_resolution_leaves_out_floor_rows_of_a_fit():
    # a decaying quantity that hits the float64 floor at the widest networks
    df = power_law(-0.5, 0.01)
    df.loc[df["width"] == 1024, "value"] = 1e-17
    bent = judge(claim(Slope(-0.5, 0.1)), df)
    assert bent.verdict != "consistent" and bent.tightness > 4  # the floor bends the fit
    c = claim(Slope(-0.5, 0.1), resolution=Resolution("float64", scale=1.0))
    j = judge(c, df)
    assert j.verdict == "consistent" and "3 rows below" in j.reason


# ---------------------------------------------------------------------------------------------
# Monotone, Rank, Fraction
# ---------------------------------------------------------------------------------------------


def test_monotone_statistic_matches_scipy_and_verdicts():
    rng = np.random.default_rng(0)
    x = np.repeat([16.0, 32, 64, 128, 256], 2)
    y = 1000 / x + rng.normal(0, 1, x.size)
    df = pd.DataFrame({"width": x, "steps": y})
    j = judge(claim(Monotone("decreasing"), "steps"), df)
    rho = spearmanr(x, y).statistic
    assert j.verdict == "consistent" and f"Spearman {rho:.2f}" in j.measured
    assert j.tightness == pytest.approx(-rho / 0.8)
    assert judge(claim(Monotone("increasing"), "steps"), df).verdict == "contradicted"
    tau = kendalltau(x, y).statistic
    j = judge(claim(Monotone("decreasing", method="kendall"), "steps"), df)
    assert f"Kendall tau {tau:.2f}" in j.measured


def test_monotone_ties_and_too_few_points_are_inconclusive():
    # every run hit the step budget: a constant y cannot rank
    flat = pd.DataFrame({"width": [16.0, 32, 64, 128], "steps": [500.0] * 4})
    j = judge(claim(Monotone("decreasing"), "steps"), flat)
    assert j.verdict == "inconclusive"
    # three ties at the budget decide: broken one way rho = -1, the other way -0.2
    df = pd.DataFrame({"width": [16.0, 32, 64, 128], "steps": [500.0, 500.0, 500.0, 40.0]})
    j = judge(claim(Monotone("decreasing"), "steps"), df)
    assert j.verdict == "inconclusive" and "ties" in j.reason
    assert "-1.00..-0.20" in j.measured
    # two ties do not: the worst breaking still gives -0.8
    df = pd.DataFrame({"width": [16.0, 32, 64, 128], "steps": [500.0, 500.0, 80.0, 40.0]})
    j = judge(claim(Monotone("decreasing"), "steps"), df)
    assert j.verdict == "consistent" and "-1.00..-0.80" in j.measured
    few = pd.DataFrame({"width": [16.0, 32, 64], "steps": [30.0, 20.0, 10.0]})
    assert judge(claim(Monotone("decreasing"), "steps"), few).verdict == "inconclusive"


def test_rank_agreement():
    pred = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    meas = np.array([10.0, 30.0, 20.0, 40.0, 60.0, 50.0])
    df = pd.DataFrame({"pred": pred, "steps": meas})
    rho = spearmanr(pred, meas).statistic
    j = judge(claim(Rank(0.8, "pred"), "steps"), df)
    assert j.verdict == "consistent" and j.tightness == pytest.approx(rho / 0.8)
    j = judge(claim(Rank(0.9, "pred"), "steps"), df)
    assert j.verdict == "contradicted"  # rho = 0.886 < 0.9 with no ties to break
    tau = kendalltau(pred, meas).statistic
    j = judge(claim(Rank(0.6, "pred", method="kendall"), "steps"), df)
    assert j.verdict == "consistent" and j.tightness == pytest.approx(tau / 0.6)


def test_fraction_counts_undefined_pairs_apart():
    inf = math.inf
    df = pd.DataFrame(
        {
            "skip": [10.0, 20.0, 30.0, inf, 50.0, inf, np.nan],
            "plain": [20.0, 40.0, 10.0, inf, inf, 60.0, 5.0],
        }
    )
    j = judge(claim(Fraction(0.6, other="plain", op="<"), "skip"), df)
    # defined: rows 0, 1, 2, 4 (finite < inf), 5 (inf < 60 is false); undefined: both inf, NaN
    assert "3 of 5 defined pairs" in j.measured and "2 undefined" in j.measured
    assert j.verdict == "consistent" and j.tightness == pytest.approx(0.6 / 0.6)
    assert judge(claim(Fraction(0.7, other="plain"), "skip"), df).verdict == "contradicted"
    truth = pd.DataFrame({"ok": [1.0, np.nan, np.nan, 1.0]})
    j = judge(claim(Fraction(0.5), "ok"), truth)
    assert j.verdict == "inconclusive" and "2 defined" in j.reason


# ---------------------------------------------------------------------------------------------
# claims: citations, hypotheses, by construction, judgements
# ---------------------------------------------------------------------------------------------


def test_citation_is_resolved_at_declaration():
    c = claim(Slope(-0.5, 0.1))
    assert c.cite == "zou-gu-2019, Lemma 4.2" and c.reference == REFERENCES["zou-gu-2019"]
    with pytest.raises(ConfigError) as err:
        Claim("k", "t", "zou-gu-2020, Lemma 4.2", "value", Slope(-0.5, 0.1))
    assert str(err.value).startswith("cite: got 'zou-gu-2020'; allowed: a key of")
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="location"):
        Claim("k", "t", "zou-gu-2019", "value", Slope(-0.5, 0.1))


def test_bad_test_fields_are_config_errors():
    with pytest.raises(ConfigError, match=r"^kind: got 'upper'; allowed: equal, at_most"):
        Slope(-0.5, 0.1, kind="upper")
    with pytest.raises(ConfigError, match="tolerance"):
        Slope(-0.5, 0.0)
    with pytest.raises(ConfigError, match="min_fraction"):
        Fraction(0.0)
    with pytest.raises(ConfigError, match="rho"):
        Rate(1.5)
    with pytest.raises(ConfigError, match=r"^test\.y: got 'other'"):
        claim(Slope(-0.5, 0.1, y="other"))
    assert claim(Slope(-0.5, 0.1, y="value")).columns() == ("width", "value")


HYPS = (
    Hypothesis(
        "activation",
        allowed=("softplus", "tanh"),
        reason="Condition 3.1: analytic, non-polynomial, Lipschitz σ",
    ),
    Hypothesis("lr", at_most="lr_max", reason="Theorem 5.1: eta = O(lambda_0 / n^2)"),
)


def test_violated_hypothesis_is_outside_assumptions():
    df = power_law(-0.5, 0.01).assign(activation="tanh", lr=0.1, lr_max=0.2)
    c = claim(Slope(-0.5, 0.1), hypotheses=HYPS)
    assert judge(c, df).verdict == "consistent"
    relu = judge(c, df.assign(activation=["relu"] + ["tanh"] * (len(df) - 1)))
    assert relu.verdict == "outside assumptions" and not relu.supports
    assert "activation = relu in 1 of 15 rows" in relu.reason and "Condition 3.1" in relu.reason
    fast = judge(c, df.assign(lr=0.3))
    assert fast.verdict == "outside assumptions" and "lr ≤ lr_max" in fast.reason
    # a violation is reported even on data that would contradict the claim
    assert judge(c, power_law(0.5, 0.01).assign(activation="relu", lr=0.1, lr_max=0.2)).verdict == (
        "outside assumptions"
    )
    unknown = judge(c, df.drop(columns="lr_max"))
    assert unknown.verdict == "inconclusive" and "do not record lr_max" in unknown.reason


def test_missing_rows_or_columns_and_by_construction():
    c = claim(Slope(-0.5, 0.1))
    assert judge(c, pd.DataFrame()).verdict == "inconclusive"
    j = judge(c, power_law(-0.5, 0.01).rename(columns={"value": "other"}))
    assert j.verdict == "inconclusive" and "no column value" in j.reason
    built = claim(Ratio("bound"), by_construction="eta is chosen so that the bound is met")
    df = pd.DataFrame({"value": [0.5], "bound": [1.0]})
    j = judge(built, df)
    assert j.verdict == "vacuous" and "by construction" in j.reason and j.tightness == 0.5


def test_judgement_dict_and_counts():
    c = claim(Slope(-0.5, 0.1))
    good, flat = power_law(-0.5, 0.01), power_law(0.0, 0.01)
    js = [judge(c, good), judge(c, flat), judge(c, pd.DataFrame()), judge(c, good)]
    counts = count_verdicts(js)
    assert list(counts) == list(VERDICTS)
    assert counts == {
        "consistent": 2,
        "contradicted": 1,
        "inconclusive": 1,
        "vacuous": 0,
        "outside assumptions": 0,
    }
    d = js[2].to_dict()
    assert d["tightness"] is None and d["verdict"] == "inconclusive"
    assert (
        js[0].to_dict()["theory"]
        == Slope(-0.5, 0.1).describe()
        == ("log-log slope in width -1/2 ± 0.10 (95% bootstrap interval inside)")
    )


def test_the_claim_engine_does_not_import_torch():
    code = "import sys, overparam.studies; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
