"""The architecture registry: what belongs to one architecture, declared once.

An :class:`Architecture` names the parameterizations and data sources it accepts, how a
:class:`~overparam.config.RunConfig` becomes its network, and its kernels (the structured NTK
rule of its model class, the infinite-width Gram if one is known). :func:`register` adds one;
the config's ``arch`` field, :func:`overparam.run.build_model` and
:func:`overparam.ntk.empirical` read this table and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from overparam.ntk.structured import STRUCTURED_RULES, FactorFn, register_rule

if TYPE_CHECKING:
    from torch import nn

    from overparam.config import RunConfig
    from overparam.data.dataset import Dataset

T = TypeVar("T")

# The data sources whose samples are vectors (graphs give node indicators instead).
VECTOR_DATA = ("sphere", "close-pair", "digits")


@dataclass(frozen=True)
class Architecture:
    """One architecture.

    Attributes:
        name: the config's ``arch`` value.
        parameterizations: the parameterizations it implements; the first is the default.
        data: the data sources it trains on; the first is the default.
        build: ``build(cfg, d, k)`` -> the network of ``cfg`` for d inputs and k outputs.
        model: the network class ``build`` returns (the class ``ntk_rule`` is for).
        ntk_rule: the structured empirical NTK rule of ``model``
            (:mod:`overparam.ntk.structured`); None: the NTK is computed by autograd.
        gram: the infinite-width Gram, called as ``gram(X, depth=H)`` -> (n, n); None if
            none is known.
        inputs: ``inputs(cfg, dataset)`` -> the dataset as this architecture reads it (e.g. a
            CNN's images); None: as built.
    """

    name: str
    parameterizations: tuple[str, ...]
    data: tuple[str, ...]
    build: Callable[[RunConfig, int, int], nn.Module]
    model: type | None = None
    ntk_rule: FactorFn | None = None
    gram: Callable[..., Any] | None = None
    inputs: Callable[[RunConfig, Dataset], Dataset] | None = None

    def __post_init__(self) -> None:
        if not self.name or not self.parameterizations or not self.data:
            raise ValueError(f"architecture {self.name!r}: a name, parameterizations and data")
        if self.ntk_rule is not None and self.model is None:
            raise ValueError(f"architecture {self.name!r}: an ntk_rule needs its model class")


_ARCHITECTURES: dict[str, Architecture] = {}


def register(arch: Architecture) -> Architecture:
    """Add ``arch`` (and its structured NTK rule); a name is registered once."""
    if arch.name in _ARCHITECTURES:
        raise ValueError(f"architecture {arch.name!r} is already registered")
    _ARCHITECTURES[arch.name] = arch
    if arch.ntk_rule is not None and arch.model is not None:  # __post_init__: both or no rule
        register_rule(arch.model, arch.ntk_rule)
    return arch


def unregister(name: str) -> None:
    """Remove the architecture ``name`` and its structured NTK rule (if registered)."""
    arch = _ARCHITECTURES.pop(name, None)
    if arch is not None and arch.model is not None and arch.ntk_rule is not None:
        STRUCTURED_RULES.pop(arch.model, None)


def names() -> tuple[str, ...]:
    """The registered architecture names, in registration order."""
    return tuple(_ARCHITECTURES)


def architectures() -> tuple[Architecture, ...]:
    """Every registered architecture, in registration order."""
    return tuple(_ARCHITECTURES.values())


def get(name: str) -> Architecture:
    """The architecture ``name`` (KeyError if none is registered under it)."""
    return _ARCHITECTURES[name]


def build(cfg: RunConfig, d: int, k: int) -> nn.Module:
    """The network of ``cfg`` for d inputs and k outputs, by its architecture's ``build``."""
    return get(cfg.arch).build(cfg, d, k)


class View(Mapping[str, T]):
    """A read-only, live {name: field} mapping over the registry (registrations show up)."""

    def __init__(self, field: Callable[[Architecture], T]) -> None:
        self._field = field

    def __getitem__(self, name: str) -> T:
        return self._field(_ARCHITECTURES[name])

    def __iter__(self) -> Iterator[str]:
        return iter(names())

    def __len__(self) -> int:
        return len(_ARCHITECTURES)

    def __repr__(self) -> str:
        return repr(dict(self))
