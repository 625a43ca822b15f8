"""``overparam reproduce`` and ``overparam report``."""

from __future__ import annotations

from pathlib import Path

import typer

from overparam.cli.common import print_json, user_errors


class StudyProgress:
    """A rich display: one bar over studies, one over the current study's runs, with ETA."""

    def __init__(self, n_studies: int) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        self.overall = self.progress.add_task("[bold]studies", total=n_studies)
        self.current = None
        self.started = 0

    def __call__(self, study: str, done: int, total: int) -> None:
        if done < 0:
            if self.current is not None:
                self.progress.update(self.overall, advance=1)
                self.progress.remove_task(self.current)
            self.current = self.progress.add_task(f"  {study}", total=None)
            return
        self.progress.update(self.current, completed=done, total=total)

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.current is not None:
            self.progress.update(self.overall, advance=1)
        self.progress.stop()


def register(app: typer.Typer) -> None:
    @app.command()
    def reproduce(
        quick: bool = typer.Option(False, "--quick", help="Smaller sizes (about 3 minutes)."),
        only: list[str] | None = typer.Option(None, "--only", help="Study name (repeatable)."),
        out: Path = typer.Option(Path("overparam-results"), "--out", help="Output folder."),
        executor: str = typer.Option("local", help="local, batched or ray."),
        workers: int | None = typer.Option(None, help="Worker processes (local executor)."),
        address: str | None = typer.Option(None, help="Ray cluster address (ray executor)."),
        json_out: bool = typer.Option(False, "--json", help="Print one JSON summary."),
    ) -> None:
        """Run the papers' studies (resumable) and write DIR/report.html."""
        from overparam.report.reproduce import reproduce as run
        from overparam.report.reproduce import select

        with user_errors():
            studies = select(only)
            if json_out:
                result = run(
                    out=out,
                    quick=quick,
                    only=only,
                    executor=executor,
                    workers=workers,
                    address=address,
                )
            else:
                with StudyProgress(len(studies)) as bar:
                    result = run(
                        out=out,
                        quick=quick,
                        only=only,
                        executor=executor,
                        workers=workers,
                        address=address,
                        progress=bar,
                    )
        summary = {
            "report": str(result.report),
            "studies": result.studies,
            "executed_runs": result.executed,
            "wall_s": round(result.wall_s, 2),
            "claims": result.claims,
        }
        if json_out:
            print_json(summary)
            return
        _print_claims(result.claims)
        typer.echo(
            f"report: {result.report}  ({result.wall_s:.0f} s, {result.executed} runs trained)"
        )

    @app.command()
    def report(
        store: Path = typer.Option(
            Path("overparam-results") / "results.sqlite", "--store", help="Results database."
        ),
        out: Path | None = typer.Option(None, "--out", help="HTML file (default: beside store)."),
        only: list[str] | None = typer.Option(None, "--only", help="Study name (repeatable)."),
    ) -> None:
        """Regenerate the HTML report from stored results, without training."""
        from overparam.report.reproduce import write_report

        with user_errors():
            target = out or store.parent / "report.html"
            path, claims = write_report(store, target, only=only)
        _print_claims(claims)
        typer.echo(f"report: {path}")


def _print_claims(claims: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="theory against measurement")
    for col in ("study", "claim", "measured", "theory", "verdict"):
        table.add_column(col)
    for c in claims:
        table.add_row(c["study"], c["claim"], c["measured"], c["theory"], c["verdict"])
    Console().print(table)
