"""What a study is: data, not code paths.

A :class:`Study` names the theorem it tests (citation keys, the hypotheses), plans its training
runs as :class:`~overparam.sweep.spec.SweepSpec` objects (the same objects a TOML spec builds, so
``overparam studies show NAME --toml`` prints them and ``overparam sweep run`` runs them on any
executor), optionally ``measure``-s quantities that need no training (kernels, bounds), and
declares its claims in a table (:class:`~overparam.studies.claims.Claim`). Its ``evidence``
function turns the stored frames into one frame per claim (plus figures, tables and context
numbers); :meth:`Study.analyze` judges every declared claim on its frame with the one claim
engine (:func:`~overparam.studies.claims.judge`). A study writes no verdict code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from overparam.config import RunConfig
from overparam.errors import ConfigError
from overparam.references import REFERENCES
from overparam.studies.claims import Claim, Hypothesis, Judgement, judge
from overparam.studies.plan import experiment_name
from overparam.sweep.spec import SweepSpec

Scale = Literal["quick", "laptop", "full", "cluster"]
#: The scales a study can be asked to run at, smallest first: ``quick`` (CI, minutes on 2
#: cores), ``laptop`` (at most an hour on 2 cores), ``full`` and ``cluster`` (a Ray job).
SCALES: tuple[Scale, ...] = ("quick", "laptop", "full", "cluster")
#: Every study defines ``quick`` and ``full`` sizes; one that defines no ``laptop`` or
#: ``cluster`` sizes plans its ``full`` ones there (see :attr:`Study.scale_sizes`).
DEFAULT_SCALE_SIZES: Mapping[Scale, Scale] = {
    "quick": "quick", "laptop": "full", "full": "full", "cluster": "full",
}  # fmt: skip


def resolve_scale(scale: str | None, quick: bool = False) -> Scale:
    """The scale ``reproduce`` runs: ``scale`` (checked), ``quick`` with ``quick=True``, else
    ``full``; a scale other than quick together with ``quick=True`` is refused."""
    if quick and scale not in (None, "quick"):
        raise ConfigError("scale", scale, "quick, or leave out --quick")
    name = "quick" if quick else (scale or "full")
    if name not in SCALES:
        raise ConfigError("scale", name, ", ".join(SCALES))
    return name


@dataclass(frozen=True)
class FigureSpec:
    """A matplotlib figure with its file stem and a caption citing the paper."""

    name: str
    caption: str
    figure: Any  # matplotlib.figure.Figure


@dataclass(frozen=True)
class Context:
    """A number shown beside the claims but not judged: a quantity no outcome of the data could
    make fail (a bound at its trivial value, an identity), stated with what it is.

    Attributes:
        label: what the number is, e.g. "Cao-Gu bound on the 0-1 test error".
        value: the number as text, e.g. "2.0 .. 11.1".
        cite: "<reference key>, <location>" or "".
        why: why it is context rather than a claim, e.g. "a bound >= 1 on a probability".
    """

    label: str
    value: str
    cite: str = ""
    why: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"label": self.label, "value": self.value, "cite": self.cite, "why": self.why}


@dataclass(frozen=True)
class StudyData:
    """What ``evidence`` receives: this study's stored rows.

    Attributes:
        runs: one row per run (config columns flattened, status, train status, wall_s,
            initial_loss, final_loss, steps, train/test accuracy, run_id).
        losses: tidy (run_id, step, loss).
        probes: tidy (run_id, step, probe, quantity, layer, value, bound, ratio, ...).
        measurements: tidy rows returned by ``measure`` (any columns).
        scale: the scale these rows were planned at.
    """

    runs: pd.DataFrame
    losses: pd.DataFrame
    probes: pd.DataFrame
    measurements: pd.DataFrame
    scale: Scale = "quick"


@dataclass(frozen=True)
class Evidence:
    """What a study's ``evidence`` function returns.

    Attributes:
        frames: {claim key: the frame its test judges}; a declared claim without a frame is
            judged on no rows (inconclusive: not measured).
        figures, tables: the study's own figures and tables (tables as data frames).
        context: numbers shown beside the claims, not judged (:class:`Context`).
    """

    frames: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    figures: Sequence[FigureSpec] = ()
    tables: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    context: Sequence[Context] = ()


@dataclass(frozen=True)
class StudyResult:
    """A study's analysis: every declared claim judged, its figures, tables and context."""

    judgements: list[Judgement] = field(default_factory=list)
    figures: list[FigureSpec] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    context: list[Context] = field(default_factory=list)


@dataclass(frozen=True)
class Study:
    """A registered study (its ``name`` is the ``--only`` key of ``overparam reproduce``).

    Attributes:
        name: e.g. "linear-rate". title: the section heading.
        cites: the reference keys of the papers it tests (:data:`overparam.references.REFERENCES`).
        description: what is run and measured (plain text).
        claims: the declared claims, judged by :meth:`analyze`.
        plan: scale -> the sweep specs of its training runs (built by
            :func:`overparam.studies.plan.sweep`; may be empty).
        evidence: the stored frames -> one frame per claim, figures, tables, context.
        measure: scale -> tidy rows computed without training (stored beside the runs).
        hypotheses: the cited theorems' hypotheses shared by the claims, shown in the section.
        scale_sizes: requested scale -> the scale whose sizes ``plan`` and ``measure`` get (and
            under whose name its runs are stored), so two scales with the same sizes share
            their stored runs.
    """

    name: str
    title: str
    cites: tuple[str, ...]
    description: str
    claims: tuple[Claim, ...]
    plan: Callable[[Scale], list[SweepSpec]]
    evidence: Callable[[StudyData], Evidence]
    measure: Callable[[Scale], pd.DataFrame] | None = None
    hypotheses: tuple[Hypothesis, ...] = ()
    scale_sizes: Mapping[Scale, Scale] = field(default_factory=lambda: dict(DEFAULT_SCALE_SIZES))

    def __post_init__(self) -> None:
        unknown = [k for k in self.cites if k not in REFERENCES]
        if unknown:
            raise ConfigError("cites", unknown[0], ", ".join(REFERENCES))
        keys = [c.key for c in self.claims]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:
            raise ConfigError("claims", twice[0], "claim keys unique within a study")
        object.__setattr__(self, "claims", tuple(self.claims))
        object.__setattr__(self, "cites", tuple(self.cites))
        object.__setattr__(self, "hypotheses", tuple(self.hypotheses))
        if set(self.scale_sizes) != set(SCALES):
            raise ConfigError("scale_sizes", sorted(self.scale_sizes), ", ".join(SCALES))
        for scale, sizes in self.scale_sizes.items():
            if self.scale_sizes.get(sizes) != sizes:  # a stored scale must plan its own sizes
                raise ConfigError(f"scale_sizes[{scale!r}]", sizes, "a scale mapped to itself")

    def sizes_of(self, scale: str) -> Scale:
        """The scale whose sizes ``scale`` plans (checked: one of :data:`SCALES`)."""
        if scale not in SCALES:
            raise ConfigError("scale", scale, ", ".join(SCALES))
        return self.scale_sizes[scale]

    @property
    def source(self) -> str:
        """The cited locations of its claims, each once ("du-2019-deep, Theorem 5.1; ...")."""
        return "; ".join(dict.fromkeys(c.cite for c in self.claims))

    def specs(self, scale: Scale) -> list[SweepSpec]:
        """The sweep specs of ``scale`` (checked: each named under this study and the scale of
        its sizes)."""
        sizes = self.sizes_of(scale)
        specs = self.plan(sizes)
        prefix = experiment_name(self.name, sizes)
        for s in specs:
            if s.name != prefix and not s.name.startswith(prefix + "/"):
                raise ConfigError("plan.name", s.name, f"{prefix} or {prefix}/<part>")
        return specs

    def configs(self, scale: Scale) -> list[RunConfig]:
        """Every planned run of ``scale``, in plan order."""
        return [cfg for spec in self.specs(scale) for cfg in spec.configs()]

    def analyze(self, data: StudyData) -> StudyResult:
        """Judge every declared claim on the frame ``evidence`` gives it."""
        ev = self.evidence(data)
        declared = {c.key for c in self.claims}
        stray = sorted(set(ev.frames) - declared)
        if stray:
            raise ConfigError("evidence.frames", stray[0], ", ".join(sorted(declared)))
        judgements = [judge(c, ev.frames.get(c.key)) for c in self.claims]
        return StudyResult(judgements, list(ev.figures), dict(ev.tables), list(ev.context))
