"""Probes on any torch.nn.Module: hook-read sign patterns against explicit pre-activations,
movement and hidden drift against direct norms, the tracker against measure, the store, and the
width sweep's claims.

Models are tiny and float64; every expected value is computed here independently of the
probes (explicit forward passes written out, torch norms, autograd)."""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from overparam.byon import measure, track, width_sweep
from overparam.byon.scaling import LAZY_CLAIMS, exponents, judge_scaling, scaling_frame
from overparam.errors import ConfigError
from overparam.models import FullyConnected
from overparam.probes import probe_names
from overparam.probes.capture import capture
from overparam.store import load
from overparam.store.external import save_history

F64 = torch.float64


def rows(history, probe, quantity=None):
    return [
        r
        for r in history.records
        if r["probe"] == probe and (quantity is None or r["quantity"] == quantity)
    ]


def data(n=10, d=5, k=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g, dtype=F64)
    X = X / X.norm(dim=1, keepdim=True)
    return X, torch.randn(n, k, generator=g, dtype=F64)


class Functional(nn.Module):
    """Two hidden layers with functional activations: an explicit forward to check against."""

    def __init__(self, d=5, m=24, k=1):
        super().__init__()
        self.a = nn.Linear(d, m)
        self.b = nn.Linear(m, m)
        self.c = nn.Linear(m, k)

    def pre(self, x):
        z1 = self.a(x)
        z2 = self.b(F.relu(z1))
        return z1, z2

    def forward(self, x):
        _, z2 = self.pre(x)
        return self.c(torch.relu(z2))


def sequential(d=5, m=24, k=1, inplace=False):
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(d, m), nn.ReLU(inplace=inplace), nn.Linear(m, m), nn.LeakyReLU(0.1),
        nn.Linear(m, k),
    ).double()  # fmt: skip


# ---------------------------------------------------------------------------------------------
# capture
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("inplace", [False, True])
def test_hooks_read_the_pre_activations_of_modules_and_inplace_calls(inplace):
    net = sequential(inplace=inplace)
    X, _ = data()
    c = capture(net, X)
    z1 = X @ net[0].weight.T + net[0].bias
    z2 = torch.relu(z1) @ net[2].weight.T + net[2].bias
    assert c.pattern_layers == ("1", "3")
    assert torch.equal(c.patterns[0], z1 > 0) and torch.equal(c.patterns[1], z2 > 0)
    torch.testing.assert_close(c.pre[0], z1, rtol=0, atol=1e-14)
    torch.testing.assert_close(c.hidden[1], F.leaky_relu(z2, 0.1), rtol=0, atol=1e-14)
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in net.modules())


def test_functional_calls_are_named_by_their_module_and_order():
    torch.manual_seed(0)
    net = Functional().double()
    X, _ = data()
    c = capture(net, X)
    z1, z2 = net.pre(X)
    assert c.pattern_layers == ("relu", "relu#2")  # both in the root module's forward
    assert torch.equal(c.patterns[0], z1 > 0) and torch.equal(c.patterns[1], z2 > 0)


def test_relu6_has_three_pieces_and_smooth_activations_have_none():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 16), nn.ReLU6(), nn.Linear(16, 16), nn.Tanh(),
                        nn.Linear(16, 1)).double()  # fmt: skip
    X, _ = data()
    with torch.no_grad():
        net[0].weight.mul_(40.0)  # pre-activations beyond 6 too
    c = capture(net, X)
    z = net[0](X)
    assert c.pattern_layers == ("1",)
    expect = (z > 0).to(torch.int8) + (z > 6).to(torch.int8)
    assert torch.equal(c.patterns[0], expect) and int(expect.max()) == 2
    assert c.hidden_layers == ("1", "3")  # tanh's output is a hidden vector, not a pattern


def test_unknown_module_name_is_a_config_error():
    with pytest.raises(ConfigError, match="modules"):
        capture(sequential(), data()[0], modules=["nope"])


# ---------------------------------------------------------------------------------------------
# measure: every probe against an independent computation
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def measured():
    torch.manual_seed(1)
    net = Functional().double()
    X, y = data()
    start = copy.deepcopy(net)
    h = measure(net, X, y, steps=12, lr=0.5, probes=["flips", "movement", "hidden_drift",
                "gradient_ratio", "ntk_drift"], probe_every=6, modules=["b"])  # fmt: skip
    return start, net, X, y, h


def test_flips_through_hooks_equal_flips_of_explicit_pre_activations(measured):
    start, net, X, _, h = measured
    with torch.no_grad():
        before, after = start.pre(X), net.pre(X)
    last = max(r["step"] for r in h.records)
    got = {r["layer"]: r["value"] for r in rows(h, "flips", "count") if r["step"] == last}
    expect = {
        name: float(((z0 > 0) != (z1 > 0)).sum())
        for name, z0, z1 in zip(("relu", "relu#2"), before, after, strict=True)
    }
    assert got == expect and sum(expect.values()) > 0


def test_movement_equals_direct_norms_of_every_parameter_tensor(measured):
    start, net, _, _, h = measured
    last = max(r["step"] for r in h.records)
    by = {(r["quantity"], r["layer"]): r["value"] for r in rows(h, "movement") if r["step"] == last}
    for name, p in net.named_parameters():
        d = (p - dict(start.named_parameters())[name]).detach()
        M = d if d.ndim == 2 else d.reshape(-1, 1)
        assert by[("spectral", name)] == pytest.approx(float(torch.linalg.matrix_norm(M, 2)), 1e-9)
        assert by[("frobenius", name)] == pytest.approx(float(d.norm()), 1e-12)
        assert by[("max_row", name)] == pytest.approx(float(M.norm(dim=1).max()), 1e-12)
        w0 = dict(start.named_parameters())[name].detach().norm()
        assert by[("relative_frobenius", name)] == pytest.approx(float(d.norm() / w0), 1e-12)


def test_hidden_drift_of_a_named_module_equals_its_output_change(measured):
    start, net, X, _, h = measured
    last = max(r["step"] for r in h.records)
    got = {r["layer"]: r["value"] for r in rows(h, "hidden_drift") if r["step"] == last}
    with torch.no_grad():
        expect = float((net.pre(X)[1] - start.pre(X)[1]).norm(dim=1).max())
    assert got["b"] == pytest.approx(expect, rel=1e-12)
    assert {"relu", "b", "relu#2"} <= set(got)


def test_gradient_ratio_equals_autograd(measured):
    _, net, X, y, h = measured
    last = max(r["step"] for r in h.records)
    loss = 0.5 * ((net(X) - y) ** 2).sum(1).mean()
    g2 = sum(float((g * g).sum()) for g in torch.autograd.grad(loss, list(net.parameters())))
    loss = loss.detach()
    (row,) = [r for r in rows(h, "gradient_ratio", "lower_zou_gu") if r["step"] == last]
    assert row["value"] == pytest.approx(g2 / loss.item(), rel=1e-9)


def test_no_bound_applies_to_a_user_model_and_the_history_says_so(measured):
    h = measured[-1]
    assert h.records and all(r["bound"] is None and r["kind"] == "none" for r in h.records)
    assert any("no bound applies" in note for note in h.notes)


def test_the_papers_networks_keep_their_bounds_through_measure():
    net = FullyConnected(5, 64, 2, parameterization="zou-gu", seed=0, dtype=F64)
    X, y = data()
    h = measure(net, X, y, steps=4, lr=0.05, probes=["movement"], probe_every=2)
    spectral = rows(h, "movement", "spectral")
    assert spectral and all(r["bound"] is not None and r["kind"] == "upper" for r in spectral)
    assert not any("no bound applies" in note for note in h.notes)


def test_a_model_without_relu_says_why_flips_record_nothing():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    X, y = data()
    h = measure(net, X, y, steps=2, lr=0.1, probes=["flips", "norms"])
    assert not rows(h, "flips") and rows(h, "norms")
    assert any(n.startswith("flips: not measured: no piecewise-linear") for n in h.notes)


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("X.dtype", {"X": torch.zeros(4, 5)}),
        ("y", {"y": torch.zeros(4, 3, dtype=F64)}),
        ("model", {"model": "not a module"}),
        ("steps", {"steps": 0}),
        ("lr", {"lr": -1.0}),
    ],
)
def test_bad_input_names_the_field(field, kwargs):
    args = {"model": sequential(), "X": torch.zeros(4, 5, dtype=F64), "y": torch.zeros(4, 1,
            dtype=F64), "steps": 2, "lr": 0.1}  # fmt: skip
    args.update(kwargs)
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        measure(args.pop("model"), args.pop("X"), args.pop("y"), **args)


# ---------------------------------------------------------------------------------------------
# the tracker in a hand-written loop
# ---------------------------------------------------------------------------------------------


def test_the_tracker_in_a_user_loop_stores_the_records_of_measure():
    probes = ["flips", "movement", "hidden_drift", "ntk_drift", "gradient_ratio", "norms"]
    net = sequential()
    X, y = data()
    a, b = copy.deepcopy(net), copy.deepcopy(net)
    h = measure(a, X, y, steps=20, lr=0.2, probes=probes, probe_every=10)
    tracker = track(b, X, y, probes=probes, every=10, lr=0.2)
    opt = torch.optim.SGD(b.parameters(), lr=0.2)
    for step in range(20):
        loss = 0.5 * ((b(X) - y) ** 2).sum(1).mean()
        tracker.step(step, loss=loss.detach().item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    h2 = tracker.close(20)

    def key(r):
        return (r["step"], r["probe"], r["quantity"], r["layer"])

    A = {key(r): r for r in h.records}
    B = {key(r): r for r in h2.records}
    assert set(A) == set(B) and len(A) == len(h.records)
    for k, r in A.items():
        assert B[k]["value"] == pytest.approx(r["value"], rel=1e-9, abs=1e-12), k
    assert h2.losses == pytest.approx(h.losses[:20], rel=1e-12)


def test_tracker_and_measure_store_the_same_rows(tmp_path):
    path = tmp_path / "both.sqlite"
    net = sequential()
    X, y = data()
    a, b = copy.deepcopy(net), copy.deepcopy(net)
    measure(a, X, y, steps=10, lr=0.2, probes=["flips", "movement"], probe_every=5,
            store=str(path))  # fmt: skip
    tracker = track(b, X, y, probes=["flips", "movement"], every=5, store=str(path))
    opt = torch.optim.SGD(b.parameters(), lr=0.2)
    for step in range(10):
        loss = 0.5 * ((b(X) - y) ** 2).sum(1).mean()
        tracker.step(step)
        opt.zero_grad()
        loss.backward()
        opt.step()
    tracker.close(10)
    t = load(path)
    kinds = dict(zip(t.experiments["name"], t.experiments["kind"], strict=True))
    assert kinds == {"measure": "measure", "track": "track"}
    by_run = {rid: g.sort_values("idx") for rid, g in t.records.groupby("run_id")}
    first, second = by_run.values()
    cols = ["step", "probe", "quantity", "layer"]
    assert first[cols].values.tolist() == second[cols].values.tolist()
    np.testing.assert_allclose(first["value"], second["value"], rtol=1e-9, atol=1e-12)


def test_measure_trains_by_sgd_on_minibatches():
    X, y = data(n=12)
    h = measure(sequential(), X, y, steps=30, lr=0.2, algorithm="sgd", batch=4,
                probes=["movement", "gradient_ratio"], probe_every=10)  # fmt: skip
    assert h.config["algorithm"] == "sgd" and h.config["batch"] == 4
    assert h.losses[-1] < h.losses[0]
    grad = [r for r in h.records if r["probe"] == "gradient_ratio"]
    assert {r["step"] for r in grad} == {0, 10, 20, 30}


def test_tracker_notes_the_probes_only_measure_runs():
    tracker = track(sequential(), *data(), probes=["semi_smoothness", "movement"])
    h = tracker.close()
    assert [p.name for p in tracker.probes] == ["movement"]
    assert any(n.startswith("semi_smoothness: not measured") for n in h.notes)


# ---------------------------------------------------------------------------------------------
# the store
# ---------------------------------------------------------------------------------------------


def test_measured_runs_are_stored_once_with_every_record(tmp_path):
    path = tmp_path / "r.sqlite"
    X, y = data()
    net = sequential()
    h = measure(copy.deepcopy(net), X, y, steps=6, lr=0.1, probes=["movement"], store=str(path))
    again = measure(copy.deepcopy(net), X, y, steps=6, lr=0.1, probes=["movement"])
    save_history(path, "measure", again)  # same model, init, data, settings: kept once
    t = load(path)  # verifies every run's checksum
    assert len(t.runs) == 1 and t.runs["model"].iloc[0] == "Sequential"
    stored = t.records.sort_values("idx")
    assert len(stored) == len(h.records)
    np.testing.assert_allclose(stored["value"], [r["value"] for r in h.records], rtol=1e-15)
    np.testing.assert_allclose(t.losses["loss"], h.losses, rtol=1e-15)


# ---------------------------------------------------------------------------------------------
# the width sweep
# ---------------------------------------------------------------------------------------------


class NTKLinear(nn.Module):
    """x W^T / sqrt(fan_in) with W ~ N(0, 1): the NTK parameterization [jacot-2018]."""

    def __init__(self, fan_in: int, fan_out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(fan_out, fan_in, dtype=F64))

    def forward(self, x):
        return x @ self.weight.T / math.sqrt(self.weight.shape[1])


def test_width_sweep_of_an_ntk_parameterized_family_is_lazy():
    X, y = data(n=12, d=6)

    def make(m):
        return nn.Sequential(NTKLinear(6, m), nn.ReLU(), NTKLinear(m, 1))

    r = width_sweep(make, [32, 64, 128, 256], X, y, seeds=(0, 1), steps=20, lr=1.0,
                    probe_every=10)  # fmt: skip
    verdicts = {j.key: j.verdict for j in r.judgements}
    assert verdicts["ntk-drift"] == "consistent" and verdicts["relative-movement"] == "consistent"
    fits = r.exponents.set_index("quantity")
    assert -1.2 < fits.loc["ntk_drift", "slope"] < -0.3
    assert len(r.frame) == 8 and set(r.histories) == {(w, s) for w in (32, 64, 128, 256)
                                                     for s in (0, 1)}  # fmt: skip


def test_scaling_claims_can_come_out_either_way():
    widths = np.repeat([32, 64, 128, 256, 512], 3)
    rng = np.random.default_rng(0)
    noise = np.exp(rng.normal(0, 0.05, widths.size))
    lazy = pd.DataFrame({"width": widths})
    flat = lazy.copy()
    for name in ("ntk_drift", "relative_movement", "flip_fraction"):
        lazy[name] = widths**-0.5 * noise
        flat[name] = 0.3 * widths**0.0 * noise + 0.05 * np.log(widths)
    assert {j.verdict for j in judge_scaling(lazy)} == {"consistent"}
    assert {j.verdict for j in judge_scaling(flat)} == {"contradicted"}
    fit = exponents(lazy).set_index("quantity")
    assert fit.loc["ntk_drift", "slope"] == pytest.approx(-0.5, abs=0.05)
    assert len(LAZY_CLAIMS) == 3


def test_scaling_frame_reads_the_last_step_of_each_quantity():
    rel = "relative_frobenius"
    recs = [
        {"step": 0, "probe": "flips", "quantity": "fraction", "layer": "r", "value": 0.0},
        {"step": 9, "probe": "flips", "quantity": "fraction", "layer": "r", "value": 0.2},
        {"step": 9, "probe": "flips", "quantity": "fraction", "layer": "s", "value": 0.3},
        {"step": 9, "probe": "movement", "quantity": "frobenius", "layer": "w", "value": 3.0},
        {"step": 9, "probe": "movement", "quantity": rel, "layer": "w", "value": 0.5},
        {"step": 9, "probe": "movement", "quantity": "frobenius", "layer": "v", "value": 4.0},
        {"step": 9, "probe": "movement", "quantity": rel, "layer": "v", "value": 0.5},
    ]
    frame = scaling_frame([{"width": 8, "seed": 0, "losses": [2.0, 1.0], "records": recs}])
    assert frame.loc[0, "flip_fraction"] == 0.3
    assert frame.loc[0, "relative_movement"] == pytest.approx(5.0 / 10.0)  # ||(3,4)|| / ||(6,8)||
    assert frame.loc[0, "loss_ratio"] == 0.5


def test_width_sweep_needs_three_widths():
    with pytest.raises(ConfigError, match="widths"):
        width_sweep(lambda m: sequential(m=m), [8, 16], *data())


def test_every_probe_on_a_cnn_records_or_says_why_not():
    torch.manual_seed(0)
    cnn = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(64, 2)).double()  # fmt: skip
    X = torch.randn(6, 1, 8, 8, dtype=F64)
    h = measure(cnn, X, torch.randn(6, 2, dtype=F64), steps=4, lr=0.01, probes="all")
    recorded = {r["probe"] for r in h.records}
    skipped = {n.split(":")[0] for n in h.notes if ": not measured: " in n}
    assert recorded | skipped == set(probe_names()) and skipped == {"label_complexity"}
    conv = {r["layer"] for r in h.records if r["quantity"] == "relative_frobenius"}
    assert conv == {"0.weight", "0.bias", "4.weight", "4.bias"}
