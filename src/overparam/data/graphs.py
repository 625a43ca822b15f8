"""Graphs for the linear GNN of [xu-2021-gnn, Definition 1]: a stochastic block model with
community-correlated node features, and Zachary's karate club as shipped by networkx.

Every graph carries its aggregation matrix, the symmetrically normalized adjacency with self
loops (the GCN choice; [xu-2021-gnn, Definition 1] takes any S in R^{N x N}):

    S = D^{-1/2} (A + I) D^{-1/2},   D = diag((A + I) 1).

Training is transductive and full-graph: a GNN sees every node's features; the loss is a sum over
the labelled (training) nodes. :func:`node_datasets` turns a :class:`Graph` into the
:class:`overparam.data.Dataset` pair the training loop expects, whose inputs are *node indicator*
rows e_v (a sample is "node v"; the model holds the graph), so full-batch GD, minibatch SGD over
nodes and the per-sample autograd NTK work unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from overparam.data.dataset import Dataset
from overparam.errors import ConfigError


@dataclass(frozen=True)
class Graph:
    """A node-labelled graph.

    Attributes:
        X: (N, d) node features (row v is node v's feature vector; X_(0)^T in
            [xu-2021-gnn, Definition 1], which stores features as columns).
        y: (N, k) targets: +-1 (k = 1) for two communities, one-hot otherwise.
        classes: (N,) community of each node.
        A: (N, N) symmetric 0/1 adjacency, no self loops.
        S: (N, N) aggregation matrix D^{-1/2} (A + I) D^{-1/2}.
        train_mask: (N,) bool, the labelled nodes whose loss is trained on.
        provenance: generator name, its parameters and seed.
    """

    X: torch.Tensor
    y: torch.Tensor
    classes: torch.Tensor
    A: torch.Tensor
    S: torch.Tensor
    train_mask: torch.Tensor
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    @property
    def d(self) -> int:
        return int(self.X.shape[1])

    @property
    def k(self) -> int:
        return int(self.y.shape[1])


def aggregation_matrix(A: torch.Tensor) -> torch.Tensor:
    """S = D^{-1/2} (A + I) D^{-1/2} with D the degrees of A + I (float64, symmetric)."""
    A = A.to(torch.float64)
    A_hat = A + torch.eye(A.shape[0], dtype=torch.float64)
    inv_sqrt = A_hat.sum(1).rsqrt()
    return inv_sqrt[:, None] * A_hat * inv_sqrt[None, :]


def _targets(classes: np.ndarray, blocks: int) -> torch.Tensor:
    c = torch.as_tensor(classes, dtype=torch.long)
    if blocks == 2:
        return (1.0 - 2.0 * c.to(torch.float64))[:, None]  # community 0 -> +1, 1 -> -1
    return torch.nn.functional.one_hot(c, blocks).to(torch.float64)


def _train_mask(classes: np.ndarray, test_fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Stratified: in every community round(test_fraction * size) nodes are held out."""
    if not 0.0 <= test_fraction < 1.0:
        raise ConfigError("test_fraction", test_fraction, "a fraction in [0, 1) for graph data")
    mask = np.ones(len(classes), dtype=bool)
    for c in np.unique(classes):
        members = np.flatnonzero(classes == c)
        held = round(test_fraction * len(members))
        held = min(held, len(members) - 1)
        mask[rng.permutation(members)[:held]] = False
    return mask


def sbm(
    n: int,
    d: int,
    *,
    blocks: int = 2,
    p_in: float = 0.3,
    p_out: float = 0.05,
    feature_noise: float = 1.0,
    test_fraction: float = 0.0,
    seed: int = 0,
) -> Graph:
    """A stochastic block model with node features correlated with the communities.

    Nodes are split into ``blocks`` communities of (nearly) equal size, in random order. Each pair
    u < v is an edge with probability ``p_in`` inside a community and ``p_out`` across. Features
    are a community mean plus isotropic noise, scaled to unit expected norm,

        x_v = (mu_{c(v)} + s eps_v / sqrt(d)) / sqrt(1 + s^2),   eps_v ~ N(0, I_d),  s = noise,

    with the means mu_c independent uniform unit vectors. ``feature_noise`` s sets how strongly
    the labels are correlated with the features (the community explains a fraction 1/(1 + s^2)
    of E||x_v||^2 = 1; 0: features determine the labels, large: they carry no label information)
    without changing the features' scale -- the "label distribution" that [xu-2021-gnn]
    finds to accelerate training.

    Args:
        n: nodes (>= 2 * blocks). d: feature dimension. blocks: communities (>= 2).
        p_in, p_out: edge probabilities in [0, 1]. feature_noise: >= 0.
        test_fraction: fraction of every community held out of the training loss.
        seed: graph, feature and split seed.

    Returns:
        A :class:`Graph`; y is +-1 (k = 1) for two communities, one-hot (k = blocks) otherwise.
    """
    if not isinstance(blocks, int) or blocks < 2:
        raise ConfigError("blocks", blocks, "an integer >= 2")
    if not isinstance(n, int) or n < 2 * blocks:
        raise ConfigError("n", n, f"an integer >= 2 * blocks = {2 * blocks}")
    if not isinstance(d, int) or d < 1:
        raise ConfigError("d", d, "an integer >= 1")
    for name, value in (("p_in", p_in), ("p_out", p_out)):
        if not 0.0 <= value <= 1.0:
            raise ConfigError(name, value, "a probability in [0, 1]")
    if not (math.isfinite(feature_noise) and feature_noise >= 0):
        raise ConfigError("feature_noise", feature_noise, "a number >= 0")
    rng = np.random.default_rng(seed)
    classes = rng.permutation(np.arange(n) % blocks)
    same = classes[:, None] == classes[None, :]
    prob = np.where(same, p_in, p_out)
    upper = np.triu(rng.random((n, n)) < prob, k=1)
    A = (upper | upper.T).astype(np.float64)
    means = rng.standard_normal((blocks, d))
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    noise = feature_noise * rng.standard_normal((n, d)) / math.sqrt(d)
    X = (means[classes] + noise) / math.sqrt(1.0 + feature_noise**2)
    mask = _train_mask(classes, test_fraction, rng)
    A_t = torch.as_tensor(A)
    return Graph(
        X=torch.as_tensor(X),
        y=_targets(classes, blocks),
        classes=torch.as_tensor(classes, dtype=torch.long),
        A=A_t,
        S=aggregation_matrix(A_t),
        train_mask=torch.as_tensor(mask),
        provenance={
            "generator": "sbm",
            "n": n,
            "d": d,
            "blocks": blocks,
            "p_in": p_in,
            "p_out": p_out,
            "feature_noise": feature_noise,
            "test_fraction": test_fraction,
            "seed": seed,
            "edges": int(np.triu(A).sum()),
        },
    )


def karate(*, test_fraction: float = 0.0, seed: int = 0) -> Graph:
    """Zachary's karate club (34 nodes, 78 edges) from ``networkx.karate_club_graph()``, labelled
    by the 'club' each member joined after the split ("Mr. Hi" -> +1, "Officer" -> -1).

    The graph has no node attributes, so the features are one-hot node ids (the usual featureless
    choice), scaled to unit second moment per feature column: X = sqrt(N) I_N (d = N = 34), as
    standardized features would be. (With unit one-hot rows the aggregated inputs S^H X have
    norms ~ deg^(-H/2) << 1, and the linear GNN's loss curvature is then dominated by its
    non-Gauss-Newton part, so lr="auto" overshoots.) Edge weights are ignored (0/1 adjacency).

    Args:
        test_fraction: fraction of each club held out of the training loss.
        seed: split seed.
    """
    import networkx as nx

    g = nx.karate_club_graph()
    nodes = sorted(g.nodes())
    A = torch.as_tensor(nx.to_numpy_array(g, nodelist=nodes, weight=None), dtype=torch.float64)
    club = nx.get_node_attributes(g, "club")
    classes = np.array([0 if club[v] == "Mr. Hi" else 1 for v in nodes])
    mask = _train_mask(classes, test_fraction, np.random.default_rng(seed))
    return Graph(
        X=math.sqrt(len(nodes)) * torch.eye(len(nodes), dtype=torch.float64),
        y=_targets(classes, 2),
        classes=torch.as_tensor(classes, dtype=torch.long),
        A=A,
        S=aggregation_matrix(A),
        train_mask=torch.as_tensor(mask),
        provenance={
            "generator": "karate",
            "n": len(nodes),
            "d": len(nodes),
            "test_fraction": test_fraction,
            "seed": seed,
            "features": "sqrt(N) * identity",
            "edges": int(g.number_of_edges()),
        },
    )


def node_datasets(
    graph: Graph, *, noise: float = 0.0, seed: int = 0
) -> tuple[Dataset, Dataset | None]:
    """(train, test) node datasets: X = indicator rows e_v (n_split, N) of the split's nodes,
    y their targets. test is None when every node is labelled. ``separation`` is sqrt(2) (the
    distance between distinct indicators); ``classes`` the (possibly corrupted) communities.

    Args:
        noise: fraction of *training* labels replaced by a uniformly random community, as for
            digits [zhang-2017]; noise = 1 gives labels independent of the graph and features
            (the uncorrelated label distribution of [xu-2021-gnn]).
        seed: the corruption seed.
    """
    if not 0.0 <= noise <= 1.0:
        raise ConfigError("noise", noise, "a fraction in [0, 1]")
    blocks = int(graph.classes.max()) + 1
    eye = torch.eye(graph.n, dtype=torch.float64)
    out: list[Dataset | None] = []
    for split, mask in (("train", graph.train_mask), ("test", ~graph.train_mask)):
        idx = torch.nonzero(mask).flatten()
        if split == "test" and idx.numel() == 0:
            out.append(None)
            continue
        classes = graph.classes[idx].numpy().copy()
        corrupted = 0
        if split == "train" and noise > 0:
            rng = np.random.default_rng(seed)
            flip = rng.random(len(classes)) < noise
            classes[flip] = rng.integers(0, blocks, int(flip.sum()))
            corrupted = int(flip.sum())
        out.append(
            Dataset(
                eye[idx],
                _targets(classes, blocks),
                math.sqrt(2.0) if idx.numel() > 1 else float("inf"),
                {
                    **graph.provenance,
                    "split": split,
                    "nodes": idx.tolist(),
                    "noise": noise if split == "train" else 0.0,
                    "corrupted": corrupted,
                },
                torch.as_tensor(classes, dtype=torch.long),
            )
        )
    train, test = out
    assert train is not None
    return train, test
