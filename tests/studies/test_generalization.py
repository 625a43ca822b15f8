"""Study ``generalization``: its plan is Algorithm 2 on digits over noise and n, every claim is
judged on the measurement rows as recomputed here by hand, and crafted rows move each verdict
(consistent, contradicted, vacuous where the bound is >= 1, outside assumptions off Algorithm 2)."""

from __future__ import annotations

import dataclasses
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from overparam.store import load
from overparam.studies import generalization as gen
from overparam.studies.claims import assert_falsifiable
from overparam.studies.reproduce import run_studies, study_data
from overparam.studies.study import StudyData

EMPTY = pd.DataFrame()
N_FULL, N_SMALL = 100, (25, 50)
TINY = gen.Size(
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


@pytest.mark.parametrize("scale", ["quick", "full"])
def test_plan_is_algorithm_2_on_digits_over_noise_and_n(scale):
    s = gen.SIZES[scale]
    cfgs = gen.STUDY.configs(scale)
    assert len({c.config_hash() for c in cfgs}) == len(cfgs)
    assert len(cfgs) == len(s.seeds) * (len(gen.NOISES) + len(s.digits_ns) - 1)
    assert all(c.parameterization == "cao-gu" and c.algorithm == "online-sgd" for c in cfgs)
    assert all(c.steps == c.n and c.lr == 1 / c.width and c.depth == 2 for c in cfgs)
    assert all(c.data == "digits" and c.width == s.width for c in cfgs)
    points = {(c.noise, c.n, c.seed) for c in cfgs}
    want = {(p, s.digits_n, q) for p in gen.NOISES for q in s.seeds}
    want |= {(0.0, n, q) for n in s.digits_ns for q in s.seeds}
    assert points == want


def test_every_claim_is_falsifiable_and_cites_cao_gu_or_jacot():
    for claim in gen.CLAIMS:
        assert_falsifiable(claim)
        assert claim.cite.split(",")[0] in ("cao-gu-2019", "jacot-2018")
    kinds = ("bound-noise-{}-analytic", "bound-noise-{}-empirical", "random-labels-{}",
             "tracks-{}", "bound-above-{}", "ntrf-{}", "kernel-{}", "error-rate-{}")  # fmt: skip
    assert [c.key for c in gen.CLAIMS] == [k.format(d) for d in gen.DATASETS for k in kinds]


# -- crafted measurement rows ---------------------------------------------------------------


def crafted(**change) -> pd.DataFrame:
    """Digits rows of two seeds: a noise sweep at n = 100 and an n sweep at noise 0, whose
    bound rises with noise, falls like n^(-1/2), stays below 1 at noise <= 0.5, sits above an
    error that ranks like it, with E[error]/bound falling like n^(-0.3)."""
    rows = []
    points = [(p, N_FULL, "noise") for p in gen.NOISES] + [(0.0, n, "n") for n in N_SMALL]
    for seed in (0, 1):
        for noise, n, part in points:
            bound = (0.3 + 0.8 * noise) * math.sqrt(N_FULL / n) * (1 + 0.01 * seed)
            rows.append(
                dict(data="digits", noise=noise, n=n, seed=seed, sweep=part,
                     algorithm="online-sgd", complexity_analytic=n * (0.2 + noise),
                     bound_analytic=bound, bound_empirical=1.1 * bound,
                     expected_test_error=0.5 * bound * (n / N_FULL) ** -0.3,
                     confidence_term=0.1,
                     ntrf_bound=0.95 if (part == "noise" and seed == 0) else np.nan)
            )  # fmt: skip
    m = pd.DataFrame(rows)
    for col, fn in change.items():
        m[col] = fn(m)
    return m


def judged(meas: pd.DataFrame, runs: pd.DataFrame = EMPTY) -> dict:
    res = gen.STUDY.analyze(StudyData(runs, EMPTY, EMPTY, meas))
    for f in res.figures:
        plt.close(f.figure)
    return {j.key: j for j in res.judgements}


def test_crafted_rows_are_consistent_with_every_digits_claim():
    j = judged(crafted())
    digits = [k for k in j if "digits" in k]
    assert len(digits) == 8
    assert {j[k].verdict for k in digits} == {"consistent"}, {k: j[k].reason for k in digits}
    # the sphere was not measured: its claims have no rows
    assert {j[k].verdict for k in j if "sphere" in k} == {"inconclusive"}


def test_the_bound_claim_leaves_out_trivial_points_and_reads_the_rest():
    m = crafted()
    j = judged(m)["bound-above-digits"]
    keep = m[m["bound_analytic"] < 1]
    assert 0 < len(keep) < len(m)
    assert j.tightness == pytest.approx(
        float((keep["expected_test_error"] / keep["bound_analytic"]).max())
    )
    assert f"{len(m) - len(keep)} vacuous rows" in j.measured


@pytest.mark.parametrize(
    ("key", "change"),
    [
        ("bound-noise-digits-analytic", {"bound_analytic": lambda m: 2.0 - m["noise"]}),
        ("bound-noise-digits-empirical", {"bound_empirical": lambda m: 2.0 - m["noise"]}),
        ("random-labels-digits", {"complexity_analytic": lambda m: 100.0 - 10 * m["noise"]}),
        ("tracks-digits", {"expected_test_error": lambda m: 0.4 - 0.3 * m["noise"]}),
        ("bound-above-digits", {"expected_test_error": lambda m: 2.0 * m["bound_analytic"]}),
        ("ntrf-digits", {"expected_test_error": lambda m: 0.99 + 0 * m["noise"]}),
        ("kernel-digits", {"bound_empirical": lambda m: 2.0 * m["bound_analytic"]}),
        (
            "error-rate-digits",
            {"expected_test_error": lambda m: 0.3 * m["bound_analytic"] * (m["n"] / 100) ** 0.5},
        ),
    ],
)
def test_crafted_violations_are_contradicted(key, change):
    j = judged(crafted(**change))
    assert j[key].verdict == "contradicted", j[key].measured


def test_a_bound_at_or_above_1_is_vacuous_and_gd_runs_are_outside_assumptions():
    j = judged(crafted(bound_analytic=lambda m: 1.0 + m["noise"], ntrf_bound=lambda m: 1.5))
    assert j["bound-above-digits"].verdict == "vacuous"
    assert j["ntrf-digits"].verdict == "vacuous"
    j = judged(crafted(algorithm=lambda m: "gd"))
    for key in ("tracks-digits", "bound-above-digits", "ntrf-digits", "error-rate-digits"):
        assert j[key].verdict == "outside assumptions" and "algorithm = gd" in j[key].reason
    assert j["bound-noise-digits-analytic"].verdict == "consistent"  # labels and kernel only


def test_frames_and_context_against_a_hand_computation():
    m = crafted()
    frames = gen.claim_frames(m)
    pair = frames["random-labels-digits"].set_index("seed")
    for seed in (0, 1):
        at = m[(m["seed"] == seed) & (m["n"] == N_FULL)].set_index("noise")
        assert pair.loc[seed, "complexity_random"] == at.loc[1.0, "complexity_analytic"]
        assert pair.loc[seed, "complexity_true"] == at.loc[0.0, "complexity_analytic"]
    rate = frames["error-rate-digits"]
    clean = m[m["noise"] == 0.0].sort_values(["n", "seed"])
    assert list(rate["n"]) == list(clean["n"]) and len(rate) == 6
    np.testing.assert_allclose(
        rate["error_over_bound"], clean["expected_test_error"] / clean["bound_analytic"]
    )
    assert len(frames["ntrf-digits"]) == len(gen.NOISES)  # seed 0's noise sweep only
    ctx = {c.label: c for c in gen.context(m)}
    slope = np.polyfit(np.log(clean["n"]), np.log(clean["bound_analytic"]), 1)[0]
    value = ctx["digits: log-log slope in $n$ of the NTK bound (noise 0)"].value
    assert value.startswith(f"{slope:.2f} ") and f"{slope:.2f}" == "-0.50"
    trivial = int((m["bound_analytic"] >= 1).sum())
    bound_ctx = ctx[r"digits: NTK bound on the 0-1 test error (analytic $\Theta$, constants 1)"]
    assert f"≥ 1 at {trivial} of {len(m)} points" in bound_ctx.value


def test_tables_average_the_stored_runs_test_error():
    m = crafted()
    acc = {(p, s): 0.9 - 0.3 * p - 0.01 * s for p in gen.NOISES for s in (0, 1, 2)}
    runs = pd.DataFrame(
        [dict(run_id=i, status="done", data="digits", noise=p, n=N_FULL, seed=s,
              test_accuracy=a) for i, ((p, s), a) in enumerate(acc.items())]
    )  # fmt: skip
    res = gen.STUDY.analyze(StudyData(runs, EMPTY, EMPTY, m))
    for f in res.figures:
        plt.close(f.figure)
    t = res.tables["digits_noise"].set_index("noise")
    for p in gen.NOISES:
        errs = [1 - acc[(p, s)] for s in (0, 1, 2)]
        assert t.loc[p, "test_error"] == pytest.approx(np.mean(errs))
        assert t.loc[p, "test_error_se"] == pytest.approx(np.std(errs, ddof=1) / math.sqrt(3))
    assert {f.name for f in res.figures} == {"generalization_noise", "generalization_n"}


def test_nothing_measured_is_inconclusive():
    res = gen.STUDY.analyze(StudyData(EMPTY, EMPTY, EMPTY, EMPTY))
    assert {j.verdict for j in res.judgements} == {"inconclusive"} and not res.figures


# -- a tiny study stored by run_studies -----------------------------------------------------


@pytest.mark.slow
def test_tiny_study_end_to_end(tmp_path):
    path = tmp_path / "results.sqlite"
    study = dataclasses.replace(
        gen.STUDY,
        plan=lambda scale: gen.plan_for(TINY, scale),
        measure=lambda scale: gen.measure_size(TINY),
    )
    run_studies([study], store_path=path, scale="quick", executor="batched")
    data = study_data(load(path), path, study, "quick")
    assert len(data.runs) == 2 * (len(gen.NOISES) + 2) and (data.runs["status"] == "done").all()
    m = data.measurements
    for name, ns in (("digits", {20, 30, 60}), ("sphere", {10, 20, 40})):
        d = m[m["data"] == name]
        assert set(d["n"]) == ns
        assert sorted(d[d["n"] == max(ns)]["noise"]) == list(gen.NOISES)
        assert (d["bound_analytic"] > d["confidence_term"]).all()
        ntrf = d[d["ntrf_bound"].notna()]
        assert len(ntrf) == len(gen.NOISES) and (ntrf["ntrf_gap"] <= gen.NTRF_TOL).all()
    assert m["expected_test_error"].between(0, 1).all()
    res = study.analyze(data)
    for f in res.figures:
        plt.close(f.figure)
    j = {x.key: x for x in res.judgements}
    for name in gen.DATASETS:
        d = m[m["data"] == name]
        above = j[f"bound-above-{name}"]
        real = d[d["bound_analytic"] < 1]
        if real.empty:
            assert above.verdict == "vacuous"
        else:
            ratio = float((real["expected_test_error"] / real["bound_analytic"]).max())
            assert above.tightness == pytest.approx(ratio)
    t = res.tables["digits_noise"].set_index("noise")
    runs = data.runs[data.runs["n"] == TINY.digits_n]
    for p, g in runs.groupby("noise"):
        assert t.loc[p, "test_error"] == pytest.approx(float((1 - g["test_accuracy"]).mean()))
