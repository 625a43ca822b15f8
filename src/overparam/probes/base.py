"""The probe machinery: tidy records, schedules, the :class:`Probe` base class and the registry.

A probe is a training callback (:class:`overparam.train.loop.Callback`) that, at the steps of
its schedule, measures one quantity a convergence proof bounds and appends tidy rows to the
run's :class:`~overparam.train.history.History` ``records``::

    {step, probe, quantity, layer, value, bound, ratio, kind, lemma,
     width, depth, seed, parameterization}

* ``quantity`` names what was measured when a probe measures several things (``"min"`` and
  ``"max"`` of the hidden norms, ``"spectral"`` and ``"frobenius"`` movement, ...).
* ``layer`` is the paper's symbol of the layer (``"W2"``; ``"A"`` for Allen-Zhu et al.'s input
  layer, whose output is their h_0), or ``"all"`` for network-wide quantities.
* ``bound`` is the proof's bound evaluated at the run's n, m, L, k, delta (= phi) and the
  *measured* omega, with every hidden O(.)/Omega(.) constant set to 1; None where no bound is
  stated, and always None for a model that is not one of the papers' architectures (no bound
  applies to it; :attr:`overparam.probes.context.Context.bound_note`).
  Because of those constants only the ratio's scaling (across widths, depths, steps)
  is meaningful, never its absolute value.
* ``kind`` says how to read value against bound: ``"upper"`` (theory: value <= bound, so
  ratio <= 1 is consistent with it), ``"lower"`` (value >= bound, ratio >= 1) or ``"none"``.
* ``ratio`` is value / bound unless the probe's docstring says otherwise; None when the bound is
  missing, zero or not finite.

Scheduling: by default a probe measures at about 50 log-spaced steps (0 and the last included,
:func:`overparam.train.schedule.log_spaced`); ``every=k`` measures at 0, k, 2k, ... and the
last step. On every other step ``on_step`` returns after one set lookup, so probes cost nothing
between evaluations. If a run stops early (target reached), its final step is measured at
``on_end``; diverged and online-SGD runs are not (online SGD's returned iterate is not the
last one).

A probe that does not apply to a run (e.g. ``flips`` for a smooth activation) records no rows;
its ``skip_reason`` says why.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, ClassVar, TypeVar

import torch

from overparam.errors import ConfigError
from overparam.probes.context import Context
from overparam.train.loop import TrainState
from overparam.train.schedule import every as every_steps
from overparam.train.schedule import log_spaced

# About 50 evaluations keep probe overhead small (the 1.2x budget) while resolving
# the loss curve's log-time structure.
DEFAULT_POINTS = 50

UPPER, LOWER, NONE = "upper", "lower", "none"
KINDS = (UPPER, LOWER, NONE)

# ---------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProbeRecord:
    """One tidy row (see the module docstring for each field)."""

    step: int
    probe: str
    quantity: str
    layer: str
    value: float | None
    bound: float | None
    ratio: float | None
    kind: str
    lemma: str
    width: int | None
    depth: int | None
    seed: int | None
    parameterization: str | None

    def as_row(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _FIELDS}


_FIELDS = tuple(f.name for f in fields(ProbeRecord))


def _finite(x: float | None) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def ratio_of(value: float | None, bound: float | None) -> float | None:
    """value / bound, or None if either is missing or the bound is zero or not finite."""
    if value is None or bound is None or not math.isfinite(bound) or bound == 0.0:
        return None
    r = float(value) / float(bound)
    return r if math.isfinite(r) else None


# ---------------------------------------------------------------------------------------------
# Schedules
# ---------------------------------------------------------------------------------------------


def probe_steps(steps: int, every: int | None = None, points: int = DEFAULT_POINTS) -> frozenset:
    """The steps a probe measures in a run of ``steps`` updates (t = 0..steps).

    Args:
        steps: the run's step budget (the loop calls ``on_step`` for t = 0..steps).
        every: measure every ``every`` steps (and the last); None for log-spaced.
        points: number of log-spaced evaluations when ``every`` is None.
    """
    if every is not None:
        if not isinstance(every, int) or every < 1:
            raise ConfigError("probe_every", every, "an integer >= 1, or None for log-spaced")
        return frozenset(every_steps(steps, every))
    return frozenset(log_spaced(steps, points))


# ---------------------------------------------------------------------------------------------
# The base class
# ---------------------------------------------------------------------------------------------


class Probe:
    """Base class of every probe: schedule, skip logic and the record helper.

    Subclasses set the class attributes and implement :meth:`measure` (and optionally
    :meth:`applies` and :meth:`start`).

    Class attributes:
        name: the registry name (``--probe NAME``).
        lemma: the result it checks, as ``[reference-key, location]``.
        formula: the bound(s), written out, with constants set to 1.
        uses_gradient: if True, :meth:`measure` receives the full-batch gradient at W_t. Under
            full-batch GD it is the gradient the loop itself computes (passed through the
            loop's ``on_gradient`` hook, so it costs nothing); otherwise the probe computes it.
        options: constructor keyword options accepted as ``name:key=value`` (see
            :func:`overparam.probes.make_probes`), mapped to their types.

    Args:
        every: measure every ``every`` steps; None for ~``points`` log-spaced steps.
        points: log-spaced evaluations when ``every`` is None.
    """

    name: ClassVar[str] = ""
    lemma: ClassVar[str] = ""
    formula: ClassVar[str] = ""
    uses_gradient: ClassVar[bool] = False
    options: ClassVar[dict[str, type]] = {}

    def __init__(self, *, every: int | None = None, points: int = DEFAULT_POINTS) -> None:
        if every is not None and (not isinstance(every, int) or every < 1):
            raise ConfigError("probe_every", every, "an integer >= 1, or None for log-spaced")
        if not isinstance(points, int) or points < 2:
            raise ConfigError("points", points, "an integer >= 2")
        self.every = every
        self.points = points
        self.skip_reason: str | None = None
        self._ctx: Context | None = None
        self._steps: frozenset = frozenset()
        self._done: set[int] = set()
        self._pending: int | None = None

    def __repr__(self) -> str:
        sched = f"every={self.every}" if self.every else f"points={self.points}"
        return f"{type(self).__name__}({sched})"

    @property
    def ctx(self) -> Context:
        """The run's shared :class:`~overparam.probes.context.Context` (set by on_start)."""
        if self._ctx is None:
            raise RuntimeError(f"{type(self).__name__} is used before on_start")
        return self._ctx

    # -- hooks for subclasses --------------------------------------------------------------
    def applies(self, ctx: Context) -> str | None:
        """None if the probe applies to this run, else the reason it records nothing."""
        return None

    def start(self, state: TrainState) -> None:
        """Called once at W_0 (before any update) when the probe applies."""

    def measure(self, state: TrainState, grads: dict[str, torch.Tensor] | None = None) -> None:
        """Measure at W_t and :meth:`record` rows. ``grads``: the full-batch gradient of the
        run's objective at W_t by parameter name (only for ``uses_gradient`` probes)."""
        raise NotImplementedError

    # -- the Callback protocol ---------------------------------------------------------------
    def on_start(self, state: TrainState) -> None:
        self._ctx = Context.of(state)
        self._steps = probe_steps(state.steps, self.every, self.points)
        self._done = set()
        self._pending = None
        self.skip_reason = self.applies(self.ctx)
        if self.skip_reason is None:
            self.start(state)

    def on_step(self, state: TrainState) -> None:
        if self.skip_reason is not None or state.step not in self._steps:
            return
        info = self.ctx.info
        if not self.uses_gradient:
            self._run(state)
        elif info.algorithm == "gd" and info.gradient_hook and state.step < state.steps:
            self._pending = state.step  # measured in on_gradient with the loop's gradient
        else:
            self._run(state, self.ctx.full_gradient(state))

    def on_gradient(self, state: TrainState, grads: dict[str, torch.Tensor]) -> None:
        """The loop's hook: the gradient of update ``state.step``, before it is applied."""
        if self._pending is not None and self._pending == state.step:
            self._pending = None
            self._run(state, grads)

    def on_end(self, state: TrainState) -> None:
        if self.skip_reason is not None or self._ctx is None:
            return
        if state.step in self._done or not self.ctx.end_measurable(state):
            return
        self.ctx.invalidate()
        grads = self.ctx.full_gradient(state) if self.uses_gradient else None
        self._run(state, grads)

    def measure_now(self, state: TrainState) -> None:
        """Measure at ``state.step`` now, outside the schedule (a tracker in a user's loop
        calls this; the full-batch gradient is computed if the probe needs it)."""
        if self.skip_reason is not None or self._ctx is None:
            return
        grads = self.ctx.full_gradient(state) if self.uses_gradient else None
        self._run(state, grads)

    def _run(self, state: TrainState, grads: dict[str, torch.Tensor] | None = None) -> None:
        self._done.add(state.step)
        with torch.no_grad():
            if self.uses_gradient:
                self.measure(state, grads)
            else:
                self.measure(state)

    # -- recording ----------------------------------------------------------------------------
    def record(
        self,
        state: TrainState,
        quantity: str,
        value: float | None,
        bound: float | None = None,
        *,
        kind: str = UPPER,
        layer: str = "all",
        ratio: float | Callable[[float | None, float | None], float | None] | None = ratio_of,
        step: int | None = None,
    ) -> None:
        """Append one tidy row to ``state.history.records``.

        Args:
            quantity: what was measured. value: the measurement. bound: the bound (None: none).
            kind: "upper", "lower" or "none" (see the module docstring).
            layer: the layer's paper symbol, or "all".
            ratio: a number, or a function (value, bound) -> ratio; value / bound by default.
            step: the step the row describes (default: ``state.step``).
        """
        value, bound = _finite(value), _finite(bound)
        if not self.ctx.bounds_apply:  # the papers bound their own architectures only
            bound = None
        if bound is None:
            kind = NONE
        r = ratio(value, bound) if callable(ratio) else _finite(ratio)
        info = self.ctx.info
        rec = ProbeRecord(
            step=int(state.step if step is None else step),
            probe=self.name,
            quantity=quantity,
            layer=str(layer),
            value=value,
            bound=bound,
            ratio=None if kind == NONE else r,
            kind=kind,
            lemma=self.lemma,
            width=info.m,
            depth=info.L,
            seed=info.seed,
            parameterization=info.parameterization,
        )
        state.history.records.append(rec.as_row())


# ---------------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------------

PROBES: dict[str, type[Probe]] = {}

P = TypeVar("P", bound=type[Probe])


def register(cls: P) -> P:
    """Class decorator: add a :class:`Probe` subclass to :data:`PROBES` under ``cls.name``."""
    if not cls.name or not cls.lemma or not cls.formula:
        raise TypeError(f"{cls.__name__} must set name, lemma and formula")
    if cls.name in PROBES and PROBES[cls.name] is not cls:
        raise ValueError(f"probe name {cls.name!r} already registered by {PROBES[cls.name]}")
    PROBES[cls.name] = cls
    return cls
