"""One-call summaries of a kernel (what the ``ntk`` command prints)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from overparam.data import sphere
from overparam.errors import require_int, require_seed
from overparam.models import FullyConnected, kernel_scale
from overparam.models.base import resolve_device, resolve_dtype
from overparam.ntk.empirical import empirical


def spectrum_summary(K: np.ndarray | torch.Tensor) -> dict[str, float]:
    """trace, lambda_min and lambda_max of a symmetric kernel (float64 eigensolver)."""
    K = K.detach().cpu().numpy() if isinstance(K, torch.Tensor) else np.asarray(K)
    if K.ndim == 4:  # (n, n, k, k) -> (n k, n k)
        n, _, k, _ = K.shape
        K = K.transpose(0, 2, 1, 3).reshape(n * k, n * k)
    eig = np.linalg.eigvalsh(K.astype(np.float64))
    return {"trace": float(np.trace(K)), "lambda_min": float(eig[0]), "lambda_max": float(eig[-1])}


def empirical_summary(
    *,
    n: int,
    d: int,
    width: int,
    depth: int,
    k: int = 1,
    parameterization: str = "ntk",
    activation: str = "relu",
    method: str = "structured",
    mu: float = 0.5,
    seed: int = 0,
    dtype: str = "float32",
    device: str = "cpu",
    normalize: bool = False,
) -> dict[str, Any]:
    """Build a network and sphere data, time the empirical NTK and summarize its spectrum."""
    for field, value in (("n", n), ("d", d), ("width", width), ("depth", depth), ("k", k)):
        require_int(field, value)
    require_seed("seed", seed)
    data = sphere(n, d, mu=mu, seed=seed)
    dev = resolve_device(device)
    model = FullyConnected(
        d,
        width,
        depth,
        k,
        parameterization=parameterization,
        activation=activation,
        dtype=dtype,
        device=dev,
        seed=seed + 1,
    )
    X = data.X.to(dtype=resolve_dtype(dtype), device=dev)
    start = time.perf_counter()
    theta = empirical(model, X, method=method)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    if normalize:
        theta = theta / kernel_scale(parameterization, width)
    return {
        "seconds": seconds,
        "shape": list(theta.shape),
        **spectrum_summary(theta),
        "method": str(method),
        "parameterization": str(parameterization),
    }
