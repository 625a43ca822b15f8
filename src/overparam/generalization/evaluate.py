"""Measured test error against the two bounds of Cao & Gu, for one data set and noise level.

Puts :mod:`~overparam.generalization.online` (Algorithm 2's expected 0-1 test error),
:mod:`~overparam.generalization.bound` (the NTK bound of [cao-gu-2019, Corollary 3.10], from the
analytic kernel and from the empirical kernel at the run's width) and
:mod:`~overparam.generalization.ntrf` (the NTRF training loss of [cao-gu-2019, Theorem 3.3])
side by side. The study and ``overparam generalization`` both go through here.

Label-independent work (the kernels' Cholesky factors, the NTRF features) is done once per
(inputs, initialization) by :func:`prepare` and reused by :func:`measure_labels` for every label
vector, e.g. every noise level of digits (same split, same X).

The NTRF radius follows the corollary's choice R = O~(sqrt(y^T Theta^-1 y)): R is
``radius_factor`` * sqrt(y^T Theta^-1 y) with the empirical Theta at the run's width (analytic
when the empirical kernel is skipped).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch

from overparam.config import RunConfig
from overparam.errors import ConfigError
from overparam.generalization.bound import (
    DEFAULT_DELTA,
    KERNELS,
    FactoredKernel,
    _check_scalars,
    factor,
    ntk_bound,
    theta_analytic,
    theta_empirical,
)
from overparam.generalization.ntrf import (
    DEFAULT_TOL,
    NtrfFeatures,
    ntrf_features,
    ntrf_fit,
    theorem_bound,
)
from overparam.generalization.online import DEFAULT_N_TEST, run_config

if TYPE_CHECKING:
    from overparam.models.base import SpecNetwork

# R = RADIUS_FACTOR * sqrt(y^T Theta^-1 y): the corollary's radius with its O~ constant set to 1.
RADIUS_FACTOR = 1.0


# Row keys that describe the setting rather than measure it (left out of the means).
_NOT_AVERAGED = frozenset({"seed", "n", "depth", "width", "delta", "noise", "lr", "output_iterate"})


@dataclass(frozen=True)
class Prepared:
    """Label-independent quantities for one training set and one initialization.

    Attributes:
        X: (n, d) float64 training inputs. depth: L.
        kernels: {"analytic" | "empirical": FactoredKernel} of Theta^(L).
        features: the NTRF features (None when NTRF is skipped).
        width: m of the network at initialization.
    """

    X: torch.Tensor
    depth: int
    kernels: dict[str, FactoredKernel]
    features: NtrfFeatures | None
    width: int


def prepare(
    model_at_init: torch.nn.Module,
    X: Any,
    depth: int,
    *,
    kernels: Sequence[str] = KERNELS,
    ntrf: bool = True,
) -> Prepared:
    """Factor Theta^(L) (analytic and / or empirical) and build the NTRF features on X."""
    unknown = [k for k in kernels if k not in KERNELS]
    if unknown or not kernels:
        raise ConfigError("kernels", list(kernels), "a non-empty subset of analytic, empirical")
    Xt = torch.as_tensor(X).detach().to(torch.float64)
    width = cast("SpecNetwork", model_at_init).width  # an overparam network: it has a width
    factored: dict[str, FactoredKernel] = {}
    if "analytic" in kernels:
        factored["analytic"] = factor(theta_analytic(Xt, depth), kind="analytic")
    if "empirical" in kernels:
        theta = theta_empirical(model_at_init, Xt)
        factored["empirical"] = factor(theta, kind="empirical", width=width)
    feats = ntrf_features(model_at_init, Xt) if ntrf else None
    return Prepared(Xt, depth, factored, feats, int(width))


def measure_labels(
    prep: Prepared,
    y: Any,
    *,
    model_at_init: torch.nn.Module | None = None,
    delta: float = DEFAULT_DELTA,
    c_ntk: float = 1.0,
    c_conf: float = 1.0,
    radius_factor: float = RADIUS_FACTOR,
    ntrf_tol: float = DEFAULT_TOL,
) -> dict[str, Any]:
    """The bounds and the NTRF fit for one label vector: a flat dict of numbers.

    Keys: n, depth, width, delta; per kernel K in {analytic, empirical}: complexity_K
    (y^T Theta^-1 y), bound_K, ntk_term_K, confidence_term, jitter_K; with NTRF: ntrf_R,
    ntrf_loss, ntrf_gap, ntrf_converged, ntrf_iterations, ntrf_accuracy, ntrf_bound (Theorem 3.3
    at that R with constants 1).
    """
    if not (isinstance(radius_factor, float | int) and radius_factor > 0):
        raise ConfigError("radius_factor", radius_factor, "a positive number")
    n = int(prep.X.shape[0])
    row: dict[str, Any] = {"n": n, "depth": prep.depth, "width": prep.width, "delta": delta}
    for kind, fk in prep.kernels.items():
        b = ntk_bound(prep.X, y, prep.depth, delta, kernel=fk, c_ntk=c_ntk, c_conf=c_conf)
        row[f"complexity_{kind}"] = b.complexity
        row[f"bound_{kind}"] = b.bound
        row[f"ntk_term_{kind}"] = b.ntk_term
        row[f"jitter_{kind}"] = b.jitter
        row["confidence_term"] = b.confidence_term
    if prep.features is not None:
        if model_at_init is None:
            raise ConfigError("model_at_init", None, "the network at W_0 (for the NTRF fit)")
        kind = "empirical" if "empirical" in prep.kernels else "analytic"
        R = float(radius_factor) * math.sqrt(max(row[f"complexity_{kind}"], 1e-12))
        fit = ntrf_fit(model_at_init, prep.X, y, R, tol=ntrf_tol, features=prep.features)
        row.update(
            ntrf_R=R,
            ntrf_loss=fit.loss,
            ntrf_gap=fit.gap,
            ntrf_converged=fit.converged,
            ntrf_iterations=fit.iterations,
            ntrf_accuracy=fit.accuracy,
            ntrf_bound=theorem_bound(fit.loss, R, n, prep.depth, delta, c_conf=c_conf),
        )
    return row


@dataclass(frozen=True)
class Evaluation:
    """``overparam generalization``'s result: per-seed rows and their means.

    Attributes:
        config: the base RunConfig (as JSON) without the seed.
        seeds: the seeds run.
        rows: one flat dict per seed (test errors of Algorithm 2, bounds, NTRF).
        mean: the mean over seeds of every numeric column.
    """

    config: dict[str, Any]
    seeds: tuple[int, ...]
    rows: list[dict[str, Any]] = field(default_factory=list)
    mean: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "seeds": list(self.seeds),
            "mean": self.mean,
            "rows": self.rows,
        }


def evaluate(
    cfg: RunConfig,
    seeds: Sequence[int] = (0, 1, 2),
    *,
    n_test: int = DEFAULT_N_TEST,
    kernels: Sequence[str] = KERNELS,
    ntrf: bool = True,
    delta: float = DEFAULT_DELTA,
    c_ntk: float = 1.0,
    c_conf: float = 1.0,
    radius_factor: float = RADIUS_FACTOR,
    ntrf_tol: float = DEFAULT_TOL,
) -> Evaluation:
    """Algorithm 2's test error with the NTK bound and the NTRF loss, at each seed.

    Args:
        cfg: a cao-gu, online-sgd, binary config (digits or sphere with teacher labels).
        seeds: seeds (data split / sphere draw, initialization, order, output draw).
        n_test: held-out points for sphere. kernels, ntrf: what to measure.
        delta, c_ntk, c_conf: the bound's delta and constants. radius_factor: R / sqrt(q).
        ntrf_tol: certified tolerance of the NTRF fit.

    Returns:
        An :class:`Evaluation` (``to_dict()`` is what ``--json`` prints).
    """
    if not seeds:
        raise ConfigError("seeds", list(seeds), "at least one seed")
    _check_scalars(delta, c_ntk, c_conf)
    if not (isinstance(radius_factor, float | int) and radius_factor > 0):
        raise ConfigError("radius_factor", radius_factor, "a positive number")
    if not (isinstance(ntrf_tol, float | int) and ntrf_tol > 0):
        raise ConfigError("ntrf_tol", ntrf_tol, "a positive tolerance")
    rows = []
    for s in seeds:
        c = cfg.model_copy(update={"seed": int(s)})
        run, at_init, train_set, _ = run_config(c, n_test=n_test)
        prep = prepare(at_init, train_set.X, c.depth, kernels=kernels, ntrf=ntrf)
        row = {
            "seed": int(s),
            "data": c.data,
            "noise": c.noise,
            **measure_labels(
                prep,
                train_set.y,
                model_at_init=at_init,
                delta=delta,
                c_ntk=c_ntk,
                c_conf=c_conf,
                radius_factor=radius_factor,
                ntrf_tol=ntrf_tol,
            ),
            **{k: v for k, v in run.summary().items() if k not in ("seed", "n")},
        }
        rows.append(row)
    numeric = {
        k
        for k, v in rows[0].items()
        if isinstance(v, float | int) and not isinstance(v, bool) and k not in _NOT_AVERAGED
    }
    mean = {
        k: float(np.mean([r[k] for r in rows if r.get(k) is not None]))
        for k in sorted(numeric)
        if any(r.get(k) is not None for r in rows)
    }
    base = cfg.model_dump(mode="json")
    base.pop("seed", None)
    return Evaluation(base, tuple(int(s) for s in seeds), rows, mean)
