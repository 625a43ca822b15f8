"""The lazy-regime scaling claims for a user's model family, judged by the claim engine.

The papers' bounds are for their own architectures, but the regime they describe makes
predictions about how any network family behaves as its width m grows, with the step size
chosen for each width ([lee-2019, Theorem 2.1]: the NTK and the parameters' relative change
move by O(m^(-1/2)); [du-2019-two-layer, Lemma 3.2]: neurons move by R = O(m^(-1/2)), so the
fraction of ReLU units whose sign changes falls like R). :data:`LAZY_CLAIMS` states them as
slopes in the width that the data can contradict; :func:`scaling_frame` builds the frame they
are judged on from the final measurement of each run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from overparam.studies.claims import Claim, Judgement, Slope, judge
from overparam.studies.claims.base import loglog_fit

#: The quantities :func:`width_sweep <overparam.width_sweep>` fits, with what each is.
QUANTITIES: dict[str, str] = {
    "ntk_drift": "||Theta_T - Theta_0||_F / ||Theta_0||_F at the last step",
    "relative_movement": "||theta_T - theta_0||_2 / ||theta_0||_2 over all trained parameters",
    "flip_fraction": "max over activations of the fraction of units whose sign changed",
}

# The lazy regime predicts slope -1/2 in m; a slope no steeper than -1/4 (half the predicted
# decay) contradicts it, and the whole bootstrap interval must lie below -1/4 to confirm it.
def _lazy() -> Slope:
    return Slope(expected=-0.5, tolerance=0.25, kind="at_most", x="width")


LAZY_CLAIMS: tuple[Claim, ...] = (
    Claim(
        key="ntk-drift",
        text="The empirical NTK's relative change over training falls at least like m^(-1/2)",
        cite="lee-2019, Theorem 2.1",
        quantity="ntk_drift",
        test=_lazy(),
    ),
    Claim(
        key="relative-movement",
        text="The parameters' relative change from init falls at least like m^(-1/2)",
        cite="lee-2019, Theorem 2.1",
        quantity="relative_movement",
        test=_lazy(),
    ),
    Claim(
        key="flip-fraction",
        text="The fraction of ReLU units whose sign flips falls at least like m^(-1/2)",
        cite="du-2019-two-layer, Lemma 3.2",
        quantity="flip_fraction",
        test=_lazy(),
    ),
)


def final_values(records: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """{quantity: value} of :data:`QUANTITIES` at the last step each was measured."""
    rows = pd.DataFrame(list(records))
    out: dict[str, float] = {}
    if rows.empty:
        return out
    picks = {
        "ntk_drift": ("ntk_drift", "relative_drift"),
        "flip_fraction": ("flips", "fraction"),
    }
    moved = _overall_movement(rows)
    if moved is not None:
        out["relative_movement"] = moved
    for name, (probe, quantity) in picks.items():
        sel = rows[(rows["probe"] == probe) & (rows["quantity"] == quantity)]
        sel = sel[sel["value"].notna()]
        if sel.empty:
            continue
        last = sel[sel["step"] == sel["step"].max()]
        out[name] = float(last["value"].max())
    return out


def _overall_movement(rows: pd.DataFrame) -> float | None:
    """||theta_T - theta_0|| / ||theta_0|| at the last movement step, from each tensor's
    Frobenius distance d and relative distance d / ||W_0|| (tensors with d = 0 have no
    ||W_0|| on record; they add nothing to the numerator and are left out of the
    denominator)."""
    mv = rows[rows["probe"] == "movement"]
    if mv.empty:
        return None
    mv = mv[mv["step"] == mv["step"].max()]
    frob = mv[mv["quantity"] == "frobenius"].set_index("layer")["value"]
    rel = mv[mv["quantity"] == "relative_frobenius"].set_index("layer")["value"]
    both = pd.concat({"d": frob, "r": rel}, axis=1).dropna()
    both = both[both["r"] > 0]
    if both.empty:
        return None
    w0 = both["d"] / both["r"]
    return float(np.sqrt((both["d"] ** 2).sum()) / np.sqrt((w0**2).sum()))


def scaling_frame(runs: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per run: width, seed, the run's final loss ratio and :func:`final_values` of
    its records. ``runs``: dicts with ``width``, ``seed``, ``losses`` and ``records``."""
    rows = []
    for run in runs:
        losses = list(run.get("losses") or [])
        ratio = losses[-1] / losses[0] if len(losses) > 1 and losses[0] > 0 else np.nan
        rows.append(
            {
                "width": run["width"],
                "seed": run.get("seed"),
                "loss_ratio": ratio,
                **final_values(run.get("records") or []),
            }
        )
    frame = pd.DataFrame(rows)
    for name in QUANTITIES:
        if name not in frame:
            frame[name] = np.nan
    return frame


def judge_scaling(frame: pd.DataFrame) -> list[Judgement]:
    """Every claim of :data:`LAZY_CLAIMS` judged on ``frame`` (:func:`scaling_frame`)."""
    return [judge(claim, frame) for claim in LAZY_CLAIMS]


def exponents(frame: pd.DataFrame, *, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """The fitted width exponent of each quantity: slope, its 95% bootstrap interval, rows
    and distinct widths used (non-positive values left out; NaN where fewer than 3 widths)."""
    out = []
    for name in QUANTITIES:
        d = frame[["width", name]].dropna()
        d = d[(d["width"] > 0) & (d[name] > 0)]
        row: dict[str, Any] = {"quantity": name, "rows": len(d), "widths": d["width"].nunique()}
        if d["width"].nunique() >= 3:
            fit = loglog_fit(
                d["width"].to_numpy(float),
                d[name].to_numpy(float),
                n_boot=n_boot,
                level=0.95,
                seed=seed,
            )
            row.update(slope=fit.slope, low=fit.low, high=fit.high)
        else:
            row.update(slope=np.nan, low=np.nan, high=np.nan)
        out.append(row)
    return pd.DataFrame(out)
