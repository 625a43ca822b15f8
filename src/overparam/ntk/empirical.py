"""The empirical neural tangent kernel Theta_ij = <df(x_i)/dtheta, df(x_j)/dtheta> over the
model's trained parameters [jacot-2018, Section 4].

Two methods, tested against each other:

- ``structured`` (default for overparam's own layers): per-layer Hadamard products of two n x n
  Gram matrices (see :mod:`overparam.ntk.structured`); costs about one forward pass, one
  backward recursion per output and 2 Gram products per trained layer. Prefer it whenever the
  model has a rule.
- ``autograd``: the generic reference for any ``torch.nn.Module``: per-sample Jacobians from
  ``torch.func`` (vmap over jacrev through ``functional_call``), contracted chunk by chunk so
  memory stays under ``max_memory``. Use it for models without a structured rule, and as the
  truth every structured rule is tested against.

Only trained parameters count, so for zou-gu / allen-zhu the kernel covers the hidden layers
only, as in their proofs.
"""

from __future__ import annotations

import warnings
from enum import StrEnum

import torch
from torch import nn
from torch.func import functional_call, jacrev, vmap

from overparam.errors import ConfigError
from overparam.ntk.structured import gram_from_factors, rule_for

# Default memory for Jacobian chunks / Gram blocks when max_memory is not given.
DEFAULT_MAX_MEMORY = 2 * 2**30


class Method(StrEnum):
    """How :func:`empirical` computes the kernel (see the module docstring)."""

    STRUCTURED = "structured"
    AUTOGRAD = "autograd"


def _check_inputs(model: nn.Module, X: torch.Tensor, X2: torch.Tensor | None) -> None:
    if not isinstance(X, torch.Tensor) or X.ndim < 2:
        raise ConfigError("X", getattr(X, "shape", type(X)), "a tensor of shape (n, ...)")
    if X2 is not None and X2.shape[1:] != X.shape[1:]:
        raise ConfigError("X2", tuple(X2.shape), f"a tensor of shape (n2, {tuple(X.shape[1:])})")
    if not any(p.requires_grad for p in model.parameters()):
        raise ConfigError("model", type(model).__name__, "a model with trained parameters")


def _squeeze(theta: torch.Tensor) -> torch.Tensor:
    return theta[:, :, 0, 0] if theta.shape[-1] == 1 else theta


def empirical(
    model: nn.Module,
    X: torch.Tensor,
    X2: torch.Tensor | None = None,
    *,
    method: Method | str = Method.STRUCTURED,
    per_layer: bool = False,
    max_memory: int | None = None,
    out=None,
) -> torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The empirical NTK of ``model`` between X and X2 (X2=None: between X and itself).

    Args:
        model: any ``nn.Module`` mapping (n, ...) to (n, k); its parameters with
            ``requires_grad`` are the ones differentiated.
        X: (n, ...) inputs. X2: (n2, ...) inputs, or None for X2 = X (then only the upper
            block triangle is computed).
        method: ``structured`` or ``autograd``; ``structured`` on a model without a rule falls
            back to ``autograd`` with a warning.
        per_layer: also return each layer's contribution (they sum to the total).
        max_memory: bytes allowed for Jacobian chunks / Gram blocks (default 2 GiB).
        out: optional preallocated (n, n2, k, k) tensor or NumPy memmap receiving the kernel
            (structured only), for kernels larger than memory.

    Returns:
        Theta of shape (n, n2) for one output, (n, n2, k, k) for k outputs; with
        ``per_layer``, ``(Theta, {layer_name: contribution})``.
    """
    try:
        method = Method(method)
    except ValueError:
        raise ConfigError("method", method, ", ".join(m.value for m in Method)) from None
    _check_inputs(model, X, X2)
    budget = max_memory or DEFAULT_MAX_MEMORY
    if method is Method.STRUCTURED:
        rule = rule_for(model)
        if rule is None:
            warnings.warn(
                f"no structured NTK rule for {type(model).__name__}; using method='autograd'",
                stacklevel=2,
            )
            method = Method.AUTOGRAD
    if method is Method.STRUCTURED:
        f1 = rule(model, X)
        f2 = None if X2 is None else rule(model, X2)
        n2 = X.shape[0] if X2 is None else X2.shape[0]
        k = f1[0].G.shape[0]
        bytes_per_row = X.element_size() * (n2 * k * k * (3 + len(f1) * per_layer))
        block = max(1, min(max(X.shape[0], n2), budget // max(bytes_per_row, 1)))
        theta, parts = gram_from_factors(f1, f2, per_layer=per_layer, block=block, out=out)
    else:
        theta, parts = _autograd(model, X, X2, per_layer=per_layer, budget=budget)
    if not isinstance(theta, torch.Tensor):
        return (theta, parts) if per_layer else theta
    theta = _squeeze(theta)
    if per_layer:
        return theta, {name: _squeeze(p) for name, p in parts.items()}
    return theta


def _layer_of(model: nn.Module) -> dict[str, str]:
    names = getattr(model, "parameter_layers", None)
    if callable(names):
        return names()
    return {n: n.rsplit(".", 1)[0] for n, _ in model.named_parameters()}


def _jacobians(model: nn.Module, X: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-sample Jacobians {param: (b, k, *param.shape)} by vmap over jacrev."""
    trained = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    frozen = {n: p.detach() for n, p in model.named_parameters() if not p.requires_grad}
    buffers = dict(model.named_buffers())

    def f_single(params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(model, {**frozen, **params, **buffers}, (x[None],))[0]

    return vmap(jacrev(f_single), in_dims=(None, 0))(trained, X)


def _autograd(
    model: nn.Module, X: torch.Tensor, X2: torch.Tensor | None, *, per_layer: bool, budget: int
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Theta (n, n2, k, k) from Jacobians computed in chunks of samples."""
    X2_ = X if X2 is None else X2
    n, n2 = X.shape[0], X2_.shape[0]
    with torch.no_grad():
        k = model(X[:1]).shape[-1]
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    chunk = max(1, int(budget // (2 * 4 * X.element_size() * k * n_params)))
    layer_of = _layer_of(model)
    theta = torch.zeros(n, n2, k, k, dtype=X.dtype, device=X.device)
    parts: dict[str, torch.Tensor] = {}
    for i in range(0, n, chunk):
        J1 = _jacobians(model, X[i : i + chunk])
        for j in range(0, n2, chunk):
            J2 = J1 if (X2 is None and i == j) else _jacobians(model, X2_[j : j + chunk])
            for name, a in J1.items():
                b = J2[name]
                contrib = torch.einsum("iap,jbp->ijab", a.flatten(2), b.flatten(2))
                theta[i : i + chunk, j : j + chunk] += contrib
                if per_layer:
                    key = layer_of.get(name, name)
                    if key not in parts:
                        parts[key] = torch.zeros_like(theta)
                    parts[key][i : i + chunk, j : j + chunk] += contrib
    return theta, parts
