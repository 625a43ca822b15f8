"""The linearized network against finite differences, explicit Jacobians and exact linear
models, and trained by overparam's train loop."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.autograd.functional import jacobian
from torch.func import functional_call

from overparam.data.dataset import Dataset
from overparam.errors import ConfigError
from overparam.models import FullyConnected
from overparam.ntk import Linearized, empirical, linearization_gap
from overparam.train.loop import train
from overparam.train.losses import make_objective

F64 = torch.float64


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def mlp(seed: int = 0, k: int = 2) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 8), nn.GELU(), nn.Linear(8, k))


def trained_named(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def shifted(model: nn.Module, v: dict[str, torch.Tensor], t: float) -> nn.Module:
    """A copy of ``model`` with theta_0 + t v."""
    import copy

    out = copy.deepcopy(model)
    with torch.no_grad():
        for n, p in out.named_parameters():
            if n in v:
                p.add_(v[n], alpha=t)
    return out


def direction(model: nn.Module, seed: int) -> dict[str, torch.Tensor]:
    g = gen(seed)
    return {
        n: torch.randn(p.shape, dtype=p.dtype, generator=g)
        for n, p in model.named_parameters()
        if p.requires_grad
    }


def explicit_J(model: nn.Module, X: torch.Tensor, at: dict[str, torch.Tensor]) -> torch.Tensor:
    """J (n k, P) at parameters ``at``, by torch.autograd.functional.jacobian."""
    names = list(at)
    rest = {n: p.detach() for n, p in model.named_parameters() if n not in at}

    def f(*values):
        return functional_call(model, {**rest, **dict(zip(names, values, strict=True))}, (X,))

    jac = jacobian(f, tuple(at[n] for n in names))
    return torch.cat([j.reshape(X.shape[0] * j.shape[1], -1) for j in jac], dim=1)


@pytest.fixture
def X() -> torch.Tensor:
    return torch.randn(6, 3, dtype=F64, generator=gen(1))


def test_at_theta0_it_is_the_network(X):
    model = mlp().to(F64)
    lin = Linearized(model)
    names = [n for n, _ in model.named_parameters()]
    assert [n for n, _ in lin.named_parameters()] == names
    for (_, a), (_, b) in zip(lin.named_parameters(), model.named_parameters(), strict=True):
        assert torch.equal(a, b) and a.data_ptr() != b.data_ptr()
    torch.testing.assert_close(lin(X), model(X), rtol=1e-14, atol=1e-14)


def test_a_step_moves_it_by_the_directional_derivative(X):
    """f_lin(theta_0 + t v) - f(theta_0) = t (f(theta_0 + h v) - f(theta_0 - h v)) / 2h."""
    model = mlp().to(F64)
    lin = Linearized(model)
    v = direction(model, 2)
    t, h = 0.3, 1e-5
    with torch.no_grad():
        for n, p in lin.named_parameters():
            p.add_(v[n], alpha=t)
        moved = lin(X) - model(X)
        fd = (shifted(model, v, h)(X) - shifted(model, v, -h)(X)) / (2 * h) * t
        torch.testing.assert_close(moved, fd, rtol=1e-8, atol=1e-9)
        # the nonlinear network at the same theta is elsewhere (the test could fail)
        assert float((shifted(model, v, t)(X) - model(X) - moved).norm()) > 1e-3


def test_gradient_is_the_jacobian_at_theta0_transposed(X):
    """d/dtheta 1/2 ||f_lin - y||^2 = J(theta_0)^T (f_lin - y), not J(theta)^T r."""
    model = mlp(k=2).to(F64)
    lin = Linearized(model)
    v = direction(model, 3)
    with torch.no_grad():
        for n, p in lin.named_parameters():
            p.add_(v[n], alpha=0.2)
    y = torch.randn(6, 2, dtype=F64, generator=gen(4))
    f = lin(X)
    (0.5 * ((f - y) ** 2).sum()).backward()
    grad = torch.cat([p.grad.reshape(-1) for _, p in lin.named_parameters()])
    r = (f - y).detach().reshape(-1)
    expected = explicit_J(model, X, trained_named(model)).T @ r
    torch.testing.assert_close(grad, expected, rtol=1e-12, atol=1e-12)
    theta = {n: p.detach() for n, p in lin.named_parameters()}
    at_theta = explicit_J(model, X, theta).T @ r
    assert float((grad - at_theta).norm()) > 1e-3 * float(expected.norm())


def random_features(seed: int = 0) -> nn.Module:
    """A frozen ReLU layer and a trained readout: linear in its trained parameters."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 1)).to(F64)
    for p in net[0].parameters():
        p.requires_grad_(False)
    return net


def data(X: torch.Tensor, k: int = 1) -> Dataset:
    y = torch.sin(X.sum(1, keepdim=True) * torch.arange(1, k + 1, dtype=F64))
    return Dataset(X, y, separation=1.0)


@pytest.mark.parametrize("build", [lambda: nn.Linear(3, 1).to(F64), random_features])
def test_a_model_linear_in_its_parameters_is_its_own_linearization(X, build):
    model = build()
    lin = Linearized(model)
    objective = make_objective("square", "sum", 1)
    h_lin = train(lin, data(X), objective, lr=0.05, steps=8, keep_params=True)
    h_net = train(model, data(X), objective, lr=0.05, steps=8, keep_params=True)
    assert h_lin.losses[-1] < h_lin.losses[0]
    for a, b in zip(h_lin.losses, h_net.losses, strict=True):
        assert math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-14)
    assert set(h_lin.final_params) == set(h_net.final_params)
    for name, p in h_net.final_params.items():
        torch.testing.assert_close(h_lin.final_params[name], p, rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(lin(X), model(X), rtol=1e-12, atol=1e-13)
    assert linearization_gap(model, lin, X) < 1e-10


def test_trained_by_the_train_loop_and_copied_back(X):
    model = FullyConnected(3, 16, 2, parameterization="zou-gu", dtype=F64, seed=0)
    before = trained_named(model)
    lin = Linearized(model)
    assert {n for n, _ in lin.named_parameters()} == set(model.trainable_parameters())
    # f_lin's kernel is Theta_0 at every step: GD on the mean square loss contracts the
    # residual for lr < 2 n / lambda_max(Theta_0); take half of that.
    theta = empirical(model, X)
    lr = X.shape[0] / float(torch.linalg.eigvalsh(theta).max())
    history = train(lin, data(X), make_objective("square", "mean", 1), lr=lr, steps=10)
    assert history.status != "diverged"
    assert all(b < a for a, b in zip(history.losses, history.losses[1:], strict=False))
    assert history.losses[-1] < 0.9 * history.losses[0]
    for n, p in model.named_parameters():  # the original is untouched
        if n in before:
            assert torch.equal(p, before[n])
    back = lin.to_model()
    assert type(back) is FullyConnected and back is not model
    assert {n: p.requires_grad for n, p in back.named_parameters()} == {
        n: p.requires_grad for n, p in model.named_parameters()
    }
    for n, p in lin.named_parameters():
        assert torch.equal(back.get_parameter(n), p)
    # a wide-ish ReLU net moved a little: the linearization explains most of the change
    gap = linearization_gap(back, lin, X)
    assert 0.0 < gap < 0.5


def test_gap_is_second_order(X):
    """||f - f_lin|| / ||f - f_0|| = O(t) along theta_0 + t v: halving t halves it."""
    model = mlp().to(F64)
    lin = Linearized(model)
    v = direction(model, 5)
    gaps = [linearization_gap(shifted(model, v, t), lin, X) for t in (0.02, 0.01)]
    assert 0.4 < gaps[1] / gaps[0] < 0.6
    assert linearization_gap(model, lin, X) == 0.0


def test_casting_moves_theta0_too(X):
    lin = Linearized(mlp())
    lin.double()
    assert all(p.dtype == F64 for p in lin.parameters())
    assert lin.base_forward(X).dtype == F64
    assert lin(X).dtype == F64


def test_refusals(X):
    with pytest.raises(ConfigError) as err:
        Linearized(random_features().requires_grad_(False))
    assert err.value.field == "model"
    lin = Linearized(mlp().to(F64))
    with pytest.raises(ConfigError) as err:
        linearization_gap(nn.Linear(3, 2).to(F64), lin, X)
    assert err.value.field == "model"
    with pytest.raises(ConfigError) as err:
        lin.at({}, X)
    assert err.value.field == "theta"
