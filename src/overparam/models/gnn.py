"""The linear GNN of [xu-2021-gnn, Definition 1] and its skip-connection (JK-Net) variant.

With node features X_(0) in R^{m_0 x N} (one column per node), an aggregation matrix S in
R^{N x N} and weights B_(l) in R^{m_l x m_{l-1}}, W in R^{m_y x m_H},

    X_(l) = B_(l) X_(l-1) S   (l = 1..H),     f(X, W, B) = W X_(H)     [Definition 1, eq. (2)]

and, with skip connections, every layer's output (the input X_(0) included) is read out:

    f(X, W, B) = sum_{l=0}^{H} W_(l) X_(l)      [xu-2021-gnn, skip-connection (multiscale) GNN]

The rate of linear convergence of gradient flow / descent is governed by the smallest eigenvalue
of the (here: empirical) tangent kernel restricted to the labelled nodes; skip connections add
positive terms to it and more depth adds terms too, while features correlated with the labels
put the residual on its large eigendirections [xu-2021-gnn, convergence and acceleration
results].

overparam stores node-major matrices (rows are nodes): Z_l = X_(l)^T, so the recursion reads
Z_l = S^T Z_{l-1} B_(l)^T and the outputs F = Z_H W^T (N x m_y). The network holds the graph
(features and S are buffers) and ``forward`` takes *node indicator* rows e_v (or any weights over
nodes): f(e_v) = row v of F. Training is transductive: every call propagates the whole graph.

Init (the paper's theory holds for any init with a positive rate; it prescribes none):
``standard``: entries ~ N(0, 1/fan_in), multiplier 1 (LeCun init: keeps ||Z_l|| ~ ||S^l X|| for
linear layers); ``ntk``: entries ~ N(0, 1), multiplier 1/sqrt(fan_in) (the same function at init,
gradients scaled as in [jacot-2018]). Both train every layer by default.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from overparam.errors import ConfigError
from overparam.models.base import (
    Dense,
    SpecNetwork,
)
from overparam.models.parameterization import LayerSpec, Parameterization, parse_parameterization

GNN_PARAMETERIZATIONS = (Parameterization.STANDARD, Parameterization.NTK)
LINEAR = "linear"  # the GNN's ``activation``: the identity (not an Activation member)


def gnn_specs(
    parameterization: Parameterization | str,
    in_features: int,
    hidden: int,
    depth: int,
    out: int = 1,
    *,
    skip: bool = False,
) -> list[LayerSpec]:
    """B1..BH (role hidden, no activation), then W (plain) or W0..WH (skip), role output."""
    p = parse_parameterization(parameterization)
    if p not in GNN_PARAMETERIZATIONS:
        raise ConfigError(
            "parameterization",
            p.value,
            "standard or ntk for the linear GNN ([xu-2021-gnn] prescribes no init; the seed "
            "papers' relu inits do not apply to linear layers)",
        )
    if not isinstance(depth, int) or depth < 1:
        raise ConfigError("depth", depth, "an integer >= 1 (H aggregation layers)")

    def spec(name: str, fan_in: int, fan_out: int, role: str) -> LayerSpec:
        if p is Parameterization.STANDARD:
            std, multiplier = 1.0 / math.sqrt(fan_in), 1.0
        else:
            std, multiplier = 1.0, 1.0 / math.sqrt(fan_in)
        return LayerSpec(
            name, fan_in, fan_out, std, multiplier=multiplier, activation=False, role=role
        )

    specs = [
        spec(f"B{l}", in_features if l == 1 else hidden, hidden, "hidden")
        for l in range(1, depth + 1)
    ]
    if skip:
        specs += [
            spec(f"W{l}", in_features if l == 0 else hidden, out, "output")
            for l in range(depth + 1)
        ]
    else:
        specs.append(spec("W", hidden, out, "output"))
    return specs


class LinearGNN(SpecNetwork):
    """The linear GNN of [xu-2021-gnn, Definition 1], or with ``skip`` its JK-Net variant.

    Args:
        in_features: m_0, the node feature dimension. hidden: m_l for l = 1..H (the width).
        depth: H, the number of aggregation layers B_(1..H). out: m_y.
        skip: read out every layer's output (JK-Net style), not only the last.
        S: (N, N) aggregation matrix. features: (N, in_features) node features (rows = nodes).
        parameterization: ``standard`` or ``ntk`` (module docstring).
        trainable: "hidden" (B only), "all", layer names, or None for all.
        seed: init seed (CPU float64 draw, then cast).

    ``forward(x)`` maps node indicators (b, N) to (b, out). ``forward(x, return_hidden=True)``
    also returns the pre-activations and hidden vectors (identical, the network is linear):
    the rows x Z_l (b, m_l) for l = 1..H, and the output as the last pre-activation.
    :meth:`propagate` returns all N nodes' outputs and layer matrices for given features.

    Example:
        >>> from overparam.data.graphs import karate
        >>> g = karate()
        >>> net = LinearGNN(g.d, 16, 2, 1, skip=True, S=g.S, features=g.X)
        >>> net(torch.eye(g.n)[:3]).shape
        torch.Size([3, 1])
    """

    S: torch.Tensor  # buffer: (N, N) aggregation matrix
    features: torch.Tensor  # buffer: (N, in_features) node features

    def __init__(
        self,
        in_features: int,
        hidden: int,
        depth: int,
        out: int = 1,
        skip: bool = False,
        *,
        S: torch.Tensor,
        features: torch.Tensor,
        parameterization: Parameterization | str = Parameterization.STANDARD,
        trainable: str | Sequence[str] | None = None,
        dtype: torch.dtype | str = torch.float32,
        device: str | torch.device = "cpu",
        seed: int = 0,
    ) -> None:
        super().__init__()
        for field, value in (("in_features", in_features), ("hidden", hidden), ("out", out)):
            if not isinstance(value, int) or value < 1:
                raise ConfigError(field, value, "an integer >= 1")
        if S.ndim != 2 or S.shape[0] != S.shape[1]:
            raise ConfigError("S", tuple(S.shape), "a square (N, N) aggregation matrix")
        N = S.shape[0]
        if tuple(features.shape) != (N, in_features):
            raise ConfigError(
                "features", tuple(features.shape), f"shape (N, in_features) = {(N, in_features)}"
            )
        self.parameterization = parse_parameterization(parameterization)
        # linear: no activation and no ReLU sign pattern (probes that need relu skip "linear")
        self.activation = LINEAR
        self.skip = bool(skip)
        self.in_features, self.width, self.hidden = in_features, hidden, hidden
        self.depth, self.out, self.nodes, self.d = depth, out, N, N
        self.specs = gnn_specs(self.parameterization, in_features, hidden, depth, out, skip=skip)
        self.register_buffer("S", S.detach().to(torch.float64).clone())
        self.register_buffer("features", features.detach().to(torch.float64).clone())
        self.build_layers(trainable, "all", seed, dtype, device)

    @property
    def aggregations(self) -> list[Dense]:
        return self.dense_layers()[: self.depth]

    @property
    def readouts(self) -> list[Dense]:
        return self.dense_layers()[self.depth :]

    def propagate(
        self, features: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(F, [Z_0, Z_1, ..., Z_H]) for all N nodes: Z_0 = features (N, m_0),
        Z_l = S^T Z_{l-1} B_(l)^T (N, m_l), F (N, out)."""
        Z = self.features if features is None else features
        St = self.S.T
        Zs = [Z]
        for layer in self.aggregations:
            Z = layer(St @ Z)
            Zs.append(Z)
        if self.skip:
            F = sum(r(z) for r, z in zip(self.readouts, Zs, strict=True))
        else:
            F = self.readouts[0](Z)
        return F, Zs

    def forward(
        self, x: torch.Tensor, return_hidden: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        if x.ndim != 2 or x.shape[1] != self.nodes:
            raise ConfigError(
                "x",
                tuple(x.shape),
                f"node indicator rows (b, N={self.nodes}); the GNN holds the graph's features "
                "(see overparam.data.graphs.node_datasets)",
            )
        F, Zs = self.propagate()
        f = x @ F
        if return_hidden:
            hidden = [x @ Z for Z in Zs[1:]]
            return f, [*hidden, f], hidden
        return f

    def hidden_layers(self) -> list[str]:
        """Names of the aggregation layers B1..BH (each outputs a hidden matrix X_(l))."""
        return [s.name for s in self.specs if s.role == "hidden"]

    def extra_repr(self) -> str:
        return (
            f"parameterization={self.parameterization.value}, skip={self.skip}, "
            f"nodes={self.nodes}, in_features={self.in_features}, hidden={self.hidden}, "
            f"depth={self.depth}, out={self.out}, trained={sorted(self.trained)}"
        )
