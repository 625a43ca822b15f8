"""What a study is: runs to train, measurements to take, and an analysis of what was stored.

A study is pure with respect to the store: ``plan`` lists the training runs (executed by the
sweep machinery and stored), ``measure`` returns tidy rows computed without training (kernels,
bounds; stored too), and ``analyze`` turns the stored frames into claims and figures. So
``overparam report`` can regenerate every figure from stored results alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from overparam.config import RunConfig

Verdict = Literal["holds", "holds with constant C", "does not hold at this scale", "not measured"]


@dataclass(frozen=True)
class Claim:
    """One row of the report's summary table.

    Attributes:
        claim: the statement, e.g. "movement falls like m^(-1/2)".
        source: reference key and location, e.g. "zou-gu-2019, Lemma 4.2".
        measured: the measured value as text (e.g. "slope -0.48 [-0.55, -0.41]").
        theory: the theory's value as text (e.g. "-0.5").
        verdict: holds / holds with constant C / does not hold at this scale.
        note: optional detail (the constant C, the scale it was measured at).
    """

    claim: str
    source: str
    measured: str
    theory: str
    verdict: Verdict
    note: str = ""


@dataclass(frozen=True)
class FigureSpec:
    """A matplotlib figure with its file stem and a caption citing the paper."""

    name: str
    caption: str
    figure: Any  # matplotlib.figure.Figure


@dataclass(frozen=True)
class StudyResult:
    claims: list[Claim] = field(default_factory=list)
    figures: list[FigureSpec] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)


@dataclass(frozen=True)
class StudyData:
    """What ``analyze`` receives: this study's stored rows.

    Attributes:
        runs: one row per run (config columns flattened, status, train status, wall_s,
            initial_loss, final_loss, steps, train/test accuracy, run_id).
        losses: tidy (run_id, step, loss).
        probes: tidy (run_id, step, probe, layer, value, bound, ...).
        measurements: tidy rows returned by ``measure`` (any columns).
    """

    runs: pd.DataFrame
    losses: pd.DataFrame
    probes: pd.DataFrame
    measurements: pd.DataFrame


@dataclass(frozen=True)
class Study:
    """A registered study (its ``name`` is the ``--only`` key of ``overparam reproduce``)."""

    name: str
    title: str
    source: str
    plan: Callable[[bool], list[RunConfig]]
    analyze: Callable[[StudyData], StudyResult]
    measure: Callable[[bool], pd.DataFrame] | None = None
    description: str = ""


STUDIES: dict[str, Study] = {}


def register(study: Study) -> Study:
    """Add a study to the registry (name must be new)."""
    if study.name in STUDIES:
        raise ValueError(f"study {study.name!r} is registered twice")
    STUDIES[study.name] = study
    return study
