"""``overparam.measure``: train any ``torch.nn.Module`` by GD or SGD with the proof probes
attached, and return the same :class:`~overparam.train.history.History` as
:func:`overparam.train.train`.

The probes read the model from the outside (:mod:`overparam.probes.capture`): sign flips of its
ReLU-family activations, movement of every parameter tensor from init, hidden-vector drift,
the gradient ratio ||grad L||^2 / L ([allen-zhu-2019, Theorem 3]; [zou-gu-2019, Lemma 4.1]),
semi-smoothness ([allen-zhu-2019, Theorem 4]), the linearization gap ([lee-2019]) and the drift
and lambda_min of the empirical NTK ([jacot-2018]; [du-2019-deep, Theorem 5.1]). The papers'
bounds are evaluated for their own architectures only; for any other model each row has bound
None, and ``History.notes`` says that no bound applies.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from overparam.byon.inputs import (
    DEFAULT_PROBES,
    as_dataset,
    check_model,
    describe,
    objective_for,
    probes_for,
)
from overparam.errors import ConfigError
from overparam.probes.context import Context
from overparam.train.history import History
from overparam.train.loop import train
from overparam.train.step_size import auto_lr


def resolve_lr(lr: float | str, model: nn.Module, X: torch.Tensor, objective: Any) -> float:
    """A numeric step size: ``lr`` itself, or for ``"auto"`` 1 / lambda_max of the
    Gauss-Newton matrix (:func:`overparam.train.step_size.auto_lr`)."""
    if lr == "auto":
        return float(auto_lr(model, X, objective))
    if isinstance(lr, bool) or not isinstance(lr, int | float) or not lr > 0:
        raise ConfigError("lr", lr, "a positive number or 'auto'")
    return float(lr)


def measure(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    loss: str = "square",
    reduction: str = "mean",
    steps: int = 100,
    lr: float | str = "auto",
    algorithm: str = "gd",
    batch: int | None = None,
    probes: Sequence[str] | str = DEFAULT_PROBES,
    probe_every: int | None = None,
    modules: Sequence[str] = (),
    seed: int = 0,
    target_ratio: float | None = None,
    width: int | None = None,
    store: str | None = None,
    experiment: str = "measure",
) -> History:
    """Train ``model`` in place on (X, y) with the probes attached; returns its History.

    Args:
        model: any ``nn.Module`` mapping (n, ...) to (n, k) with no interaction between the
            samples of a batch; its parameters with ``requires_grad`` are trained.
        X: (n, ...) inputs (vectors or images), on the model's device and dtype.
        y: (n, k) targets (or (n,) for k = 1).
        loss / reduction: "square" (1/2 ||f - y||^2, the theorems' loss), "logistic" or
            "cross-entropy"; "mean" or "sum" over samples.
        steps: updates. lr: step size eta, or "auto" (1 / lambda_max of the Gauss-Newton matrix).
        algorithm: "gd" (full batch), "sgd" (minibatches of ``batch``) or "online-sgd".
        probes: probe names or specs (``"all"``, ``"flips:every=5"``; see
            :func:`overparam.probes.make_probes`). probe_every: measure every k steps (None:
            about 50 log-spaced steps).
        modules: submodule names whose outputs are hidden vectors too (norms, hidden_drift).
        seed: minibatch order. target_ratio: stop once L <= target_ratio * L(0).
        width: the model's width, if it has one (stored, for scaling fits).
        store: a results database path: the run is stored there under ``experiment``
            (:func:`overparam.store.external.save_history`), so ``overparam report`` reads it.

    Returns:
        The :class:`History`: losses, records (tidy probe rows), notes (probes that did not
        apply and why; whether the papers' bounds apply), config.

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 64), torch.nn.ReLU(),
        ...                           torch.nn.Linear(64, 1)).double()
        >>> X = torch.randn(8, 4, dtype=torch.float64); y = torch.randn(8, 1).double()
        >>> h = measure(net, X, y, steps=20, probes=["flips", "movement"])
        >>> h.records[0]["probe"]
        'flips'
    """
    model = check_model(model)
    data = as_dataset(model, X, y)
    objective = objective_for(loss, reduction, data.k)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ConfigError("steps", steps, "an integer >= 1")
    callbacks = probes_for(probes, probe_every)
    step = resolve_lr(lr, model, data.X, objective)
    config = describe(
        model,
        data,
        loss=loss,
        reduction=reduction,
        steps=steps,
        lr=lr,
        algorithm=algorithm,
        batch=batch,
        seed=seed,
        width=width,
        probes=[str(p) for p in ([probes] if isinstance(probes, str) else probes)],
        probe_every=probe_every,
        modules=list(modules),
        target_ratio=target_ratio,
        source="measure",
    )
    hooks = _ModulesHook(tuple(modules))
    history = train(
        model,
        data,
        objective,
        lr=step,
        steps=steps,
        algorithm=algorithm,
        batch=batch,
        seed=seed,
        target_ratio=target_ratio,
        callbacks=[hooks, *callbacks],
        config=config,
    )
    history.notes.extend(notes_of(callbacks, hooks.context))
    if store is not None:
        from overparam.store.external import save_history

        save_history(store, experiment, history)
    return history


class _ModulesHook:
    """First callback of a measured run: tells the probes' context which modules' outputs are
    hidden vectors, and keeps the context for the run's notes."""

    def __init__(self, modules: tuple[str, ...]) -> None:
        self.modules = modules
        self.context: Context | None = None

    def on_start(self, state: Any) -> None:
        state.extra[Context.MODULES_KEY] = self.modules
        self.context = Context.of(state)

    def on_step(self, state: Any) -> None:
        """Nothing to do per step."""

    def on_end(self, state: Any) -> None:
        """Nothing to do at the end."""


def notes_of(probes: Sequence[Any], context: Context | None) -> list[str]:
    """What a reader must know about a run's records: the probes that recorded nothing (and
    why), and whether the papers' bounds apply to the model."""
    notes = [f"{p.name}: not measured: {p.skip_reason}" for p in probes if p.skip_reason]
    if context is not None and context.bound_note:
        notes.append(context.bound_note)
    return notes
