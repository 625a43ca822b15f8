"""Inputs on the unit sphere with last coordinate mu and a minimum separation.

[zou-gu-2019, Assumption 3.1]: ||x_i|| = 1 and (x_i)_d = mu.
[zou-gu-2019, Assumption 3.2] / [allen-zhu-2019, Assumption 2.1]: ||x_i - x_j|| >= phi.

A point is x = (r u, mu) with r = sqrt(1 - mu^2) and u uniform on the unit sphere of R^(d-1),
so ||x_i - x_j|| = r ||u_i - u_j||.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import special

from overparam.data.dataset import Dataset
from overparam.data.dataset import min_separation as measure_separation
from overparam.data.labels import make_labels, parse_labels
from overparam.errors import ConfigError

# Candidates tried per requested point before a separated set is declared out of reach.
_ATTEMPTS_PER_POINT = 200


def _streams(seed: int) -> tuple[torch.Generator, torch.Generator]:
    """Independent generators for the inputs and the labels, derived from one seed."""
    a, b = np.random.SeedSequence(int(seed)).generate_state(2)
    return torch.Generator().manual_seed(int(a)), torch.Generator().manual_seed(int(b))


def _check_common(n: int, d: int, mu: float, k: int) -> None:
    if not isinstance(n, int) or n < 1:
        raise ConfigError("n", n, "an integer >= 1")
    if not isinstance(d, int) or d < 2:
        raise ConfigError("d", d, "an integer >= 2 (the last coordinate is mu)")
    if not 0.0 < mu < 1.0:
        raise ConfigError("mu", mu, "a number in the open interval (0, 1)")
    if not isinstance(k, int) or k < 1:
        raise ConfigError("k", k, "an integer >= 1")


def cap_fraction(angle: float, ambient: int) -> float:
    """Fraction of the unit sphere of R^ambient inside a cap of angular radius ``angle``."""
    if angle >= math.pi:
        return 1.0
    if ambient == 1:
        return 0.5 if angle > 0 else 0.0
    s = math.sin(angle) ** 2
    half = 0.5 * float(special.betainc((ambient - 1) / 2.0, 0.5, s))
    return half if angle <= math.pi / 2 else 1.0 - half


def max_separated_points(d: int, mu: float, separation: float) -> float:
    """Upper bound on how many points x = (r u, mu) can be ``separation`` apart: the caps of
    angular radius theta/2 around each u are disjoint, theta = 2 arcsin(separation / (2 r))."""
    r = math.sqrt(1.0 - mu * mu)
    chord = separation / r
    if chord > 2.0:
        return 1.0
    theta = 2.0 * math.asin(chord / 2.0)
    frac = cap_fraction(theta / 2.0, d - 1)
    return math.inf if frac == 0.0 else 1.0 / frac


def _directions(n: int, dim: int, gen: torch.Generator) -> torch.Tensor:
    u = torch.randn(n, dim, generator=gen, dtype=torch.float64)
    return u / u.norm(dim=1, keepdim=True)


def _separated_directions(
    n: int, dim: int, chord: float, gen: torch.Generator
) -> torch.Tensor | None:
    """Greedy rejection sampling of n unit vectors pairwise >= chord apart, or None."""
    accepted = torch.empty(n, dim, dtype=torch.float64)
    count, tried, budget = 0, 0, _ATTEMPTS_PER_POINT * n
    while count < n and tried < budget:
        cand = _directions(min(4 * (n - count) + 16, 4096), dim, gen)
        tried += cand.shape[0]
        for u in cand:
            # distances, not squared distances: chord^2 underflows to 0 for a tiny chord, and
            # "< 0" would then accept an exact duplicate (d = 2, where u is +-1)
            if count and (2.0 - 2.0 * (accepted[:count] @ u)).clamp_min(0.0).min().sqrt() < chord:
                continue
            accepted[count] = u
            count += 1
            if count == n:
                break
    return accepted if count == n else None


def _assemble(u: torch.Tensor, mu: float) -> torch.Tensor:
    r = math.sqrt(1.0 - mu * mu)
    return torch.cat([r * u, torch.full((u.shape[0], 1), mu, dtype=torch.float64)], dim=1)


def sphere(
    n: int,
    d: int,
    *,
    mu: float = 0.5,
    min_separation: float = 0.0,
    labels: str = "gaussian",
    k: int = 1,
    seed: int = 0,
) -> Dataset:
    """n unit-norm inputs in R^d with last coordinate mu, pairwise >= min_separation apart.

    Args:
        n, d: number of points and dimension (d >= 2). mu: the last coordinate, in (0, 1).
        min_separation: the phi of [zou-gu-2019, Assumption 3.2] to enforce (0: none).
        labels: see :class:`overparam.data.labels.Labels`. k: output dimension.
        seed: one seed; inputs and labels use independent streams derived from it.

    Raises:
        ConfigError: bad arguments, or a separation no n points can reach in this dimension
            (checked by a cap-packing bound first, then by a bounded number of attempts).
    """
    _check_common(n, d, mu, k)
    parse_labels(labels)
    if not 0.0 <= min_separation < 2.0:
        raise ConfigError("min_separation", min_separation, "a number in [0, 2)")
    x_gen, y_gen = _streams(seed)
    r = math.sqrt(1.0 - mu * mu)
    if min_separation > 0.0:
        bound = max_separated_points(d, mu, min_separation)
        if n > bound:
            raise ConfigError(
                "min_separation",
                min_separation,
                f"at most {bound:.3g} points fit at this separation on the sphere with d={d}, "
                f"mu={mu}; lower min_separation or n, or raise d",
            )
        u = _separated_directions(n, d - 1, min_separation / r, x_gen)
        if u is None:
            raise ConfigError(
                "min_separation",
                min_separation,
                f"a smaller value: {n} points {min_separation}-separated were not found in "
                f"{_ATTEMPTS_PER_POINT * n} random draws (d={d}, mu={mu})",
            )
    else:
        u = _directions(n, d - 1, x_gen)
    X = _assemble(u, mu)
    y, classes = make_labels(X, labels, k, y_gen)
    return Dataset(
        X,
        y,
        measure_separation(X),
        {
            "generator": "sphere",
            "n": n,
            "d": d,
            "mu": mu,
            "min_separation": min_separation,
            "labels": str(labels),
            "k": k,
            "seed": seed,
        },
        classes,
    )


def close_pair(
    n: int,
    d: int,
    *,
    phi: float,
    mu: float = 0.5,
    min_separation: float = 0.0,
    labels: str = "gaussian",
    k: int = 1,
    seed: int = 0,
) -> Dataset:
    """Like :func:`sphere`, with x_1 moved to distance exactly ``phi`` from x_0 (on the same
    mu-slice), so the separation phi can be swept while the rest of the data stays put.

    The measured ``separation`` is the min over phi, the other pairs and x_1's distances to
    x_2..x_{n-1}; pass ``min_separation >= 2 * phi`` to make it exactly phi (then
    ||x_1 - x_j|| >= ||x_0 - x_j|| - phi >= phi by the triangle inequality; with
    min_separation = phi the moved x_1 can land next to another point).
    """
    _check_common(n, d, mu, k)
    if n < 2:
        raise ConfigError("n", n, "an integer >= 2 for a close pair")
    r = math.sqrt(1.0 - mu * mu)
    if not 0.0 < phi <= 2.0 * r:
        raise ConfigError("phi", phi, f"a number in (0, {2 * r:.6g}] = (0, 2 sqrt(1 - mu^2)]")
    base = sphere(n, d, mu=mu, min_separation=min_separation, labels=labels, k=k, seed=seed)
    gen = torch.Generator().manual_seed(int(np.random.SeedSequence(int(seed)).generate_state(3)[2]))
    u0 = base.X[0, :-1] / r
    v = torch.randn(d - 1, generator=gen, dtype=torch.float64)
    v = v - (v @ u0) * u0
    v = v / v.norm()
    theta = 2.0 * math.asin(min(1.0, phi / (2.0 * r)))
    u1 = math.cos(theta) * u0 + math.sin(theta) * v
    X = base.X.clone()
    X[1] = _assemble(u1[None], mu)[0]
    provenance = {**base.provenance, "generator": "close_pair", "phi": phi}
    return Dataset(X, base.y, measure_separation(X), provenance, base.classes)
