"""The structured empirical NTK of a :class:`overparam.models.ResNet`.

The per-layer Hadamard rule of :mod:`overparam.ntk.structured` holds unchanged inside a residual
network: for a layer u = a W h, df/dW = a g h^T with g = df/du, so its NTK contribution is
(a^2 H H'^T) ⊙ (G G'^T). Only the backward recursion for G changes, because the gradient reaches
h_{l-1} through the skip as well as through the branch [jacot-2018, Section 4; novak-2020,
"structured derivatives"]:

allen-zhu  (g_l = h_{l-1} + tau W_l h_{l-1}, h_l = relu(g_l))  [allen-zhu-2019, ResNet extension]
    G_l = df/dg_l = df/dh_l ⊙ relu'(g_l),   factor (tau h_{l-1}, G_l),
    df/dh_{l-1} = G_l + tau G_l W_l.

du  (x^(h) = x^(h-1) + s sigma(z_h), z_h = W^(h) x^(h-1), s = c_res / (H sqrt(m)))
    [du-2019-deep, Section 6]
    G_h = df/dz_h = df/dx^(h) ⊙ s sigma'(z_h),   factor (x^(h-1), G_h),
    df/dx^(h-1) = df/dx^(h) + G_h W^(h).

The first layer (A, or W^(1)) and the readout (B, or a) are ordinary dense layers.
"""

from __future__ import annotations

import torch

from overparam.models.activations import torch_derivative
from overparam.ntk.structured import LayerFactors


@torch.no_grad()
def resnet_factors(model, X: torch.Tensor) -> list[LayerFactors]:
    """LayerFactors of every trained layer of a :class:`overparam.models.ResNet`.

    Args:
        model: the ResNet. X: (n, d) inputs.

    Returns:
        One :class:`LayerFactors` per trained layer, in layer order; G is (k, n, fan_out).
    """
    layers = list(model.layers)
    specs = model.specs
    _, pre, hidden = model(X, return_hidden=True)
    inputs = [X, *hidden]  # inputs[i] is the input of layers[i]
    dsigma = torch_derivative(model.activation)
    k, n = specs[-1].fan_out, X.shape[0]
    eye = torch.eye(k, dtype=X.dtype, device=X.device)
    G = eye[:, None, :].expand(k, n, k)  # d f_a / d f = e_a
    out = layers[-1]
    factors: list[LayerFactors] = []
    if out.spec.name in model.trained:
        factors.append(LayerFactors(out.spec.name, inputs[-1] * out.spec.multiplier, 0.0, G))
    dh = (G @ out.weight) * out.spec.multiplier  # df/dh_L or df/dx^(H): (k, n, m)
    for idx in range(len(layers) - 2, -1, -1):
        if not any(s.name in model.trained for s in specs[: idx + 1]):
            break
        layer, s = layers[idx], specs[idx]
        if model.form == "allen-zhu":
            G = dh * dsigma(pre[idx])  # df/dg_l (g_0 = A x for the input layer)
            if s.name in model.trained:
                factors.append(LayerFactors(s.name, inputs[idx] * s.multiplier, 0.0, G))
            if idx > 0:
                dh = G + (G @ layer.weight) * s.multiplier
        else:
            G = dh * (dsigma(pre[idx]) * s.post_scale)  # df/dz_h
            if s.name in model.trained:
                factors.append(LayerFactors(s.name, inputs[idx] * s.multiplier, 0.0, G))
            if idx > 0:
                dh = dh + (G @ layer.weight) * s.multiplier
    factors.reverse()
    return factors
