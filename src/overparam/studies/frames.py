"""Stored rows as the frames a study's claims are judged on: finished runs, one probe
quantity with its run's config columns, per-run extremes, trajectories and loss curves."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from overparam.studies.study import StudyData

#: Config columns attached to every probe / loss row (from the runs frame, the authority).
CONFIG_COLUMNS = (
    "width",
    "depth",
    "seed",
    "parameterization",
    "activation",
    "n",
    "lr_used",
    "initial_loss",
    "dtype",
)


def done_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs that finished (status "done"; diverged and failed runs are left out)."""
    if runs.empty:
        return runs
    return runs[runs["status"] == "done"] if "status" in runs else runs


def converged(runs: pd.DataFrame) -> np.ndarray:
    """Per run: finished (status "done") and reached its target (train status "converged");
    a failed or diverged run has not converged. A frame without a status column counts as
    finished runs."""
    done = runs["status"].astype(str) == "done" if "status" in runs else True
    return ((runs["train_status"].astype(str) == "converged") & done).to_numpy()


def first_step_below(steps: np.ndarray, values: np.ndarray, threshold: float) -> float:
    """The first step at which ``values`` (in step order) is <= ``threshold`` (inf: never)."""
    hit = np.nonzero(np.asarray(values, dtype=float) <= threshold)[0]
    return float(np.asarray(steps)[hit[0]]) if hit.size else math.inf


def _attach(rows: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """``rows`` (with a run_id column) restricted to finished runs, with their config columns."""
    runs = done_runs(runs)
    cols = ["run_id", *(c for c in CONFIG_COLUMNS if c in runs)]
    keep = [c for c in rows.columns if c == "run_id" or c not in cols]
    return rows[keep].merge(runs[cols], on="run_id", how="inner")


def probe_rows(
    data: StudyData, probe: str, quantity: str, *, layer: str | None = None
) -> pd.DataFrame:
    """Stored rows of one probe quantity (finished runs only, finite values), with config columns.

    Args:
        data: the study's stored frames.
        probe, quantity: e.g. ("movement", "spectral").
        layer: one layer's rows (e.g. "W1"); None keeps every layer.

    Returns:
        Columns run_id, step, layer, value, bound, ratio (NaN where missing) plus
        :data:`CONFIG_COLUMNS`; empty when nothing matches.
    """
    p = data.probes
    if p.empty or "probe" not in p or "quantity" not in p:
        return pd.DataFrame(columns=["run_id", "step", "layer", "value", "bound", "ratio"])
    rows = p[(p["probe"] == probe) & (p["quantity"] == quantity)].copy()
    if layer is not None:
        rows = rows[rows["layer"] == layer]
    for c in ("value", "bound", "ratio"):
        rows[c] = pd.to_numeric(rows[c], errors="coerce") if c in rows else np.nan
    rows = rows[np.isfinite(rows["value"].to_numpy(dtype=float))]
    return _attach(rows, data.runs)


def per_run(rows: pd.DataFrame, column: str = "value", how: str = "max") -> pd.DataFrame:
    """One row per run: ``column`` reduced over steps and layers by ``how`` ("max", "min",
    "last" = the largest step's max over layers), with the config columns kept."""
    if rows.empty:
        return pd.DataFrame(columns=["run_id", column, *CONFIG_COLUMNS])
    cfg = [c for c in CONFIG_COLUMNS if c in rows]
    r = rows[np.isfinite(rows[column].to_numpy(dtype=float))]
    if how == "last":
        r = r[r["step"] == r.groupby("run_id")["step"].transform("max")]
        how = "max"
    out = r.groupby("run_id")[column].agg(how).rename(column).reset_index()
    return out.merge(r.groupby("run_id")[cfg].first().reset_index(), on="run_id")


def trajectory(rows: pd.DataFrame, column: str = "value", how: str = "max") -> pd.DataFrame:
    """(run_id, step, column, config columns): ``column`` reduced over layers at each step."""
    if rows.empty:
        return pd.DataFrame(columns=["run_id", "step", column, *CONFIG_COLUMNS])
    cfg = [c for c in CONFIG_COLUMNS if c in rows]
    out = rows.groupby(["run_id", "step"])[column].agg(how).rename(column).reset_index()
    return out.merge(rows.groupby("run_id")[cfg].first().reset_index(), on="run_id")


def loss_curves(data: StudyData) -> pd.DataFrame:
    """(run_id, step, loss, ratio = loss / loss at step 0, config columns), finished runs."""
    losses = data.losses
    if losses.empty:
        return pd.DataFrame(columns=["run_id", "step", "loss", "ratio", *CONFIG_COLUMNS])
    out = _attach(losses[["run_id", "step", "loss"]], data.runs).sort_values(["run_id", "step"])
    first = out.groupby("run_id")["loss"].transform("first")
    return out.assign(ratio=out["loss"] / first)
