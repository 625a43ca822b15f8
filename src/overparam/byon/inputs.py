"""Checking a user's model and data once, at the boundary, and describing the run.

Shared by :func:`overparam.measure`, :func:`overparam.track` and :func:`overparam.width_sweep`:
every bad argument is a :class:`~overparam.errors.ConfigError` naming the field, the value and
what is allowed, before anything is trained.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from overparam.data.dataset import Dataset, min_separation
from overparam.errors import ConfigError
from overparam.probes import make_probes
from overparam.probes.base import Probe
from overparam.train.losses import Objective, make_objective

#: The probes a user's model gets by default: everything the lazy-regime proofs chain together
#: that needs no property of the papers' own architectures.
DEFAULT_PROBES: tuple[str, ...] = (
    "norms",
    "flips",
    "movement",
    "hidden_drift",
    "gradient_ratio",
    "semi_smoothness",
    "linearization",
    "ntk_drift",
)


def check_model(model: Any) -> nn.Module:
    """``model`` if it is an ``nn.Module`` with trained parameters."""
    if not isinstance(model, nn.Module):
        raise ConfigError("model", type(model).__name__, "a torch.nn.Module")
    if not any(p.requires_grad for p in model.parameters()):
        raise ConfigError("model", type(model).__name__, "a module with trained parameters")
    return model


def _param_dtype(model: nn.Module) -> torch.dtype | None:
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return None


def as_dataset(model: nn.Module, X: Any, y: Any | None) -> Dataset:
    """The run's :class:`~overparam.data.dataset.Dataset`: X (n, ...) and y (n, k) (or (n,),
    read as k = 1) checked against the model's dtype, device and output shape. Without y
    (a tracker measuring forward quantities only) the targets are zeros of the output's shape.
    The separation phi = min_{i != j} ||x_i - x_j|| is measured on the flattened inputs."""
    if not isinstance(X, torch.Tensor) or X.ndim < 2 or X.shape[0] < 1:
        raise ConfigError("X", getattr(X, "shape", type(X).__name__), "a tensor of shape (n, ...)")
    dtype = _param_dtype(model)
    if dtype is not None and X.dtype != dtype:
        raise ConfigError("X.dtype", str(X.dtype), f"the model's dtype {dtype} (X.to({dtype}))")
    device = next(model.parameters()).device
    if X.device != device:
        raise ConfigError("X.device", str(X.device), f"the model's device {device}")
    try:
        with torch.no_grad():
            f = model(X[:1])
    except Exception as e:  # the user's forward: name the field, keep torch's reason
        raise ConfigError("X", tuple(X.shape), f"inputs the model accepts ({e})") from e
    if not isinstance(f, torch.Tensor) or f.ndim != 2:
        raise ConfigError("model output", getattr(f, "shape", type(f).__name__), "shape (n, k)")
    n, k = X.shape[0], f.shape[1]
    if y is None:
        y = torch.zeros(n, k, dtype=X.dtype, device=X.device)
    if not isinstance(y, torch.Tensor):
        raise ConfigError("y", type(y).__name__, f"a tensor of shape ({n}, {k})")
    if y.ndim == 1:
        y = y[:, None]
    if y.shape != (n, k):
        raise ConfigError("y", tuple(y.shape), f"shape ({n}, {k}): n samples, the model's k")
    y = y.to(dtype=X.dtype, device=X.device)
    phi = min_separation(X.reshape(n, -1))
    return Dataset(X.detach(), y.detach(), phi, {"generator": "user"})


def objective_for(loss: str, reduction: str, k: int) -> Objective:
    """The objective ``loss`` with ``reduction`` (validated; see :mod:`overparam.train.losses`)."""
    return make_objective(loss, reduction, k)


def probes_for(probes: Sequence[str] | str, every: int | None) -> list[Probe]:
    """Probe objects from names / specs (``"all"`` or a list; see
    :func:`overparam.probes.make_probes`)."""
    if isinstance(probes, str):
        probes = [probes]
    return make_probes(list(probes), every=every)


def fingerprint(model: nn.Module, data: Dataset) -> str:
    """A digest of the model's class, parameter names, shapes and initial values and of the
    data: the same model, init and data give the same run (so a store keeps it once)."""
    h = hashlib.sha256(type(model).__qualname__.encode())
    for name, p in model.named_parameters():
        h.update(f"{name}{tuple(p.shape)}{p.requires_grad}".encode())
        h.update(p.detach().to(torch.float64).cpu().numpy().tobytes())
    for t in (data.X, data.y):
        h.update(t.detach().to(torch.float64).cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def describe(model: nn.Module, data: Dataset, **settings: Any) -> dict[str, Any]:
    """The config stored with a user's run: the model (class, parameter count, fingerprint),
    the data sizes and the training settings."""
    trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {
        "model": type(model).__qualname__,
        "parameters": int(trained),
        "fingerprint": fingerprint(model, data),
        "n": data.n,
        "k": data.k,
        "input_shape": list(data.X.shape[1:]),
        "device": str(data.X.device),
        "dtype": str(data.X.dtype).removeprefix("torch."),
        **settings,
    }
