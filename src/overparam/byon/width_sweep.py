"""``overparam.width_sweep``: is a user's model family in the lazy regime as it widens?

Trains ``make_model(width)`` for each width and seed with :func:`overparam.measure`, takes the
final NTK drift, relative parameter movement and sign-flip fraction of each run, fits their
exponents in the width, and judges the lazy-regime predictions (:data:`overparam.byon.scaling.
LAZY_CLAIMS`) with the claim engine: each verdict is one the data could have contradicted.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import torch
from torch import nn

from overparam.byon.measure import measure
from overparam.byon.scaling import exponents, judge_scaling, scaling_frame
from overparam.errors import ConfigError
from overparam.studies.claims import Judgement
from overparam.train.history import History

#: What the sweep measures by default: the three quantities it fits.
SWEEP_PROBES: tuple[str, ...] = ("flips", "movement", "ntk_drift")


@dataclass(frozen=True)
class WidthSweep:
    """A width sweep's result.

    Attributes:
        frame: one row per run (width, seed, loss_ratio and the fitted quantities).
        exponents: per quantity, the fitted slope in the width with its 95% interval.
        judgements: the lazy-regime claims' verdicts (consistent / contradicted / inconclusive,
            each with the measured slope and the reason).
        histories: every run's History, by (width, seed).
    """

    frame: pd.DataFrame
    exponents: pd.DataFrame
    judgements: list[Judgement]
    histories: dict[tuple[int, int], History] = field(repr=False)

    def table(self) -> pd.DataFrame:
        """Claims, verdicts and measured slopes, one row per claim."""
        return pd.DataFrame(
            [
                {"claim": j.key, "verdict": j.verdict, "measured": j.measured, "cite": j.cite}
                for j in self.judgements
            ]
        )

    def __str__(self) -> str:
        lines = ["width sweep: " + ", ".join(str(w) for w in sorted(self.frame["width"].unique()))]
        for row in self.exponents.itertuples():
            lines.append(
                f"  {row.quantity}: slope {row.slope:.3f} [{row.low:.3f}, {row.high:.3f}]"
                f" over {row.widths} widths"
            )
        for j in self.judgements:
            lines.append(f"  {j.key}: {j.verdict} ({j.reason})")
        return "\n".join(lines)


def _builder(make_model: Callable[..., nn.Module]) -> Callable[[int, int], nn.Module]:
    """make_model(width, seed) or make_model(width) (then seeded by torch.manual_seed)."""
    if not callable(make_model):
        raise ConfigError("make_model", type(make_model).__name__, "a callable width -> model")
    try:
        takes_seed = len(inspect.signature(make_model).parameters) >= 2
    except (TypeError, ValueError):
        takes_seed = False

    def build(width: int, seed: int) -> nn.Module:
        if takes_seed:
            return make_model(width, seed)
        torch.manual_seed(seed)
        return make_model(width)

    return build


def width_sweep(
    make_model: Callable[..., nn.Module],
    widths: Sequence[int],
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    seeds: Sequence[int] = (0, 1, 2),
    steps: int = 100,
    lr: float | str = "auto",
    probes: Sequence[str] = SWEEP_PROBES,
    store: str | None = None,
    experiment: str = "width-sweep",
    **options: Any,
) -> WidthSweep:
    """Train ``make_model(width)`` at each width and seed and fit the lazy-regime scaling.

    Args:
        make_model: width -> model (seeded here by ``torch.manual_seed(seed)``), or
            (width, seed) -> model.
        widths: at least three distinct widths (a slope needs three points to be tested).
        X, y: the training set, shared by every run.
        seeds: initializations per width. steps, lr: as :func:`overparam.measure` ("auto":
            each width gets its own stable step, as the theory's step sizes do).
        probes: must include flips, movement and ntk_drift for all three claims.
        store: a results database: every run is stored under ``experiment``, and the report
            shows the sweep with its verdicts.
        options: passed to :func:`overparam.measure` (loss, reduction, algorithm, batch,
            probe_every, modules, target_ratio).
    """
    ws = list(widths)
    if not ws or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in ws):
        raise ConfigError("widths", widths, "a list of positive integers")
    if len(set(ws)) < 3:
        raise ConfigError("widths", widths, "at least three distinct widths")
    if not seeds:
        raise ConfigError("seeds", seeds, "at least one seed")
    build = _builder(make_model)
    histories: dict[tuple[int, int], History] = {}
    runs = []
    for width in sorted(set(ws)):
        for seed in seeds:
            model = build(width, int(seed))
            h = measure(
                model,
                X,
                y,
                steps=steps,
                lr=lr,
                probes=probes,
                seed=int(seed),
                width=width,
                store=store,
                experiment=experiment,
                **options,
            )
            histories[(width, int(seed))] = h
            runs.append(
                {"width": width, "seed": int(seed), "losses": h.losses, "records": h.records}
            )
    frame = scaling_frame(runs)
    return WidthSweep(frame, exponents(frame), judge_scaling(frame), histories)
