"""Study ``scaling-laws``: its plan (a log-width bisection per point and step-size rule, with the
theorem's own T as budget; T* grids at one width per sweep), its evidence on stored rows made
from a synthetic model with known per-seed thresholds and first-passage times (m* and T*
recomputed here by hand, the exponent claims coming out as built), the theorem's step size as
stored, and the quick scale end to end."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from overparam.config import build_config
from overparam.errors import ConfigError
from overparam.studies import scaling_laws as sl
from overparam.studies.claims import CONSISTENT, CONTRADICTED, INCONCLUSIVE, assert_falsifiable
from overparam.studies.study import StudyData
from overparam.sweep.threshold import bisect_log

EMPTY = pd.DataFrame()


def _gd(specs):
    return [sp for sp in specs if sp.base.get("algorithm") != "sgd"]


@pytest.mark.parametrize("scale", ["quick", "laptop", "cluster"])
def test_plan_searches_every_point_under_both_rules(scale):
    s = sl.SIZES[scale]
    specs = _gd(sl.STUDY.specs(scale))
    searches = [sp for sp in specs if sp.critical is not None]
    points = {p for pts in sl.sweep_points(s).values() for p in pts}
    assert len(searches) == len(points)  # the base point is searched once
    for sp in searches:
        base = sp.config_at(sp.points()[0])
        n, L, phi = base.n, base.depth, base.phi
        c = sp.critical
        assert c.method == "bisect" and c.rel_tol == sl.RESOLUTION and c.seeds == s.seeds
        # the budget is Theorem 3.3's T with constant 1, n^2 L^2 ln(100) / phi, clipped
        t = n**2 * L**2 * math.log(100.0) / phi
        assert c.max_steps == min(s.cap, max(sl.MIN_BUDGET, math.ceil(t)))
        assert c.width_max == (sl.WIDTH_MAX_DEEP if L > 1 else sl.WIDTH_MAX)
        assert sorted(p["lr"] for p in sp.points()) == ["auto", "theory"]
    times = [sp for sp in specs if sp.critical is None]
    assert len(times) == 3
    for sp in times:
        cfgs = sp.configs()
        assert {c.steps for c in cfgs} == {s.cap}
        assert len({c.width for c in cfgs}) == 1  # one fixed width per sweep
        assert len(cfgs) == len(sp.grid[next(iter(sp.grid))]) * 2 * s.seeds


@pytest.mark.parametrize("scale", ["quick", "laptop", "cluster"])
def test_sgd_plan_scales_the_step_and_the_budget_with_the_batch(scale):
    s = sl.SIZES[scale]
    sgd = [sp for sp in sl.STUDY.specs(scale) if sp.base.get("algorithm") == "sgd"]
    assert len(sgd) == 2 * len(s.batches) and max(s.batches) == s.batch_n  # B = n is GD
    gd_budget = sl.budget(s, s.batch_n, 1, 0.4)
    for sp in sgd:
        cfg = sp.configs()[0]
        B, n = cfg.batch, cfg.n
        assert n == s.batch_n and cfg.lr == "auto" and cfg.lr_scale == B / n
        steps = sp.critical.max_steps if sp.critical is not None else cfg.steps
        assert steps == min(s.sgd_cap, gd_budget * n // B)  # the GD budget times n / B
        if sp.critical is None:
            assert {c.width for c in sp.configs()} == {s.time_width}
            assert sorted(c.seed for c in sp.configs()) == list(range(s.seeds))


def test_the_scales_map_to_their_sizes_and_share_stored_runs():
    from overparam.studies.registry import get
    from overparam.studies.study import SCALES

    assert sl.STUDY.sizes_of("full") == "laptop"  # reproduce's default stays within an hour
    assert [sp.name for sp in sl.STUDY.specs("full")] == [
        sp.name for sp in sl.STUDY.specs("laptop")
    ]
    other = get("linear-rate")  # a study without laptop or cluster sizes plans its full ones
    assert {other.sizes_of(x) for x in SCALES} == {"quick", "full"}
    assert other.specs("cluster") == other.specs("full")
    with pytest.raises(ConfigError, match="scale"):
        sl.STUDY.specs("huge")


def test_reproduce_rejects_a_scale_that_contradicts_quick(tmp_path):
    from typer.testing import CliRunner

    from overparam.cli import app

    out = CliRunner().invoke(app, ["reproduce", "--quick", "--scale", "cluster", "--out",
                                   str(tmp_path / "r")])  # fmt: skip
    assert out.exit_code != 0 and "scale" in out.output and "cluster" in out.output
    out = CliRunner().invoke(app, ["reproduce", "--scale", "huge", "--out", str(tmp_path / "r")])
    assert out.exit_code != 0 and "huge" in out.output and "laptop" in out.output
    assert not (tmp_path / "r" / "results.sqlite").exists()  # refused before any run


def test_every_claim_is_falsifiable():
    for claim in sl.CLAIMS:
        assert_falsifiable(claim)
    grids = {c.key: c.test.grid for c in sl.CLAIMS}
    assert grids["width-L"].high == sl.WIDTH_MAX_DEEP and grids["width-n"].high == sl.WIDTH_MAX


def synthetic_runs(
    m_exp: float, t_exp: float, seeds: int, rng, t_coef: float = 5.0
) -> pd.DataFrame:
    """The quick plan's runs as a store would hold them, from m_s = 6 n^m_exp e^(0.2 z) (seed s
    reaches the target exactly from width m_s on) and T_s = t_coef n^t_exp e^(0.2 z) steps."""
    s = sl.SIZES["quick"]
    rows = []
    common = dict(activation="relu", parameterization="zou-gu", lr_used=1e-3)
    for sp in _gd(sl.STUDY.specs("quick")):
        for point in sp.points():
            base = sp.config_at(point)
            if sp.critical is None:
                t = t_coef * base.n**t_exp * math.exp(0.2 * rng.standard_normal())
                reached = t <= s.cap
                rows.append(
                    dict(
                        n=base.n,
                        depth=base.depth,
                        phi=base.phi,
                        width=base.width,
                        seed=base.seed,
                        lr=base.lr,
                        steps=s.cap,
                        status="done",
                        train_status="converged" if reached else "max_steps",
                        steps_run=math.ceil(t) if reached else s.cap,
                        **common,
                    )
                )
                continue  # fmt: skip
            c = sp.critical
            thr = 6.0 * base.n**m_exp * np.exp(0.2 * rng.standard_normal(seeds))
            _, evals = bisect_log(lambda w, thr=thr: float(np.mean(thr <= w)), success=c.success,
                                  width_min=c.width_min, width_max=c.width_max,
                                  resolution=c.rel_tol)  # fmt: skip
            for w, _ in evals:
                for seed, m in enumerate(thr):
                    rows.append(dict(n=base.n, depth=base.depth, phi=base.phi, width=w,
                                     seed=seed, lr=base.lr, steps=c.max_steps, status="done",
                                     train_status="converged" if m <= w else "max_steps",
                                     steps_run=1 if m <= w else c.max_steps, **common))  # fmt: skip
    # a search run and a T* run with the same config are one stored run (one config hash)
    keys = ["n", "depth", "phi", "width", "seed", "lr", "steps"]
    return pd.DataFrame(rows).drop_duplicates(subset=keys, keep="last").reset_index(drop=True)


def _evidence(runs: pd.DataFrame):
    ev = sl.evidence(StudyData(runs, EMPTY, EMPTY, EMPTY, scale="quick"))
    for f in ev.figures:
        plt.close(f.figure)
    return ev


def test_evidence_recomputes_m_star_and_t_star_by_hand():
    rng = np.random.default_rng(0)
    runs = synthetic_runs(1.0, 1.0, sl.SIZES["quick"].seeds, rng)
    ev = _evidence(runs)
    wt, tt = ev.tables["widths"], ev.tables["times"]
    for r in wt.itertuples():
        g = runs[(runs["n"] == r.n) & (runs["depth"] == r.depth) & np.isclose(runs["phi"], r.phi)
                 & (runs["lr"] == r.lr) & (runs["steps"] == r.budget)]  # fmt: skip
        ok = g.groupby("width")["train_status"].apply(lambda v: (v == "converged").all())
        # every seed of 3 must succeed (90%); the smallest width from which all larger succeed
        widths = sorted(ok.index)
        expect = math.inf
        for w in reversed(widths):
            if not ok[w]:
                break
            expect = w
        assert r.critical_width == expect
        assert r.low <= r.critical_width <= r.high
    for r in tt.itertuples():
        g = runs[(runs["n"] == r.n) & (runs["depth"] == r.depth) & np.isclose(runs["phi"], r.phi)
                 & (runs["lr"] == r.lr) & (runs["width"] == r.width)
                 & (runs["steps"] == r.budget)]  # fmt: skip
        assert len(g) == sl.SIZES["quick"].seeds
        # 90% of 3 seeds: the last arrival
        assert r.steps == g["steps_run"].max()


def test_claims_come_out_as_built():
    rng = np.random.default_rng(1)
    res = sl.STUDY.analyze(_data(synthetic_runs(1.0, 1.0, 3, rng)))
    _close(res)
    j = {x.key: x for x in res.judgements}
    assert j["iterations-n"].verdict == CONSISTENT
    # Theorem 3.3's n^8 over n = 8..32 cannot show on a 4..4096 width range: p_max = 5
    assert j["width-n"].verdict == INCONCLUSIVE and "p_max" in j["width-n"].reason
    # T* ~ n^3 (all inside the budget) against T = O(n^2)
    res = sl.STUDY.analyze(_data(synthetic_runs(1.0, 3.0, 3, rng, t_coef=0.02)))
    _close(res)
    j = {x.key: x for x in res.judgements}
    assert j["iterations-n"].verdict == CONTRADICTED


def _data(runs):
    return StudyData(runs, EMPTY, EMPTY, EMPTY, scale="quick")


def _close(res):
    for f in res.figures:
        plt.close(f.figure)


def test_the_theorem_step_size_is_exactly_k_over_L2_m_and_stored(tmp_path):
    from overparam.store import load
    from overparam.sweep.queue import run_configs
    from overparam.sweep.session import run_session

    cfgs = [build_config(dict(data="close-pair", n=8, d=16, phi=0.4, min_separation=0.8,
                              parameterization="zou-gu", depth=L, width=m, lr="theory",
                              steps=3)) for L, m in ((1, 64), (2, 48), (3, 32))]  # fmt: skip
    with run_session(tmp_path / "r.sqlite", "local", workers=1) as session:
        exp = session.store.experiment("step-size", {}, kind="sweep")
        run_configs(session.store, exp, cfgs, session.executor, owner=session.owner)
    runs = load(tmp_path / "r.sqlite").runs
    for c in cfgs:
        row = runs[runs["config_hash"] == c.config_hash()].iloc[0]
        assert row["lr_used"] == 1.0 / (c.depth**2 * c.width)  # k = 1, constant 1, exactly


@pytest.mark.slow
def test_quick_scale_end_to_end_and_resumed(scaling_laws_quick):
    from overparam.store import load
    from overparam.studies.reproduce import run_studies, study_data

    path, executed = scaling_laws_quick
    assert executed > 0
    # every search decided its runs as it went; run again, the store answers all of them
    assert run_studies([sl.STUDY], store_path=path, scale="quick", workers=2) == 0
    data = study_data(load(path), path, sl.STUDY, "quick")
    runs = data.runs
    theory = runs[runs["lr"] == "theory"]
    expected = 1.0 / (theory["depth"].astype(int) ** 2 * theory["width"].astype(int))
    assert np.array_equal(theory["lr_used"].to_numpy(float), expected.to_numpy(float))
    res = sl.STUDY.analyze(data)
    _close(res)
    wt, tt = res.tables["widths"], res.tables["times"]
    s = sl.SIZES["quick"]
    assert len(wt) == 2 * len({p for v in sl.sweep_points(s).values() for p in v}) + len(
        s.batches
    )
    assert len(tt) == 2 * (len(s.ns) + len(s.depths) + len(s.phis)) + len(s.batches)
    sgd = tt[tt["rule"] == "sgd"].sort_values("batch")
    assert list(sgd["batch"]) == list(s.batches)
    assert (sgd["budget"] == [sl.sgd_budget(s, b) for b in s.batches]).all()
    pc = res.tables["prop-3.6"]  # measured on every point's data, C = lambda_0 n^2 / phi
    points = {p for v in sl.sweep_points(s).values() for p in v} | {(s.batch_n, 1, 0.4)}
    assert (pc["C_min"] > 0).all() and len(pc) == len(points)
    assert (pc["seeds"] == s.seeds).all()
    for r in wt[np.isfinite(wt["critical_width"])].itertuples():
        g = runs[(runs["n"] == r.n) & (runs["depth"] == r.depth) & np.isclose(runs["phi"], r.phi)
                 & (runs["lr"] == r.lr) & (runs["steps"] == r.budget)]  # fmt: skip
        conv = g.assign(ok=g["train_status"] == "converged").groupby("width")["ok"].all()
        assert conv[conv.index >= r.critical_width].all()
        if not r.at_min:  # the bracket: the width below failed, within the 10% resolution
            below = conv.index[conv.index < r.critical_width].max()
            assert not conv[below]
            assert r.critical_width <= 1.1 * below or r.critical_width - below <= 1
    assert {j.key for j in res.judgements} == {c.key for c in sl.CLAIMS}
    assert [f.name for f in res.figures] == ["scaling_laws_widths", "scaling_laws_iterations"]


def synthetic_probes(runs: pd.DataFrame, grad: tuple[float, float], move: tuple[float, float],
                     rng) -> pd.DataFrame:  # fmt: skip
    """Probe rows of every run: ||grad L||^2 / L = 100 n^grad[0] (1/phi)^grad[1] e^(0.1 z) at step
    0, a quarter of it at step 5, then half of it at the last step; omega = 0.05 n^move[0]
    (1/phi)^move[1] e^(0.1 z) at the last step (a tenth of it at step 5)."""
    from overparam.probes.gradient import gradient_bounds
    from overparam.probes.movement import movement_bound

    rows = []
    for r in runs.itertuples():
        n, phi, m, last = int(r.n), float(r.phi), int(r.width), int(r.steps_run)
        g0 = 100.0 * n ** grad[0] * (1 / phi) ** grad[1] * math.exp(0.1 * rng.standard_normal())
        w = 0.05 * n ** move[0] * (1 / phi) ** move[1] * math.exp(0.1 * rng.standard_normal())
        gb = gradient_bounds(n, m, int(r.depth), 1, phi)["lower_zou_gu"]
        mb = movement_bound(n, m, 1, phi)
        for step, g, om in ((0, g0, 0.0), (5, g0 / 4, w / 10), (max(last, 6), g0 / 2, w)):
            rows.append(dict(run_id=r.run_id, step=step, probe="gradient_ratio",
                             quantity="lower_zou_gu", layer="all", value=g, bound=gb))
            rows.append(dict(run_id=r.run_id, step=step, probe="movement", quantity="omega",
                             layer="all", value=om, bound=mb))  # fmt: skip
    out = pd.DataFrame(rows)
    return out.assign(ratio=out["value"] / out["bound"])


def _lemma_data(grad, move, seed=0):
    rng = np.random.default_rng(seed)
    runs = synthetic_runs(1.0, 1.0, sl.SIZES["quick"].seeds, rng)
    runs = runs.assign(run_id=np.arange(len(runs)), status="done")
    # one T* run on the n sweep cut off by its budget: its movement must not count
    cut = runs.index[(runs["width"] == sl.SIZES["quick"].time_width) & (runs["n"] == 32)
                     & (runs["lr"] == "theory") & (runs["seed"] == 0)][0]  # fmt: skip
    runs.loc[cut, ["train_status", "steps_run"]] = ["max_steps", sl.SIZES["quick"].cap]
    return runs, synthetic_probes(runs, grad, move, rng), int(runs.loc[cut, "run_id"])


def test_lemma_tightness_recomputed_by_hand():
    from overparam.studies import lemma_tightness as lt

    runs, probes, cut = _lemma_data((-1.0, 0.5), (0.5, 0.25))
    res = sl.STUDY.analyze(StudyData(runs, EMPTY, probes, EMPTY, scale="quick"))
    _close(res)
    s = sl.SIZES["quick"]
    table = res.tables["lemmas"]
    assert set(table["sweep"]) == {"n", "phi"} and (table["seeds"] == s.seeds).all()
    init = probes[probes["step"] == 0].set_index(["run_id", "probe"])["value"]
    for r in table.itertuples():
        g = runs[(runs["n"] == r.n) & np.isclose(runs["phi"], r.phi) & (runs["lr"] == r.rule)
                 & (runs["width"] == s.time_width) & (runs["steps"] == s.cap)]  # fmt: skip
        ids = list(g["run_id"])
        grad0 = [init[(i, "gradient_ratio")] for i in ids]
        assert r.grad_ratio_init == pytest.approx(np.median(grad0))
        assert r.grad_ratio_min == pytest.approx(np.median(grad0) / 4)  # the step-5 value
        p = probes[probes["run_id"].isin([i for i in ids if i != cut])]
        p = p[(p["probe"] == "movement")]
        end = p[p["step"] == p.groupby("run_id")["step"].transform("max")]["value"]
        assert r.movement == pytest.approx(np.median(end))  # the censored run left out
        assert r.reached == s.seeds - (cut in ids)
        bound = s.time_width * r.phi / r.n**2  # m phi / (k n^2), k = 1
        assert r.grad_bound == pytest.approx(bound)
    ex = res.tables["lemma-exponents"].set_index(["quantity", "rule", "symbol"])
    truths = {("grad_ratio_init", "n"): -1.0, ("grad_ratio_init", "1/phi"): 0.5,
              ("movement", "n"): 0.5, ("movement", "1/phi"): 0.25}  # fmt: skip
    for (q, sym), truth in truths.items():
        row = ex.loc[(q, "theory", sym)]  # 9 rows with 10% noise: within 0.2 of the truth
        assert abs(row["exponent"] - truth) < 0.2 and row["low"] < row["exponent"] < row["high"]
        assert row["lemma"] == lt.EXPONENTS[(q, sym)]
    j = {x.key: x.verdict for x in res.judgements}
    assert j["gradient-n"] == CONSISTENT and j["movement-n"] == CONSISTENT
    assert j["gradient-phi"] == CONSISTENT and j["movement-phi"] == CONSISTENT
    # a gradient ratio falling as n^-3 and a movement growing as n^2 contradict both lemmas
    runs, probes, _ = _lemma_data((-3.0, -2.0), (2.0, 1.5), seed=1)
    res = sl.STUDY.analyze(StudyData(runs, EMPTY, probes, EMPTY, scale="quick"))
    _close(res)
    j = {x.key: x.verdict for x in res.judgements}
    assert all(j[k] == CONTRADICTED for k in ("gradient-n", "movement-n", "gradient-phi",
                                              "movement-phi"))  # fmt: skip


def test_the_movement_tolerance_is_the_sqrt_log_factor():
    from overparam.studies import lemma_tightness as lt

    # sqrt(n^2 ln n) between n = 8 and 512: slope 1 + ln(ln 512 / ln 8) / (2 ln 64) = 1.132
    extra = math.log(math.log(512) / math.log(8)) / (2 * math.log(64))
    assert lt.log_tolerance() == pytest.approx(math.ceil(extra / 0.05) * 0.05) == 0.15


def test_the_summary_puts_each_fit_beside_table_1():
    from overparam.studies import exponent_summary as es

    # [zou-gu-2019, Table 1]: m = n^8 L^12 / phi^4 and T = n^2 L^2 / phi (this paper) against
    # n^24 L^12 / phi^8 and n^6 L^2 / phi^2 (Allen-Zhu et al.); Theorem 3.8: m ~ B^-4, T ~ 1/B
    stated = {("zou-gu-2019/thm-3.3", "m"): (8, 12, 4), ("zou-gu-2019/thm-3.3", "T"): (2, 2, 1),
              ("allen-zhu-2019/table-1", "m"): (24, 12, 8),
              ("allen-zhu-2019/table-1", "T"): (6, 2, 2)}  # fmt: skip
    for (key, part), values in stated.items():
        got = tuple(es.stated_exponent(key, part, s) for s in ("n", "L", "1/phi"))
        assert got == values
    assert es.stated_exponent("zou-gu-2019/thm-3.8", "m", "B") == -4
    assert es.stated_exponent("zou-gu-2019/thm-3.8", "T", "B") == -1
    runs, probes, _ = _lemma_data((-1.0, 0.5), (0.5, 0.25))
    res = sl.STUDY.analyze(StudyData(runs, EMPTY, probes, EMPTY, scale="quick"))
    _close(res)
    summary, ex = res.tables["summary"], res.tables["exponents"]
    assert next(iter(res.tables)) == "summary"  # the report shows it first
    for r in ex.itertuples():
        row = summary[(summary["exponent of"] == r.quantity)
                      & (summary["in"] == es.TEXT[r.symbol])].iloc[0]  # fmt: skip
        text = row[es.RULE_COLUMNS[r.rule]]
        assert text.startswith(f"{r.exponent:.2f} [{r.low:.2f}, ".replace("-", "−"))
        assert ("censored" in text) == (r.censored > 0)
    lemma = summary[summary["exponent of"] == "‖∇L‖²/L at init"].set_index("in")
    assert lemma.loc["n", "Zou & Gu"] == "−2 (Lemma 4.1)"
    assert es.cell(1.0, 0.5, math.inf, 2) == "1.00 [0.50, ∞] (2 censored)"
    assert es.summary(pd.DataFrame(), pd.DataFrame()).empty  # nothing fitted yet: no rows
