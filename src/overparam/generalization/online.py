"""Cao & Gu's Algorithm 2 end to end, and its expected 0-1 test error over seeds.

[cao-gu-2019, Algorithm 1] (Algorithm 2 in Gu's talk slides and in overparam):

    W_l^(0) ~ N(0, 2/m) for l < L, W_L^(0) ~ N(0, 1/m)     (the ``cao-gu`` parameterization)
    for i = 1..n:  draw a fresh (x_i, y_i);
                   W^(i) = W^(i-1) - eta grad_W log(1 + exp(-y_i f_W^(i-1)(x_i)))
    output W^ uniformly at random from {W^(0), ..., W^(n-1)}.

The loop is :func:`overparam.train.train` with ``algorithm="online-sgd"`` (one pass over the n
training samples in a random order, so each is "fresh"); this module adds what the theorems
are about: the 0-1 error on held-out data of the returned iterate,

    E[L_D^{0-1}(W^)]   [cao-gu-2019, Theorem 3.3, Corollary 3.10],

estimated two ways per seed: the test error of the iterate actually returned, and its exact
expectation over the uniform output draw, (1/n) sum_{t<n} test_error(W^(t)) (every iterate is
evaluated on the test set while the pass runs). Averaging over seeds adds the randomness of the
initialization, the sample order and (for digits) the train/test split.

Data: ``digits`` is scikit-learn's digits as :func:`overparam.data.digits` builds it (binary
task, label noise on the training split only). ``sphere`` is :func:`overparam.data.sphere` with
``labels="teacher"``: n + n_test points, labels y = sign(g(x)) of a random teacher network g
(teacher outputs are real-valued; their sign makes the binary task; sign 0 maps to +1), the
first n for training (with the same label noise as digits) and the rest held out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from overparam.config import RunConfig
from overparam.data.dataset import Dataset
from overparam.errors import ConfigError
from overparam.train.history import History
from overparam.train.loop import TrainState, train
from overparam.train.losses import Objective, accuracy

# Held-out points of the sphere task (digits has its own split).
DEFAULT_N_TEST = 1000


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


def _check_cfg(cfg: RunConfig) -> None:
    if cfg.parameterization != "cao-gu":
        raise ConfigError("parameterization", cfg.parameterization, "cao-gu (Algorithm 2)")
    if cfg.algorithm != "online-sgd":
        raise ConfigError("algorithm", cfg.algorithm, "online-sgd (Algorithm 2)")
    if cfg.k != 1 or cfg.data == "close-pair":
        raise ConfigError("data", f"{cfg.data} (k={cfg.k})", "digits or sphere, k=1 (binary)")
    if cfg.data == "digits" and cfg.task != "binary":
        raise ConfigError("task", cfg.task, "binary (logistic loss, y in {-1, +1})")


def sphere_task(
    n: int,
    d: int,
    *,
    n_test: int = DEFAULT_N_TEST,
    noise: float = 0.0,
    mu: float = 0.5,
    labels: str = "teacher",
    seed: int = 0,
) -> tuple[Dataset, Dataset]:
    """(train, test) on the sphere with labels y = sign(teacher(x)) (see module docstring).

    Args:
        n: training samples. d: input dimension. n_test: held-out samples.
        noise: fraction of training labels replaced by uniform random +-1 (as digits).
        mu: last coordinate. labels: "teacher" (the study) or "sign" (pure noise).
        seed: one seed for inputs, teacher and label noise.

    Returns:
        Datasets with y of shape (n, 1) in {-1, +1}; ``classes`` is (y < 0) as 0/1.
    """
    from overparam.data.sphere import sphere

    if labels not in ("teacher", "sign"):
        raise ConfigError("labels", labels, "teacher or sign for a binary sphere task")
    if not (isinstance(n_test, int) and n_test >= 1):
        raise ConfigError("n_test", n_test, "an integer >= 1")
    if not 0.0 <= noise <= 1.0:
        raise ConfigError("noise", noise, "a fraction in [0, 1]")
    full = sphere(n + n_test, d, mu=mu, labels=labels, k=1, seed=seed)
    y = torch.where(full.y >= 0, 1.0, -1.0).to(torch.float64)
    rng = np.random.default_rng(seed)
    corrupt = torch.as_tensor(rng.random(n) < noise)
    random_sign = torch.as_tensor(rng.integers(0, 2, n) * 2.0 - 1.0)[:, None]
    y_train = torch.where(corrupt[:, None], random_sign, y[:n])
    provenance = {**full.provenance, "n": n, "n_test": n_test, "noise": noise, "binary": "sign"}
    out = []
    for split, X, ys in (("train", full.X[:n], y_train), ("test", full.X[n:], y[n:])):
        extra = {"split": split, "corrupted": int(corrupt.sum()) if split == "train" else 0}
        out.append(
            Dataset(X, ys, float("nan"), {**provenance, **extra}, (ys[:, 0] < 0).to(torch.int64))
        )
    return out[0], out[1]


def task_data(cfg: RunConfig, *, n_test: int = DEFAULT_N_TEST) -> tuple[Dataset, Dataset]:
    """(train, test) of a cao-gu online-SGD config: digits via
    :func:`overparam.run.build_data` (same split and noise as ``overparam train``), sphere
    via :func:`sphere_task`."""
    from overparam.run import build_data

    _check_cfg(cfg)
    if cfg.data == "digits":
        train_set, test_set = build_data(cfg)
        assert test_set is not None
        return train_set, test_set
    assert cfg.n is not None  # RunConfig's validator: n is None only for data=digits
    return sphere_task(
        int(cfg.n),
        cfg.d,
        n_test=n_test,
        noise=cfg.noise,
        mu=cfg.mu,
        labels=cfg.labels,
        seed=cfg.seed,
    )


# ---------------------------------------------------------------------------------------------
# One run
# ---------------------------------------------------------------------------------------------


class _IterateErrors:
    """Callback: the test 0-1 error of every iterate W^(t), t = 0..n-1 (before update t)."""

    def __init__(self, test: Dataset) -> None:
        self.test = test
        self.errors: list[float] = []

    def on_start(self, state: TrainState) -> None:
        self.errors = []

    def on_step(self, state: TrainState) -> None:
        if state.step < state.steps:
            with torch.no_grad():
                self.errors.append(1.0 - accuracy(state.model(self.test.X), self.test.y))

    def on_end(self, state: TrainState) -> None:
        pass


@dataclass(frozen=True)
class OnlineRun:
    """One run of Algorithm 2.

    Attributes:
        seed: the run's seed. n: samples processed (each exactly once). lr: eta.
        output_iterate: t of the returned W^(t), in [0, n - 1].
        test_error: 0-1 test error of the returned iterate.
        expected_test_error: (1/n) sum_t test_error(W^(t)), the exact mean over the output
            draw (None when iterates were not evaluated).
        train_error: 0-1 error of the returned iterate on the (possibly noisy) training labels.
        final_loss: mean logistic training loss after the pass (History.final_loss).
        status: History status ("max_steps" or "diverged").
        iterate_errors: test error of each W^(t) (empty unless evaluated).
    """

    seed: int
    n: int
    lr: float
    output_iterate: int | None
    test_error: float | None
    expected_test_error: float | None
    train_error: float | None
    final_loss: float
    status: str
    iterate_errors: list[float] = field(default_factory=list, repr=False)

    def summary(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "iterate_errors"}


def algorithm2(
    model: torch.nn.Module,
    train_set: Dataset,
    test_set: Dataset | None = None,
    *,
    lr: float,
    seed: int = 0,
    objective: Objective | None = None,
    iterate_errors: bool = True,
    history: list[History] | None = None,
) -> OnlineRun:
    """Run Algorithm 2 on ``model`` in place: one pass, one fresh sample per step, logistic
    loss, then set the parameters to a uniformly random iterate.

    Args:
        model: the network at W_0 (cao-gu for the paper; any one-output model works).
        train_set: the n samples (y in {-1, +1}); each is used exactly once, in a random order.
        test_set: held-out data for the 0-1 test error (None: not measured).
        lr: eta. seed: sample order and output draw.
        objective: defaults to the mean logistic loss of [cao-gu-2019, Section 3].
        iterate_errors: evaluate every iterate on the test set (exact expectation over W^).
        history: if a list is given, the run's :class:`History` is appended to it.

    Returns:
        An :class:`OnlineRun`; ``model`` holds the returned iterate W^.
    """
    from overparam.train.losses import make_objective

    if train_set.k != 1:
        raise ConfigError("train_set", f"k={train_set.k}", "one output (binary labels)")
    obj = objective or make_objective("logistic", "mean", 1)
    tracker = _IterateErrors(test_set) if (test_set is not None and iterate_errors) else None
    h = train(
        model,
        train_set,
        obj,
        lr=lr,
        steps=train_set.n,
        algorithm="online-sgd",
        seed=seed,
        callbacks=[tracker] if tracker else [],
    )
    if history is not None:
        history.append(h)
    ok = h.status != "diverged"
    test_error = expected = None
    if ok and test_set is not None:
        with torch.no_grad():
            test_error = 1.0 - accuracy(model(test_set.X), test_set.y)
        if tracker is not None and tracker.errors:
            expected = float(np.mean(tracker.errors))
    return OnlineRun(
        seed=int(seed),
        n=train_set.n,
        lr=float(lr),
        output_iterate=h.output_iterate,
        test_error=test_error,
        expected_test_error=expected,
        train_error=None if h.train_accuracy is None else 1.0 - h.train_accuracy,
        final_loss=h.final_loss,
        status=h.status,
        iterate_errors=list(tracker.errors) if tracker else [],
    )


def run_config(
    cfg: RunConfig, *, n_test: int = DEFAULT_N_TEST, iterate_errors: bool = True
) -> tuple[OnlineRun, torch.nn.Module, Dataset, Dataset]:
    """Algorithm 2 for one config: (run, model at init, train, test).

    The network is built exactly as :func:`overparam.run.setup` builds it (same init
    seed); the returned model is a copy at initialization (for kernels / NTRF), trained
    separately. The step size must be a number (``lr="auto"`` is a GD rule).
    """
    import copy

    from overparam.models.base import resolve_dtype
    from overparam.run import build_model

    _check_cfg(cfg)
    if not isinstance(cfg.lr, float | int):
        raise ConfigError("lr", cfg.lr, "a number (Algorithm 2's eta; e.g. 1/m)")
    train_set, test_set = task_data(cfg, n_test=n_test)
    dtype = resolve_dtype(cfg.dtype)
    train_set, test_set = train_set.to(dtype=dtype), test_set.to(dtype=dtype)
    model = build_model(cfg, train_set.d, 1)
    at_init = copy.deepcopy(model)
    run = algorithm2(
        model,
        train_set,
        test_set,
        lr=float(cfg.lr) * cfg.lr_scale,
        seed=cfg.seeds()["order"],
        iterate_errors=iterate_errors,
    )
    return replace(run, seed=cfg.seed), at_init, train_set, test_set


# ---------------------------------------------------------------------------------------------
# Over seeds
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExpectedError:
    """E[L_D^{0-1}(W^)] estimated over seeds.

    Attributes:
        mean: mean over seeds of the returned iterate's test error.
        stderr: its standard error (0 for one seed).
        expected: mean over seeds of the exact expectation over the output draw (None if not
            evaluated); a lower-variance estimate of the same quantity.
        runs: the per-seed :class:`OnlineRun` s.
    """

    mean: float
    stderr: float
    expected: float | None
    runs: tuple[OnlineRun, ...]


def expected_test_error(
    cfg: RunConfig,
    seeds: Sequence[int] = (0, 1, 2),
    *,
    n_test: int = DEFAULT_N_TEST,
    iterate_errors: bool = True,
) -> ExpectedError:
    """Run Algorithm 2 for ``cfg`` at each seed and average the 0-1 test error.

    Raises:
        ConfigError: not a cao-gu online-SGD binary config, no seeds, or every run diverged.
    """
    if not seeds:
        raise ConfigError("seeds", list(seeds), "at least one seed")
    runs = tuple(
        run_config(
            cfg.model_copy(update={"seed": int(s)}), n_test=n_test, iterate_errors=iterate_errors
        )[0]
        for s in seeds
    )
    errors = [r.test_error for r in runs if r.test_error is not None]
    if not errors:
        raise ConfigError("lr", cfg.lr, "a step size at which Algorithm 2 does not diverge")
    expected = [r.expected_test_error for r in runs if r.expected_test_error is not None]
    se = float(np.std(errors, ddof=1) / math.sqrt(len(errors))) if len(errors) > 1 else 0.0
    return ExpectedError(
        mean=float(np.mean(errors)),
        stderr=se,
        expected=float(np.mean(expected)) if expected else None,
        runs=runs,
    )
