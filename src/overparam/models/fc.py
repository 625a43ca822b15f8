"""Fully connected networks in each seed paper's parameterization."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from overparam.errors import ConfigError
from overparam.models.activations import Activation, parse_activation, torch_fn
from overparam.models.base import SpecNetwork
from overparam.models.parameterization import (
    SEED_PAPERS,
    Parameterization,
    default_trainable,
    layer_specs,
    parse_parameterization,
)


class FullyConnected(SpecNetwork):
    """A deep fully connected network in one of the seed papers' parameterizations.

    Args:
        d: input dimension. width: m. depth: the paper's L (see
            :mod:`overparam.models.parameterization`). out: output dimension k.
        parameterization: one of :class:`Parameterization`.
        activation: one of :class:`Activation` (the seed papers use relu; du allows smooth ones).
        trainable: "hidden", "all", a list of layer names, or None for the paper's default.
        weight_std, bias_std, readout_std: for ``ntk`` / ``standard`` only.
        seed: init seed; weights are drawn on the CPU in float64, then cast, so a seed gives the
            same network on every device and dtype.

    ``forward(x)`` maps (n, d) to (n, k). ``forward(x, return_hidden=True)`` also returns the list
    of pre-activations z_l (n, fan_out) and hidden vectors h_l (post-activation, post-scale).
    """

    def __init__(
        self,
        d: int,
        width: int,
        depth: int,
        out: int = 1,
        parameterization: Parameterization | str = Parameterization.ZOU_GU,
        activation: Activation | str = Activation.RELU,
        trainable: str | Sequence[str] | None = None,
        *,
        weight_std: float = math.sqrt(2.0),
        bias_std: float | None = None,
        readout_std: float = 1.0,
        dtype: torch.dtype | str = torch.float32,
        device: str | torch.device = "cpu",
        seed: int = 0,
    ) -> None:
        super().__init__()
        for field, value in (("d", d), ("width", width), ("out", out)):
            if not isinstance(value, int) or value < 1:
                raise ConfigError(field, value, "an integer >= 1")
        if not isinstance(depth, int) or depth < 1:
            raise ConfigError("depth", depth, "an integer >= 1")
        self.parameterization = parse_parameterization(parameterization)
        self.activation = parse_activation(activation)
        if (
            self.parameterization
            in (
                Parameterization.ALLEN_ZHU,
                Parameterization.ZOU_GU,
                Parameterization.CAO_GU,
            )
            and self.activation is not Activation.RELU
        ):
            raise ConfigError(
                "activation",
                self.activation.value,
                f"relu for {self.parameterization.value} (its proofs are for relu); "
                "smooth activations with du, ntk or standard",
            )
        self.d, self.width, self.depth, self.out = d, width, depth, out
        self.specs = layer_specs(
            self.parameterization,
            d,
            width,
            depth,
            out,
            activation=self.activation,
            weight_std=weight_std,
            bias_std=bias_std,
            readout_std=readout_std,
        )
        self.sigma = torch_fn(self.activation)
        self.build_layers(trainable, default_trainable(self.parameterization), seed, dtype, device)

    def forward(
        self, x: torch.Tensor, return_hidden: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        pre, hidden = [], []
        h = x
        for layer in self.dense_layers():
            z = layer(h)
            if layer.spec.activation:
                h = self.sigma(z)
                if layer.spec.post_scale != 1.0:
                    h = h * layer.spec.post_scale
            else:
                h = z
            if return_hidden:
                pre.append(z)
                hidden.append(h)
        if return_hidden:
            return h, pre, hidden[:-1]
        return h

    def paper_scales(self) -> dict[str, float]:
        """{trained parameter name: c} with W_eff = c W in Allen-Zhu et al.'s normalization
        (:mod:`overparam.probes.context`): c = a_l s_l for a weight, bias_multiplier * s_l for a
        bias, with a_l the forward multiplier and s_l the post-activation scale (1 on the output
        layer)."""
        out: dict[str, float] = {}
        for i, layer in enumerate(self.dense_layers()):
            s = layer.spec
            post = s.post_scale if s.activation else 1.0
            for kind, base in (("weight", s.multiplier), ("bias", s.bias_multiplier)):
                p = getattr(layer, kind)
                if p is not None and p.requires_grad:
                    out[f"layers.{i}.{kind}"] = float(base * post)
        return out

    def unit_hidden_norms(self) -> bool:
        """True for the seed papers' parameterizations, normalized so that ||h_l|| ~ ||x|| = 1;
        False for ntk / standard."""
        return self.parameterization in SEED_PAPERS

    def extra_repr(self) -> str:
        return (
            f"parameterization={self.parameterization.value}, activation={self.activation.value}, "
            f"d={self.d}, width={self.width}, depth={self.depth}, out={self.out}, "
            f"trained={sorted(self.trained)}"
        )
