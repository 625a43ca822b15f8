"""``overparam.track``: the proof probes inside a training loop the user wrote.

::

    tracker = overparam.track(model, X_probe, y_probe, probes=["flips", "movement", "ntk_drift"])
    for step in range(steps):
        tracker.step(step, loss=loss.item())   # measures every ``every`` steps
        ...                                   # the user's own forward, backward, optimizer
    history = tracker.close(steps)            # the final measurement; stored if store= given

The tracker snapshots the parameters when it is created (W_0) and measures on the fixed probe
set (X_probe, y_probe), with the same probe objects and the same tidy records as
:func:`overparam.measure`; for the same run (full-batch GD on X_probe) the records are equal.
Two probes need the training loop's own gradient step and are measured by
:func:`overparam.measure` only: ``semi_smoothness`` (the step W' it is evaluated along) and
``rate`` (the whole loss curve under GD).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from overparam.byon.inputs import as_dataset, check_model, describe, objective_for, probes_for
from overparam.byon.measure import notes_of
from overparam.errors import ConfigError
from overparam.probes.context import Context
from overparam.train.history import History
from overparam.train.loop import TrainState

#: The tracker's default probes: what a user loop can measure cheaply every few steps.
TRACK_PROBES: tuple[str, ...] = ("flips", "movement", "hidden_drift", "ntk_drift")

#: Probes that need the loop's own gradient step (see the module docstring).
LOOP_ONLY = {
    "semi_smoothness": "needs the training loop's own gradient step W'; use overparam.measure",
    "rate": "predicts the whole GD loss curve; use overparam.measure",
}


class Tracker:
    """Measures the probes on a fixed probe set whenever :meth:`step` is called at a
    scheduled step (every ``every`` steps, and at :meth:`close`).

    Attributes:
        history: the :class:`~overparam.train.history.History` being filled: ``records``
            (tidy rows), ``losses`` (the values passed to :meth:`step`, in call order) and
            ``notes``.
        probes: the probe objects; ``probe.skip_reason`` says why one records nothing.
    """

    def __init__(
        self,
        model: nn.Module,
        X: torch.Tensor,
        y: torch.Tensor | None = None,
        *,
        probes: Sequence[str] | str = TRACK_PROBES,
        every: int = 10,
        loss: str = "square",
        reduction: str = "mean",
        lr: float | None = None,
        modules: Sequence[str] = (),
        seed: int | None = None,
        width: int | None = None,
        store: str | None = None,
        experiment: str = "track",
    ) -> None:
        self.model = check_model(model)
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ConfigError("every", every, "an integer >= 1")
        names = [probes] if isinstance(probes, str) else list(probes)
        self.probes = [p for p in probes_for(names, None) if p.name not in LOOP_ONLY]
        dropped = [p.name for p in probes_for(names, None) if p.name in LOOP_ONLY]
        self.every = every
        self.store, self.experiment = store, experiment
        data = as_dataset(self.model, X, y)
        objective = objective_for(loss, reduction, data.k)
        config = describe(
            self.model,
            data,
            loss=loss,
            reduction=reduction,
            lr=lr,
            algorithm="user-loop",
            seed=seed,
            width=width,
            probes=names,
            every=every,
            modules=list(modules),
            targets=y is not None,
            source="track",
        )
        self.history = History(config=config, lr=lr)
        self.history.notes.extend(f"{name}: not measured: {LOOP_ONLY[name]}" for name in dropped)
        if y is None:
            self.history.notes.append(
                "no targets given: the loss and gradient probes measure against y = 0"
            )
        trained = self.model.named_parameters()
        initial = {n: p.detach().clone() for n, p in trained if p.requires_grad}
        self.state = TrainState(
            0, 0, self.model, data, objective, float("nan"), float(lr or 0.0), initial, self.history
        )
        self.state.extra.update(algorithm="user-loop", **{Context.MODULES_KEY: tuple(modules)})
        self.context = Context.of(self.state)
        for p in self.probes:
            p.on_start(self.state)
        self._last: int | None = None
        self._closed = False

    # -- the loop's calls ------------------------------------------------------------------
    def step(self, step: int, *, loss: float | None = None) -> bool:
        """Call once per training step, before the update of step ``step``; measures when
        ``step`` is a multiple of ``every``. ``loss``: the loop's loss, kept in
        ``history.losses``. Returns whether it measured."""
        if self._closed:
            raise ConfigError("tracker", "closed", "a tracker before close()")
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ConfigError("step", step, "an integer >= 0")
        if loss is not None:
            self.history.losses.append(float(loss))
        if step % self.every:
            return False
        self._measure(step)
        return True

    def close(self, step: int | None = None) -> History:
        """Measure the final parameters (at ``step``, default: one after the last call's) unless
        that step was just measured, add the notes, store the run if ``store`` was given, and
        return the History."""
        if self._closed:
            return self.history
        if step is None:
            step = 0 if self._last is None else self._last + 1
        if step != self._last:
            self._measure(step)
        self._closed = True
        self.history.notes.extend(notes_of(self.probes, self.context))
        if self.store is not None:
            from overparam.store.external import save_history

            save_history(self.store, self.experiment, self.history)
        return self.history

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, *exc: Any) -> None:
        if exc[0] is None:
            self.close()

    # -- measuring ---------------------------------------------------------------------------
    def _measure(self, step: int) -> None:
        self.state.step = step
        data = self.state.data
        with torch.no_grad():
            self.state.loss = float(self.state.objective(self.model(data.X), data.y))
        self.context.invalidate()
        for p in self.probes:
            p.measure_now(self.state)
        self._last = step


def track(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor | None = None,
    *,
    probes: Sequence[str] | str = TRACK_PROBES,
    every: int = 10,
    **options: Any,
) -> Tracker:
    """A :class:`Tracker` measuring ``probes`` on (X, y) every ``every`` steps of the user's
    loop; see the module docstring. ``options``: loss, reduction, lr (the loop's step size,
    stored), modules, seed, width, store, experiment (as :func:`overparam.measure`)."""
    return Tracker(model, X, y, probes=probes, every=every, **options)
