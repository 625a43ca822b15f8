"""What every overparam network shares: a list of :class:`LayerSpec` dense layers drawn from the
paper's Gaussians, a trained set, and the names probes and kernels read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
from torch import nn

from overparam.errors import ConfigError
from overparam.models.parameterization import LayerSpec


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


class SpecNetwork(nn.Module):
    """Base of the networks whose weights are ``Dense(LayerSpec)`` layers in ``self.layers``.

    Subclasses set ``self.specs``, the sizes below, and call :meth:`build_layers` once in
    ``__init__``.
    """

    d: int  # input dimension (a GNN's: N, its inputs are node indicators)
    width: int  # m (a CNN's channels, a GNN's hidden m_l)
    depth: int  # the paper's L or H (see each subclass)
    out: int  # output dimension k
    specs: list[LayerSpec]
    layers: nn.ModuleList
    trained: set[str]

    def build_layers(
        self,
        trainable: str | Sequence[str] | None,
        default: str,
        seed: int,
        dtype: torch.dtype | str,
        device: str | torch.device,
    ) -> None:
        """Create the layers, draw them with ``seed``, cast, and freeze the untrained ones.

        The layers stay float64 until the draws are copied in, then one cast to ``dtype`` (a
        float64 network must not carry float32-rounded weights).
        """
        self.layers = nn.ModuleList(Dense(s) for s in self.specs).to(torch.float64)
        self.trained = resolve_trainable(self.specs, trainable, default)
        self.reset_parameters(seed)
        self.to(dtype=resolve_dtype(dtype), device=resolve_device(device))
        for layer in self.dense_layers():
            for p in layer.parameters():
                p.requires_grad_(layer.spec.name in self.trained)

    def dense_layers(self) -> list[Dense]:
        """``self.layers`` in order, typed as the :class:`Dense` layers they are (iterating an
        ``nn.ModuleList`` yields plain modules to a type checker)."""
        return [cast(Dense, layer) for layer in self.layers]

    @torch.no_grad()
    def reset_parameters(self, seed: int) -> None:
        """Draw every weight (and bias) from its paper's Gaussian with a CPU generator seeded
        by ``seed``, in float64, so a seed gives the same network on every device and dtype."""
        gen = torch.Generator().manual_seed(int(seed))
        for layer in self.dense_layers():
            s = layer.spec
            w = torch.randn(s.fan_out, s.fan_in, generator=gen, dtype=torch.float64) * s.std
            layer.weight.copy_(w)
            if layer.bias is not None:
                b = torch.randn(s.fan_out, generator=gen, dtype=torch.float64) * s.bias_std
                layer.bias.copy_(b)

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

    def paper_scales(self) -> dict[str, float]:
        """{trained parameter name: c} with W_eff = c W in the papers' units
        (:mod:`overparam.probes.context`): 1 here, the stored units (e.g. a residual branch's
        scale tau is part of the architecture, not of the weight, in [allen-zhu-2019]'s ResNet
        analysis); :class:`~overparam.models.FullyConnected` overrides it."""
        return {n: 1.0 for n, p in self.named_parameters() if p.requires_grad}

    def unit_hidden_norms(self) -> bool:
        """Whether every hidden vector's norm concentrates at ||x|| = 1 at init (the seed
        papers' normalization); False here: the probes measure the norms at init instead."""
        return False

    def trainable_parameters(self) -> dict[str, torch.Tensor]:
        """{"layers.<i>.weight": tensor, ...} for the trained set, in layer order."""
        return {n: p for n, p in self.named_parameters() if p.requires_grad}
