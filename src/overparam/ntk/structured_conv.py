"""The structured empirical NTK of a :class:`overparam.models.CNN`: patch Gram products.

A conv layer z_p = a W phi_p(h) shares W over the p positions, so df/dW = a sum_p g_p phi_p^T
(g_p = df/dz_p) and its NTK contribution sums over *pairs* of positions [du-2019-deep, Section 7;
jacot-2018]:

    Theta_W(x, x') = a^2 sum_{p, p'} <phi_p(h), phi_p'(h')> <g_p, g'_p'>
                   = < sum_p g_p (a phi_p)^T , sum_p' g'_p' (a phi'_p')^T >_F.

The second form contracts the patches with their gradients first: one (m x q C) matrix
J = sum_p g_p (a phi_p)^T per sample and output (a patch-weighted outer product, one batched
einsum), then one Gram product J J'^T -- O(n k p m q C) + O(n^2 k^2 m q C), against
O(n^2 p^2 (m + q C)) for the position-pair sum. It is returned as a :class:`LayerFactors` with
H = 1 (n, 1) and G = vec(J) (k, n, m q C), so :func:`overparam.ntk.structured.gram_from_factors`
assembles it unchanged. The readout (a dense layer on vec(h)) uses the ordinary (H, G) factors.

G is found by the backward recursion through the patch operator's adjoint (every patch entry
sent back to the position it was read from) and, for du's convolutional ResNet, through the
skip: df/dx^(h-1) = df/dx^(h) + phi^T(a G_h W^(h)).
"""

from __future__ import annotations

import torch

from overparam.models.activations import torch_derivative
from overparam.models.cnn import extract_patches, patch_adjoint
from overparam.ntk.structured import LayerFactors


@torch.no_grad()
def conv_factors(model, X: torch.Tensor) -> list[LayerFactors]:
    """LayerFactors of every trained layer of a :class:`overparam.models.CNN`.

    Args:
        model: the CNN. X: (n, C, *spatial) or (n, C * p) inputs.

    Returns:
        One :class:`LayerFactors` per trained layer, in layer order. Conv layers: H = ones
        (n, 1), G = per-sample weight gradients (k, n, m q C); readout: H = vec(h) (n, p m),
        G = e_a (k, n, k).
    """
    layers = list(model.layers)
    specs = model.specs
    index = model.index
    n = X.shape[0]
    h = model.feature_map(X)
    maps, patches, pre = [], [], []
    for i, layer in enumerate(layers[:-1]):
        P = extract_patches(h, index)
        z = layer(P)
        maps.append(h)
        patches.append(P)
        pre.append(z)
        if model.form == "du" and i > 0:
            h = h + layer.spec.post_scale * model.sigma(z)
        else:
            h = model.sigma(z) * layer.spec.post_scale
    dsigma = torch_derivative(model.activation)
    out = layers[-1]
    k = out.spec.fan_out
    eye = torch.eye(k, dtype=X.dtype, device=X.device)
    factors: list[LayerFactors] = []
    if out.spec.name in model.trained:
        G = eye[:, None, :].expand(k, n, k)
        factors.append(LayerFactors(out.spec.name, h.reshape(n, -1) * out.spec.multiplier, 0.0, G))
    dh = (out.weight * out.spec.multiplier).reshape(k, *h.shape[1:])  # df_a / dh_L: (k, p, m)
    dh = dh[:, None].expand(k, n, *h.shape[1:])
    ones = torch.ones(n, 1, dtype=X.dtype, device=X.device)
    for idx in range(len(layers) - 2, -1, -1):
        if not any(s.name in model.trained for s in specs[: idx + 1]):
            break
        layer, s = layers[idx], specs[idx]
        G = dh * (dsigma(pre[idx]) * s.post_scale)  # df/dz: (k, n, p, m)
        if s.name in model.trained:
            J = torch.einsum("knpm,npc->knmc", G, patches[idx] * s.multiplier)
            factors.append(LayerFactors(s.name, ones, 0.0, J.reshape(k, n, -1)))
        if idx > 0:
            back = patch_adjoint((G @ layer.weight) * s.multiplier, index, maps[idx].shape[-1])
            dh = dh + back if model.form == "du" else back
    factors.reverse()
    return factors
