"""The structured empirical NTK against the torch.func autograd reference, and against
explicit Jacobians: every parameterization, trained set, bias on/off, k in {1, 3}, X2 or not."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch.func import functional_call, jacrev

from overparam.errors import ConfigError
from overparam.models import FullyConnected
from overparam.ntk import empirical

PARAMS = ["allen-zhu", "zou-gu", "du", "cao-gu", "ntk", "standard"]


def cases():
    for p, trainable, k, bias in itertools.product(
        PARAMS, [None, "all", "hidden"], [1, 3], [None, 0.3]
    ):
        if bias is not None and p not in ("ntk", "standard"):
            continue
        act = "relu" if p in ("allen-zhu", "zou-gu", "cao-gu") else "tanh"
        yield pytest.param(p, act, trainable, k, bias, id=f"{p}-{act}-{trainable}-k{k}-b{bias}")


@pytest.fixture(scope="module")
def inputs():
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(6, 5, generator=gen, dtype=torch.float64)
    X2 = torch.randn(4, 5, generator=gen, dtype=torch.float64)
    return X, X2


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize(("param", "act", "trainable", "k", "bias"), list(cases()))
def test_structured_equals_autograd(inputs, param, act, trainable, k, bias):
    X, X2 = inputs
    model = FullyConnected(
        5,
        12,
        3,
        k,
        parameterization=param,
        activation=act,
        trainable=trainable,
        bias_std=bias,
        dtype=torch.float64,
        seed=3,
    )
    for x2 in (None, X2):
        fast, fast_parts = empirical(model, X, x2, per_layer=True)
        ref, ref_parts = empirical(model, X, x2, method="autograd", per_layer=True)
        n2 = X.shape[0] if x2 is None else x2.shape[0]
        assert fast.shape == ((6, n2) if k == 1 else (6, n2, k, k))
        assert rel(fast, ref) < 1e-10
        assert set(fast_parts) == set(ref_parts) == model.trained
        for name in fast_parts:
            assert float((fast_parts[name] - ref_parts[name]).norm()) < 1e-10 * float(ref.norm())
        assert rel(sum(fast_parts.values()), fast) < 1e-12


def test_against_explicit_jacobian():
    """Theta = J J^T with J built parameter by parameter with torch.func.jacrev."""
    model = FullyConnected(
        4, 10, 2, 2, parameterization="du", activation="gelu", dtype=torch.float64, seed=1
    )
    X = torch.randn(5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    params = {n: p.detach() for n, p in model.named_parameters()}
    jac = jacrev(lambda p: functional_call(model, p, (X,)))(params)
    J = torch.cat([j.reshape(5 * 2, -1) for j in jac.values()], dim=1)  # (n k, P)
    theta = (J @ J.T).reshape(5, 2, 5, 2).permute(0, 2, 1, 3)
    assert rel(empirical(model, X), theta) < 1e-12


def test_symmetric_and_blocked(inputs):
    """A kernel assembled from small blocks (upper triangle mirrored) equals the one-block one."""
    X, _ = inputs
    model = FullyConnected(5, 16, 2, 3, parameterization="ntk", bias_std=0.1, dtype=torch.float64)
    one = empirical(model, X)
    tiny = empirical(model, X, max_memory=2000)  # forces 1-2 row blocks
    assert rel(tiny, one) < 1e-14
    flat = one.permute(0, 2, 1, 3).reshape(18, 18)
    assert float((flat - flat.T).abs().max()) < 1e-12
    assert np.linalg.eigvalsh(flat.numpy()).min() > -1e-10  # PSD


def test_memmap_output(tmp_path, inputs):
    X, _ = inputs
    model = FullyConnected(5, 16, 2, parameterization="zou-gu", dtype=torch.float64)
    target = np.lib.format.open_memmap(
        tmp_path / "k.npy", mode="w+", dtype=np.float64, shape=(6, 6, 1, 1)
    )
    empirical(model, X, out=target, max_memory=1000)
    target.flush()
    stored = np.load(tmp_path / "k.npy")[:, :, 0, 0]
    np.testing.assert_allclose(stored, empirical(model, X).numpy(), rtol=1e-14)


def test_auto_uses_generic_for_unknown_module():
    """A model without a structured rule: the default (auto) runs the generic path without a
    warning (warnings are errors here); asking for structured is a ConfigError."""
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    net = net.double()
    X = torch.randn(4, 3, dtype=torch.float64)
    theta = empirical(net, X)
    ref = empirical(net, X, method="autograd")
    assert rel(theta, ref) < 1e-14
    assert theta.shape == (4, 4)
    with pytest.raises(ConfigError, match="no structured rule") as err:
        empirical(net, X, method="structured")
    assert err.value.field == "method"


def test_bad_inputs_name_the_field():
    model = FullyConnected(5, 8, 2, dtype=torch.float64)
    X = torch.randn(3, 5, dtype=torch.float64)
    with pytest.raises(ConfigError, match="method"):
        empirical(model, X, method="jacobian")
    with pytest.raises(ConfigError, match="X2"):
        empirical(model, X, torch.randn(2, 4, dtype=torch.float64))
