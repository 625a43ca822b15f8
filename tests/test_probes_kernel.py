"""The kernel probes against independent computations: the first-order gap against finite
differences, the NTK drift against a recomputed autograd kernel, the rate probe's prediction
against GD on an explicitly linearized network, and y^T K^-1 y against a direct solve."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from probe_helpers import F64, at, drive_without_updates, fit, lr_for, one, rows, tiny
from torch.func import functional_call, jacrev

from overparam.probes import make_probes
from overparam.probes.linearization import preload_forward_ad


@pytest.fixture(autouse=True, scope="module")
def _forward_ad_loaded():
    """See test_probes.py: torch's first jvp in a process warns."""
    preload_forward_ad()


# ---------------------------------------------------------------------------------------------
# linearization, ntk_drift, rate, label_complexity
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("parameterization", ["zou-gu", "ntk"])
def test_linearization_gap_matches_finite_differences(parameterization):
    model, data, objective = tiny(parameterization, m=32)
    probes = make_probes(["linearization"], every=3)
    history, snaps = fit(model, data, objective, probes, steps=6)
    assert one(history, "linearization", "max_gap", 0)["value"] == 0.0
    w0 = snaps.params[0]
    eps = 1e-6
    for t in (3, 6):
        wt = snaps.params[t]
        plus = {n: w0[n] + eps * (wt[n] - w0[n]) for n in w0}
        minus = {n: w0[n] - eps * (wt[n] - w0[n]) for n in w0}
        with torch.no_grad():
            fd = (at(model, plus)(data.X) - at(model, minus)(data.X)) / (2 * eps)
            gap = at(model, wt)(data.X) - at(model, w0)(data.X) - fd
        got = one(history, "linearization", "max_gap", t)
        assert got["value"] == pytest.approx(float(gap.norm(dim=1).max()), rel=1e-5, abs=1e-9)
        assert got["value"] > 0


def test_ntk_drift_is_zero_without_updates():
    model, data, objective = tiny(m=32)
    history = drive_without_updates(model, data, objective, make_probes(["ntk_drift"], every=1))
    drift = rows(history, "ntk_drift", "relative_drift")
    assert len(drift) == 5 and all(r["value"] == 0.0 for r in drift)
    lam = [r["value"] for r in rows(history, "ntk_drift", "lambda_min")]
    assert len(set(lam)) == 1 and lam[0] > 0


def test_ntk_drift_matches_a_direct_recomputation():
    from overparam.ntk import empirical

    model, data, objective = tiny("du", m=32)
    history, snaps = fit(model, data, objective, make_probes(["ntk_drift"], every=4), steps=8)
    theta0 = empirical(at(model, snaps.params[0]), data.X, method="autograd")
    for t in (4, 8):
        theta = empirical(at(model, snaps.params[t]), data.X, method="autograd")
        drift = float((theta - theta0).norm() / theta0.norm())
        assert drift > 0
        got = one(history, "ntk_drift", "relative_drift", t)
        assert got["value"] == pytest.approx(drift, rel=1e-8)
        lam = float(torch.linalg.eigvalsh(theta)[0])
        assert one(history, "ntk_drift", "lambda_min", t)["value"] == pytest.approx(lam, rel=1e-8)
    lam0 = float(torch.linalg.eigvalsh(theta0)[0])
    assert one(history, "ntk_drift", "lambda_min", 4)["bound"] == pytest.approx(lam0 / 2)


def linear_model_losses(model, data, objective, lr, steps):
    """GD on the linearized network in parameter space, with an explicit Jacobian: the loss
    curve L(f_0 + J_0 (theta_t - theta_0)), t = 0..steps."""
    trained = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}

    def f(params):
        return functional_call(model, params, (data.X,))

    with torch.no_grad():
        f0 = f(trained)
    jac = jacrev(f)(trained)  # {name: (n, k, *shape)}
    J = torch.cat([jac[n].reshape(f0.numel(), -1) for n in trained], dim=1)
    theta = torch.zeros(J.shape[1], dtype=F64)  # theta_t - theta_0
    losses = []
    for _ in range(steps + 1):
        u = (f0.reshape(-1) + J @ theta).requires_grad_(True)
        value = objective(u.reshape(f0.shape), data.y)
        losses.append(float(value.detach()))
        (g,) = torch.autograd.grad(value, u)
        theta = theta - lr * (J.T @ g)
    return losses


@pytest.mark.parametrize(
    "parameterization, k", [("allen-zhu", 1), ("zou-gu", 1), ("du", 1), ("zou-gu", 2)]
)
def test_rate_prediction_is_the_linear_model_loss_curve(parameterization, k):
    model, data, objective = tiny(parameterization, m=24, k=k)
    lr = lr_for(model, data, objective)
    truth = linear_model_losses(model, data, objective, lr, 30)
    probes = make_probes(["rate", "linearization:linear_run=true"], every=1)
    history, _ = fit(model, data, objective, probes, steps=30, lr=lr)
    pred = [one(history, "rate", "predicted_loss", t)["value"] for t in range(31)]
    np.testing.assert_allclose(pred, truth, rtol=1e-8, atol=1e-14)
    lin = [one(history, "linearization", "linear_run_loss", t)["value"] for t in range(31)]
    np.testing.assert_allclose(lin, truth, rtol=1e-8, atol=1e-14)
    assert truth[-1] < 0.5 * truth[0]
    # The curve error compares the prediction with the network's own losses.
    actual = np.array(history.losses)
    err = np.linalg.norm(np.array(pred) - actual) / np.linalg.norm(actual)
    assert one(history, "rate", "loss_curve_error", 30)["value"] == pytest.approx(err)
    contraction = one(history, "rate", "contraction", 30)
    assert contraction["value"] == pytest.approx((actual[30] / actual[0]) ** (1 / 30))
    assert contraction["ratio"] == pytest.approx(
        math.log(contraction["bound"]) / math.log(contraction["value"])
    )


def test_rate_skips_the_logistic_loss_and_sgd():
    model, data, objective = tiny("cao-gu")
    probes = make_probes(["rate"])
    history, _ = fit(model, data, objective, probes, steps=2)
    assert not rows(history, "rate") and "square loss" in probes[0].skip_reason
    model, data, objective = tiny()
    probes = make_probes(["rate"])
    history, _ = fit(model, data, objective, probes, steps=2, algorithm="sgd", batch=4)
    assert not rows(history, "rate") and "sgd" in probes[0].skip_reason


def test_label_complexity_once_at_init():
    model, data, objective = tiny("zou-gu", m=32)
    history, snaps = fit(model, data, objective, make_probes(["label_complexity"]), steps=5)
    assert {r["step"] for r in rows(history, "label_complexity")} == {0}
    from overparam.ntk import empirical

    theta = empirical(at(model, snaps.params[0]), data.X, method="autograd") / 32
    y = data.y[:, 0]
    expected = float(y @ torch.linalg.solve(theta, y))
    got = one(history, "label_complexity", "y_Theta_inv_y", 0)
    assert got["value"] == pytest.approx(expected, rel=1e-8)
    assert got["bound"] == pytest.approx(float(y @ y) / float(torch.linalg.eigvalsh(theta)[0]))
    assert got["value"] <= got["bound"]
    assert one(history, "label_complexity", "cao_gu_bound", 0)["value"] == pytest.approx(
        2 * math.sqrt(expected / 8)
    )


def test_label_complexity_h_infinity():
    from overparam.ntk import gram

    model, data, objective = tiny("zou-gu", m=32)
    history, _ = fit(model, data, objective, make_probes(["label_complexity"]), steps=1)
    H = torch.as_tensor(np.asarray(gram.h_infinity(data.X)), dtype=F64)
    y = data.y[:, 0]
    expected = float(y @ torch.linalg.solve(H, y))
    got = one(history, "label_complexity", "y_Hinf_inv_y", 0)
    assert got["value"] == pytest.approx(expected, rel=1e-8)
    assert one(history, "label_complexity", "arora_bound", 0)["value"] == pytest.approx(
        math.sqrt(2 * expected / 8)
    )
