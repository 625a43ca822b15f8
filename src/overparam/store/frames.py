"""Reading a results database as pandas DataFrames, and exporting it to CSV or Parquet."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from overparam.errors import ConfigError
from overparam.store import integrity
from overparam.store.integrity import ChecksumError, StoreError
from overparam.store.sqlite import DEFAULT_PATH, count_by_status

TABLES = ("experiments", "runs", "experiment_runs", "losses", "records", "critical")
#: Provenance columns of ``runs`` (NULL where a version-1 store did not record them).
PROVENANCE = ("executor", "threads", "torch_version", "device")
FORMATS = ("csv", "parquet")


@dataclass(frozen=True)
class Tables:
    """Every table of a results database as a DataFrame.

    Attributes:
        experiments: id, name, kind, spec (JSON), created, updated.
        runs: one row per run: the stored columns (status, train_status, error, lr_used,
            steps_run, initial_loss, final_loss, ..., versions, claim, checksum) plus one
            column per RunConfig field (width, depth, seed, lr, ...), parsed from the config
            JSON. Provenance of each run's numbers: ``executor``, ``threads`` (torch threads
            of the worker), ``torch_version`` and ``device`` (as used, e.g. "cpu", "cuda:0";
            this column, not the config's ``device``), None where a version-1 store lacks them.
        experiment_runs: (experiment_id, run_id, experiment): which experiments asked for a run.
        losses: (run_id, step, loss), tidy.
        records: (run_id, idx, step, probe, layer, value, bound, extra) plus one nullable column
            per key found in ``extra`` (e.g. width, lemma).
        critical: critical-width results (experiment, point JSON, width, success_rate, found,
            result JSON) plus the point's keys as columns.
    """

    experiments: pd.DataFrame
    runs: pd.DataFrame
    experiment_runs: pd.DataFrame
    losses: pd.DataFrame
    records: pd.DataFrame
    critical: pd.DataFrame

    def as_dict(self) -> dict[str, pd.DataFrame]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def for_experiment(self, name: str) -> Tables:
        """Only the rows that belong to experiment ``name``."""
        exp = self.experiments[self.experiments["name"] == name]
        if exp.empty:
            allowed = ", ".join(self.experiments["name"]) or "(none stored)"
            raise ConfigError("experiment", name, allowed)
        eid = int(exp["id"].iloc[0])
        links = self.experiment_runs[self.experiment_runs["experiment_id"] == eid]
        ids = set(links["run_id"])
        return Tables(
            experiments=exp,
            runs=self.runs[self.runs["id"].isin(ids)],
            experiment_runs=links,
            losses=self.losses[self.losses["run_id"].isin(ids)],
            records=self.records[self.records["run_id"].isin(ids)],
            critical=self.critical[self.critical["experiment_id"] == eid],
        )


def _expand_json(df: pd.DataFrame, column: str) -> pd.DataFrame:
    """Add one column per key of the JSON objects in ``column`` (existing names win)."""
    if df.empty or column not in df:
        return df
    parsed = [json.loads(v) if isinstance(v, str) and v else {} for v in df[column]]
    wide = pd.DataFrame.from_records(parsed, index=df.index)
    keep = [c for c in wide.columns if c not in df.columns]
    for c in keep:  # lists (e.g. probes) stay readable in CSV
        if wide[c].map(lambda v: isinstance(v, list)).any():
            wide[c] = wide[c].map(lambda v: ",".join(map(str, v)) if isinstance(v, list) else v)
    return pd.concat([df, wide[keep]], axis=1)


def _open(path: str | Path) -> tuple[sqlite3.Connection, int]:
    """A read-only connection to the checked store at ``path``, and its schema version."""
    return integrity.connect_read(path)


def _rows(conn: sqlite3.Connection, table: str, columns: tuple[str, ...], order: str) -> list:
    sql = f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}"
    return conn.execute(sql).fetchall()


def load(path: str | Path = DEFAULT_PATH, *, verify: bool = True) -> Tables:
    """Read the whole database at ``path`` into :class:`Tables` (one consistent snapshot).

    With ``verify`` (the default) every finished run's rows are checked against its checksum,
    so nothing is analyzed from a damaged row.

    Raises:
        StoreError: ``path`` is not an existing, sound results database.
        ChecksumError: a finished run's stored rows differ from its checksum.
    """
    conn, version = _open(path)
    bad: list[integrity.Damage] = []
    try:
        conn.execute("BEGIN")  # one read transaction: a consistent snapshot under WAL
        frames = {
            t: pd.read_sql_query(f"SELECT * FROM {t}", conn)
            for t in TABLES
            if t not in ("losses", "records")
        }
        losses = _rows(conn, "losses", integrity.LOSS_COLUMNS, "run_id, step")
        records = _rows(conn, "records", integrity.RECORD_COLUMNS, "run_id, idx")
        if verify and version >= 2:
            bad = integrity.damaged(
                integrity.result_rows(conn, None),
                integrity.grouped(losses, integrity.LOSS_KINDS),
                integrity.grouped(records, integrity.RECORD_KINDS),
            )
        conn.execute("COMMIT")
    except sqlite3.Error as e:
        raise StoreError(path, f"an overparam results database ({e})") from e
    finally:
        conn.close()
    if bad:
        raise ChecksumError(path, bad)
    for name, rows, cols in (
        ("losses", losses, integrity.LOSS_COLUMNS),
        ("records", records, integrity.RECORD_COLUMNS),
    ):
        frames[name] = pd.DataFrame.from_records(rows, columns=list(cols), coerce_float=True)
    for col in PROVENANCE:  # a version-1 store has no threads / device
        if col not in frames["runs"]:
            frames["runs"][col] = None
    exps = frames["experiments"]
    names = dict(zip(exps["id"], exps["name"], strict=True))
    links = frames["experiment_runs"]
    links["experiment"] = links["experiment_id"].map(names)
    crit = frames["critical"]
    crit.insert(1, "experiment", crit["experiment_id"].map(names))
    return Tables(
        experiments=exps,
        runs=_expand_json(frames["runs"], "config"),
        experiment_runs=links,
        losses=frames["losses"],
        records=_expand_json(frames["records"], "extra"),
        critical=_expand_json(crit, "point"),
    )


def _parquet_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Object columns that mix types (lr = "auto" or 0.1) become strings for Arrow."""
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object:
            kinds = {type(v) for v in out[c] if v is not None and v == v}
            if len(kinds) > 1 or kinds - {str}:
                out[c] = out[c].map(lambda v: None if v is None or v != v else str(v))
    return out


def export(
    path: str | Path = DEFAULT_PATH,
    out_dir: str | Path | None = None,
    *,
    format: Literal["csv", "parquet"] = "csv",
    experiment: str | None = None,
) -> list[Path]:
    """Write each table of :func:`load` to ``out_dir/<table>.<format>``.

    Args:
        path: the database. out_dir: the folder (default: ``<db folder>/export``).
        format: "csv" or "parquet" (needs pyarrow: ``pip install 'overparam[parquet]'``).
        experiment: only this experiment's rows.

    Returns:
        The written files, in table order.
    """
    if format not in FORMATS:
        raise ConfigError("format", format, ", ".join(FORMATS))
    if format == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ConfigError(
                "format", format, "csv (parquet needs pyarrow: pip install 'overparam[parquet]')"
            ) from None
    tables = load(path)
    if experiment is not None:
        tables = tables.for_experiment(experiment)
    folder = Path(out_dir) if out_dir is not None else Path(path).parent / "export"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, df in tables.as_dict().items():
        target = folder / f"{name}.{format}"
        if format == "csv":
            df.to_csv(target, index=False)
        else:
            _parquet_safe(df).to_parquet(target, index=False)
        written.append(target)
    return written


def summary_counts(path: str | Path = DEFAULT_PATH) -> list[dict[str, Any]]:
    """Per experiment run counts by status (queued, running, done, diverged, failed, total)."""
    conn, _ = _open(path)
    try:
        return count_by_status(conn)
    except sqlite3.Error as e:
        raise StoreError(path, f"an overparam results database ({e})") from e
    finally:
        conn.close()
