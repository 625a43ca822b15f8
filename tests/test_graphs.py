"""Graph data: the SBM generator's structure and statistics, Zachary's karate club, the
aggregation matrix, node datasets and the config's graph fields."""

from __future__ import annotations

import math

import networkx as nx
import pytest
import torch

from overparam.config import build_config
from overparam.data.graphs import aggregation_matrix, karate, node_datasets, sbm
from overparam.errors import ConfigError
from overparam.run import build_data, build_graph, build_model


def test_aggregation_matrix_by_hand():
    """Path 0-1-2: degrees of A + I are (2, 3, 2); S_01 = 1/sqrt(6), S_11 = 1/3."""
    A = torch.tensor([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=torch.float64)
    S = aggregation_matrix(A)
    assert S[0, 1] == pytest.approx(1 / math.sqrt(6))
    assert S[1, 1] == pytest.approx(1 / 3)
    assert S[0, 2] == 0.0
    # top eigenvalue 1 with eigenvector proportional to sqrt(degree + 1)
    ev, vec = torch.linalg.eigh(S)
    assert float(ev[-1]) == pytest.approx(1.0)
    v = vec[:, -1].abs()
    torch.testing.assert_close(
        v / v.norm(), torch.tensor([2.0, 3.0, 2.0], dtype=torch.float64).sqrt() / math.sqrt(7)
    )


def test_sbm_structure():
    g = sbm(60, 5, blocks=3, seed=1)
    A = g.A
    assert torch.equal(A, A.T) and float(A.diagonal().abs().sum()) == 0.0
    assert set(A.unique().tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(g.S, aggregation_matrix(A))
    assert g.X.shape == (60, 5) and g.y.shape == (60, 3)
    torch.testing.assert_close(g.y.argmax(1), g.classes)
    assert torch.bincount(g.classes).tolist() == [20, 20, 20]
    assert bool(g.train_mask.all())


def test_sbm_edge_densities():
    g = sbm(300, 2, p_in=0.2, p_out=0.02, seed=2)
    same = g.classes[:, None] == g.classes[None, :]
    off = ~torch.eye(300, dtype=torch.bool)
    inside = float(g.A[same & off].mean())
    across = float(g.A[~same].mean())
    assert inside == pytest.approx(0.2, abs=0.01)
    assert across == pytest.approx(0.02, abs=0.005)


def test_sbm_features_follow_communities():
    clean = sbm(40, 6, feature_noise=0.0, seed=3)
    for c in (0, 1):
        rows = clean.X[clean.classes == c]
        torch.testing.assert_close(rows, rows[:1].expand_as(rows))
        assert float(rows[0].norm()) == pytest.approx(1.0)
    noisy = sbm(40, 6, feature_noise=1.0, seed=3)
    assert float((noisy.X - clean.X).norm()) > 1.0
    assert set(clean.y.flatten().tolist()) == {-1.0, 1.0}


def test_sbm_deterministic_and_split():
    a, b = sbm(30, 4, test_fraction=0.2, seed=5), sbm(30, 4, test_fraction=0.2, seed=5)
    torch.testing.assert_close(a.X, b.X)
    assert torch.equal(a.A, b.A) and torch.equal(a.train_mask, b.train_mask)
    assert int((~a.train_mask).sum()) == 6  # 3 held out of each community of 15
    for c in (0, 1):
        assert int((~a.train_mask & (a.classes == c)).sum()) == 3
    assert not torch.equal(sbm(30, 4, seed=6).A, a.A)


def test_karate():
    g = karate()
    assert g.n == 34 and int(g.A.sum()) == 2 * 78
    club = nx.get_node_attributes(nx.karate_club_graph(), "club")
    expected = [1.0 if club[v] == "Mr. Hi" else -1.0 for v in range(34)]
    assert g.y.flatten().tolist() == expected
    assert g.y[0, 0] == 1.0 and g.y[33, 0] == -1.0
    torch.testing.assert_close(g.X, math.sqrt(34) * torch.eye(34, dtype=torch.float64))
    torch.testing.assert_close(g.S, aggregation_matrix(g.A))


def test_node_datasets():
    g = sbm(20, 3, test_fraction=0.25, seed=7)
    train, test = node_datasets(g)
    assert test is not None and train.n + test.n == 20
    assert train.X.shape == (train.n, 20) and torch.equal(train.X.sum(1), torch.ones(train.n))
    nodes = train.X.argmax(1)
    torch.testing.assert_close(train.y, g.y[nodes])
    assert bool(g.train_mask[nodes].all()) and not bool(g.train_mask[test.X.argmax(1)].any())
    _, none = node_datasets(sbm(20, 3, seed=7))
    assert none is None


def test_config_builds_the_same_graph_for_data_and_model():
    cfg = build_config(arch="gnn", data="sbm", n=20, d=4, width=6, depth=2, blocks=3)
    train, test = build_data(cfg)
    model = build_model(cfg, train.d, train.k)
    graph = build_graph(cfg)
    assert model.nodes == 20 and train.k == 3
    assert train.n + test.n == 20  # every node is a train or a test node
    torch.testing.assert_close(model.features.double(), graph.X)
    torch.testing.assert_close(model.S.double(), graph.S)
    torch.testing.assert_close(train.y, graph.y[train.X.argmax(1)])


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        (dict(blocks=1), "blocks"),
        (dict(n=3), "n"),
        (dict(p_in=1.5), "p_in"),
        (dict(feature_noise=-1.0), "feature_noise"),
        (dict(test_fraction=1.0), "test_fraction"),
    ],
)
def test_sbm_errors(kwargs, field):
    args = {"n": 20, "d": 3, **kwargs}
    n, d = args.pop("n"), args.pop("d")
    with pytest.raises(ConfigError, match=field):
        sbm(n, d, **args)


def test_config_field_errors():
    for field, value in (("p_out", -0.1), ("blocks", 1), ("feature_noise", -2.0)):
        with pytest.raises(ConfigError, match=field):
            build_config(arch="gnn", data="sbm", **{field: value})
