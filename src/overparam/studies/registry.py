"""The registered studies, in the order the proofs use their facts: the lazy regime at init and
along training (movement, flips, kernel), the gradient and smoothness, the linear rate, the width
the theorems require, depth and other architectures, generalization.

Each name is a module of :mod:`overparam.studies` (``linear-rate`` -> ``linear_rate``) that
defines ``STUDY``; only the modules asked for are imported.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from overparam.errors import ConfigError

if TYPE_CHECKING:
    from overparam.studies.study import Study

#: Every study, in report order.
STUDY_NAMES: tuple[str, ...] = (
    "du-two-layer",
    "width-scaling",
    "kernel-regime",
    "no-critical-points",
    "linear-rate",
    "critical-width",
    "depth",
    "gnn-skip",
    "generalization",
    "labels",
)


#: The studies imported so far, by name.
LOADED: dict[str, Study] = {}


def get(name: str) -> Study:
    """The study called ``name`` (its module imported on first use)."""
    if name not in STUDY_NAMES:
        raise ConfigError("study", name, ", ".join(STUDY_NAMES))
    if name not in LOADED:
        module = importlib.import_module(f"overparam.studies.{name.replace('-', '_')}")
        study = module.STUDY
        if study.name != name:
            raise ConfigError(f"{module.__name__}.STUDY.name", study.name, name)
        LOADED[name] = study
    return LOADED[name]


def names(only: Sequence[str] | None = None) -> list[str]:
    """The names in ``only`` (every study if empty), in report order, checked without
    importing any study."""
    if not only:
        return list(STUDY_NAMES)
    unknown = [n for n in only if n not in STUDY_NAMES]
    if unknown:
        raise ConfigError("only", ",".join(unknown), ", ".join(STUDY_NAMES))
    return [n for n in STUDY_NAMES if n in set(only)]


def select(only: Sequence[str] | None = None) -> list[Study]:
    """The studies named in ``only`` (every study if empty), in report order."""
    return [get(n) for n in names(only)]
