"""The structured empirical NTK of a :class:`overparam.models.LinearGNN`.

The network is linear, so every gradient has a closed form in node-major notation
(Z_l = a_l S^T Z_{l-1} B_l^T, F = sum_{l'} a_{W_l'} Z_l' W_l'^T over the read-out layers l'):

    dF_{i,a} / dZ_l = sum_{l' >= l} [(S^T)^{l'-l}]_{i,:} (x) c_{l,l',a},
    c_{l,l',a} = a_{W_l'} W_l'[a] (a_l' B_l') ... (a_{l+1} B_{l+1})   (a vector in R^{m_l})

(read-outs: l' = H only for the plain GNN [xu-2021-gnn, Definition 1]; l' = l..H with skips
[xu-2021-gnn, skip-connection (multiscale) GNN]). Hence node i's gradient with respect to B_l is

    dF_{i,a} / dB_l = sum_{l'} c_{l,l',a} (x) a_l [(S^T)^{l'-l+1} Z_{l-1}]_{i,:},

and its NTK contribution [jacot-2018] is one Hadamard product (H H'^T) ⊙ (G G'^T) with
H = a_l (S^T)^{H-l+1} Z_{l-1} and G = c_{l,H} (the same for every node) when there is a single
read-out (plain GNN), and the Gram of the summed per-node gradients otherwise (returned as
H = 1, G = vec(J), as in :mod:`overparam.ntk.structured_conv`). A read-out W_l' contributes
(a_{W_l'}^2 Z_l' Z_l'^T) ⊙ (e_a e_b^T). For node-indicator inputs x (b, N), every factor is
x times the all-node factor, since f(x) = x F is linear in x.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from overparam.ntk.structured import LayerFactors

if TYPE_CHECKING:
    from overparam.models.gnn import LinearGNN


@torch.no_grad()
def gnn_factors(model: LinearGNN, X: torch.Tensor) -> list[LayerFactors]:
    """LayerFactors of every trained layer of a :class:`overparam.models.LinearGNN`.

    Args:
        model: the LinearGNN. X: (b, N) node indicator rows (or any weights over nodes).

    Returns:
        One :class:`LayerFactors` per trained layer, in layer order.
    """
    model(X[:1])  # validates the input shape
    _, Zs = model.propagate()
    St = model.S.T
    H = model.depth
    b = X.shape[0]
    k = model.out
    readouts, aggs = model.readouts, model.aggregations
    eye = torch.eye(k, dtype=X.dtype, device=X.device)
    e = eye[:, None, :].expand(k, b, k)
    by_name: dict[str, LayerFactors] = {}
    read_at = list(range(H + 1)) if model.skip else [H]
    for r, l in zip(readouts, read_at, strict=True):
        if r.spec.name in model.trained:
            by_name[r.spec.name] = LayerFactors(r.spec.name, X @ Zs[l] * r.spec.multiplier, 0.0, e)
    # terms[j] = (power of S^T, c (k, m_l)) of dF/dZ_l, walked from l = H down to 1
    terms = [(0, readouts[-1].weight * readouts[-1].spec.multiplier)]
    ones = torch.ones(b, 1, dtype=X.dtype, device=X.device)
    for l in range(H, 0, -1):
        B = aggs[l - 1]
        name, a = B.spec.name, B.spec.multiplier
        if name in model.trained:
            Z_prev = Zs[l - 1]
            if len(terms) == 1:
                power, c = terms[0]
                P = Z_prev
                for _ in range(power + 1):
                    P = St @ P
                G = c[:, None, :].expand(k, b, c.shape[1])
                by_name[name] = LayerFactors(name, X @ P * a, 0.0, G)
            else:
                J = torch.zeros((), dtype=X.dtype, device=X.device)
                P = Z_prev
                powers = {}
                for p in range(max(t[0] for t in terms) + 1):
                    P = St @ P
                    powers[p] = P
                for power, c in terms:
                    J = J + torch.einsum("ka,nc->knac", c, powers[power] * a)
                J = torch.einsum("bn,knac->kbac", X, J).reshape(k, b, -1)
                by_name[name] = LayerFactors(name, ones, 0.0, J)
        if l > 1 and not any(s.name in model.trained for s in model.specs[: l - 1]):
            break
        terms = [(p + 1, (c @ B.weight) * a) for p, c in terms]
        if model.skip:
            r = readouts[l - 1]
            terms.append((0, r.weight * r.spec.multiplier))
    return [by_name[s.name] for s in model.specs if s.name in by_name]
