"""One run from a :class:`RunConfig`: data, network, objective and the named probes assembled,
then trained -- the one entry point every command, sweep and study goes through. It sits above
:mod:`overparam.train` (the loop) and :mod:`overparam.probes` (which read the loop's state)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from overparam import architectures
from overparam.architectures.cnn import digit_images as digit_images
from overparam.architectures.gnn import build_graph as build_graph
from overparam.config import RunConfig
from overparam.data import Dataset, close_pair, digits, node_datasets, sphere
from overparam.errors import ConfigError
from overparam.models import default_loss
from overparam.models.base import resolve_device, resolve_dtype
from overparam.probes import make_probes
from overparam.train.history import History
from overparam.train.loop import Callback, train
from overparam.train.losses import Objective, accuracy, make_objective
from overparam.train.step_size import auto_lr, theory_zou_gu_gd, theory_zou_gu_sgd


@dataclass(frozen=True)
class Setup:
    """The objects a config describes, before training."""

    config: RunConfig
    model: torch.nn.Module
    train: Dataset
    test: Dataset | None
    objective: Objective


def build_data(cfg: RunConfig) -> tuple[Dataset, Dataset | None]:
    """(train, test) for the config's data source, as the config's architecture reads it (e.g.
    digits as a CNN's images); test is None for synthetic data (and for graphs whose nodes are
    all labelled). Graph data gives node-indicator inputs
    (:func:`overparam.data.graphs.node_datasets`)."""
    train, test = _source(cfg)
    adapt = architectures.get(cfg.arch).inputs
    if adapt is None:
        return train, test
    return adapt(cfg, train), None if test is None else adapt(cfg, test)


def _source(cfg: RunConfig) -> tuple[Dataset, Dataset | None]:
    seed = cfg.seeds()["data"]
    if cfg.data in ("sbm", "karate"):
        return node_datasets(build_graph(cfg), noise=cfg.noise, seed=seed)
    if cfg.data == "digits":
        return digits(
            task=cfg.task,
            noise=cfg.noise,
            test_fraction=cfg.test_fraction,
            mu=cfg.mu,
            n=cfg.n,
            seed=seed,
        )
    # RunConfig's validator: n is None only for digits, phi only off close-pair.
    assert cfg.n is not None
    if cfg.data == "close-pair":
        assert cfg.phi is not None
        pair = close_pair(
            cfg.n,
            cfg.d,
            phi=cfg.phi,
            mu=cfg.mu,
            min_separation=cfg.min_separation,
            labels=cfg.labels,
            k=cfg.k,
            seed=seed,
        )
        return pair, None
    points = sphere(
        cfg.n,
        cfg.d,
        mu=cfg.mu,
        min_separation=cfg.min_separation,
        labels=cfg.labels,
        k=cfg.k,
        seed=seed,
    )
    return points, None


def build_model(cfg: RunConfig, d: int, k: int) -> torch.nn.Module:
    """The network of the config (arch, parameterization, init seed), built by its
    architecture's declaration (:mod:`overparam.architectures`). ``width`` is m for every arch
    (a CNN's channels, a GNN's hidden m_l); a CNN reads digits as 1 x 8 x 8 images and any
    other input as a 1-D signal (1, d); a GNN is built on the config's graph (d is then N)."""
    return architectures.build(cfg, d, k)


def setup(cfg: RunConfig) -> Setup:
    """Data, network and objective for ``cfg`` (data cast to the run's dtype and device)."""
    dtype, device = resolve_dtype(cfg.dtype), resolve_device(cfg.device)
    train_set, test_set = build_data(cfg)
    train_set = train_set.to(dtype=dtype, device=device)
    test_set = None if test_set is None else test_set.to(dtype=dtype, device=device)
    if cfg.batch is not None and cfg.batch > train_set.n:
        raise ConfigError("batch", cfg.batch, f"an integer in [1, n={train_set.n}]")
    model = build_model(cfg, train_set.d, train_set.k)
    loss, reduction = default_loss(cfg.parameterization)
    objective = make_objective(cfg.loss or loss, cfg.reduction or reduction, train_set.k)
    return Setup(cfg, model, train_set, test_set, objective)


def resolve_lr(s: Setup) -> float:
    """The numeric step size: a number as given, 'auto' (1/lambda_max of the Gauss-Newton
    matrix, see :func:`overparam.train.step_size.auto_lr`) or 'theory' (the paper's
    prescribed scale), times ``lr_scale``."""
    cfg = s.config
    if isinstance(cfg.lr, float | int):
        return float(cfg.lr) * cfg.lr_scale
    if cfg.lr == "auto":
        return auto_lr(s.model, s.train.X, s.objective) * cfg.lr_scale
    if cfg.parameterization != "zou-gu":
        raise ConfigError("lr", "theory", "a number or 'auto' (lr='theory' is defined for zou-gu)")
    if cfg.algorithm == "sgd":
        assert cfg.batch is not None  # RunConfig's validator: sgd has a batch
        return theory_zou_gu_sgd(
            s.train.k, cfg.batch, s.train.separation, s.train.n, cfg.width, cfg.lr_scale
        )
    return theory_zou_gu_gd(s.train.k, cfg.depth, cfg.width, cfg.lr_scale)


def run(
    cfg: RunConfig,
    *,
    callbacks: list[Callback] | None = None,
    keep_params: bool = False,
    setup_: Setup | None = None,
) -> History:
    """Train the run ``cfg`` describes (probes named in ``cfg.probes`` attached) and return its
    History. A diverging run returns status "diverged"; it never raises for that."""
    s = setup_ or setup(cfg)
    cbs: list[Callback] = list(callbacks or [])
    if cfg.probes:
        cbs.extend(make_probes(cfg.probes, every=cfg.probe_every))
    lr = resolve_lr(s)
    history = train(
        s.model,
        s.train,
        s.objective,
        lr=lr,
        steps=cfg.steps,
        algorithm=cfg.algorithm,
        batch=cfg.batch,
        target_loss=cfg.target_loss,
        target_ratio=cfg.target_ratio,
        seed=cfg.seeds()["order"],
        callbacks=cbs,
        keep_params=keep_params,
        config=cfg.model_dump(mode="json"),
    )
    if s.test is not None and history.status != "diverged":
        with torch.no_grad():
            history.test_accuracy = accuracy(s.model(s.test.X), s.test.y)
    return history


def summary(history: History) -> dict[str, Any]:
    """The JSON summary `overparam train --json` prints."""
    return {
        "config": history.config,
        "status": history.status,
        "initial_loss": history.initial_loss,
        "final_loss": history.final_loss,
        "steps": history.steps,
        "lr": history.lr,
        "wall_s": round(history.wall_s, 4),
        "train_accuracy": history.train_accuracy,
        "test_accuracy": history.test_accuracy,
        "curve": history.downsampled(),
    }
