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

#: The report's chapters, in the order the proofs chain their facts, with their studies:
#: initialization and the lazy regime (norms, movement, sign flips, the kernel), the gradient
#: lower bound and semi-smoothness, the linear rate, the width and iterations required, depth
#: and other architectures, generalization.
CHAPTERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Initialization and the lazy regime", ("width-scaling", "du-two-layer", "kernel-regime")),
    ("Gradient and smoothness", ("no-critical-points",)),
    ("Convergence rate", ("linear-rate",)),
    ("Width and iteration requirements", ("critical-width", "scaling-laws")),
    ("Depth and architectures", ("depth", "gnn-skip")),
    ("Generalization", ("generalization", "labels")),
)

#: Every study, in report order.
STUDY_NAMES: tuple[str, ...] = tuple(name for _, names in CHAPTERS for name in names)


def chapter(name: str) -> str:
    """The title of the chapter study ``name`` belongs to."""
    for title, members in CHAPTERS:
        if name in members:
            return title
    raise ConfigError("study", name, ", ".join(STUDY_NAMES))


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
