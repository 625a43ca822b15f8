"""``arch=gnn``: the linearized GNN of [xu-2021-gnn] (``skip``: its JK-Net read-out) on a graph
(the SBM by default, or Zachary's karate club); standard init by default, since the paper
prescribes none."""

from __future__ import annotations

from typing import TYPE_CHECKING

from overparam.architectures.registry import Architecture, register
from overparam.data.graphs import Graph, karate, sbm
from overparam.models.gnn import LinearGNN
from overparam.ntk.structured_gnn import gnn_factors

if TYPE_CHECKING:
    from overparam.config import RunConfig


def build_graph(cfg: RunConfig) -> Graph:
    """The graph of a data=sbm / karate config (the same graph for data and model)."""
    seed = cfg.seeds()["data"]
    if cfg.data == "karate":
        return karate(test_fraction=cfg.test_fraction, seed=seed)
    assert cfg.n is not None  # RunConfig's validator: n is None only for data=digits
    return sbm(
        cfg.n,
        cfg.d,
        blocks=cfg.blocks,
        p_in=cfg.p_in,
        p_out=cfg.p_out,
        feature_noise=cfg.feature_noise,
        test_fraction=cfg.test_fraction,
        seed=seed,
    )


def build(cfg: RunConfig, d: int, k: int) -> LinearGNN:
    """The LinearGNN of ``cfg`` on the config's graph (its inputs are node indicators: d = N)."""
    graph = build_graph(cfg)
    return LinearGNN(
        graph.d,
        cfg.width,
        cfg.depth,
        k,
        cfg.skip,
        S=graph.S,
        features=graph.X,
        parameterization=cfg.parameterization,
        trainable=cfg.trainable,
        dtype=cfg.dtype,
        device=cfg.device,
        seed=cfg.seeds()["init"],
    )


register(
    Architecture(
        name="gnn",
        parameterizations=("standard", "ntk"),
        data=("sbm", "karate"),
        build=build,
        model=LinearGNN,
        ntk_rule=gnn_factors,
    )
)
