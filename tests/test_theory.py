"""overparam.theory: every row against the formulas typed in by hand from the seed papers.

The expected exponents and closed forms below are copied from the papers' text, not from
``overparam.theory.results``: Table 1, Theorems 3.3/3.8/3.10, Corollary 3.5 and Remarks 3.7/3.9 of
[zou-gu-2019], and Theorem 5.1 of [du-2019-deep].
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from overparam.errors import ConfigError
from overparam.references import REFERENCES
from overparam.theory import (
    Bound,
    Constants,
    bounds,
    format_log10,
    solve_log_fixed_point,
    sort_by_width,
    theory_exponents,
    to_frame,
    to_records,
)

LOG2 = math.log10(2.0)

# Base point where every row is available; lambda_min_K small enough that n^4/lambda^4 is the
# largest term of Du et al.'s max{...} at n and 2n.
BASE = dict(
    n=64, depth=4, phi=0.25, k=2, batch=8, eps=1e-3, lambda0=1e-3, lambda_min_K=1e-3, x_norm=2.0
)

# Width exponents, by hand from the papers: (n, L, 1/phi, B, k, 1/lambda0, 1/lambda_K, ||X||_2).
# "exp" marks 2^O(L) = 2^(cL) (c = 1): L -> 2L adds L log10(2).
WIDTH_EXPONENTS = {
    # [zou-gu-2019, Table 1]: Du et al. two-layer n^6/lambda0^4
    "du-2019-two-layer/table-1": (6, 0, 0, 0, 0, 4, 0, 0),
    # Wu et al. n^6/lambda0^4
    "wu-2019/table-1": (6, 0, 0, 0, 0, 4, 0, 0),
    # Oymak & Soltanolkotabi n ||X||^6/lambda0^4
    "oymak-2019/table-1": (1, 0, 0, 0, 0, 4, 0, 6),
    # Du et al. deep 2^O(L) n^4/lambda_min^4(K^(L))
    "du-2019-deep/table-1": (4, "exp", 0, 0, 0, 0, 4, 0),
    # [du-2019-deep, Theorem 5.1], leading term of the max
    "du-2019-deep/thm-5.1": (4, "exp", 0, 0, 0, 0, 4, 0),
    # Allen-Zhu et al. k n^24 L^12/phi^8
    "allen-zhu-2019/table-1": (24, 12, 8, 0, 1, 0, 0, 0),
    # Theorem 3.3: k n^8 L^12 log^3(m)/phi^4
    "zou-gu-2019/thm-3.3": (8, 12, 4, 0, 1, 0, 0, 0),
    # Corollary 3.5: k n^8 log^3(m)/phi^4
    "zou-gu-2019/cor-3.5": (8, 0, 4, 0, 1, 0, 0, 0),
    # Remark 3.7: Du et al. -> n^14/phi^4; Wu et al. (same width) -> n^14/phi^4;
    # Oymak & Soltanolkotabi -> n^9 ||X||^6/phi^4
    "du-2019-two-layer/remark-3.7": (14, 0, 4, 0, 0, 0, 0, 0),
    "wu-2019/remark-3.7": (14, 0, 4, 0, 0, 0, 0, 0),
    "oymak-2019/remark-3.7": (9, 0, 4, 0, 0, 0, 0, 6),
    # Remark 3.9: Allen-Zhu et al. SGD n^24 L^12 B k/phi^8
    "allen-zhu-2019/remark-3.9": (24, 12, 8, 1, 1, 0, 0, 0),
    # Theorem 3.8: k n^17 L^12 log^3(m)/(B^4 phi^8)
    "zou-gu-2019/thm-3.8": (17, 12, 8, -4, 1, 0, 0, 0),
    # Theorem 3.10: k^(5/2) n^11 log^3(m)/(phi^5 B)
    "zou-gu-2019/thm-3.10": (11, 0, 5, -1, 2.5, 0, 0, 0),
}
VARIABLES = ("n", "L", "1/phi", "B", "k", "1/lambda0", "1/lambda_K", "||X||_2")
SGD_KEYS = {"allen-zhu-2019/remark-3.9", "zou-gu-2019/thm-3.8", "zou-gu-2019/thm-3.10"}
LOG3M_KEYS = {
    "allen-zhu-2019/table-1",
    "zou-gu-2019/thm-3.3",
    "zou-gu-2019/cor-3.5",
    "allen-zhu-2019/remark-3.9",
    "zou-gu-2019/thm-3.8",
    "zou-gu-2019/thm-3.10",
}


def _rows(**kw) -> dict[str, Bound]:
    return {b.key: b for b in bounds(**{**BASE, "log_factor": False, **kw})}


def _doubled(variable: str) -> dict:
    b = BASE
    return {
        "n": {"n": 2 * b["n"]},
        "L": {"depth": 2 * b["depth"]},
        "1/phi": {"phi": b["phi"] / 2},
        "B": {"batch": 2 * b["batch"]},
        "k": {"k": 2 * b["k"]},
        "1/lambda0": {"lambda0": b["lambda0"] / 2},
        "1/lambda_K": {"lambda_min_K": b["lambda_min_K"] / 2},
        "||X||_2": {"x_norm": 2 * b["x_norm"]},
    }[variable]


# ---------------------------------------------------------------------------------------------
# Rows and exponents
# ---------------------------------------------------------------------------------------------


def test_rows_are_the_issue_rows_with_citations():
    rows = bounds(**BASE)
    assert [b.key for b in rows if b.key in WIDTH_EXPONENTS] == [b.key for b in rows]
    assert {b.key for b in rows} == set(WIDTH_EXPONENTS)
    for b in rows:
        assert b.reference in REFERENCES
        assert b.theorem and b.paper and b.formula.startswith("m = Omega")
        assert b.algorithm == ("SGD" if b.key in SGD_KEYS else "GD")
    networks = {b.key: b.network for b in rows}
    assert networks["du-2019-deep/thm-5.1"] == "deep smooth"
    assert networks["zou-gu-2019/thm-3.10"] == "two-layer relu"
    assert networks["zou-gu-2019/thm-3.3"] == "deep relu"


@pytest.mark.parametrize("variable", VARIABLES)
@pytest.mark.parametrize("key", sorted(WIDTH_EXPONENTS))
def test_doubling_changes_width_by_the_papers_exponent(key, variable):
    base = _rows()[key].width_log10
    doubled = _rows(**_doubled(variable))[key].width_log10
    exponent = WIDTH_EXPONENTS[key][VARIABLES.index(variable)]
    # 2^(cL) with c = 1: L -> 2L multiplies the width by 2^L
    expected = BASE["depth"] * LOG2 if exponent == "exp" else exponent * LOG2
    assert doubled - base == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("key", sorted(WIDTH_EXPONENTS))
def test_theory_exponents_match_the_papers(key):
    exps = theory_exponents(key)
    n, L, inv_phi, B, k, *_ = WIDTH_EXPONENTS[key]
    assert exps["n"] == n
    assert exps["1/phi"] == inv_phi
    assert exps.get("B", 0.0) == B
    assert exps.get("k", 0.0) == k
    if L == "exp":
        assert exps["L"] == 0.0 and exps["2^(cL)"] == 1.0
    else:
        assert exps["L"] == L
    assert exps.get("log m", 0.0) == (3.0 if key in LOG3M_KEYS else 0.0)


def test_theory_exponents_aliases_and_unknown_paper():
    assert {k: theory_exponents("zou-gu-2019")[k] for k in ("n", "L", "1/phi")} == {
        "n": 8.0,
        "L": 12.0,
        "1/phi": 4.0,
    }
    az = theory_exponents("allen-zhu-2019")
    assert (az["n"], az["L"], az["1/phi"]) == (24.0, 12.0, 8.0)
    assert theory_exponents("zou-gu-2019/thm-3.8")["B"] == -4.0
    with pytest.raises(ConfigError, match=r"paper.*zou-gu-2019/thm-3\.3"):
        theory_exponents("nobody-2020")


# ---------------------------------------------------------------------------------------------
# Closed forms, computed in floats from the papers' formulas
# ---------------------------------------------------------------------------------------------


def _closed_forms(n, depth, phi, k, batch, eps, lambda0, lambda_min_K, x_norm, delta=0.01):
    L, B, lam, lk, X, le = depth, batch, lambda0, lambda_min_K, x_norm, math.log(1 / eps)
    two = 2.0**L
    du51 = two * max(n**4 / lk**4, n / delta, n**2 * math.log(L * n / delta) / lk**2)
    width = {
        "du-2019-two-layer/table-1": n**6 / lam**4,
        "wu-2019/table-1": n**6 / lam**4,
        "oymak-2019/table-1": n * X**6 / lam**4,
        "du-2019-deep/table-1": two * n**4 / lk**4,
        "du-2019-deep/thm-5.1": du51,
        "allen-zhu-2019/table-1": k * n**24 * L**12 / phi**8,
        "zou-gu-2019/thm-3.3": k * n**8 * L**12 / phi**4,
        "zou-gu-2019/cor-3.5": k * n**8 / phi**4,
        "du-2019-two-layer/remark-3.7": n**14 / phi**4,
        "wu-2019/remark-3.7": n**14 / phi**4,
        "oymak-2019/remark-3.7": n**9 * X**6 / phi**4,
        "allen-zhu-2019/remark-3.9": n**24 * L**12 * B * k / phi**8,
        "zou-gu-2019/thm-3.8": k * n**17 * L**12 / (B**4 * phi**8),
        "zou-gu-2019/thm-3.10": k**2.5 * n**11 / (phi**5 * B),
    }
    m = width  # log factor off: m is the polynomial itself
    lm = {key: max(1.0, math.log(v)) for key, v in m.items()}
    iterations = {
        "du-2019-two-layer/table-1": n**2 * le / lam**2,
        "wu-2019/table-1": n * le / lam,
        "oymak-2019/table-1": X**2 * le / lam,
        "du-2019-deep/table-1": two * n**2 * le / lk**2,
        "du-2019-deep/thm-5.1": two * n**2 * le / lk**2,
        "allen-zhu-2019/table-1": n**6 * L**2 * le / phi**2,
        "zou-gu-2019/thm-3.3": n**2 * L**2 * le / phi,
        "zou-gu-2019/cor-3.5": n**2 * le / phi,
        "du-2019-two-layer/remark-3.7": n**6 * le / phi**2,
        "wu-2019/remark-3.7": n**3 * le / phi,
        "oymak-2019/remark-3.7": n**2 * X**2 * le / phi,
        "allen-zhu-2019/remark-3.9": n**7 * L**2 * le / (B * phi**2),
        "zou-gu-2019/thm-3.8": n**5 * L**2 * lm["zou-gu-2019/thm-3.8"] * le**2 / (B * phi**2),
        "zou-gu-2019/thm-3.10": n**5 * lm["zou-gu-2019/thm-3.10"] * le / (B * phi**2),
    }
    m33, m35 = m["zou-gu-2019/thm-3.3"], m["zou-gu-2019/cor-3.5"]
    m38, m310 = m["zou-gu-2019/thm-3.8"], m["zou-gu-2019/thm-3.10"]
    step = {
        "du-2019-deep/table-1": lk / (n**2 * two),
        "du-2019-deep/thm-5.1": lk / (n**2 * two),
        "zou-gu-2019/thm-3.3": k / (L**2 * m33),
        "zou-gu-2019/cor-3.5": k / m35,
        "zou-gu-2019/thm-3.8": k * B * phi / (n**3 * m38 * math.log(m38)),
        "zou-gu-2019/thm-3.10": k * B * phi / (n**3 * m310 * math.log(m310)),
    }
    return width, iterations, step


@pytest.mark.parametrize(
    "point",
    [BASE, {**BASE, "n": 10, "depth": 1, "phi": 1.5, "k": 1, "batch": 10}],
    ids=["base", "small"],
)
def test_every_value_equals_the_papers_formula(point):
    rows = _rows(**point)
    width, iterations, step = _closed_forms(**point)
    for key, b in rows.items():
        assert b.width_log10 == pytest.approx(math.log10(width[key]), abs=1e-9), key
        assert b.iterations_log10 == pytest.approx(math.log10(iterations[key]), abs=1e-9), key
        if key in step:
            assert b.step_size_log10 == pytest.approx(math.log10(step[key]), abs=1e-9), key
            assert b.missing is None
        else:  # the seeds state no step size for these rows
            assert math.isnan(b.step_size_log10) and "step size not stated" in b.missing


def test_du_theorem_5_1_takes_the_max_including_the_delta_term():
    # delta tiny: n/delta dominates n^4/lambda^4; m = 2^L n/delta.
    rows = _rows(delta_fail=1e-40, lambda_min_K=0.5)
    n, L = BASE["n"], BASE["depth"]
    assert rows["du-2019-deep/thm-5.1"].width_log10 == pytest.approx(
        L * LOG2 + math.log10(n) + 40, abs=1e-12
    )
    # Table 1's version has no delta term.
    assert rows["du-2019-deep/table-1"].width_log10 == pytest.approx(
        L * LOG2 + 4 * math.log10(n) - 4 * math.log10(0.5), abs=1e-12
    )
    # The 2^O(L) constant c is settable: 2^(cL).
    c3 = _rows(constants=Constants(depth=3.0))["du-2019-deep/table-1"].width_log10
    assert c3 - _rows()["du-2019-deep/table-1"].width_log10 == pytest.approx(2 * L * LOG2)


# ---------------------------------------------------------------------------------------------
# Remark 3.7: lambda0 >= phi / n^2
# ---------------------------------------------------------------------------------------------


def test_remark_3_7_translations_are_the_papers_statements():
    n, phi, X, eps = 50, 0.2, 3.0, 1e-4
    rows = {b.key: b for b in bounds(n=n, depth=2, phi=phi, x_norm=X, eps=eps)}
    le = math.log(1 / eps)
    du = rows["du-2019-two-layer/remark-3.7"]
    # "can be translated to O(n^6 log(1/eps)/phi^2) and Omega(n^14/phi^4)"
    assert du.width_log10 == pytest.approx(math.log10(n**14 / phi**4), abs=1e-12)
    assert du.iterations_log10 == pytest.approx(math.log10(n**6 * le / phi**2), abs=1e-12)
    assert du.width_formula == "Omega(n^14 / phi^4)"
    assert du.iterations_formula == "O(n^6 log(1/eps) / phi^2)"
    # "O(n^2 ||X||^2 log(1/eps)/phi) and Omega(n^9 ||X||^6/phi^4)"
    oy = rows["oymak-2019/remark-3.7"]
    assert oy.width_log10 == pytest.approx(math.log10(n**9 * X**6 / phi**4), abs=1e-12)
    assert oy.iterations_log10 == pytest.approx(math.log10(n**2 * X**2 * le / phi), abs=1e-12)
    assert oy.translated and not rows["oymak-2019/table-1"].translated


def test_translated_rows_equal_the_originals_at_lambda0_phi_over_n2():
    n, phi = 40, 0.3
    rows = {b.key: b for b in bounds(n=n, depth=2, phi=phi, x_norm=2.0, lambda0=phi / n**2)}
    for paper in ("du-2019-two-layer", "wu-2019", "oymak-2019"):
        orig, tr = rows[f"{paper}/table-1"], rows[f"{paper}/remark-3.7"]
        assert tr.width_log10 == pytest.approx(orig.width_log10, abs=1e-12)
        assert tr.iterations_log10 == pytest.approx(orig.iterations_log10, abs=1e-12)


# ---------------------------------------------------------------------------------------------
# The log^3(m) fixed point
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("big_a", [10.0, 1e3, 1e6, 1e12, 1e100])
def test_fixed_point_solves_m_equals_a_log3_m(big_a):
    x = solve_log_fixed_point(math.log10(big_a), 3.0)
    m = 10.0**x
    assert abs(m - big_a * math.log(m) ** 3) / m < 1e-9
    assert m > math.e**3  # the largest root, on the branch where m / log^3 m increases


@pytest.mark.parametrize("a_log10", [80.0, 500.0, 1e4])
def test_fixed_point_beyond_float_range(a_log10):
    x = solve_log_fixed_point(a_log10, 3.0)
    residual = x - (a_log10 + 3.0 * math.log10(x * math.log(10.0)))
    assert abs(residual) / x < 1e-9 and x > a_log10


def test_fixed_point_small_a_and_power_one():
    # A < (e/3)^3: m >= A log^3 m for every m >= e; log m read as 1 gives m = A.
    assert solve_log_fixed_point(math.log10(0.5), 3.0) == pytest.approx(math.log10(0.5))
    x = solve_log_fixed_point(math.log10(50.0), 1.0)
    assert 10.0**x == pytest.approx(50.0 * math.log(10.0**x), rel=1e-12)
    assert solve_log_fixed_point(7.0, 0.0) == 7.0


def test_bounds_include_log3m_only_where_the_papers_have_it():
    on = {b.key: b for b in bounds(**BASE)}
    off = _rows()
    for key in WIDTH_EXPONENTS:
        if key in LOG3M_KEYS:
            x = on[key].width_log10
            # m = A log^3 m with A the polynomial
            assert x == pytest.approx(off[key].width_log10 + 3 * math.log10(x * math.log(10)))
            assert on[key].log_factor and not off[key].log_factor
        else:
            assert on[key].width_log10 == off[key].width_log10
            assert not on[key].log_factor
    assert "log^3(m)" in on["zou-gu-2019/thm-3.3"].width_formula
    assert on["allen-zhu-2019/table-1"].width_formula.startswith("Omega~(")


# ---------------------------------------------------------------------------------------------
# Missing inputs, constants, validation
# ---------------------------------------------------------------------------------------------


def test_missing_inputs_give_nan_and_a_reason():
    rows = {b.key: b for b in bounds(n=100, depth=3)}
    assert all(not b.available for b in rows.values())
    assert "lambda0" in rows["du-2019-two-layer/table-1"].missing
    assert "phi" in rows["du-2019-two-layer/remark-3.7"].missing
    assert "batch" in rows["zou-gu-2019/thm-3.8"].missing
    assert "lambda_min_K" in rows["du-2019-deep/thm-5.1"].missing
    with_phi = {b.key: b for b in bounds(n=100, depth=3, phi=0.1)}
    assert with_phi["zou-gu-2019/thm-3.3"].available
    assert with_phi["du-2019-two-layer/remark-3.7"].available
    assert not with_phi["du-2019-two-layer/table-1"].available
    assert not with_phi["oymak-2019/remark-3.7"].available  # needs ||X||_2 too
    record = next(r for r in to_records(list(rows.values())) if r["key"] == "wu-2019/table-1")
    assert record["width_log10"] is None and "lambda0" in record["missing"]
    json.dumps(record, allow_nan=False)  # valid JSON, no NaN


def test_constants_scale_every_value():
    one, ten = _rows(), _rows(constants=10.0)
    for key, b in one.items():
        assert ten[key].width_log10 == pytest.approx(b.width_log10 + 1.0)
        if key in ("zou-gu-2019/thm-3.8", "zou-gu-2019/thm-3.10"):
            continue  # log m in T and eta moves with m
        assert ten[key].iterations_log10 == pytest.approx(b.iterations_log10 + 1.0)
    # eta = C k/(L^2 m) with m = C A: constants cancel in Theorem 3.3's step size.
    key = "zou-gu-2019/thm-3.3"
    assert ten[key].step_size_log10 == pytest.approx(one[key].step_size_log10)
    width_only = _rows(constants=Constants(width=100.0))[key]
    assert width_only.iterations_log10 == pytest.approx(one[key].iterations_log10)


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("n", {"n": 0}),
        ("n", {"n": 2.5}),
        ("depth", {"depth": 0}),
        ("phi", {"phi": 0.0}),
        ("phi", {"phi": 2.5}),
        ("batch", {"batch": 65}),
        ("batch", {"batch": 0}),
        ("k", {"k": 0}),
        ("eps", {"eps": 1.0}),
        ("lambda0", {"lambda0": -1.0}),
        ("lambda_min_K", {"lambda_min_K": float("nan")}),
        ("x_norm", {"x_norm": 0.0}),
        ("delta_fail", {"delta_fail": 0.0}),
        ("constants", {"constants": -1.0}),
        ("constants.depth", {"constants": Constants(depth=-1.0)}),
    ],
)
def test_bad_input_names_field_value_and_range(field, kwargs):
    with pytest.raises(ConfigError) as err:
        bounds(**{**BASE, **kwargs})
    assert err.value.field == field
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{field}: got ") and "allowed:" in message


# ---------------------------------------------------------------------------------------------
# Sorting, tables, formatting
# ---------------------------------------------------------------------------------------------


def test_sort_by_width_puts_unavailable_last():
    rows = sort_by_width(bounds(n=100, depth=3, phi=0.1, batch=10))
    widths = [b.width_log10 for b in rows if b.available]
    assert widths == sorted(widths)
    flags = [b.available for b in rows]
    assert flags == sorted(flags, reverse=True)


def test_frame_and_theory_over_practice():
    rows = bounds(**BASE)
    frame = to_frame(rows, measured_width=1000.0)
    assert len(frame) == len(rows)
    for col in ("paper", "theorem", "algorithm", "network", "width_log10", "formula"):
        assert col in frame.columns
    assert np.allclose(frame["theory_over_practice_log10"], frame["width_log10"] - 3.0)
    assert frame["step_size_log10"].isna().sum() == 8
    with pytest.raises(ConfigError, match="measured_width"):
        rows[0].theory_over_practice_log10(0.0)


def test_format_log10():
    assert format_log10(45.5) == "3.2e+45"
    assert format_log10(-2.0) == "1.0e-2"
    assert format_log10(math.log10(9.99)) == "1.0e+1"
    assert format_log10(float("nan")) == "n/a"


# ---------------------------------------------------------------------------------------------
# bounds_for: inputs measured on data
# ---------------------------------------------------------------------------------------------


def _h_infinity_closed_form(X: np.ndarray) -> np.ndarray:
    # [zou-gu-2019, Proposition 3.6] for unit-norm rows: E_w[x_i.x_j 1{w.x_i>0} 1{w.x_j>0}]
    # = x_i.x_j (pi - arccos(x_i.x_j)) / (2 pi).
    G = np.clip(X @ X.T, -1.0, 1.0)
    np.fill_diagonal(G, 1.0)  # x_i.x_i = 1 exactly (rounding would move arccos by ~1e-8)
    return G * (np.pi - np.arccos(G)) / (2.0 * np.pi)


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_bounds_for_digits_fills_measured_inputs(task):
    from scipy.spatial.distance import pdist

    from overparam.data import digits
    from overparam.theory import bounds_for, measure_inputs

    data = digits(task=task, n=300, seed=0)
    X = data[0].X.double().numpy()
    n, k = X.shape[0], 10 if task == "multiclass" else 1
    phi = float(pdist(X).min())
    lam0 = float(np.linalg.eigvalsh(_h_infinity_closed_form(X))[0])
    x_norm = float(np.linalg.svd(X, compute_uv=False)[0])

    inputs = measure_inputs(data, 2, du_kernel=False)
    assert (inputs.n, inputs.k, inputs.lambda_min_K) == (n, k, None)
    assert inputs.phi == pytest.approx(phi, rel=1e-9)
    assert inputs.lambda0 == pytest.approx(lam0, rel=1e-8)
    assert inputs.x_norm == pytest.approx(x_norm, rel=1e-12)

    rows = {b.key: b for b in bounds_for(data, 2, log_factor=False, du_kernel=False)}
    close = dict(abs=1e-6)
    assert rows["du-2019-two-layer/table-1"].width_log10 == pytest.approx(
        math.log10(n**6 / lam0**4), **close
    )
    assert rows["oymak-2019/table-1"].width_log10 == pytest.approx(
        math.log10(n * x_norm**6 / lam0**4), **close
    )
    assert rows["zou-gu-2019/thm-3.3"].width_log10 == pytest.approx(
        math.log10(k * n**8 * 2**12 / phi**4), **close
    )
    assert "du_kernel=False" in rows["du-2019-deep/thm-5.1"].missing


def test_bounds_for_fills_du_gram_and_accepts_measured_inputs():
    from overparam.data import sphere
    from overparam.ntk.gram import du_gram, lambda_min
    from overparam.theory import bounds_for, measure_inputs

    data = sphere(12, 6, seed=1)
    X = data.X.double().numpy()
    inputs = measure_inputs(data, 3, activation="softplus")
    expected = lambda_min(du_gram(X, depth=3, activation="softplus"))
    assert inputs.lambda_min_K == pytest.approx(expected, rel=1e-12)
    rows = {b.key: b for b in bounds_for(inputs, 3)}
    assert rows["du-2019-deep/table-1"].width_log10 == pytest.approx(
        3 * LOG2 + math.log10(12**4 / expected**4), abs=1e-9
    )
    assert "K^(L) measured with softplus" in rows["du-2019-deep/table-1"].note
    with pytest.raises(ConfigError, match="depth"):
        bounds_for(inputs, 2)


def test_bounds_for_duplicate_inputs_reports_rows_unavailable():
    import torch

    from overparam.data import Dataset, min_separation
    from overparam.theory import bounds_for

    X = torch.nn.functional.normalize(
        torch.randn(12, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0)), dim=1
    )
    X = torch.cat([X, X[:1]])  # a duplicate: phi = 0 and H^inf is singular
    data = Dataset(X, torch.ones(13, 1, dtype=torch.float64), min_separation(X))
    rows = {b.key: b for b in bounds_for(data, 2, du_kernel=False)}
    assert not rows["zou-gu-2019/thm-3.3"].available
    assert "measured phi = 0" in rows["zou-gu-2019/thm-3.3"].missing
    assert not rows["du-2019-two-layer/table-1"].available
    assert "measured lambda0 = 0" in rows["du-2019-two-layer/table-1"].missing
