"""The NTK bound of [cao-gu-2019, Corollary 3.10] against direct NumPy, its growth with label
noise, and Algorithm 2 (one pass of online SGD returning one of its iterates)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call, jacrev, vmap

from overparam.config import build_config
from overparam.data import digits
from overparam.errors import ConfigError
from overparam.generalization import (
    JITTERS,
    algorithm2,
    bound_terms,
    expected_test_error,
    factor,
    ntk_bound,
    run_config,
    sphere_task,
    theta_analytic,
)
from overparam.models import FullyConnected


def _direct(theta: np.ndarray, y: np.ndarray, L: int, delta: float, c1=1.0, c2=1.0) -> float:
    q = float(y @ np.linalg.solve(theta, y))
    return c1 * L * math.sqrt(q / len(y)) + c2 * math.sqrt(math.log(1 / delta) / len(y))


@pytest.fixture(scope="module")
def small():
    gen = torch.Generator().manual_seed(3)
    X = torch.randn(15, 5, generator=gen, dtype=torch.float64)
    X = X / X.norm(dim=1, keepdim=True)
    y = torch.where(torch.randn(15, generator=gen) > 0, 1.0, -1.0).to(torch.float64)
    return X, y


# ---------------------------------------------------------------------------------------------
# ntk_bound against NumPy
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("L,delta,c1,c2", [(2, 0.05, 1.0, 1.0), (3, 0.01, 2.0, 0.5)])
def test_ntk_bound_equals_direct_numpy_on_a_given_kernel(small, L, delta, c1, c2):
    X, y = small
    A = np.random.default_rng(0).standard_normal((15, 15))
    theta = A @ A.T + 0.1 * np.eye(15)
    b = ntk_bound(X, y, L, delta, kernel=theta, c_ntk=c1, c_conf=c2)
    assert b.bound == pytest.approx(_direct(theta, y.numpy(), L, delta, c1, c2), rel=1e-10)
    assert b.complexity == pytest.approx(float(y.numpy() @ np.linalg.inv(theta) @ y.numpy()))
    assert b.ntk_term + b.confidence_term == pytest.approx(b.bound)
    assert b.confidence_term == pytest.approx(c2 * math.sqrt(math.log(1 / delta) / 15))
    assert b.jitter == 0.0 and b.kernel == "given"


def test_ntk_bound_analytic_equals_direct_numpy(small):
    X, y = small
    theta = theta_analytic(X, 3)
    assert theta.shape == (15, 15) and np.allclose(theta, theta.T)
    b = ntk_bound(X, y, 3)
    assert b.kernel == "analytic" and b.jitter == 0.0
    assert b.bound == pytest.approx(_direct(theta, y.numpy(), 3, 0.05), rel=1e-10)


def test_ntk_bound_empirical_is_explicit_jacobian_gram_over_m(small):
    X, y = small
    m = 64
    net = FullyConnected(5, m, 2, parameterization="cao-gu", dtype=torch.float64, seed=1)
    params = {k: v.detach() for k, v in net.named_parameters()}

    def f(p, x):
        return functional_call(net, p, (x[None],))[0, 0]

    J = vmap(jacrev(f), in_dims=(None, 0))(params, X)
    G = torch.cat([J[k].reshape(15, -1) for k in params], 1).numpy()
    theta = G @ G.T / m
    b = ntk_bound(X, y, 2, kernel="empirical", model=net)
    assert b.kernel == "empirical" and b.width == m
    assert b.bound == pytest.approx(_direct(theta, y.numpy(), 2, 0.05), rel=1e-9)


def test_empirical_kernel_approaches_the_analytic_one_with_width(small):
    X, _ = small
    theta = theta_analytic(X, 2)
    errs = []
    for m in (64, 4096):
        net = FullyConnected(5, m, 2, parameterization="cao-gu", dtype=torch.float64, seed=0)
        from overparam.generalization import theta_empirical

        errs.append(np.linalg.norm(theta_empirical(net, X) - theta) / np.linalg.norm(theta))
    assert errs[1] < 0.1 and errs[1] < errs[0]


def test_jitter_is_reported_when_used_and_matches_numpy(small):
    X, y = small
    X2 = torch.cat([X, X[:1]])  # a repeated input: Theta is singular
    y2 = torch.cat([y, y[:1]])
    theta = theta_analytic(X2, 2)
    b = ntk_bound(X2, y2, 2, kernel=theta)
    assert b.jitter > 0 and b.jitter_relative in JITTERS
    assert b.jitter == pytest.approx(b.jitter_relative * np.mean(np.diag(theta)))
    shifted = theta + b.jitter * np.eye(16)
    assert b.bound == pytest.approx(_direct(shifted, y2.numpy(), 2, 0.05), rel=1e-6)
    fk = factor(theta)
    assert fk.jitter == b.jitter
    assert ntk_bound(X, y, 2).jitter == 0.0  # distinct inputs: no jitter


def test_a_kernel_that_is_not_positive_definite_raises_not_pseudo_inverts(small):
    X, y = small
    theta = np.eye(15)
    theta[0, 0] = -1.0
    with pytest.raises(ConfigError, match="positive definite"):
        ntk_bound(X, y, 2, kernel=theta)


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"delta": 0.0}, "delta"),
        ({"delta": 1.5}, "delta"),
        ({"depth": 1}, "depth"),
        ({"kernel": "exact"}, "kernel"),
        ({"kernel": "empirical"}, "model"),
        ({"kernel": np.eye(3)}, "kernel"),
        ({"c_ntk": 0.0}, "c_ntk"),
        ({"y": np.ones(4)}, "y"),
    ],
)
def test_bad_input_is_a_config_error(small, kwargs, field):
    X, y = small
    args = {"X": X, "y": y, "depth": 2, **kwargs}
    with pytest.raises(ConfigError) as e:
        ntk_bound(**args)
    assert e.value.field == field


def test_bound_terms_by_hand():
    a, b = bound_terms(50.0, 200, 3, 0.1, c_ntk=2.0, c_conf=3.0)
    assert a == pytest.approx(2 * 3 * math.sqrt(50 / 200))
    assert b == pytest.approx(3 * math.sqrt(math.log(10) / 200))


# ---------------------------------------------------------------------------------------------
# The bound against label noise
# ---------------------------------------------------------------------------------------------

NOISES = (0.0, 0.2, 0.5, 1.0)


@pytest.mark.parametrize("kernel", ["analytic", "empirical"])
def test_bound_grows_monotonically_with_label_noise(kernel):
    """On a fixed data set (same split, same X), y^T Theta^-1 y and the bound rise with noise;
    random labels beat true labels at every seed."""
    per_seed = []
    for seed in (0, 1, 2):
        sets = [digits(noise=p, n=120, seed=seed)[0] for p in NOISES]
        X = sets[0].X
        assert all(torch.equal(s.X, X) for s in sets)
        net = FullyConnected(X.shape[1], 128, 2, parameterization="cao-gu", seed=seed)
        if kernel == "analytic":
            fk = factor(theta_analytic(X, 2), kind="analytic")
        else:
            from overparam.generalization import theta_empirical

            fk = factor(theta_empirical(net, X), kind="empirical")
        bounds = [ntk_bound(X, s.y, 2, kernel=fk) for s in sets]
        per_seed.append([b.bound for b in bounds])
        assert bounds[-1].complexity > bounds[0].complexity
    mean = np.mean(per_seed, axis=0)
    assert np.all(np.diff(mean) > 0), mean


# ---------------------------------------------------------------------------------------------
# Algorithm 2
# ---------------------------------------------------------------------------------------------


class Recorder(nn.Module):
    """Wraps a network; on every single-sample forward it records the input and the current
    parameters (the iterate W^(t) that processes that sample)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.inputs: list[torch.Tensor] = []
        self.iterates: list[dict[str, torch.Tensor]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] == 1 and torch.is_grad_enabled():
            self.inputs.append(x.detach().clone())
            self.iterates.append({k: v.detach().clone() for k, v in self.net.named_parameters()})
        return self.net(x)


def test_online_sgd_processes_each_sample_once_and_returns_one_of_its_iterates():
    train, test = digits(n=40, seed=0)
    net = FullyConnected(train.d, 32, 2, parameterization="cao-gu", dtype=torch.float64, seed=0)
    rec = Recorder(net)
    run = algorithm2(rec, train, test, lr=1 / 32, seed=5)
    # each sample once, in some order
    seen = torch.cat(rec.inputs)
    assert seen.shape[0] == train.n == run.n
    order = [int(torch.nonzero((x == train.X).all(1))[0, 0]) for x in seen]
    assert sorted(order) == list(range(train.n))
    # the iterates change at every step, and the output is one of W^(0..n-1)
    t = run.output_iterate
    assert t is not None and 0 <= t < train.n
    final = {k: v.detach() for k, v in net.named_parameters()}
    for k in final:
        assert torch.equal(final[k], rec.iterates[t][k])
    moved = [
        not torch.equal(rec.iterates[i]["layers.0.weight"], rec.iterates[i + 1]["layers.0.weight"])
        for i in range(train.n - 1)
    ]
    assert all(moved)
    # the exact expectation over the output draw averages all n iterates' test errors
    assert len(run.iterate_errors) == train.n
    assert run.expected_test_error == pytest.approx(np.mean(run.iterate_errors))
    assert run.test_error == pytest.approx(run.iterate_errors[t])


def test_algorithm2_is_deterministic_given_the_seed_and_the_output_draw_varies():
    cfg = build_config(
        data="digits", n=60, width=32, depth=2, parameterization="cao-gu",
        algorithm="online-sgd", lr=1 / 32, steps=60, seed=0,
    )  # fmt: skip
    a, b = run_config(cfg)[0], run_config(cfg)[0]
    assert a.output_iterate == b.output_iterate and a.test_error == b.test_error
    draws = {run_config(cfg.model_copy(update={"seed": s}))[0].output_iterate for s in range(6)}
    assert len(draws) > 1


def test_expected_test_error_learns_digits_and_random_labels_do_not_generalize():
    base = dict(
        data="digits", n=400, width=128, depth=2, parameterization="cao-gu",
        algorithm="online-sgd", lr=1 / 128, steps=400,
    )  # fmt: skip
    clean = expected_test_error(build_config(**base), seeds=(0, 1), iterate_errors=False)
    noisy = expected_test_error(build_config(**base, noise=1.0), seeds=(0, 1))
    assert clean.mean < 0.2
    assert noisy.mean > 0.3
    assert noisy.expected == pytest.approx(np.mean([r.expected_test_error for r in noisy.runs]))
    assert noisy.expected > clean.mean
    assert len(clean.runs) == 2 and clean.stderr >= 0 and clean.expected is None


def test_sphere_task_has_sign_teacher_labels_and_a_held_out_split():
    tr, te = sphere_task(50, 6, n_test=30, seed=1)
    assert tr.n == 50 and te.n == 30 and tr.d == 6
    assert set(torch.unique(tr.y).tolist()) <= {-1.0, 1.0}
    noisy, _ = sphere_task(50, 6, n_test=30, noise=1.0, seed=1)
    assert torch.equal(noisy.X, tr.X) and not torch.equal(noisy.y, tr.y)


@pytest.mark.parametrize(
    "override,field",
    [
        ({"parameterization": "zou-gu"}, "parameterization"),
        ({"algorithm": "gd"}, "algorithm"),
        ({"lr": "auto"}, "lr"),
        ({"task": "multiclass", "k": 1}, "task"),
    ],
)
def test_run_config_rejects_what_algorithm_2_is_not(override, field):
    base = dict(
        data="digits", n=20, width=16, depth=2, parameterization="cao-gu",
        algorithm="online-sgd", lr=0.1, steps=20,
    )  # fmt: skip
    with pytest.raises(ConfigError) as e:
        run_config(build_config(**{**base, **override}))
    assert e.value.field == field
