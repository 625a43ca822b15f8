"""What became of a study's planned runs (done, diverged, failed, missing) and where they ran.

A study's plan is the list of configs it asks for; the store keys each run by its config hash.
:func:`run_fate` matches the two, so the report can say how many planned runs are missing or
failed and name them by the config fields that tell them apart; :func:`provenance` counts the
distinct executors, thread counts, versions, devices and hosts of the stored runs;
:func:`stored_listed` names the diverged and failed runs of every experiment of a store
(``overparam sweep status``), read-only.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from overparam.errors import ConfigError
from overparam.store.integrity import connect_read

#: Stored statuses a run ends in; anything else (queued, running, absent) counts as missing.
ENDED = ("done", "diverged", "failed")
#: Statuses whose results the analyses use (a diverged run is a result, a failed one is not).
FINISHED = ("done", "diverged")
#: The statuses :class:`RunFate` names run by run.
LISTED = ("diverged", "failed", "missing")
#: (runs-frame column, label) of the provenance line; only the columns present are shown.
PROVENANCE = (
    ("executor", "executor"),
    ("threads", "threads"),
    ("torch_version", "torch"),
    ("device", "device"),
    ("package_version", "overparam"),
    ("host", "host"),
)
#: Most distinct values shown per provenance column (the rest are summed as "+N more").
PROVENANCE_VALUES = 6


def first_line(error: object) -> str:
    """The first non-empty line of a stored error ("ExceptionType: message"), or ""."""
    if not isinstance(error, str):
        return ""
    return next((line.strip() for line in error.splitlines() if line.strip()), "")


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def varying_fields(configs: Iterable[Mapping[str, Any]], order: Sequence[str] = ()) -> list[str]:
    """The config fields whose values differ across ``configs``, in ``order`` (the config
    model's field order; fields it does not name follow by name)."""
    seen: dict[str, set[str]] = {}
    configs = list(configs)
    for cfg in configs:
        for k in cfg:
            seen.setdefault(k, set())
    for cfg in configs:
        for k in seen:
            seen[k].add(_key(cfg.get(k)))
    rank = {name: i for i, name in enumerate(order)}
    varying = [k for k, values in seen.items() if len(values) > 1]
    return sorted(varying, key=lambda k: (rank.get(k, len(rank)), k))


def describe(config: Mapping[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    """``config`` restricted to ``fields`` (the ones that tell a run apart)."""
    return {k: config.get(k) for k in fields}


def format_fields(fields: Mapping[str, Any]) -> str:
    """``width=16 seed=1``; lists are joined with commas."""

    def text(v: Any) -> str:
        if isinstance(v, list | tuple):
            return ",".join(map(str, v))
        return str(v)

    return " ".join(f"{k}={text(v)}" for k, v in fields.items())


def parse_config(text: object) -> dict[str, Any]:
    """A stored config JSON as a dict ({} when absent or unreadable)."""
    if not isinstance(text, str) or not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class ListedRun:
    """A run the report or ``sweep status`` names: diverged, failed or missing.

    Attributes:
        status: "diverged", "failed" or "missing" (not stored, or stored but never finished).
        run_id: the store's run id (None when the run is not stored at all).
        fields: the config fields that vary across the study or experiment, with this run's values.
        error: the first line of the stored error ("" if none).
    """

    status: str
    run_id: int | None
    fields: dict[str, Any]
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "fields": self.fields, "error": self.error}


@dataclass(frozen=True)
class RunFate:
    """A study's planned runs against what the store holds for its experiment.

    Attributes:
        planned: distinct configs in the plan. done / diverged / failed: planned runs stored
            with that status. missing: planned runs without a result (absent, queued, running).
        unplanned: runs stored for the experiment that the current plan no longer lists.
        finished: stored runs of the experiment, planned or not, that are done or diverged:
            the ones the analysis draws its claims from.
        runs: the diverged, failed and missing runs, in plan order (unplanned ones last).
        provenance: label -> {value: number of runs} (see :func:`provenance`).
    """

    planned: int
    done: int
    diverged: int
    failed: int
    missing: int
    unplanned: int = 0
    finished: int = 0
    runs: tuple[ListedRun, ...] = ()
    provenance: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def incomplete(self) -> bool:
        """Some planned runs are missing or failed: the claims rest on fewer runs."""
        return self.missing > 0 or self.failed > 0

    def counts(self) -> dict[str, int]:
        return {
            "planned": self.planned,
            "done": self.done,
            "diverged": self.diverged,
            "failed": self.failed,
            "missing": self.missing,
            "unplanned": self.unplanned,
            "finished": self.finished,
        }

    def listed(self, status: str) -> list[ListedRun]:
        return [r for r in self.runs if r.status == status]

    def to_dict(self) -> dict[str, Any]:
        """Counts, the named runs per status, and provenance (JSON-ready)."""
        return {
            **self.counts(),
            "complete": not self.incomplete,
            **{f"{s}_runs": [r.to_dict() for r in self.listed(s)] for s in LISTED},
            "provenance": self.provenance,
        }

    def headline(self) -> str:
        """ "incomplete: 3 of 64 planned runs missing, 1 failed — the claims below use the 60
        that finished", or "" when nothing is missing or failed."""
        if not self.incomplete:
            return ""
        parts = []
        if self.missing:
            parts.append(f"{self.missing} of {self.planned} planned runs missing")
        if self.failed:
            parts.append(
                f"{self.failed} failed" if parts else f"{self.failed} of {self.planned} failed"
            )
        text = f"incomplete: {', '.join(parts)} — the claims below use the {self.finished}"
        text += " that finished"
        if self.diverged:
            text += f" ({self.diverged} of them diverged)"
        if self.unplanned:
            text += f"; {self.unplanned} stored runs are not in the current plan"
        return text

    def note(self) -> str:
        """The summary table's mark on this study's claims ("from 60 of 64 runs"), or ""."""
        return f"from {self.finished} of {self.planned} runs" if self.incomplete else ""


def _value_text(v: Any) -> str:
    if isinstance(v, float) and math.isfinite(v) and v.is_integer():
        return str(int(v))
    return str(v)


def provenance(runs: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Per provenance column present in ``runs``: {value: count} over the runs that ended
    (done, diverged or failed), most frequent first; empty values are not counted."""
    if runs.empty:
        return {}
    ended = runs[runs["status"].isin(ENDED)] if "status" in runs else runs
    out: dict[str, dict[str, int]] = {}
    for column, label in PROVENANCE:
        if column not in ended:
            continue
        values = [_value_text(v) for v in ended[column] if v is not None and not pd.isna(v)]
        if values:
            counted = Counter(values)
            out[label] = dict(sorted(counted.items(), key=lambda kv: (-kv[1], kv[0])))
    return out


def format_provenance(prov: Mapping[str, Mapping[str, int]]) -> str:
    """``executor local ×60, batched ×4; threads 1 ×64; torch 2.13.0+cpu ×64``."""
    parts = []
    for label, counts in prov.items():
        items = list(counts.items())
        shown = [f"{v} ×{n}" for v, n in items[:PROVENANCE_VALUES]]
        rest = items[PROVENANCE_VALUES:]
        if rest:
            shown.append(f"+{len(rest)} more ×{sum(n for _, n in rest)}")
        parts.append(f"{label} {', '.join(shown)}")
    return "; ".join(parts)


def run_fate(
    plan: Sequence[tuple[str, Mapping[str, Any]]],
    runs: pd.DataFrame,
    order: Sequence[str] = (),
) -> RunFate:
    """Match a study's ``plan`` with the ``runs`` stored for its experiment (by config hash).

    Args:
        plan: (config hash, config fields) of each planned run, in plan order.
        runs: the experiment's rows of the runs frame (``config_hash``, ``status``, ``error``,
            ``config`` JSON, and ``run_id`` or ``id``; provenance columns where stored).
        order: the config fields in the order runs are described by (see
            :func:`varying_fields`).
    """
    planned: dict[str, dict[str, Any]] = {}
    for h, cfg in plan:
        planned.setdefault(h, dict(cfg))
    id_col = "run_id" if "run_id" in runs else "id"
    rows = runs.to_dict(orient="records") if not runs.empty else []
    stored = {str(r["config_hash"]): r for r in rows}
    unplanned = [r for h, r in stored.items() if h not in planned]
    fields = varying_fields(
        [*planned.values(), *(parse_config(r.get("config")) for r in unplanned)], order
    )
    counts = dict.fromkeys(ENDED, 0)
    listed: list[ListedRun] = []
    for h, cfg in planned.items():
        row = stored.get(h)
        status = row["status"] if row is not None and row["status"] in ENDED else "missing"
        if status in counts:
            counts[status] += 1
        if status in LISTED:
            run_id = None if row is None else int(row[id_col])
            error = first_line(row.get("error")) if row is not None else ""
            listed.append(ListedRun(status, run_id, describe(cfg, fields), error))
    for row in unplanned:
        if row["status"] in ("diverged", "failed"):
            cfg = parse_config(row.get("config"))
            listed.append(
                ListedRun(
                    row["status"],
                    int(row[id_col]),
                    describe(cfg, fields),
                    first_line(row.get("error")),
                )
            )
    finished = sum(1 for r in rows if r["status"] in FINISHED)
    return RunFate(
        planned=len(planned),
        done=counts["done"],
        diverged=counts["diverged"],
        failed=counts["failed"],
        missing=len(planned) - sum(counts.values()),
        unplanned=len(unplanned),
        finished=finished,
        runs=tuple(listed),
        provenance=provenance(runs),
    )


def totals(fates: Iterable[RunFate]) -> dict[str, int]:
    """The counts of several studies added up (the report's summary line)."""
    keys = ("planned", "done", "diverged", "failed", "missing")
    out = dict.fromkeys(keys, 0)
    for f in fates:
        for k in keys:
            out[k] += getattr(f, k)
    return out


def stored_listed(
    path: str | Path, limit: int | None = None, order: Sequence[str] = ()
) -> dict[str, dict[str, Any]]:
    """The diverged and failed runs of each experiment in the store at ``path``.

    Returns ``{experiment: {"diverged": [...], "failed": [...], "unlisted": {"diverged": n,
    "failed": n}}}`` for the experiments with any; each entry is :meth:`ListedRun.to_dict`
    (run id, the config fields that vary across that experiment's runs, first error line),
    lowest run id first, at most ``limit`` per status (None: all); ``unlisted`` counts the rest.

    Raises:
        ConfigError: ``path`` is not a readable results database.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(
            "store", str(path), "an existing results database (run `overparam sweep run` first)"
        )
    try:
        conn, _ = connect_read(p)
        try:
            conn.execute("BEGIN")  # one snapshot under WAL
            bad = conn.execute(
                "SELECT DISTINCT er.experiment_id FROM experiment_runs er"
                " JOIN runs r ON r.id = er.run_id WHERE r.status IN ('diverged', 'failed')"
            ).fetchall()
            out: dict[str, dict[str, Any]] = {}
            for (eid,) in sorted(bad):
                rows = conn.execute(
                    "SELECT e.name, r.id, r.status, r.error, r.config FROM experiment_runs er"
                    " JOIN experiments e ON e.id = er.experiment_id"
                    " JOIN runs r ON r.id = er.run_id WHERE er.experiment_id = ? ORDER BY r.id",
                    (eid,),
                ).fetchall()
                out[rows[0][0]] = _listed(rows, limit, order)
            conn.execute("COMMIT")
        finally:
            conn.close()
    except sqlite3.Error as e:
        raise ConfigError(
            "store", str(path), f"a readable overparam results database ({e})"
        ) from None
    return out


def _listed(
    rows: Sequence[tuple[Any, ...]], limit: int | None, order: Sequence[str]
) -> dict[str, Any]:
    configs = {int(r[1]): parse_config(r[4]) for r in rows}
    fields = varying_fields(configs.values(), order)
    entry: dict[str, Any] = {"diverged": [], "failed": [], "unlisted": {"diverged": 0, "failed": 0}}
    for _, run_id, status, error, _ in rows:
        if status not in ("diverged", "failed"):
            continue
        if limit is not None and len(entry[status]) >= limit:
            entry["unlisted"][status] += 1
            continue
        run = ListedRun(
            status, int(run_id), describe(configs[int(run_id)], fields), first_line(error)
        )
        entry[status].append(run.to_dict())
    return entry
