"""LinearGNN: against a dense column-major implementation of [xu-2021-gnn, Definition 1] and
its skip variant, structured NTK against autograd and against the full-graph Jacobian, skip
connections accelerating GD on SBM graphs, training with GD and SGD, input validation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch.func import functional_call, jacrev

from overparam.config import build_config
from overparam.data.graphs import node_datasets, sbm
from overparam.errors import ConfigError
from overparam.models import LinearGNN
from overparam.ntk import empirical
from overparam.run import run
from overparam.train import make_objective, train


def random_graph(N: int, d: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A non-symmetric S (so S vs S^T mistakes show) and random features."""
    gen = torch.Generator().manual_seed(seed)
    S = torch.rand(N, N, generator=gen, dtype=torch.float64) / N
    X = torch.randn(N, d, generator=gen, dtype=torch.float64)
    return S, X


def weights(model: LinearGNN) -> dict[str, np.ndarray]:
    """The effective weights (multiplier x stored) by layer name."""
    return {
        layer.spec.name: (layer.weight.detach() * layer.spec.multiplier).numpy()
        for layer in model.layers
    }


@pytest.mark.parametrize(
    ("skip", "param", "depth", "k"),
    list(itertools.product([False, True], ["standard", "ntk"], [1, 3], [1, 2])),
)
def test_equals_dense_definition(skip, param, depth, k):
    """f = W X_(H), X_(l) = B_(l) X_(l-1) S with X_(0) (m_x x N) features as columns
    [xu-2021-gnn, Definition 1, eq. (2)]; with skips f = sum_l W_(l) X_(l) (JK-Net read-out)."""
    N, d, m = 7, 4, 5
    S, feats = random_graph(N, d, 0)
    net = LinearGNN(d, m, depth, k, skip, S=S, features=feats, parameterization=param,
                    dtype=torch.float64, seed=1)  # fmt: skip
    w = weights(net)
    Sn = S.numpy()
    Xl = [feats.numpy().T]  # X_(0): m_x x N
    for l in range(1, depth + 1):
        Xl.append(w[f"B{l}"] @ Xl[-1] @ Sn)
    # m_y x N
    f = sum(w[f"W{l}"] @ Xl[l] for l in range(depth + 1)) if skip else w["W"] @ Xl[depth]
    with torch.no_grad():
        ours = net(torch.eye(N, dtype=torch.float64))  # (N, m_y): node v is row v
    np.testing.assert_allclose(ours.numpy(), f.T, rtol=1e-12, atol=1e-12)
    # node indicators select rows; general weights over nodes combine them linearly
    x = torch.randn(3, N, dtype=torch.float64)
    with torch.no_grad():
        np.testing.assert_allclose(net(x).numpy(), x.numpy() @ f.T, rtol=1e-10, atol=1e-12)


def ntk_cases():
    for skip, param, trainable, depth, k in itertools.product(
        [False, True], ["standard", "ntk"], [None, "hidden", "B1"], [1, 3], [1, 2]
    ):
        yield pytest.param(
            skip, param, trainable, depth, k, id=f"skip{skip}-{param}-{trainable}-H{depth}-k{k}"
        )


@pytest.mark.parametrize(("skip", "param", "trainable", "depth", "k"), list(ntk_cases()))
def test_structured_equals_autograd(skip, param, trainable, depth, k):
    N = 9
    S, feats = random_graph(N, 4, 2)
    net = LinearGNN(4, 5, depth, k, skip, S=S, features=feats, parameterization=param,
                    trainable=trainable, dtype=torch.float64, seed=3)  # fmt: skip
    eye = torch.eye(N, dtype=torch.float64)
    X, X2 = eye[:6], eye[4:]
    for x2 in (None, X2):
        fast, fast_parts = empirical(net, X, x2, per_layer=True)
        ref, ref_parts = empirical(net, X, x2, method="autograd", per_layer=True)
        assert float((fast - ref).norm()) < 1e-10 * float(ref.norm())
        assert set(fast_parts) == set(ref_parts) == net.trained
        for name, part in fast_parts.items():
            assert float((part - ref_parts[name]).norm()) < 1e-10 * float(ref.norm())


@pytest.mark.parametrize("skip", [False, True])
def test_structured_equals_full_graph_jacobian(skip):
    """Theta = J J^T with J the Jacobian of all N outputs of one full-graph pass."""
    N = 8
    S, feats = random_graph(N, 3, 4)
    net = LinearGNN(3, 4, 2, 2, skip, S=S, features=feats, dtype=torch.float64, seed=5)
    eye = torch.eye(N, dtype=torch.float64)
    params = {n: p.detach() for n, p in net.named_parameters()}
    buffers = dict(net.named_buffers())
    jac = jacrev(lambda p: functional_call(net, {**p, **buffers}, (eye,)))(params)
    J = torch.cat([j.reshape(N * 2, -1) for j in jac.values()], dim=1)
    theta = (J @ J.T).reshape(N, 2, N, 2).permute(0, 2, 1, 3)
    fast = empirical(net, eye)
    assert float((fast - theta).norm()) < 1e-12 * float(theta.norm())


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_skip_loss_falls_faster_on_sbm(depth):
    """[xu-2021-gnn] (skip connections accelerate): at the same step size, GD on the skip (JK) GNN
    reduces the training loss by a larger factor than on the plain GNN, seed after seed.
    Over-parameterized graphs (feature dimension >= nodes), so both can reach zero loss."""
    objective = make_objective("square", "mean", 1)
    for seed in range(4):
        graph = sbm(24, 32, seed=seed)
        data, _ = node_datasets(graph)

        def net(skip: bool, graph=graph, seed=seed) -> LinearGNN:
            return LinearGNN(graph.d, 16, depth, 1, skip, S=graph.S, features=graph.X,
                             dtype=torch.float64, seed=100 + seed)  # fmt: skip

        # one step size for both: half the linearized stability limit of the skip model
        lam = float(torch.linalg.eigvalsh(empirical(net(True), data.X))[-1])
        lr = 0.5 * data.n / lam
        ratio = {}
        for skip in (False, True):
            h = train(net(skip), data, objective, lr=lr, steps=100)
            assert h.status == "max_steps"
            ratio[skip] = h.final_loss / h.initial_loss
        assert ratio[True] < 0.5 * ratio[False], (seed, ratio)


JVP_WARNING = "ignore:`torch.jit.script` is deprecated:DeprecationWarning"


@pytest.mark.filterwarnings(JVP_WARNING)
@pytest.mark.parametrize(
    ("data", "algorithm", "skip"),
    [("sbm", "gd", False), ("sbm", "sgd", True), ("karate", "gd", True), ("karate", "sgd", False)],
)
def test_trains_from_config(data, algorithm, skip):
    batch = 8 if algorithm == "sgd" else None
    cfg = build_config(
        arch="gnn", data=data, n=30, d=6, width=8, depth=2, skip=skip, steps=60,
        algorithm=algorithm, batch=batch, dtype="float64",
    )  # fmt: skip
    assert cfg.parameterization == "standard"
    h = run(cfg)
    assert h.status == "max_steps"
    assert h.final_loss < 0.5 * h.initial_loss
    assert h.test_accuracy is not None  # test_fraction 0.2 holds out nodes


def test_return_hidden_rows():
    S, feats = random_graph(6, 3, 6)
    net = LinearGNN(3, 4, 2, 1, S=S, features=feats, dtype=torch.float64)
    x = torch.eye(6, dtype=torch.float64)[[1, 4]]
    with torch.no_grad():
        f, pre, hidden = net(x, return_hidden=True)
        _, Zs = net.propagate()
    assert len(hidden) == 2 and len(pre) == 3
    torch.testing.assert_close(hidden[1], Zs[2][[1, 4]])
    torch.testing.assert_close(pre[-1], f)
    assert net.hidden_layers() == ["B1", "B2"]
    assert net.activation == "linear"


def test_errors():
    S, feats = random_graph(5, 3, 7)
    with pytest.raises(ConfigError, match="parameterization"):
        LinearGNN(3, 4, 2, S=S, features=feats, parameterization="zou-gu")
    with pytest.raises(ConfigError, match="features"):
        LinearGNN(4, 4, 2, S=S, features=feats)
    with pytest.raises(ConfigError, match="S"):
        LinearGNN(3, 4, 2, S=S[:, :4], features=feats)
    with pytest.raises(ConfigError, match="depth"):
        LinearGNN(3, 4, 0, S=S, features=feats)
    with pytest.raises(ConfigError, match="x"):
        LinearGNN(3, 4, 1, S=S, features=feats)(torch.randn(2, 3))
    with pytest.raises(ConfigError, match="data"):
        build_config(arch="gnn", data="sphere")
    with pytest.raises(ConfigError, match="arch"):
        build_config(data="sbm")
    with pytest.raises(ConfigError, match="skip"):
        build_config(skip=True)
    with pytest.raises(ConfigError, match="parameterization"):
        build_config(arch="gnn", data="sbm", parameterization="du")


@pytest.mark.parametrize(
    "kw",
    [
        dict(arch="gnn", data="sbm", n=12, d=4, width=8, depth=2, skip=True),
        dict(arch="gnn", data="karate", width=8, depth=2),
    ],
)
def test_every_probe_that_applies_runs(kw):
    """``probes=("all",)`` through the probes' model interface (return_hidden, specs,
    parameter_layers, trained): every probe records rows but flips (no ReLU sign pattern)."""
    from overparam.probes import probe_names

    cfg = build_config(**kw, steps=6, lr=0.01, probes=("all",), probe_every=2, dtype="float64")
    h = run(cfg)
    recorded = {r["probe"] for r in h.records}
    assert h.status == "max_steps"
    assert {"norms", "movement", "ntk_drift", "linearization"} <= recorded <= set(probe_names())
    assert "flips" not in recorded
