"""scikit-learn's shipped 8x8 digits under the papers' data assumptions."""

from __future__ import annotations

import math
from enum import StrEnum

import numpy as np
import torch

from overparam.data.dataset import Dataset, min_separation
from overparam.errors import ConfigError


class DigitsTask(StrEnum):
    """``multiclass``: 10 classes, one-hot targets. ``binary``: digits 0-4 -> +1, 5-9 -> -1.
    ``random``: the binary task with every training label replaced by a random one
    (noise = 1, the random-label experiment of [zhang-2017])."""

    MULTICLASS = "multiclass"
    BINARY = "binary"
    RANDOM = "random"


def normalize_inputs(features: np.ndarray, mu: float) -> np.ndarray:
    """Center the features, scale each row to norm sqrt(1 - mu^2) and append mu, so that
    ||x|| = 1 and x_d = mu [zou-gu-2019, Assumption 3.1]."""
    centered = features - features.mean(0, keepdims=True)
    norms = np.linalg.norm(centered, axis=1, keepdims=True)
    scaled = math.sqrt(1.0 - mu * mu) * centered / np.maximum(norms, 1e-12)
    return np.concatenate([scaled, np.full((features.shape[0], 1), mu)], axis=1)


def digits(
    *,
    task: str = "binary",
    noise: float = 0.0,
    test_fraction: float = 0.2,
    mu: float = 0.5,
    n: int | None = None,
    seed: int = 0,
) -> tuple[Dataset, Dataset]:
    """Train and test splits of scikit-learn's digits (1797 images, d = 64 + 1).

    Args:
        task: see :class:`DigitsTask`.
        noise: fraction of *training* labels replaced by uniformly random ones [zhang-2017].
        test_fraction: held-out fraction, stratified by digit.
        mu: the appended last coordinate, in (0, 1).
        n: keep only the first n training samples of the shuffled split (None: all).
        seed: split, subsample and label-noise seed.

    Returns:
        (train, test); y is (n, 1) in {-1, +1} for binary / random, (n, 10) one-hot otherwise.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    try:
        kind = DigitsTask(task)
    except ValueError:
        raise ConfigError("task", task, ", ".join(t.value for t in DigitsTask)) from None
    if not 0.0 <= noise <= 1.0:
        raise ConfigError("noise", noise, "a fraction in [0, 1]")
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError("test_fraction", test_fraction, "a fraction in (0, 1)")
    if not 0.0 < mu < 1.0:
        raise ConfigError("mu", mu, "a number in the open interval (0, 1)")
    if kind is DigitsTask.RANDOM:
        noise = 1.0
    features, digit = load_digits(return_X_y=True)
    X = normalize_inputs(features.astype(np.float64), mu)
    idx_train, idx_test = train_test_split(
        np.arange(len(digit)), test_size=test_fraction, random_state=seed, stratify=digit
    )
    if n is not None:
        if not isinstance(n, int) or not 1 <= n <= len(idx_train):
            raise ConfigError("n", n, f"an integer in [1, {len(idx_train)}] for digits")
        idx_train = idx_train[:n]
    rng = np.random.default_rng(seed)
    n_classes = 10 if kind is DigitsTask.MULTICLASS else 2
    true_classes = digit if n_classes == 10 else (digit >= 5).astype(np.int64)
    train_classes = true_classes[idx_train].copy()
    corrupt = rng.random(len(idx_train)) < noise
    train_classes[corrupt] = rng.integers(0, n_classes, int(corrupt.sum()))

    def targets(classes: np.ndarray) -> torch.Tensor:
        c = torch.as_tensor(classes)
        if n_classes == 10:
            return torch.nn.functional.one_hot(c, 10).to(torch.float64)
        return (1.0 - 2.0 * c.to(torch.float64))[:, None]  # class 0 (digits 0-4) -> +1

    provenance = {
        "generator": "digits",
        "task": kind.value,
        "noise": noise,
        "mu": mu,
        "test_fraction": test_fraction,
        "seed": seed,
        "n": n,
    }
    out = []
    for split, idx, classes in (
        ("train", idx_train, train_classes),
        ("test", idx_test, true_classes[idx_test]),
    ):
        Xs = torch.as_tensor(X[idx])
        out.append(
            Dataset(
                Xs,
                targets(classes),
                min_separation(Xs),
                {
                    **provenance,
                    "split": split,
                    "corrupted": int(corrupt.sum()) if split == "train" else 0,
                },
                torch.as_tensor(classes),
            )
        )
    return out[0], out[1]
