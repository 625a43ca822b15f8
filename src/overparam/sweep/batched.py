"""Batched GD: many small runs that share an architecture, trained in one vectorized call.

Runs that differ only in values (seed, step size, target, data distribution) but not in shapes
are stacked: their parameters become (B, ...) tensors and their datasets (B, n, d), and one
``torch.func.vmap`` of ``functional_call`` evaluates all B objectives at once; autograd of their
sum gives each run its own gradient (the runs share no parameters, so the sum's gradient with
respect to run b's weights is exactly run b's gradient). Each run then takes its own step
W_b <- W_b - eta_b grad L_b(W_b) and keeps its own stopping rules, so a batched run reproduces
``overparam.run(cfg)`` for GD: the same data and init (each run's own
:func:`~overparam.run.setup`), the same step size (``lr="auto"`` is measured per run on its
own network), the same loss and reduction, and the same stops (target loss / ratio, divergence,
step budget). Runs leave the batch as they stop.

Agreement with one-by-one training: batched and single matrix products sum in different orders,
so losses agree to ~1e-15 relative in float64 (the test asks 1e-10; step sizes from "auto" agree
exactly). In float32 the gap over 200 steps of zou-gu runs (n=64, m=128, L=2) is up to 3.1e-4 of
the initial loss (median ~5e-6), as large as float32's own distance from the float64 curve; see
``tests/test_executor_agreement.py`` and the README's "Devices and precision".

What cannot batch falls back to one-by-one training: SGD and online SGD (each run draws its own
minibatches), runs with probes (probes observe one model), and architectures other than ``fc``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.func import functional_call, vmap

from overparam.config import RunConfig
from overparam.run import Setup, resolve_lr, setup
from overparam.store.result import RunResult, from_error, from_history
from overparam.train.history import History
from overparam.train.losses import accuracy

#: A loss above this times the initial loss ends a run as diverged: train()'s default.
DIVERGENCE_FACTOR = 1e8
#: Runs per vectorized call; beyond this a group is split (memory grows linearly in B).
MAX_BATCH = 256


def not_batchable(cfg: RunConfig) -> str | None:
    """Why ``cfg`` must train on its own, or None if it can join a batch."""
    if cfg.arch != "fc":
        return f"arch={cfg.arch} (batching covers fully connected networks)"
    if cfg.algorithm != "gd":
        return f"algorithm={cfg.algorithm} (each run draws its own samples)"
    if cfg.probes:
        return "probes (they observe one model at a time)"
    return None


def structure_key(s: Setup) -> tuple[Any, ...] | None:
    """Runs with equal keys can share a batch: same layers (shapes, multipliers, activation),
    trained set, data shapes, dtype, device and objective. None: not a FullyConnected network
    (other models may hold per-run buffers, such as a graph, that a template cannot share)."""
    from overparam.models import FullyConnected

    m = s.model
    if type(m) is not FullyConnected:
        return None
    specs = m.specs
    return (
        type(m).__name__,
        tuple(specs),
        tuple(sorted(getattr(m, "trained", ()))),
        str(getattr(m, "activation", "")),
        tuple(s.train.X.shape),
        tuple(s.train.y.shape),
        s.train.X.dtype,
        str(s.train.X.device),
        s.objective,
    )


def _stack(setups: Sequence[Setup], names: Sequence[str]) -> dict[str, torch.Tensor]:
    params = [dict(s.model.named_parameters()) for s in setups]
    return {n: torch.stack([p[n].detach() for p in params]) for n in names}


def train_batched(setups: Sequence[Setup], lrs: Sequence[float]) -> list[History]:
    """Full-batch GD of every setup at once; returns one History per setup, in order.

    Args:
        setups: runs with equal :func:`structure_key` (same architecture and data shapes), each
            with ``config.algorithm == "gd"``. Their models are left at the trained weights.
        lrs: the numeric step size of each run (see :func:`overparam.run.resolve_lr`).

    Returns:
        Histories as :func:`overparam.run.run` returns them (losses, status, lr,
        accuracies; ``wall_s`` is the batch's wall time divided by its size; no records).
    """
    if not setups:
        return []
    keys = {structure_key(s) for s in setups}
    if len(keys) != 1 or None in keys:
        raise ValueError("train_batched: runs must share one architecture (structure_key)")
    template = setups[0].model
    objective = setups[0].objective
    trained = [n for n, p in template.named_parameters() if p.requires_grad]
    frozen_names = [n for n, p in template.named_parameters() if not p.requires_grad]
    B = len(setups)
    cfgs = [s.config for s in setups]
    histories = [
        History(config=c.model_dump(mode="json"), lr=float(v))
        for c, v in zip(cfgs, lrs, strict=True)
    ]

    params = {n: p.clone().requires_grad_() for n, p in _stack(setups, trained).items()}
    frozen = _stack(setups, frozen_names)
    X = torch.stack([s.train.X for s in setups])
    Y = torch.stack([s.train.y for s in setups])
    lr = torch.tensor([float(v) for v in lrs], dtype=X.dtype, device=X.device)
    rows = list(range(B))  # original index of each row still in the batch
    final: list[dict[str, torch.Tensor] | None] = [None] * B

    def objective_one(
        p: dict[str, torch.Tensor], f: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor
    ) -> torch.Tensor:
        return objective(functional_call(template, {**p, **f}, (x,)), y)

    batched_objective: Callable[..., torch.Tensor] = vmap(objective_one)
    start = time.perf_counter()
    t = 0
    while rows:
        values_t = batched_objective(params, frozen, X, Y)
        values = values_t.detach().tolist()
        keep: list[int] = []
        for r, i in enumerate(rows):
            h, loss = histories[i], values[r]
            h.losses.append(loss)
            c = cfgs[i]
            if not math.isfinite(loss) or loss > DIVERGENCE_FACTOR * max(h.losses[0], 1e-30):
                h.status = "diverged"
            elif (c.target_loss is not None and loss <= c.target_loss) or (
                c.target_ratio is not None and loss <= c.target_ratio * h.losses[0]
            ):
                h.status = "converged"
            elif t < c.steps:
                keep.append(r)
                continue
            final[i] = {n: p[r].detach().clone() for n, p in params.items()}
        if not keep:
            break
        if len(keep) < len(rows):  # drop the stopped runs before the backward pass
            idx = torch.tensor(keep, device=X.device)
            values_t = values_t[idx]
            rows = [rows[r] for r in keep]
            frozen = {n: f[idx] for n, f in frozen.items()}
            X, Y, lr = X[idx], Y[idx], lr[idx]
            grads = torch.autograd.grad(values_t.sum(), list(params.values()))
            params = {n: p[idx].detach() for n, p in params.items()}
            grads = tuple(g[idx] for g in grads)
        else:
            grads = torch.autograd.grad(values_t.sum(), list(params.values()))
        with torch.no_grad():  # W_b <- W_b - eta_b grad_b (in place, one pass)
            for p, g in zip(params.values(), grads, strict=True):
                p.addcmul_(g, lr.view(-1, *([1] * (p.dim() - 1))), value=-1.0)
        for p in params.values():
            p.requires_grad_()
        t += 1
    wall = (time.perf_counter() - start) / B
    for i, s in enumerate(setups):
        h = histories[i]
        h.wall_s = wall
        if h.status == "diverged":
            continue
        model_params = dict(s.model.named_parameters())
        with torch.no_grad():
            for n, v in (final[i] or {}).items():
                model_params[n].copy_(v)
            h.train_accuracy = accuracy(s.model(s.train.X), s.train.y)
            if s.test is not None:
                h.test_accuracy = accuracy(s.model(s.test.X), s.test.y)
    return histories


def run_one(cfg: RunConfig, *, executor: str = "local") -> RunResult:
    """Train one run the ordinary way (``overparam.run``); an exception becomes a failed
    result carrying its traceback."""
    from overparam.run import run

    start = time.perf_counter()
    try:
        history = run(cfg)
    except Exception as e:  # stored as failed; the sweep goes on
        wall = time.perf_counter() - start
        return from_error(e, executor=executor, wall_s=wall, device=cfg.device)
    return from_history(history, executor=executor)


def run_batched(
    configs: Sequence[RunConfig], *, max_batch: int = MAX_BATCH, executor: str = "batched"
) -> list[RunResult]:
    """Results for ``configs`` (in order): GD runs grouped by architecture and trained in
    batches of up to ``max_batch``; the rest one by one. A failing setup fails only its run;
    a failing batch is retried one by one so each error lands on its own run."""
    results: list[RunResult | None] = [None] * len(configs)
    groups: dict[tuple[Any, ...], list[tuple[int, Setup, float]]] = {}
    for i, cfg in enumerate(configs):
        if not_batchable(cfg) is not None:
            results[i] = run_one(cfg, executor=executor)
            continue
        try:
            s = setup(cfg)
            lr = resolve_lr(s)
        except Exception as e:  # e.g. lr="theory" for a parameterization without one
            results[i] = from_error(e, executor=executor, device=cfg.device)
            continue
        key = structure_key(s)
        if key is None:
            results[i] = run_one(cfg, executor=executor)
            continue
        groups.setdefault(key, []).append((i, s, lr))
    for members in groups.values():
        for lo in range(0, len(members), max_batch):
            chunk = members[lo : lo + max_batch]
            try:
                histories = train_batched([s for _, s, _ in chunk], [lr for _, _, lr in chunk])
            except Exception:  # attribute the error run by run
                for i, s, _ in chunk:
                    results[i] = run_one(s.config, executor=executor)
                continue
            for (i, s, _), h in zip(chunk, histories, strict=True):
                results[i] = from_history(h, executor=executor, device=s.train.X.device)
    return [r for r in results if r is not None]
