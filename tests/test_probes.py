"""overparam.probes against independent computations: brute-force NumPy loops, direct norms,
losses and gradients, hand-computed bounds, and the width scaling theory predicts. Tiny float64
networks; snapshots of every iterate let each check recompute from W_t. The kernel probes
(linearization, ntk_drift, rate, label_complexity) are in test_probes_kernel.py.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from probe_helpers import (
    F64,
    direct_gradient,
    drive_without_updates,
    fit,
    loss_at,
    lr_for,
    one,
    rows,
    tiny,
)

from overparam.config import RunConfig
from overparam.errors import ConfigError
from overparam.models import FullyConnected
from overparam.probes import (
    LOWER,
    NONE,
    ORDER,
    PROBES,
    UPPER,
    make_probes,
    parse_probe,
    probe_names,
    spectral_norm,
    summarize_records,
    validate_probe_names,
)
from overparam.probes.context import paper_scales
from overparam.probes.gradient import gradient_bounds
from overparam.probes.linearization import preload_forward_ad
from overparam.probes.movement import movement_bound
from overparam.probes.norms import norm_epsilon
from overparam.probes.smoothness import smoothness_terms
from overparam.references import REFERENCES
from overparam.run import run


@pytest.fixture(autouse=True, scope="module")
def _forward_ad_loaded():
    """torch warns (DeprecationWarning, an error here) while loading its forward-mode AD
    decompositions on a process's first jvp, which lr='auto' and the linearization probe use."""
    preload_forward_ad()


# ---------------------------------------------------------------------------------------------
# Brute-force NumPy forward pass
# ---------------------------------------------------------------------------------------------


def numpy_forward(model: FullyConnected, params: dict[str, torch.Tensor], x: np.ndarray):
    """Pre-activations and hidden vectors of one input, one neuron at a time."""
    pre, hidden = [], []
    h = x
    for i, spec in enumerate(model.specs):
        W = params[f"layers.{i}.weight"].numpy()
        z = np.empty(spec.fan_out)
        for r in range(spec.fan_out):
            z[r] = spec.multiplier * sum(W[r, c] * h[c] for c in range(spec.fan_in))
        pre.append(z)
        if spec.activation:
            h = spec.post_scale * np.array([max(v, 0.0) for v in z])
            hidden.append(h)
    return pre, hidden


# ---------------------------------------------------------------------------------------------
# Registry, parsing, schedules
# ---------------------------------------------------------------------------------------------


def test_registry_has_the_eleven_probes_each_citing_a_reference():
    assert probe_names() == list(ORDER)
    assert len(ORDER) == 11
    for name in ORDER:
        cls = PROBES[name]
        assert cls.formula
        keys = [k for k in REFERENCES if f"[{k}," in cls.lemma]
        assert keys, (name, cls.lemma)
        doc = cls.__doc__ or ""
        assert any(f"[{k}," in doc for k in REFERENCES), name
        assert "bound" in doc


def test_make_probes_all_and_lists():
    assert [p.name for p in make_probes(["all"])] == list(ORDER)
    probes = make_probes(["movement", "norms", "movement"], every=3)
    assert [p.name for p in probes] == ["movement", "norms"]
    assert all(p.every == 3 for p in probes)
    assert make_probes(["norms:every=7"], every=3)[0].every == 7
    probes = make_probes(["all", "linearization:linear_run=true", "linearization"])
    assert [p.name for p in probes] == list(ORDER)
    assert probes[ORDER.index("linearization")].linear_run is True


def test_unknown_probe_fails_before_training_and_lists_names():
    with pytest.raises(ConfigError) as err:
        make_probes(["norms", "nope"])
    assert err.value.field == "probes" and err.value.value == "nope"
    for name in ORDER:
        assert name in err.value.allowed
    cfg = RunConfig(n=4, d=3, width=8, steps=2, probes=("nope",))
    with pytest.raises(ConfigError):
        run(cfg)


@pytest.mark.parametrize(
    "spec",
    ["linearization:linear_run=maybe", "norms:linear_run=true", "norms:every=x", "norms:every"],
)
def test_bad_probe_options_are_config_errors(spec):
    with pytest.raises(ConfigError):
        validate_probe_names([spec])


def test_probe_options_parse():
    assert parse_probe("linearization:linear_run=true,every=5") == (
        "linearization",
        {"linear_run": True, "every": 5},
    )
    assert make_probes(["linearization:linear_run=1"])[0].linear_run is True
    with pytest.raises(ConfigError):
        make_probes(["norms"], every=0)
    with pytest.raises(ConfigError):
        make_probes([3])


def test_schedule_default_log_spaced_and_every_k():
    model, data, objective = tiny()
    history, _ = fit(model, data, objective, make_probes(["movement"]), steps=200)
    steps = sorted({r["step"] for r in history.records})
    assert steps[0] == 0 and steps[-1] == 200 and 30 <= len(steps) <= 50
    model, data, objective = tiny()
    history, _ = fit(model, data, objective, make_probes(["movement"], every=40), steps=100)
    assert sorted({r["step"] for r in history.records}) == [0, 40, 80, 100]


def test_rows_are_tidy():
    model, data, objective = tiny()
    history, _ = fit(model, data, objective, make_probes(["norms", "gradient_ratio"]), steps=3)
    keys = {"step", "probe", "quantity", "layer", "value", "bound", "ratio", "kind", "lemma"}
    for r in history.records:
        assert keys <= set(r) and r["width"] == 24 and r["depth"] == 2
        assert r["kind"] in (UPPER, LOWER, NONE)
        if r["kind"] != NONE:
            assert r["ratio"] == pytest.approx(r["value"] / r["bound"])


def test_early_stop_measures_the_final_step():
    model, data, objective = tiny()
    lr = lr_for(model, data, objective)
    probes = make_probes(["norms", "gradient_ratio"], every=1000)
    history, _ = fit(model, data, objective, probes, steps=1000, lr=lr, target_ratio=0.5)
    assert history.status == "converged"
    last = history.steps
    assert {r["step"] for r in history.records} == {0, last}
    assert rows(history, "gradient_ratio", step=last)


# ---------------------------------------------------------------------------------------------
# norms, flips, separation, hidden_drift against a brute-force loop
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("parameterization", ["zou-gu", "allen-zhu", "du", "ntk"])
def test_norms_and_flips_match_a_numpy_loop(parameterization):
    model, data, objective = tiny(parameterization, m=16)
    probes = make_probes(["norms", "flips", "hidden_drift", "separation"], every=1)
    lr = lr_for(model, data, objective, scale=1.5)  # large steps, so that signs flip
    history, snaps = fit(model, data, objective, probes, steps=5, lr=lr)
    X = data.X.numpy()
    names = model.hidden_layers()
    total_flips = 0
    for t in (0, 5):
        ref0 = [numpy_forward(model, snaps.params[0], x) for x in X]
        ref = [numpy_forward(model, snaps.params[t], x) for x in X]
        for l, layer in enumerate(names):
            norms = [np.linalg.norm(hid[l]) for _, hid in ref]
            assert one(history, "norms", "min", t, layer)["value"] == pytest.approx(min(norms))
            assert one(history, "norms", "max", t, layer)["value"] == pytest.approx(max(norms))
            flips = [
                sum((a > 0) != (b > 0) for a, b in zip(p0[l], p[l], strict=True))
                for (p0, _), (p, _) in zip(ref0, ref, strict=True)
            ]
            total_flips += sum(flips)
            assert one(history, "flips", "count", t, layer)["value"] == sum(flips)
            assert one(history, "flips", "max_per_sample", t, layer)["value"] == max(flips)
            assert one(history, "flips", "fraction", t, layer)["value"] == pytest.approx(
                sum(flips) / (len(X) * 16)
            )
            drift = max(
                np.linalg.norm(h[l] - h0[l]) for (_, h0), (_, h) in zip(ref0, ref, strict=True)
            )
            assert one(history, "hidden_drift", "max", t, layer)["value"] == pytest.approx(
                drift, abs=1e-12
            )
            unit = [h[l] / np.linalg.norm(h[l]) for _, h in ref]
            sep = min(
                np.linalg.norm(unit[i] - unit[j])
                for i in range(len(X))
                for j in range(len(X))
                if i != j
            )
            got = one(history, "separation", "min_distance", t, layer)
            assert got["value"] == pytest.approx(sep, rel=1e-9)
            assert got["bound"] == pytest.approx(data.separation / 2)
    assert total_flips > 0, "the test should exercise sign flips"
    assert all(r["value"] == 0 for r in rows(history, "flips", step=0))
    assert all(r["value"] == 0 for r in rows(history, "hidden_drift", step=0))


def test_norm_bounds_by_hand():
    model, data, objective = tiny("allen-zhu", m=32, L=3)
    history, _ = fit(model, data, objective, make_probes(["norms"], every=10), steps=1)
    eps = math.sqrt(3 * math.log(8 * 3) / 32)
    assert norm_epsilon(8, 32, 3) == pytest.approx(eps)
    r = one(history, "norms", "max", 0, "A")
    assert r["bound"] == pytest.approx(1 + eps) and r["kind"] == UPPER
    assert one(history, "norms", "min", 0, "W3")["bound"] == pytest.approx(1 - eps)
    assert {r["layer"] for r in rows(history, "norms")} == {"A", "W1", "W2", "W3"}


def test_flips_skipped_for_smooth_activation():
    model, data, objective = tiny("du", activation="tanh")
    probes = make_probes(["flips", "norms"], every=1)
    history, _ = fit(model, data, objective, probes, steps=2)
    assert not rows(history, "flips") and rows(history, "norms")
    assert "smooth activation" in probes[0].skip_reason
    assert probes[1].skip_reason is None


# ---------------------------------------------------------------------------------------------
# movement and the spectral norm
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape, rank", [((200, 150), None), ((90, 300), None), ((256, 256), 3), ((100, 80), None)]
)
def test_spectral_norm_matches_svd(shape, rank):
    gen = torch.Generator().manual_seed(5)
    if rank is None:
        M = torch.randn(*shape, generator=gen, dtype=F64)
    else:
        M = torch.randn(shape[0], rank, generator=gen, dtype=F64) @ torch.randn(
            rank, shape[1], generator=gen, dtype=F64
        )
    exact = float(torch.linalg.matrix_norm(M, ord=2))
    sigma, warm = spectral_norm(M)
    assert sigma == pytest.approx(exact, rel=1e-7)
    again, _ = spectral_norm(M * 1.01, warm)  # a warm start converges to the new value
    assert again == pytest.approx(1.01 * exact, rel=1e-7)
    assert spectral_norm(torch.zeros(shape, dtype=F64))[0] == 0.0


@pytest.mark.parametrize("parameterization", ["zou-gu", "du", "ntk"])
def test_movement_matches_direct_norms(parameterization):
    # m = 80 > 64 exercises the Lanczos path for the m x m layer.
    model, data, objective = tiny(parameterization, m=80)
    history, snaps = fit(model, data, objective, make_probes(["movement"], every=2), steps=6)
    scales = paper_scales(model)
    layers = model.parameter_layers()
    for t in (0, 2, 6):
        omega = 0.0
        for name, p0 in snaps.params[0].items():
            if not name.endswith("weight") or name not in scales:
                continue
            delta = (snaps.params[t][name] - p0) * scales[name]
            layer = layers[name]
            spectral = float(torch.linalg.matrix_norm(delta, ord=2))
            got = one(history, "movement", "spectral", t, layer)["value"]
            assert got == pytest.approx(spectral, rel=1e-6, abs=1e-300)
            assert one(history, "movement", "frobenius", t, layer)["value"] == pytest.approx(
                float(delta.norm()), abs=1e-300
            )
            assert one(history, "movement", "max_row", t, layer)["value"] == pytest.approx(
                float(delta.norm(dim=1).max()), abs=1e-300
            )
            spec = next(s for s in model.specs if s.name == layer)
            if spec.activation:
                omega = max(omega, spectral)
        assert one(history, "movement", "omega", t)["value"] == pytest.approx(omega, rel=1e-6)
    bound = math.sqrt(1 * 8**2 * math.log(8) / (80 * data.separation))
    assert movement_bound(8, 80, 1, data.separation) == pytest.approx(bound)
    assert one(history, "movement", "spectral", 6, "W2")["bound"] == pytest.approx(bound)


def test_paper_scales_put_du_and_ntk_in_allen_zhu_units():
    m = 64
    du = FullyConnected(5, m, 2, parameterization="du", seed=0, dtype=F64)
    ntk = FullyConnected(5, m, 2, parameterization="ntk", seed=0, dtype=F64)
    zg = FullyConnected(5, m, 2, parameterization="zou-gu", seed=0, dtype=F64)
    assert paper_scales(du)["layers.1.weight"] == pytest.approx(math.sqrt(2 / m))
    assert paper_scales(ntk)["layers.1.weight"] == pytest.approx(math.sqrt(2 / m))
    assert paper_scales(ntk)["layers.0.weight"] == pytest.approx(math.sqrt(2 / 5))
    assert set(paper_scales(zg).values()) == {1.0}


# ---------------------------------------------------------------------------------------------
# gradient_ratio and semi_smoothness against direct losses and gradients
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("parameterization", ["allen-zhu", "zou-gu", "du"])
@pytest.mark.parametrize("algorithm", ["gd", "sgd"])
def test_gradient_ratio_matches_autograd(parameterization, algorithm):
    model, data, objective = tiny(parameterization)
    kw = {"algorithm": algorithm, "batch": 4} if algorithm == "sgd" else {}
    probes = make_probes(["gradient_ratio"], every=2)
    history, snaps = fit(model, data, objective, probes, steps=4, **kw)
    scales = paper_scales(model)
    n = data.n
    for t in (0, 2, 4):
        loss, grads = direct_gradient(model, snaps.params[t], data, objective)
        g2 = sum(float(g.pow(2).sum()) / scales[name] ** 2 for name, g in grads.items())
        ratio = g2 / loss
        mean = objective.reduction.value == "mean"
        r_sum, r_mean = (ratio * n, ratio) if mean else (ratio, ratio / n)
        assert one(history, "gradient_ratio", "lower_allen_zhu", t)["value"] == pytest.approx(
            r_sum, rel=1e-9
        )
        assert one(history, "gradient_ratio", "lower_zou_gu", t)["value"] == pytest.approx(
            r_mean, rel=1e-9
        )
    b = gradient_bounds(n, 24, 2, 1, data.separation)
    assert b["lower_allen_zhu"] == pytest.approx(data.separation * 24 / n**2)
    assert b["lower_zou_gu"] == pytest.approx(24 * data.separation / n**2)
    assert b["upper_allen_zhu"] == pytest.approx(2 * n * 24)
    assert one(history, "gradient_ratio", "upper_allen_zhu", 0)["bound"] == pytest.approx(
        b["upper_allen_zhu"]
    )


@pytest.mark.parametrize("parameterization", ["allen-zhu", "zou-gu"])
@pytest.mark.parametrize("algorithm", ["gd", "sgd"])
def test_semi_smoothness_residual_matches_direct_losses(parameterization, algorithm):
    model, data, objective = tiny(parameterization, m=80)
    kw = {"algorithm": algorithm, "batch": 4} if algorithm == "sgd" else {}
    probes = make_probes(["semi_smoothness"], every=2)
    history, snaps = fit(model, data, objective, probes, steps=6, **kw)
    scales = paper_scales(model)
    measured = rows(history, "semi_smoothness", "residual")
    assert sorted(r["step"] for r in measured) == [0, 2, 4]
    for t in (0, 2, 4):
        w, w_next = snaps.params[t], snaps.params[t + 1]
        loss, grads = direct_gradient(model, w, data, objective)
        step = {n: w_next[n] - w[n] for n in grads}
        inner = sum(float((grads[n] * step[n]).sum()) for n in grads)
        residual = loss_at(model, w_next, data, objective) - loss - inner
        got = one(history, "semi_smoothness", "residual", t)
        assert got["value"] == pytest.approx(residual, rel=1e-7, abs=1e-13)
        s = max(float(torch.linalg.matrix_norm(step[n] * scales[n], ord=2)) for n in step)
        assert one(history, "semi_smoothness", "step_norm", t)["value"] == pytest.approx(
            s, rel=1e-6
        )
        omega = max(
            float(torch.linalg.matrix_norm(w[n] - snaps.params[0][n], ord=2)) for n in grads
        )
        c = objective.scale(data.n)
        sub, quad = smoothness_terms(loss, s, omega, n=8, m=80, L=2, k=1, c=c)
        assert got["bound"] == pytest.approx(sub + quad, rel=1e-5)


def test_smoothness_terms_by_hand():
    # Sum loss (c = 1): sqrt(n F) omega^(1/3) L^2 sqrt(m ln m / k) s + n L^2 m / k s^2.
    sub, quad = smoothness_terms(2.0, 0.01, 0.125, n=4, m=100, L=3, k=2, c=1.0)
    assert sub == pytest.approx(
        math.sqrt(8.0) * 0.5 * 9 * math.sqrt(100 * math.log(100) / 2) * 0.01
    )
    assert quad == pytest.approx(4 * 9 * 100 / 2 * 1e-4)
    # Mean loss (c = 1/n) is Zou & Gu's Lemma 4.4: sqrt(L) tau^(1/3) L^2 ... + L^2 m / k s^2.
    sub_m, quad_m = smoothness_terms(0.5, 0.01, 0.125, n=4, m=100, L=3, k=2, c=0.25)
    assert sub_m == pytest.approx(
        math.sqrt(0.5) * 0.5 * 9 * math.sqrt(100 * math.log(100) / 2) * 0.01
    )
    assert quad_m == pytest.approx(9 * 100 / 2 * 1e-4)


def test_gradient_probes_work_in_a_loop_without_the_gradient_hook():
    model, data, objective = tiny()
    probes = make_probes(["gradient_ratio"], every=2)
    history = drive_without_updates(model, data, objective, probes, hooked=False)
    assert sorted(r["step"] for r in rows(history, "gradient_ratio", "lower_zou_gu")) == [0, 2, 4]


# ---------------------------------------------------------------------------------------------
# Every parameterization; width scaling
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "parameterization, activation",
    [
        ("allen-zhu", "relu"),
        ("zou-gu", "relu"),
        ("du", "relu"),
        ("du", "softplus"),
        ("cao-gu", "relu"),
        ("ntk", "relu"),
        ("standard", "relu"),
    ],
)
def test_all_probes_run_for_every_parameterization(parameterization, activation):
    model, data, objective = tiny(parameterization, activation=activation, m=16)
    probes = make_probes(["all"], every=2)
    history, _ = fit(model, data, objective, probes, steps=4)
    recorded = {r["probe"] for r in history.records}
    for p in probes:
        assert (p.name in recorded) == (p.skip_reason is None), (p.name, p.skip_reason)
    skipped = {p.name for p in probes if p.skip_reason}
    expected = set()
    if activation != "relu":
        expected.add("flips")
    if parameterization == "cao-gu":
        expected.add("rate")
    assert skipped == expected
    for r in history.records:
        for key in ("value", "bound", "ratio"):
            assert r[key] is None or math.isfinite(r[key])
    summary = summarize_records(history.records)
    assert list(summary) == [n for n in ORDER if n in recorded]


def final_values(width: int, seed: int) -> tuple[float, float]:
    """(omega, mean flip fraction over layers) after 60 GD steps at lr = 1/lambda_max."""
    cfg = RunConfig(
        parameterization="zou-gu", n=16, d=8, width=width, depth=2, steps=60, seed=seed,
        dtype="float64", probes=("movement", "flips"), probe_every=60,
    )  # fmt: skip
    history = run(cfg)
    omega = one(history, "movement", "omega", 60)["value"]
    fractions = [r["value"] for r in rows(history, "flips", "fraction", step=60)]
    return omega, float(np.mean(fractions))


def test_movement_and_flips_fall_with_width():
    widths = [64, 128, 256, 512]
    omega, flips = [], []
    for m in widths:
        values = [final_values(m, seed) for seed in range(5)]
        omega.append(np.mean([v[0] for v in values]))
        flips.append(np.mean([v[1] for v in values]))
    slope = np.polyfit(np.log(widths), np.log(omega), 1)[0]
    assert -0.7 <= slope <= -0.3, (slope, omega)
    assert all(a > b for a, b in itertools.pairwise(flips)), flips
    flip_slope = np.polyfit(np.log(widths), np.log(flips), 1)[0]
    assert flip_slope < -0.1, (flip_slope, flips)


# ---------------------------------------------------------------------------------------------
# Summaries
# ---------------------------------------------------------------------------------------------


def _row(step, quantity, value, bound, kind, layer="all", probe="movement"):
    ratio = None if bound is None else value / bound
    return {
        "step": step, "probe": probe, "quantity": quantity, "layer": layer, "value": value,
        "bound": bound, "ratio": ratio, "kind": kind if bound is not None else NONE,
        "lemma": "[zou-gu-2019, Lemma 4.2]",
    }  # fmt: skip


def test_summarize_records_last_extreme_and_ratio():
    records = [
        _row(0, "spectral", 0.0, 1.0, UPPER, "W1"),
        _row(0, "spectral", 0.0, 1.0, UPPER, "W2"),
        _row(5, "spectral", 0.6, 1.0, UPPER, "W1"),
        _row(5, "spectral", 0.8, 1.0, UPPER, "W2"),
        _row(9, "spectral", 0.5, 1.0, UPPER, "W1"),
        _row(9, "spectral", 0.4, 1.0, UPPER, "W2"),
        _row(0, "lambda", 4.0, 2.0, LOWER, probe="ntk_drift"),
        _row(5, "lambda", 2.5, 2.0, LOWER, probe="ntk_drift"),
        _row(9, "lambda", 3.0, 2.0, LOWER, probe="ntk_drift"),
        _row(9, "gap", 0.3, None, NONE, probe="ntk_drift"),
        _row(5, "gap", 0.7, None, NONE, probe="ntk_drift"),
    ]
    s = summarize_records(records)
    assert list(s) == ["movement", "ntk_drift"]
    spec = s["movement"]["spectral"]
    assert spec["last"]["step"] == 9 and spec["last"]["layer"] == "W1"
    assert spec["last"]["value"] == 0.5 and spec["ratio"] == 0.5
    assert spec["extreme"] == {"step": 5, "layer": "W2", "value": 0.8, "bound": 1.0, "ratio": 0.8}
    assert spec["worst_ratio"] == 0.8 and spec["rows"] == 6 and spec["kind"] == UPPER
    lam = s["ntk_drift"]["lambda"]
    assert lam["extreme"]["value"] == 2.5 and lam["worst_ratio"] == 1.25 and lam["ratio"] == 1.5
    gap = s["ntk_drift"]["gap"]
    assert gap["kind"] == NONE and gap["extreme"]["value"] == 0.7 and gap["last"]["value"] == 0.3
    assert gap["ratio"] is None
    assert s["movement"]["lemma"] == "[zou-gu-2019, Lemma 4.2]"
    assert summarize_records([]) == {}
