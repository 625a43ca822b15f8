"""``overparam sweep run | status | export | specs``: thin wrappers over overparam.sweep / store."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from overparam.cli.common import print_json, user_errors
from overparam.store.sqlite import DEFAULT_PATH


class ExecutorChoice(StrEnum):
    """local: process pool; batched: vectorized GD batches; ray: Ray tasks."""

    LOCAL = "local"
    BATCHED = "batched"
    RAY = "ray"


class ExportFormat(StrEnum):
    CSV = "csv"
    PARQUET = "parquet"


class RunProgress:
    """A rich progress bar over runs (finished / total, rate, ETA) on stderr."""

    def __init__(self, label: str, enabled: bool) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn(f"[bold]{label}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("runs"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            disable=not enabled,
        )
        self.task: Any = None

    def __enter__(self) -> RunProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, finished: int, total: int) -> None:
        if self.task is None:
            self.task = self.progress.add_task("runs", total=total, completed=finished)
        else:
            self.progress.update(self.task, total=total, completed=finished)


def _status_table(rows: list[dict[str, Any]], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for col, style in (
        ("experiment", "bold"),
        ("kind", ""),
        ("done", "green"),
        ("diverged", "yellow"),
        ("failed", "red"),
        ("running", "cyan"),
        ("remaining", ""),
        ("total", ""),
    ):
        table.add_column(
            col, style=style, justify="left" if col in ("experiment", "kind") else "right"
        )
    for r in rows:
        table.add_row(
            r["experiment"],
            r["kind"],
            *(str(r[k]) for k in ("done", "diverged", "failed", "running", "queued", "total")),
        )
    Console().print(table)


def register(app: typer.Typer) -> None:
    sweep_app = typer.Typer(
        help="Run, resume, inspect and export sweeps (results in a SQLite store).",
        no_args_is_help=True,
    )
    app.add_typer(sweep_app, name="sweep")

    @sweep_app.command("run")
    def run_cmd(
        spec: str = typer.Argument(..., help="A TOML spec file, or a shipped spec name."),
        store: Path = typer.Option(DEFAULT_PATH, "--store", help="SQLite results database."),
        executor: ExecutorChoice = typer.Option(ExecutorChoice.LOCAL, help="Where runs train."),
        workers: int | None = typer.Option(
            None, help="Processes (local: all cores; batched: 1) or Ray tasks."
        ),
        address: str | None = typer.Option(
            None, help="Ray cluster address ('auto': an existing cluster); ray only."
        ),
        max_batch: int = typer.Option(256, help="Most runs per vectorized batch."),
        stale_after: float = typer.Option(
            60.0, help="Seconds without heartbeat before another writer's claim is re-queued."
        ),
        retry_failed: bool = typer.Option(False, help="Run failed runs again."),
        quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
        json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Run a sweep, or resume it: finished runs are skipped, dead claims re-queued."""
        from overparam.sweep import load_spec, run_sweep

        with user_errors():
            parsed = load_spec(spec)
            show = sys.stderr.isatty() and not quiet and not json_out
            with RunProgress(parsed.name, show) as bar:
                result = run_sweep(
                    parsed,
                    store=store,
                    executor=executor.value,
                    workers=workers,
                    address=address,
                    max_batch=max_batch,
                    stale_after=stale_after,
                    retry_failed=retry_failed,
                    progress=bar,
                )
        if json_out:
            print_json(result.to_dict())
            return
        c = result.counts
        typer.echo(
            f"{result.experiment}: {result.total} runs: done {c['done']}, diverged "
            f"{c['diverged']}, failed {c['failed']}, remaining {c['queued'] + c['running']} "
            f"(executed {result.executed}, skipped {result.skipped}) in {result.wall_s:.1f} s "
            f"with {result.executor}; store {result.store_ms_per_run:.2f} ms/run -> {store}"
        )
        for r in result.critical:
            width = r["width"] if r["found"] else "not reached"
            typer.echo(f"  {r['point']}: critical width {width} (success {r['success_rate']})")
        if not result.complete:
            typer.echo("budget.wall_s reached: run the same command again to continue.")

    @sweep_app.command("status")
    def status_cmd(
        store: Path = typer.Option(DEFAULT_PATH, "--store", help="SQLite results database."),
        json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Runs per experiment: done / diverged / failed / running / remaining."""
        from overparam.store import summary_counts

        with user_errors():
            rows = summary_counts(store)
        if json_out:
            print_json({"store": str(store), "experiments": rows})
            return
        _status_table(rows, f"sweeps in {store}")

    @sweep_app.command("export")
    def export_cmd(
        format: ExportFormat = typer.Option(ExportFormat.CSV, "--format", help="File format."),
        store: Path = typer.Option(DEFAULT_PATH, "--store", help="SQLite results database."),
        out: Path | None = typer.Option(None, "--out", help="Folder (default: <store>/export)."),
        experiment: str | None = typer.Option(None, help="Only this experiment's rows."),
        json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Write every table (experiments, runs, losses, records, critical) as CSV or Parquet."""
        from overparam.store import export

        with user_errors():
            files = export(store, out, format=format.value, experiment=experiment)
        if json_out:
            print_json({"files": [str(f) for f in files]})
            return
        for f in files:
            typer.echo(str(f))

    @sweep_app.command("specs")
    def specs_cmd(
        json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """The example specs shipped with overparam."""
        from overparam.sweep import load_spec, shipped_specs

        specs = {name: load_spec(path) for name, path in shipped_specs().items()}
        if json_out:
            print_json({name: s.to_dict() for name, s in specs.items()})
            return
        for name, s in specs.items():
            typer.echo(f"{name:16s} {len(s.points()):4d} points  {s.description}")
