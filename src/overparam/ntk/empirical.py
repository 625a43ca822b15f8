"""The empirical neural tangent kernel Theta_ij = <df(x_i)/dtheta, df(x_j)/dtheta> over the
model's trained parameters [jacot-2018, Section 4].

Methods (:class:`Method`), tested against each other:

- ``auto`` (default): ``structured`` when the model's class has a rule, else ``generic``.
- ``structured``: per-layer Hadamard products of two n x n Gram matrices for overparam's own
  networks (see :mod:`overparam.ntk.structured`); costs about one forward pass, one backward
  recursion per output and 2 Gram products per trained layer. Prefer it whenever the model has
  a rule; asking for it on a model without one is an error.
- ``generic``: any sample-wise ``torch.nn.Module`` (:mod:`overparam.ntk.generic`): the same
  factored Gram products for ``nn.Linear``, ``Dense`` and convolution layers, found by forward
  hooks and k backward passes, and ``torch.func`` per-sample Jacobians for every other trained
  parameter. Prefer it for models without a rule (close to ``structured`` in speed on dense
  networks).
- ``autograd``: the simple reference for any ``torch.nn.Module``: per-sample Jacobians of all
  trained parameters from ``torch.func`` (vmap over jacrev through ``functional_call``),
  contracted chunk by chunk so memory stays under ``max_memory``. Slow (it forms n x P
  Jacobians); use it as the truth every fast path is tested against.

Only trained parameters count, so for zou-gu / allen-zhu the kernel covers the hidden layers
only, as in their proofs.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import torch
from torch import nn
from torch.func import functional_call

from overparam.errors import ConfigError
from overparam.ntk.generic import (
    DEFAULT_MAX_MEMORY,
    check_no_sample_coupling,
    generic_ntk,
    layer_names,
    per_sample_jacobians,
)
from overparam.ntk.structured import gram_from_factors, rule_for


class Method(StrEnum):
    """How :func:`empirical` computes the kernel (see the module docstring)."""

    AUTO = "auto"
    STRUCTURED = "structured"
    GENERIC = "generic"
    AUTOGRAD = "autograd"


def resolve_method(model: nn.Module, method: Method | str) -> Method:
    """The method :func:`empirical` runs for ``model``: ``auto`` resolved to ``structured``
    (a rule exists for the model's class) or ``generic``; the others as given.

    Raises:
        ConfigError: an unknown method, or ``structured`` for a model without a rule.
    """
    try:
        method = Method(method)
    except ValueError:
        raise ConfigError("method", method, ", ".join(m.value for m in Method)) from None
    has_rule = rule_for(model) is not None
    if method is Method.AUTO:
        return Method.STRUCTURED if has_rule else Method.GENERIC
    if method is Method.STRUCTURED and not has_rule:
        raise ConfigError(
            "method",
            method.value,
            f"auto, generic or autograd for {type(model).__name__} (it has no structured rule)",
        )
    return method


def _check_inputs(model: nn.Module, X: torch.Tensor, X2: torch.Tensor | None) -> None:
    if not isinstance(X, torch.Tensor) or X.ndim < 2:
        raise ConfigError("X", getattr(X, "shape", type(X)), "a tensor of shape (n, ...)")
    if X2 is not None and X2.shape[1:] != X.shape[1:]:
        raise ConfigError("X2", tuple(X2.shape), f"a tensor of shape (n2, {tuple(X.shape[1:])})")
    if not any(p.requires_grad for p in model.parameters()):
        raise ConfigError("model", type(model).__name__, "a model with trained parameters")


def _squeeze(theta: torch.Tensor) -> torch.Tensor:
    return theta[:, :, 0, 0] if theta.ndim == 4 and theta.shape[-1] == 1 else theta


def empirical(
    model: nn.Module,
    X: torch.Tensor,
    X2: torch.Tensor | None = None,
    *,
    method: Method | str = Method.AUTO,
    per_layer: bool = False,
    trace: bool = False,
    max_memory: int | None = None,
    out: Any = None,
) -> Any:
    """The empirical NTK of ``model`` between X and X2 (X2=None: between X and itself).

    Args:
        model: any ``nn.Module`` mapping (n, ...) to (n, k) with no coupling between samples;
            its parameters with ``requires_grad`` are the ones differentiated.
        X: (n, ...) inputs. X2: (n2, ...) inputs, or None for X2 = X (then only the upper
            block triangle is computed).
        method: ``auto`` (default), ``structured``, ``generic`` or ``autograd`` (module
            docstring).
        per_layer: also return each layer's contribution (they sum to the total).
        trace: return the trace over outputs sum_a Theta^{aa} (n, n2) instead of the k x k
            blocks (``generic`` computes it directly, about k times cheaper; the others trace
            the full kernel).
        max_memory: bytes allowed for Jacobian chunks / Gram blocks (default 2 GiB).
        out: optional preallocated tensor or NumPy memmap receiving the kernel, of shape
            (n, n2, k, k) ((n, n2) with ``trace``; structured and generic), for kernels larger
            than memory.

    Returns:
        Theta of shape (n, n2) for one output or with ``trace``, (n, n2, k, k) for k outputs;
        with ``per_layer``, ``(Theta, {layer_name: contribution})``. With ``out``, the kernel
        is ``out`` itself (a NumPy memmap stays one).

    Raises:
        ConfigError: an unknown method, ``structured`` for a model without a rule, bad X / X2,
            no trained parameters, a model that couples samples (BatchNorm in training mode) or
            is random (dropout in training mode), or ``out`` with ``trace`` for structured.
    """
    method = resolve_method(model, method)
    _check_inputs(model, X, X2)
    budget = max_memory or DEFAULT_MAX_MEMORY
    if method is Method.STRUCTURED:
        if out is not None and trace:
            raise ConfigError("out", "given with trace=True", "out=None with trace for structured")
        rule = rule_for(model)
        assert rule is not None  # resolve_method returns structured only when a rule exists
        f1 = rule(model, X)
        f2 = None if X2 is None else rule(model, X2)
        n2 = X.shape[0] if X2 is None else X2.shape[0]
        k = f1[0].G.shape[0]
        bytes_per_row = X.element_size() * (n2 * k * k * (3 + len(f1) * per_layer))
        block = max(1, min(max(X.shape[0], n2), budget // max(bytes_per_row, 1)))
        theta, parts = gram_from_factors(f1, f2, per_layer=per_layer, block=block, out=out)
    elif method is Method.GENERIC:
        theta, parts = generic_ntk(
            model, X, X2, trace=trace, per_layer=per_layer, max_memory=budget, out=out
        )
        trace = False  # already traced
    else:
        check_no_sample_coupling(model)
        theta, parts = _autograd(model, X, X2, per_layer=per_layer, budget=budget)
    if trace:
        theta = _trace(theta)
        parts = {name: _trace(p) for name, p in parts.items()}
    if out is not None and method is Method.AUTOGRAD:
        _write_all(out, theta)
        theta = out
    if not isinstance(theta, torch.Tensor):
        return (theta, parts) if per_layer else theta
    theta = _squeeze(theta)
    if per_layer:
        return theta, {name: _squeeze(p) for name, p in parts.items()}
    return theta


def _trace(theta: torch.Tensor) -> torch.Tensor:
    """(n, n2, k, k) -> (n, n2): sum over a of Theta^{aa}."""
    return theta.diagonal(dim1=2, dim2=3).sum(-1)


def _write_all(out: Any, theta: torch.Tensor) -> None:
    if tuple(out.shape) != tuple(theta.shape):
        raise ConfigError("out", tuple(out.shape), f"an array of shape {tuple(theta.shape)}")
    if isinstance(out, torch.Tensor):
        out.copy_(theta)
    else:
        out[...] = theta.detach().cpu().numpy()


def _jacobians(model: nn.Module, X: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-sample Jacobians {param: (b, k, *param.shape)} by vmap over jacrev."""
    trained = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    frozen = {n: p.detach() for n, p in model.named_parameters() if not p.requires_grad}
    buffers = dict(model.named_buffers())

    def f_single(params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(model, {**frozen, **params, **buffers}, (x[None],)).reshape(-1)

    return per_sample_jacobians(f_single, trained, X)


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
    layer_of = layer_names(model)
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
