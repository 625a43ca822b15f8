"""ResNet: structured NTK against autograd, forward norms against depth (against the fully
connected net), Du et al.'s ResNet Gram against wide networks and against hand values,
training with GD and SGD, and input validation."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from overparam.config import build_config
from overparam.errors import ConfigError
from overparam.models import FullyConnected, ResNet
from overparam.models.resnet import default_tau
from overparam.ntk import empirical
from overparam.ntk.resnet_gram import du_resnet_gram, du_resnet_kernels
from overparam.run import run


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def unit_rows(n: int, d: int, seed: int) -> torch.Tensor:
    X = torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return X / X.norm(dim=1, keepdim=True)


# -- structured NTK ----------------------------------------------------------------------------


def ntk_cases():
    forms = [("allen-zhu", "relu"), ("du", "relu"), ("du", "tanh")]
    for (param, act), trainable, k in itertools.product(forms, [None, "all", "hidden"], [1, 3]):
        yield pytest.param(param, act, trainable, k, id=f"{param}-{act}-{trainable}-k{k}")


@pytest.mark.parametrize(("param", "act", "trainable", "k"), list(ntk_cases()))
def test_structured_equals_autograd(param, act, trainable, k):
    X, X2 = unit_rows(6, 5, 0), unit_rows(4, 5, 1)
    model = ResNet(
        5,
        10,
        3,
        k,
        parameterization=param,
        activation=act,
        trainable=trainable,
        dtype=torch.float64,
        seed=2,
    )
    for x2 in (None, X2):
        fast, fast_parts = empirical(model, X, x2, per_layer=True)
        ref, ref_parts = empirical(model, X, x2, method="autograd", per_layer=True)
        assert rel(fast, ref) < 1e-10
        assert set(fast_parts) == set(ref_parts) == model.trained
        for name, part in fast_parts.items():
            assert float((part - ref_parts[name]).norm()) < 1e-10 * float(ref.norm())


def test_single_trained_layer_stops_recursion_early():
    X = unit_rows(5, 4, 3)
    model = ResNet(4, 8, 4, parameterization="du", trainable="W4,a", dtype=torch.float64)
    fast = empirical(model, X)
    assert rel(fast, empirical(model, X, method="autograd")) < 1e-10


# -- forward norms against depth -------------------------------------------------------------


def norm_range(model, X) -> tuple[float, float]:
    with torch.no_grad():
        _, _, hidden = model(X, return_hidden=True)
    norms = torch.stack([h.norm(dim=1) for h in hidden])  # (layers, n), ||x_i|| = 1
    return float(norms.min()), float(norms.max())


@pytest.mark.parametrize("param", ["du", "allen-zhu"])
def test_resnet_norms_bounded_at_depth_50_fc_not(param):
    """[du-2019-deep, Sections 5-6], [allen-zhu-2019, Lemma 7.1 and its ResNet remark]: with the
    same width and init variances, the ResNet's hidden norms stay within constant factors of the
    input's at depth 50, while the fully connected net's log-norms random-walk (O(L/m) variance)
    away from 1."""
    X = unit_rows(8, 16, 4)
    width, depth = 32, 50
    kw = dict(parameterization=param, dtype=torch.float64)
    res = [norm_range(ResNet(16, width, depth, **kw, seed=s), X) for s in range(4)]
    fc = [norm_range(FullyConnected(16, width, depth, **kw, seed=s), X) for s in range(4)]
    res_lo, res_hi = min(r[0] for r in res), max(r[1] for r in res)
    fc_lo, fc_hi = min(r[0] for r in fc), max(r[1] for r in fc)
    assert res_lo > 0.4 and res_hi < 2.5, (res_lo, res_hi)
    assert fc_hi / fc_lo > 20.0, (fc_lo, fc_hi)
    # ... and the fully connected spread is a depth effect: at depth 5 it is small.
    shallow = [norm_range(FullyConnected(16, width, 5, **kw, seed=s), X) for s in range(4)]
    assert max(r[1] for r in shallow) / min(r[0] for r in shallow) < 0.2 * fc_hi / fc_lo


def test_default_tau():
    assert default_tau(4, 100) == pytest.approx(1.0 / (2.0 * math.log(100)))
    model = ResNet(3, 100, 4, parameterization="allen-zhu")
    assert model.tau == pytest.approx(default_tau(4, 100))
    assert ResNet(3, 100, 4, parameterization="allen-zhu", tau=0.3).tau == 0.3


# -- Du et al.'s ResNet Gram -------------------------------------------------------------------


def test_du_gram_by_hand():
    """H = 2, relu, c_res = 1, ||x|| = 1: K^(1)_ii = 2 E[relu(u)^2] = 1, E[relu'(u)^2] = 1/2, so
    K^(2)_ii = (1/2)^2 * 1 * 1/2 = 1/8; b^(1) = sqrt(2) E[relu(u)] = 1/sqrt(pi)."""
    X = unit_rows(3, 4, 5)
    kr = du_resnet_kernels(X, 2)
    np.testing.assert_allclose(np.diag(kr.K[1]), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.diag(kr.gram), 1.0 / 8.0, rtol=1e-12)
    np.testing.assert_allclose(kr.b[0], 1.0 / math.sqrt(math.pi), rtol=1e-12)
    # the (c_res / H)^2 factor: doubling c_res quadruples K^(H) at H = 2 (K^(1) has no c_res)
    np.testing.assert_allclose(du_resnet_gram(X, 2, c_res=2.0), 4.0 * kr.gram, rtol=1e-12)


@pytest.mark.parametrize(("act", "depth"), [("relu", 3), ("tanh", 2)])
def test_du_gram_against_wide_network(act, depth):
    """Monte Carlo: the last layer's empirical NTK part, the hidden Grams and the stream means of
    a width-2048 ResNet against [du-2019-deep, Definition 6.1] (inputs of unequal norms)."""
    X = unit_rows(4, 5, 6)
    X[1] *= 1.5
    m = 2048
    net = ResNet(5, m, depth, parameterization="du", activation=act, dtype=torch.float64, seed=7)
    kr = du_resnet_kernels(X, depth, activation=act)
    _, parts = empirical(net, X, per_layer=True)
    emp = parts[f"W{depth}"].numpy()
    assert np.linalg.norm(emp - kr.gram) < 0.1 * np.linalg.norm(kr.gram)
    with torch.no_grad():
        _, _, hidden = net(X, return_hidden=True)
    for h in range(1, depth):
        x = hidden[h - 1].numpy()
        assert np.linalg.norm(x @ x.T - kr.K[h]) < 0.1 * np.linalg.norm(kr.K[h])
        if act == "relu":
            np.testing.assert_allclose(x.sum(1) / math.sqrt(m), kr.b[h - 1], rtol=0.1)


def test_du_gram_rejects_depth_one():
    with pytest.raises(ConfigError, match="depth"):
        du_resnet_gram(unit_rows(2, 3, 0), 1)


# -- training ------------------------------------------------------------------------------------


# torch's forward-mode AD (used by lr="auto") warns once per process on first use.
JVP_WARNING = "ignore:`torch.jit.script` is deprecated:DeprecationWarning"


@pytest.mark.filterwarnings(JVP_WARNING)
@pytest.mark.parametrize(("param", "algorithm"), [("du", "gd"), ("allen-zhu", "gd"), ("du", "sgd")])
def test_trains_with_gd_and_sgd(param, algorithm):
    batch = 4 if algorithm == "sgd" else None
    cfg = build_config(
        arch="resnet",
        parameterization=param,
        n=12,
        d=6,
        width=32,
        depth=6,
        steps=40,
        algorithm=algorithm,
        batch=batch,
        dtype="float64",
    )
    h = run(cfg)
    assert h.status == "max_steps"
    assert h.final_loss < 0.5 * h.initial_loss


def test_config_defaults_and_errors():
    assert build_config(arch="resnet").parameterization == "du"
    assert build_config(arch="fc").parameterization == "zou-gu"
    with pytest.raises(ConfigError, match="parameterization"):
        build_config(arch="resnet", parameterization="zou-gu")
    with pytest.raises(ConfigError, match="tau"):
        build_config(arch="resnet", parameterization="du", tau=0.1)
    assert build_config(arch="resnet", parameterization="allen-zhu", tau=0.1).tau == 0.1


def test_model_errors():
    with pytest.raises(ConfigError, match="parameterization"):
        ResNet(3, 8, 2, parameterization="ntk")
    with pytest.raises(ConfigError, match="activation"):
        ResNet(3, 8, 2, parameterization="allen-zhu", activation="tanh")
    with pytest.raises(ConfigError, match="tau"):
        ResNet(3, 8, 2, parameterization="allen-zhu", tau=-1.0)
    with pytest.raises(ConfigError, match="depth"):
        ResNet(3, 8, 0)


def test_same_seed_same_network_any_dtype():
    a = ResNet(4, 8, 3, dtype=torch.float64, seed=11)
    b = ResNet(4, 8, 3, dtype=torch.float32, seed=11)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.allclose(pa.float(), pb)


@pytest.mark.parametrize(
    "kw",
    [
        dict(arch="resnet", n=8, d=4, width=16, depth=3),
        dict(arch="resnet", parameterization="allen-zhu", n=8, d=4, width=16, depth=3),
    ],
)
def test_every_probe_that_applies_runs(kw):
    """``probes=("all",)`` through the probes' model interface (return_hidden, specs,
    parameter_layers, trained): every probe records rows."""
    from overparam.probes import probe_names

    cfg = build_config(**kw, steps=6, lr=0.01, probes=("all",), probe_every=2, dtype="float64")
    h = run(cfg)
    recorded = {r["probe"] for r in h.records}
    assert h.status == "max_steps"
    assert {"norms", "movement", "ntk_drift", "linearization"} <= recorded <= set(probe_names())
    assert "flips" in recorded  # the ResNet's D_{i,l} = 1[g_l > 0]
