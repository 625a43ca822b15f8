"""GD, SGD and online SGD, exactly as the seed papers state them.

- ``gd``: W <- W - eta grad L(W) on the full batch.
- ``sgd``: [zou-gu-2019, Algorithm 1]: a uniform minibatch B of size b (without replacement),
  W <- W - (eta / b) sum_{s in B} grad loss_s for the mean objective; for a sum objective the
  minibatch sum is scaled by n / b (an unbiased estimate of grad L), so b = n is GD exactly.
- ``online-sgd``: [cao-gu-2019, Algorithm 2]: one pass over the n samples in a random order,
  W_{i+1} = W_i - eta grad loss(x_i), and the output is W_t for t uniform in {0, ..., n-1}.

For gd and sgd the recorded loss is the full training loss L_S(W_t) (for sgd one more forward
pass per step), so the target, the divergence test and the history are on the objective the
theorems bound, not on a minibatch's estimate of it.

Randomness comes from an explicit seed (minibatch order, output iterate), never global state.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import nn

from overparam.data.dataset import Dataset
from overparam.errors import ConfigError
from overparam.train.history import History
from overparam.train.losses import Objective, accuracy

ALGORITHMS = ("gd", "sgd", "online-sgd")


@dataclass
class TrainState:
    """What a callback sees at step t (before update t; t = steps is the final state)."""

    step: int
    steps: int
    model: nn.Module
    data: Dataset
    objective: Objective
    loss: float
    lr: float
    initial_params: dict[str, torch.Tensor]
    history: History
    extra: dict[str, Any] = field(default_factory=dict)


class Callback(Protocol):
    """Observes a run. Probes implement this; each decides itself which steps it measures.

    A callback may also define ``on_gradient(state, grads)``: called after ``on_step`` for each
    step that updates, with ``grads`` ({trained parameter name: gradient of the step's
    objective}, the one about to be applied) so probes need not recompute it.
    """

    def on_start(self, state: TrainState) -> None: ...

    def on_step(self, state: TrainState) -> None: ...

    def on_end(self, state: TrainState) -> None: ...


def _trained(model: nn.Module) -> list[tuple[str, torch.Tensor]]:
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


def train(
    model: nn.Module,
    data: Dataset,
    objective: Objective,
    *,
    lr: float,
    steps: int,
    algorithm: str = "gd",
    batch: int | None = None,
    target_loss: float | None = None,
    target_ratio: float | None = None,
    seed: int = 0,
    callbacks: Sequence[Callback] = (),
    keep_params: bool = False,
    divergence_factor: float = 1e8,
    config: dict[str, Any] | None = None,
) -> History:
    """Train ``model`` in place on ``data`` and return its :class:`History`.

    Args:
        lr: the step size eta. steps: the step budget (online SGD: at most n steps).
        algorithm: "gd", "sgd" or "online-sgd" (see module doc). batch: minibatch size for sgd.
        target_loss / target_ratio: stop once L <= target_loss or L <= target_ratio * L(W_0).
        seed: seed of the minibatch / sample order and of the online output iterate.
        divergence_factor: a loss above this times the initial loss, or non-finite, ends the
            run with status "diverged" (never an exception).
    """
    if algorithm not in ALGORITHMS:
        raise ConfigError("algorithm", algorithm, ", ".join(ALGORITHMS))
    if not (isinstance(lr, float | int) and math.isfinite(lr) and lr > 0):
        raise ConfigError("lr", lr, "a positive finite number, 'auto' or 'theory'")
    n = data.n
    if algorithm == "sgd" and (batch is None or not 1 <= batch <= n):
        raise ConfigError("batch", batch, f"an integer in [1, n={n}] for sgd")
    if algorithm == "online-sgd":
        steps = min(steps, n)
    history = History(config=dict(config or {}), lr=float(lr))
    params = _trained(model)
    if not params:
        raise ConfigError("trainable", "none", "at least one trained layer")
    initial = {name: p.detach().clone() for name, p in params}
    X, y = data.X, data.y
    gen = torch.Generator().manual_seed(int(seed))
    order = torch.randperm(n, generator=gen) if algorithm == "online-sgd" else None
    output_at = (
        int(torch.randint(0, max(steps, 1), (1,), generator=gen)) if order is not None else None
    )
    snapshot: dict[str, torch.Tensor] | None = None
    state = TrainState(0, steps, model, data, objective, float("nan"), float(lr), initial, history)
    state.extra.update(algorithm=algorithm, batch=batch)
    grad_hooks = [cb.on_gradient for cb in callbacks if hasattr(cb, "on_gradient")]
    for cb in callbacks:
        cb.on_start(state)
    start = time.perf_counter()
    for t in range(steps + 1):
        final = t == steps
        if algorithm == "gd" or final:
            xb, yb, n_total = X, y, None
        elif algorithm == "sgd":
            idx = torch.randperm(n, generator=gen)[:batch].sort().values.to(X.device)
            xb, yb, n_total = X[idx], y[idx], n
        else:
            assert order is not None  # online-sgd: drawn above
            i = int(order[t])
            xb, yb, n_total = X[i : i + 1], y[i : i + 1], n
        if algorithm == "online-sgd" and t == output_at:
            snapshot = {name: p.detach().clone() for name, p in params}
        if final:
            with torch.no_grad():
                value = objective(model(X), y)
        else:
            value = objective(model(xb), yb, n_total)
        if algorithm == "sgd" and not final and batch != n:
            with torch.no_grad():  # the training loss L_S(W_t) Theorem 3.8 bounds, not the batch's
                loss = float(objective(model(X), y))
        else:
            loss = float(value.detach())
        history.losses.append(loss)
        state.step, state.loss = t, loss
        if not math.isfinite(loss) or loss > divergence_factor * max(history.losses[0], 1e-30):
            history.status = "diverged"
            break
        for cb in callbacks:
            cb.on_step(state)
        reached = (target_loss is not None and loss <= target_loss) or (
            target_ratio is not None and loss <= target_ratio * history.losses[0]
        )
        if reached and algorithm != "online-sgd":
            history.status = "converged"
            break
        if final:
            break
        grads = torch.autograd.grad(value, [p for _, p in params])
        if grad_hooks:
            named = {name: g for (name, _), g in zip(params, grads, strict=True)}
            for hook in grad_hooks:
                hook(state, named)
        with torch.no_grad():
            for (_, p), g in zip(params, grads, strict=True):
                p.add_(g, alpha=-lr)
    history.wall_s = time.perf_counter() - start
    if snapshot is not None:
        with torch.no_grad():
            for name, p in params:
                p.copy_(snapshot[name])
        history.output_iterate = output_at
    if history.status != "diverged":
        with torch.no_grad():
            history.train_accuracy = accuracy(model(X), y)
    if keep_params:
        history.final_params = {n: p.detach().cpu().clone() for n, p in params}
    for cb in callbacks:
        cb.on_end(state)
    return history
