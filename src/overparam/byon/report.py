"""The report's chapter on a user's own networks: the runs stored by :func:`overparam.measure`,
:func:`overparam.track` and :func:`overparam.width_sweep`, one section per experiment.

No paper's bound applies to a model outside the papers' architectures, so a single run's probe
values are shown as measurements (context and tables), never as green rows. An experiment
with three or more widths is a width sweep: its lazy-regime scaling claims
(:data:`overparam.byon.scaling.LAZY_CLAIMS`) are judged on the stored records, with the
figure of each quantity against the width beside the predicted slope.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from overparam.byon.scaling import QUANTITIES, exponents, judge_scaling, scaling_frame

#: ``config["source"]`` of the runs this chapter shows.
SOURCES = ("measure", "track")

#: Section names start with this (the report groups them in their own chapter).
PREFIX = "own-"

_DESCRIPTION = (
    "Runs of your own model, measured by `overparam.measure` or `overparam.track`. No paper's "
    "bound applies to a model outside the papers' architectures, so each probe's value is a "
    "measurement shown as context, not judged against a bound."
)
_SWEEP = (
    " With three or more widths the runs form a width sweep: the lazy regime predicts that the "
    "kernel's and the parameters' relative change and the share of flipped ReLU signs fall at "
    "least like $m^{-1/2}$ ([lee-2019]; [du-2019-two-layer]); those slopes are judged on the "
    "final measurement of each run."
)


#: The config keys :func:`overparam.byon.inputs.describe` stores, shown per run.
CONFIG_KEYS = (
    "model", "parameters", "fingerprint", "n", "k", "input_shape", "device", "dtype", "loss",
    "reduction", "steps", "lr", "algorithm", "batch", "seed", "width", "probes", "probe_every",
    "every", "modules", "target_ratio", "source",
)  # fmt: skip


def _present(v: Any) -> bool:
    return isinstance(v, list | tuple | dict) or pd.notna(v)


def _external(runs: pd.DataFrame) -> pd.DataFrame:
    if "source" not in runs:
        return runs.iloc[0:0]
    return runs[runs["source"].isin(SOURCES) & (runs["status"] == "done")]


def _run_dicts(runs: pd.DataFrame, tables: Any) -> list[dict[str, Any]]:
    out = []
    losses = tables.losses.groupby("run_id")
    records = tables.records.groupby("run_id")
    for row in runs.itertuples():
        rid = int(row.id)
        loss = losses.get_group(rid)["loss"].tolist() if rid in losses.groups else []
        recs = records.get_group(rid).to_dict(orient="records") if rid in records.groups else []
        width = getattr(row, "width", None)
        out.append(
            {
                "run_id": rid,
                "width": None if width is None or pd.isna(width) else int(width),
                "seed": getattr(row, "seed", None),
                "losses": loss,
                "records": recs,
            }
        )
    return out


def _runs_table(runs: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    cols = [
        c
        for c in ("id", "model", "parameters", "width", "seed", "n", "steps", "lr_used")
        if c in runs
    ]
    table = runs[cols].rename(columns={"id": "run"}).reset_index(drop=True)
    table["initial_loss"] = runs["initial_loss"].to_numpy()
    table["final_loss"] = runs["final_loss"].to_numpy()
    for name in QUANTITIES:
        table[name] = frame[name].to_numpy()
    return table


def _figure(frame: pd.DataFrame, fits: pd.DataFrame) -> Any:
    from overparam.studies import plots

    fig, axes = plots.new_figure(len(QUANTITIES))
    for ax, name in zip(axes, QUANTITIES, strict=True):
        d = frame[(frame[name] > 0) & np.isfinite(frame[name])]
        stats = plots.mean_band(d, "width", name)
        if not stats.empty:
            plots.plot_band(ax, stats, "width", label="measured (mean, range over seeds)")
            plots.theory_through(ax, stats, "width", -0.5, label="lazy regime: slope −1/2")
            fit = fits[fits["quantity"] == name].iloc[0]
            title = name.replace("_", " ")
            if np.isfinite(fit["slope"]):
                title += f"\nslope {fit['slope']:.2f} [{fit['low']:.2f}, {fit['high']:.2f}]"
        else:
            title = name.replace("_", " ") + "\n(not measured)"
        plots.loglog(ax, "width m", name.replace("_", " "), title)
    plots.shared_legend(fig)
    return fig


def sections(store_path: Path, figures_dir: Path) -> list[Any]:
    """One report :class:`~overparam.report.layout.Section` per experiment holding runs of a
    user's own model (none when the store has no such runs)."""
    from overparam.report.layout import FigureFile, Section
    from overparam.store import load
    from overparam.studies.plots import save

    tables = load(store_path)
    runs = _external(tables.runs)
    if runs.empty:
        return []
    links = tables.experiment_runs
    out = []
    for exp_id, name in zip(tables.experiments["id"], tables.experiments["name"], strict=True):
        ids = set(links.loc[links["experiment_id"] == exp_id, "run_id"])
        mine = runs[runs["id"].isin(ids)].sort_values("id")
        if mine.empty:
            continue
        frame = scaling_frame(_run_dicts(mine, tables))
        widths = frame["width"].dropna().nunique()
        sweep = widths >= 3
        claims = judge_scaling(frame) if sweep else []
        figures = []
        if sweep:
            fits = exponents(frame)
            saved = save(_figure(frame, fits), figures_dir, f"{PREFIX}{name}-scaling")
            caption = (
                "Final NTK drift, relative parameter change and flipped-sign fraction against "
                "the width (log-log), with the lazy regime's slope −1/2 dashed "
                "([lee-2019, Theorem 2.1]; [du-2019-two-layer, Lemma 3.2])."
            )
            figures.append(
                FigureFile("scaling", caption, saved.png, saved.svg, saved.display_px)
            )
        context = [
            {
                "label": "models",
                "value": ", ".join(sorted(set(mine["model"].astype(str)))),
                "cite": "",
                "why": "no paper's bound applies to these architectures",
            }
        ]
        configs = [
            {k: v for k, v in row.items() if k in CONFIG_KEYS and _present(v)}
            for row in mine.to_dict(orient="records")
        ]
        out.append(
            Section(
                name=f"{PREFIX}{name}",
                title=f"Your network: {name}",
                source="overparam.byon",
                description=_DESCRIPTION + (_SWEEP if sweep else ""),
                claims=claims,
                figures=figures,
                configs=configs,
                tables={"runs": _runs_table(mine, frame)},
                context=context,
            )
        )
    return out
