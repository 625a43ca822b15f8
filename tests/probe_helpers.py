"""Helpers shared by the probe tests: tiny float64 networks, a snapshot callback keeping every
iterate, row lookups, and a callback driver that never updates the weights."""

from __future__ import annotations

import copy

import torch

from overparam.data import sphere
from overparam.models import FullyConnected, default_loss
from overparam.train.history import History
from overparam.train.loop import TrainState, train
from overparam.train.losses import make_objective

F64 = torch.float64


class Snapshots:
    """A callback keeping a copy of every parameter at every step (tiny nets only)."""

    def __init__(self) -> None:
        self.params: dict[int, dict[str, torch.Tensor]] = {}

    def on_start(self, state: TrainState) -> None:
        self.params = {}

    def on_step(self, state: TrainState) -> None:
        self.params[state.step] = {n: p.detach().clone() for n, p in state.model.named_parameters()}

    def on_end(self, state: TrainState) -> None:
        pass


def tiny(parameterization="zou-gu", *, n=8, d=5, m=24, L=2, k=1, activation="relu", seed=0):
    """(model, data, objective) in float64, the paper's default loss."""
    labels = "sign" if parameterization == "cao-gu" else "gaussian"
    data = sphere(n, d, k=k, labels=labels, seed=seed)
    model = FullyConnected(
        d, m, L, k, parameterization=parameterization, activation=activation,
        dtype=F64, seed=seed + 1,
    )  # fmt: skip
    loss, reduction = default_loss(parameterization)
    return model, data, make_objective(loss, reduction, k)


def lr_for(model, data, objective, scale: float = 0.5) -> float:
    """A stable step: scale / lambda_max of the Gauss-Newton matrix (as lr='auto')."""
    from overparam.train.step_size import auto_lr

    return scale * auto_lr(model, data.X, objective)


def fit(model, data, objective, probes, *, steps=6, lr=None, **kw):
    """Train with a snapshot callback first, then ``probes``; return (history, snapshots)."""
    snaps = Snapshots()
    lr = lr_for(model, data, objective) if lr is None else lr
    history = train(model, data, objective, lr=lr, steps=steps, callbacks=[snaps, *probes], **kw)
    return history, snaps


def rows(history, probe, quantity=None, layer=None, step=None):
    return [
        r
        for r in history.records
        if r["probe"] == probe
        and (quantity is None or r["quantity"] == quantity)
        and (layer is None or r["layer"] == layer)
        and (step is None or r["step"] == step)
    ]


def one(history, probe, quantity, step, layer="all"):
    found = rows(history, probe, quantity, layer, step)
    assert len(found) == 1, (probe, quantity, step, layer, found)
    return found[0]


def at(model, params):
    """A copy of ``model`` holding ``params``."""
    clone = copy.deepcopy(model)
    with torch.no_grad():
        for n, p in clone.named_parameters():
            p.copy_(params[n])
    return clone


def loss_at(model, params, data, objective) -> float:
    with torch.no_grad():
        return float(objective(at(model, params)(data.X), data.y))


def drive_without_updates(model, data, objective, probes, steps=4, hooked=True):
    """The training loop's callback sequence with lr = 0: the weights never move. With
    ``hooked=False`` it behaves like a foreign loop: no ``extra`` and no ``on_gradient``."""
    history = History(config={})
    initial = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    state = TrainState(0, steps, model, data, objective, float("nan"), 0.0, initial, history)
    if hooked:
        state.extra.update(algorithm="gd", batch=None)
    for cb in probes:
        cb.on_start(state)
    for t in range(steps + 1):
        with torch.no_grad():
            state.step, state.loss = t, float(objective(model(data.X), data.y))
        history.losses.append(state.loss)
        for cb in probes:
            cb.on_step(state)
    for cb in probes:
        cb.on_end(state)
    return history


def direct_gradient(model, params, data, objective):
    clone = at(model, params)
    trained = [(n, p) for n, p in clone.named_parameters() if p.requires_grad]
    value = objective(clone(data.X), data.y)
    grads = torch.autograd.grad(value, [p for _, p in trained])
    return float(value.detach()), {n: g for (n, _), g in zip(trained, grads, strict=True)}
