"""``overparam sweep run | status | export | specs``: thin wrappers over overparam.sweep / store."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import typer

from overparam import progress
from overparam.cli.common import print_json, user_errors
from overparam.progress import Reporter
from overparam.store.sqlite import DEFAULT_PATH

if TYPE_CHECKING:
    from overparam.studies.study import Scale
    from overparam.sweep.spec import SweepSpec


class ExecutorChoice(StrEnum):
    """local: process pool; batched: vectorized GD batches; ray: Ray tasks."""

    LOCAL = "local"
    BATCHED = "batched"
    RAY = "ray"


class ExportFormat(StrEnum):
    CSV = "csv"
    PARQUET = "parquet"


def _status_table(
    rows: list[dict[str, Any]], title: str, listed: dict[str, dict[str, Any]] | None = None
) -> None:
    """The counts per experiment, then the diverged and failed runs ``listed`` names (run id,
    the config fields that vary across the experiment, first error line)."""
    from rich.console import Console
    from rich.table import Table

    from overparam.report.fate import format_fields

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
            col,
            style=style,
            justify="left" if col in ("experiment", "kind") else "right",
            overflow="fold",  # experiment names are shown whole, never elided
        )
    for r in rows:
        table.add_row(
            r["experiment"],
            r["kind"],
            *(str(r[k]) for k in ("done", "diverged", "failed", "running", "queued", "total")),
        )
    console = Console()
    console.print(table)
    if not listed:
        return
    runs = Table(title="diverged and failed runs")
    for col in ("experiment", "run", "status", "config", "error"):
        runs.add_column(col, justify="right" if col == "run" else "left", overflow="fold")
    more = []
    for name, entry in listed.items():
        for status in ("failed", "diverged"):
            for r in entry[status]:
                runs.add_row(name, str(r["run_id"]), status, format_fields(r["fields"]), r["error"])
            if n := entry["unlisted"][status]:
                more.append(f"{name}: and {n} more {status} (--limit to list more)")
    if runs.row_count:
        console.print(runs)
    for line in more:
        console.print(line, markup=False, highlight=False)


def resolve_specs(spec: str) -> list[SweepSpec]:
    """The specs SPEC names: ``study:NAME[:SCALE]`` (a study's plan, full scale by default), a
    TOML file or a shipped spec name."""
    from overparam.sweep.spec import load_specs

    if not spec.startswith("study:"):
        return load_specs(spec)
    from overparam.studies.registry import get

    name, _, scale = spec.removeprefix("study:").partition(":")
    return get(name).specs(cast("Scale", scale or "full"))  # Study.specs checks the scale


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
        quiet: bool = typer.Option(False, "--quiet", help="No progress (bars or lines)."),
        json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Run a sweep, or resume it: finished runs are skipped, dead claims re-queued.

        SPEC is a TOML file (one spec, or several [[sweep]] tables), a shipped spec name, or
        study:NAME[:SCALE] for a study's own plan (`overparam studies show NAME --toml`)."""
        from overparam.sweep import run_sweep

        with user_errors():
            specs = resolve_specs(spec)
            results = []
            for parsed in specs:
                # stderr only: rich bars on a terminal, else a plain line at least every 10 s.
                with Reporter(
                    f"sweep {parsed.name}",
                    "runs",
                    delay=progress.COMMAND_DELAY_S,
                    enabled=not quiet,
                ) as bar:
                    results.append(
                        run_sweep(
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
                    )
                if not results[-1].complete:
                    break
        if json_out:
            dicts = [r.to_dict() for r in results]
            print_json(dicts[0] if len(specs) == 1 else {"sweeps": dicts})
            return
        for result in results:
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
        if not results[-1].complete:
            typer.echo("budget.wall_s reached: run the same command again to continue.")

    @sweep_app.command("status")
    def status_cmd(
        store: Path = typer.Option(DEFAULT_PATH, "--store", help="SQLite results database."),
        limit: int = typer.Option(
            10, "--limit", help="Most diverged / failed runs listed per experiment (0: none)."
        ),
        json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Runs per experiment: done / diverged / failed / running / remaining, and which runs
        diverged or failed (run id, the config fields that vary, the first error line)."""
        from overparam.config import RunConfig
        from overparam.errors import ConfigError
        from overparam.report.fate import stored_listed
        from overparam.store import summary_counts

        with user_errors():
            if limit < 0:
                raise ConfigError("limit", limit, "an integer >= 0")
            # first: a clear error for unreadable stores
            listed = stored_listed(store, limit, tuple(RunConfig.model_fields))
            rows = summary_counts(store)
        if json_out:
            flat: dict[str, list[dict[str, Any]]] = {"diverged": [], "failed": []}
            unlisted = {"diverged": 0, "failed": 0}
            for name, entry in listed.items():
                for status in flat:
                    flat[status].extend({"experiment": name, **r} for r in entry[status])
                    unlisted[status] += entry["unlisted"][status]
            print_json({"store": str(store), "experiments": rows, **flat, "unlisted": unlisted})
            return
        _status_table(rows, f"sweeps in {store}", listed)

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
        """The example spec shipped with overparam, and each study's plan (`study:NAME`, run
        with `overparam sweep run study:NAME[:SCALE]`)."""
        from overparam.studies.registry import select
        from overparam.sweep import load_spec, shipped_specs

        with user_errors():
            specs = {name: load_spec(path) for name, path in shipped_specs().items()}
            studies = {f"study:{s.name}": s for s in select()}
        if json_out:
            out: dict[str, Any] = {name: s.to_dict() for name, s in specs.items()}
            for key, study in studies.items():
                out[key] = {
                    scale: [sp.to_dict() for sp in study.specs(scale)]
                    for scale in ("quick", "full")
                }
            print_json(out)
            return
        for name, s in specs.items():
            typer.echo(f"{name:26s} {len(s.points()):5d} points  {s.description}")
        for key, study in studies.items():
            runs = {scale: len(study.configs(scale)) for scale in ("quick", "full")}
            typer.echo(
                f"{key:26s} {runs['full']:5d} points  (quick {runs['quick']})  {study.title}"
            )
