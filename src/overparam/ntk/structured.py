"""The structured empirical NTK: per-layer Hadamard products of two Gram matrices.

For a dense layer z = a W h + c b inside a network f, df/dW = a g h^T with g = df/dz, so

    <df(x)/dW, df(x')/dW> + <df(x)/db, df(x')/db> = (a^2 <h, h'> + c^2) * <g, g'>,

and the NTK [jacot-2018] of the trained layers is
Theta(x, x') = sum_l (a_l^2 H_l H_l'^T + c_l^2) ⊙ (G_l G_l'^T), with H_l the layer's inputs and
G_l the per-sample gradients of the output with respect to its pre-activations. H comes from one
batched forward pass and G from one backward recursion for all k outputs at once; no per-sample
Jacobian (n x P) is ever formed [novak-2020, "structured derivatives"].
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from overparam.models.activations import torch_derivative

if TYPE_CHECKING:
    from overparam.models.fc import FullyConnected


@dataclass(frozen=True)
class LayerFactors:
    """One trained dense layer's factors for n inputs.

    Attributes:
        name: the layer's name (the paper's symbol).
        H: (n, fan_in) layer inputs, already multiplied by the forward multiplier a_l.
        bias_sq: c_l^2 if the layer has a trained bias, else 0.
        G: (k, n, fan_out) gradients of each output with respect to z_l.
    """

    name: str
    H: torch.Tensor
    bias_sq: float
    G: torch.Tensor


# A rule receives an instance of the model class it is registered for (hence Any, not nn.Module).
FactorFn = Callable[[Any, torch.Tensor], list[LayerFactors]]

# Registry: model class -> function returning the LayerFactors of its trained layers.
STRUCTURED_RULES: dict[type, FactorFn] = {}


def register_rule(model_type: type, fn: FactorFn) -> None:
    """Register the structured rule of a model class (later architectures add theirs)."""
    STRUCTURED_RULES[model_type] = fn


def rule_for(model: nn.Module) -> FactorFn | None:
    for cls in type(model).__mro__:
        if cls in STRUCTURED_RULES:
            return STRUCTURED_RULES[cls]
    return None


@torch.no_grad()
def dense_chain_factors(model: FullyConnected, X: torch.Tensor) -> list[LayerFactors]:
    """Factors of a :class:`overparam.models.FullyConnected` (any parameterization).

    Backward recursion, for all k outputs at once: G_last = e_a,
    dF/dh_l = a_{l+1} G_{l+1} W_{l+1}, G_l = dF/dh_l ⊙ s_l sigma'(z_l).
    """
    layers = model.dense_layers()
    dsigma = torch_derivative(model.activation)
    inputs, pre = [], []
    h = X
    for layer in layers:
        s = layer.spec
        inputs.append(h)
        z = layer(h)
        pre.append(z)
        h = model.sigma(z) * s.post_scale if s.activation else z
    k, n = layers[-1].spec.fan_out, X.shape[0]
    eye = torch.eye(k, dtype=X.dtype, device=X.device)
    G = eye[:, None, :].expand(k, n, k)  # d f_a / d z_last = e_a
    factors: list[LayerFactors] = []
    for idx in range(len(layers) - 1, -1, -1):
        s = layers[idx].spec
        if s.name in model.trained:
            bias_sq = s.bias_multiplier**2 if s.bias else 0.0
            factors.append(LayerFactors(s.name, inputs[idx] * s.multiplier, bias_sq, G))
        if idx == 0 or not any(sp.name in model.trained for sp in model.specs[:idx]):
            break
        dh = (G @ layers[idx].weight) * s.multiplier  # (k, n, fan_in)
        prev = layers[idx - 1].spec
        G = dh * (dsigma(pre[idx - 1]) * prev.post_scale)
    factors.reverse()
    return factors


def _block_gram(
    f1: list[LayerFactors], f2: list[LayerFactors], rows: slice, cols: slice, per_layer: bool
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Theta[rows, cols] as (b1, b2, k, k) plus per-layer parts."""
    total: torch.Tensor | None = None
    parts: dict[str, torch.Tensor] = {}
    for a, b in zip(f1, f2, strict=True):
        hh = a.H[rows] @ b.H[cols].T
        if a.bias_sq:
            hh = hh + a.bias_sq
        ga, gb = a.G[:, rows], b.G[:, cols]
        k, b1, m = ga.shape
        b2 = gb.shape[1]
        if k == 1:
            contrib = (hh * (ga[0] @ gb[0].T))[:, :, None, None]
        else:
            gg = (ga.reshape(k * b1, m) @ gb.reshape(k * b2, m).T).reshape(k, b1, k, b2)
            contrib = hh[:, :, None, None] * gg.permute(1, 3, 0, 2)
        total = contrib if total is None else total + contrib
        if per_layer:
            parts[a.name] = contrib
    assert total is not None, "callers pass at least one layer's factors"
    return total, parts


def _put(target, rows: slice, cols: slice, blk: torch.Tensor) -> None:
    """Write a block into a torch tensor or a NumPy (memory-mapped) array."""
    if isinstance(target, torch.Tensor):
        target[rows, cols] = blk.to(target.dtype)
    else:
        target[rows, cols] = blk.detach().cpu().numpy()


def gram_from_factors(
    f1: list[LayerFactors],
    f2: list[LayerFactors] | None,
    *,
    per_layer: bool = False,
    block: int | None = None,
    out=None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Assemble Theta (n1, n2, k, k) from factors, in row/column blocks of ``block``.

    With ``f2=None`` the kernel is symmetric: only blocks on or above the diagonal are
    computed and the rest mirrored, halving the Gram products. ``out`` may be a preallocated
    (or memory-mapped) tensor that receives the total.
    """
    sym = f2 is None
    f2 = f1 if f2 is None else f2
    n1, n2 = f1[0].H.shape[0], f2[0].H.shape[0]
    k = f1[0].G.shape[0]
    like = f1[0].H
    total = (
        out if out is not None else torch.empty(n1, n2, k, k, dtype=like.dtype, device=like.device)
    )
    parts = (
        {a.name: torch.empty(n1, n2, k, k, dtype=like.dtype, device=like.device) for a in f1}
        if per_layer
        else {}
    )
    b = max(1, block or max(n1, n2))
    for i in range(0, n1, b):
        rows = slice(i, min(i + b, n1))
        for j in range(i if sym else 0, n2, b):
            cols = slice(j, min(j + b, n2))
            blk, blk_parts = _block_gram(f1, f2, rows, cols, per_layer)
            _put(total, rows, cols, blk)
            for name, part in blk_parts.items():
                parts[name][rows, cols] = part
            if sym and j != i:
                _put(total, cols, rows, blk.permute(1, 0, 3, 2))
                for name, part in blk_parts.items():
                    parts[name][cols, rows] = part.permute(1, 0, 3, 2)
    return total, parts
