"""Step sizes: each theorem's prescribed scale, and a measured stable step ("auto").

``theory_*`` return the paper's step size with its hidden constant set to ``constant``.
``auto_lr`` measures the top eigenvalue of the Gauss-Newton matrix
G = c * kappa * J^T J (J = df/dtheta over the trained parameters, c the reduction scale,
kappa the loss curvature bound) by power iteration on the n x n kernel J J^T — the empirical NTK
Theta of [jacot-2018] — with one vjp and one jvp per iteration, and returns 1 / lambda_max(G):
half of the 2 / lambda_max edge beyond which GD on the quadratic model diverges.
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import nn
from torch.func import functional_call, jvp, vjp

from overparam.errors import ConfigError
from overparam.train.losses import Objective


def theory_zou_gu_gd(k: int, depth: int, width: int, constant: float = 1.0) -> float:
    """eta = C k / (L^2 m)  [zou-gu-2019, Theorem 3.3]."""
    return constant * k / (depth**2 * width)


def theory_zou_gu_sgd(
    k: int, batch: int, phi: float, n: int, width: int, constant: float = 1.0
) -> float:
    """eta = C k B phi / (n^3 m log m)  [zou-gu-2019, Theorem 3.8]."""
    return constant * k * batch * phi / (n**3 * width * math.log(width))


def theory_du_deep(lambda_min_k: float, n: int, depth: int, constant: float = 1.0) -> float:
    """eta = C lambda_min(K^(H)) / (n^2 2^(H))  [du-2019-deep, Theorem 5.1], with the 2^O(H)
    factor taken as 2^H."""
    return constant * lambda_min_k / (n**2 * 2.0**depth)


# Up to this many kernel rows (n * k), lambda_max is computed exactly from the structured NTK.
EXACT_MAX_ROWS = 2048


def top_kernel_eigenvalue(
    model: nn.Module, X: torch.Tensor, *, iters: int = 30, seed: int = 0, tol: float = 1e-4
) -> float:
    """lambda_max of the empirical NTK J J^T (n*k x n*k).

    For a model with a structured NTK rule and n*k <= ``EXACT_MAX_ROWS``, exactly: the kernel
    from :func:`overparam.ntk.empirical` and a float64 symmetric eigensolver. Otherwise by power
    iteration with one vjp and one jvp per step, never forming J.
    """
    from overparam.ntk import empirical
    from overparam.ntk.structured import rule_for

    if rule_for(model) is not None:
        with torch.no_grad():
            k = int(model(X[:1]).shape[-1])
        if X.shape[0] * k <= EXACT_MAX_ROWS:
            theta = empirical(model, X).detach().to(torch.float64)
            if theta.ndim == 4:
                n = theta.shape[0]
                theta = theta.permute(0, 2, 1, 3).reshape(n * k, n * k)
            return float(torch.linalg.eigvalsh(theta.cpu())[-1])
    return _power_iteration(model, X, iters=iters, seed=seed, tol=tol)


def _power_iteration(
    model: nn.Module, X: torch.Tensor, *, iters: int, seed: int, tol: float
) -> float:
    trained = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    frozen = {n: p.detach() for n, p in model.named_parameters() if not p.requires_grad}

    def f(params: dict[str, torch.Tensor]) -> torch.Tensor:
        return functional_call(model, {**frozen, **params}, (X,))

    # [:2]: vjp / jvp are annotated as a pair or (has_aux=True) a triple; they are pairs here
    out, pullback = vjp(f, trained)[:2]
    gen = torch.Generator().manual_seed(seed)
    v = torch.randn(out.shape, generator=gen, dtype=torch.float64).to(out)
    v = v / v.norm()
    lam = 0.0
    for _ in range(iters):
        (w,) = pullback(v)
        with warnings.catch_warnings():
            # torch loads its forward-AD decompositions through torch.jit.script on the first
            # jvp of a process and warns DeprecationWarning: harmless, but an error under the
            # test suite's warnings-as-errors (lr="auto" is the default of every run).
            warnings.filterwarnings(
                "ignore", message=".*torch.jit.script.*", category=DeprecationWarning
            )
            _, jw = jvp(f, (trained,), (w,))[:2]
        new = float((v * jw).sum())
        v = jw / jw.norm().clamp_min(1e-30)
        if abs(new - lam) <= tol * abs(new):
            lam = new
            break
        lam = new
    return lam


def auto_lr(model: nn.Module, X: torch.Tensor, objective: Objective, n: int | None = None) -> float:
    """1 / lambda_max(Gauss-Newton) = 1 / (scale * curvature * lambda_max(Theta)).

    Raises:
        ConfigError: the kernel is zero (e.g. every relu unit is dead at init), so no step
            size follows from it.
    """
    n = X.shape[0] if n is None else n
    lam = top_kernel_eigenvalue(model, X)
    if not (math.isfinite(lam) and lam > 0):
        raise ConfigError(
            "lr", "auto", f"a number: the NTK at init has lambda_max={lam:.3g} (dead network?)"
        )
    return 1.0 / (objective.scale(n) * objective.curvature * lam)
