"""Label generators: gaussian, sign (random +-1), one-hot classes and a random teacher network."""

from __future__ import annotations

from enum import StrEnum

import torch

from overparam.errors import ConfigError


class Labels(StrEnum):
    """Targets for synthetic inputs. ``gaussian``: y ~ N(0, I_k) (the random labels of
    [du-2019-two-layer, Section 5]); ``sign``: uniform +-1; ``onehot``: a uniformly random class
    of k, one-hot; ``teacher``: the output of a random network (see :func:`teacher_labels`)."""

    GAUSSIAN = "gaussian"
    SIGN = "sign"
    ONEHOT = "onehot"
    TEACHER = "teacher"


def parse_labels(value: str | Labels) -> Labels:
    try:
        return Labels(value)
    except ValueError:
        raise ConfigError("labels", value, ", ".join(v.value for v in Labels)) from None


def teacher_labels(
    X: torch.Tensor,
    k: int,
    gen: torch.Generator,
    *,
    parameterization: str = "ntk",
    width: int = 256,
    depth: int = 2,
) -> torch.Tensor:
    """y = g(X) for a random network g of the same family (a fully connected relu net in
    ``parameterization``), standardized to zero mean and unit variance per output so that the
    target scale does not depend on the teacher's parameterization."""
    from overparam.models import FullyConnected

    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
    teacher = FullyConnected(
        X.shape[1],
        width,
        depth,
        k,
        parameterization=parameterization,
        dtype=torch.float64,
        seed=seed,
    )
    with torch.no_grad():
        y = teacher(X.to(torch.float64))
    std = y.std(0, keepdim=True).clamp_min(1e-12) if y.shape[0] > 1 else torch.ones_like(y)
    return (y - y.mean(0, keepdim=True)) / std


def make_labels(
    X: torch.Tensor, labels: str | Labels, k: int, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(y, classes): y is (n, k) float64; classes is (n,) for onehot / sign, else None."""
    kind = parse_labels(labels)
    n = X.shape[0]
    if kind is Labels.GAUSSIAN:
        return torch.randn(n, k, generator=gen, dtype=torch.float64), None
    if kind is Labels.SIGN:
        bits = torch.randint(0, 2, (n, k), generator=gen)
        return (2.0 * bits - 1.0).to(torch.float64), bits[:, 0].clone()
    if kind is Labels.ONEHOT:
        if k < 2:
            raise ConfigError("k", k, "an integer >= 2 for one-hot labels")
        classes = torch.randint(0, k, (n,), generator=gen)
        return torch.nn.functional.one_hot(classes, k).to(torch.float64), classes
    return teacher_labels(X, k, gen), None
