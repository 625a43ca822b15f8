"""Fully connected networks in each seed paper's parameterization."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from overparam.errors import ConfigError
from overparam.models.activations import Activation, parse_activation, torch_fn
from overparam.models.parameterization import (
    LayerSpec,
    Parameterization,
    default_trainable,
    layer_specs,
    parse_parameterization,
)


def resolve_dtype(dtype: torch.dtype | str) -> torch.dtype:
    """``"float32"`` / ``"float64"`` (or a torch dtype) as a torch dtype."""
    if isinstance(dtype, torch.dtype):
        if dtype in (torch.float32, torch.float64):
            return dtype
    elif dtype in ("float32", "float64"):
        return getattr(torch, dtype)
    raise ConfigError("dtype", str(dtype), "float32, float64")


def resolve_device(device: str | torch.device) -> torch.device:
    """A torch device; "cuda" is checked to exist so the error names the field, not torch."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError("device", device, "cpu, cuda, cuda:N, mps") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", str(device), "cpu (no CUDA device is available here)")
    return dev


class Dense(nn.Module):
    """z = multiplier * h W^T + bias_multiplier * b, for a :class:`LayerSpec`."""

    def __init__(self, spec: LayerSpec) -> None:
        super().__init__()
        self.spec = spec
        self.weight = nn.Parameter(torch.empty(spec.fan_out, spec.fan_in))
        self.bias = nn.Parameter(torch.empty(spec.fan_out)) if spec.bias else None

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        z = h @ self.weight.T
        if self.spec.multiplier != 1.0:
            z = z * self.spec.multiplier
        if self.bias is not None:
            z = z + self.spec.bias_multiplier * self.bias
        return z


def resolve_trainable(
    specs: Sequence[LayerSpec], trainable: str | Sequence[str] | None, default: str
) -> set[str]:
    """Names of trained layers for "hidden", "all" or an explicit list of layer names."""
    choice = default if trainable is None else trainable
    names = [s.name for s in specs]
    if isinstance(choice, str):
        if choice == "all":
            return set(names)
        if choice == "hidden":
            return {s.name for s in specs if s.role == "hidden"}
        choice = [c.strip() for c in choice.split(",") if c.strip()]
    unknown = [c for c in choice if c not in names]
    if unknown or not choice:
        raise ConfigError("trainable", trainable, f"'hidden', 'all' or a list of {names}")
    return set(choice)


class FullyConnected(nn.Module):
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
        # float64 until the draws are copied in, then one cast to ``dtype`` (a float64 network
        # must not carry float32-rounded weights).
        self.layers = nn.ModuleList(Dense(s) for s in self.specs).to(torch.float64)
        self.sigma = torch_fn(self.activation)
        self.trained = resolve_trainable(
            self.specs, trainable, default_trainable(self.parameterization)
        )
        self.reset_parameters(seed)
        self.to(dtype=resolve_dtype(dtype), device=resolve_device(device))
        for layer in self.layers:
            for p in layer.parameters():
                p.requires_grad_(layer.spec.name in self.trained)

    @torch.no_grad()
    def reset_parameters(self, seed: int) -> None:
        """Draw every weight from its paper's Gaussian with a CPU generator seeded by ``seed``."""
        gen = torch.Generator().manual_seed(int(seed))
        for layer in self.layers:
            s = layer.spec
            w = torch.randn(s.fan_out, s.fan_in, generator=gen, dtype=torch.float64) * s.std
            layer.weight.copy_(w)
            if layer.bias is not None:
                b = torch.randn(s.fan_out, generator=gen, dtype=torch.float64) * s.bias_std
                layer.bias.copy_(b)

    def forward(
        self, x: torch.Tensor, return_hidden: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        pre, hidden = [], []
        h = x
        for layer in self.layers:
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

    def hidden_layers(self) -> list[str]:
        """Names of the layers whose output is a hidden vector h_l (all but the output layer)."""
        return [s.name for s in self.specs if s.activation]

    def parameter_layers(self) -> dict[str, str]:
        """{"layers.0.weight": "A", ...}: each parameter's layer name (the paper's symbol)."""
        return {
            f"layers.{i}.{kind}": spec.name
            for i, spec in enumerate(self.specs)
            for kind in (("weight", "bias") if spec.bias else ("weight",))
        }

    def trainable_parameters(self) -> dict[str, torch.Tensor]:
        """{"<layer>.weight": tensor, ...} for the trained set, in layer order."""
        return {n: p for n, p in self.named_parameters() if p.requires_grad}

    def extra_repr(self) -> str:
        return (
            f"parameterization={self.parameterization.value}, activation={self.activation.value}, "
            f"d={self.d}, width={self.width}, depth={self.depth}, out={self.out}, "
            f"trained={sorted(self.trained)}"
        )
