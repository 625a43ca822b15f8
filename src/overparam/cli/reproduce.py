"""``overparam reproduce`` and ``overparam report``."""

from __future__ import annotations

from pathlib import Path

import typer

from overparam import progress
from overparam.cli.common import print_json, user_errors
from overparam.errors import ConfigError
from overparam.progress import StudyProgress
from overparam.studies.registry import STUDY_NAMES

ONLY_HELP = "Study name (repeatable): " + ", ".join(STUDY_NAMES) + "."


def check_executor(executor: str, workers: int | None, address: str | None) -> None:
    """The executor's name, worker count and address, before any study starts."""
    from overparam.errors import require_int
    from overparam.sweep.executors import EXECUTORS

    if executor not in EXECUTORS:
        raise ConfigError("executor", executor, ", ".join(EXECUTORS))
    if workers is not None:
        require_int("workers", workers, allowed="an integer >= 1")
    if address is not None and executor != "ray":
        raise ConfigError("address", address, "only with executor=ray")


def register(app: typer.Typer) -> None:
    @app.command()
    def reproduce(
        quick: bool = typer.Option(False, "--quick", help="Smaller sizes (about 3 minutes)."),
        scale: str | None = typer.Option(
            None, "--scale", help="quick, laptop, full (the default) or cluster."
        ),
        only: list[str] | None = typer.Option(None, "--only", help=ONLY_HELP),
        out: Path = typer.Option(Path("overparam-results"), "--out", help="Output folder."),
        executor: str = typer.Option("local", help="local, batched or ray."),
        workers: int | None = typer.Option(None, help="Worker processes (local executor)."),
        address: str | None = typer.Option(None, help="Ray cluster address (ray executor)."),
        quiet: bool = typer.Option(False, "--quiet", help="No progress (bars or lines)."),
        json_out: bool = typer.Option(False, "--json", help="Print one JSON summary."),
    ) -> None:
        """Run the papers' studies (resumable) and write DIR/report.html."""
        from overparam.studies.registry import select
        from overparam.studies.reproduce import reproduce as run
        from overparam.studies.study import resolve_scale

        with user_errors():
            if out.exists() and not out.is_dir():
                raise ConfigError("out", str(out), "a folder for the results (this is a file)")
            check_executor(executor, workers, address)
            chosen = resolve_scale(scale, quick)  # before any study starts
            studies = select(only)
            # stderr only: rich bars on a terminal, else a plain line at least every 10 s.
            with StudyProgress(
                len(studies), delay=progress.COMMAND_DELAY_S, enabled=not quiet
            ) as bar:
                result = run(
                    out=out,
                    quick=quick,
                    scale=chosen,
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
            "verdicts": result.verdicts,
            "runs": result.runs,
            "claims": result.claims,
        }
        done = f"report: {result.report}  ({result.wall_s:.0f} s, {result.executed} runs trained)"
        if json_out:
            print_json(summary)
            if not quiet:
                typer.echo(done, err=True)  # the elapsed time, off stdout
            return
        _print_claims(result.claims, result.verdicts)
        typer.echo(done)

    @app.command()
    def report(
        store: Path = typer.Option(
            Path("overparam-results") / "results.sqlite", "--store", help="Results database."
        ),
        out: Path | None = typer.Option(
            None, "--out", help="Report file (default: report.html, .md or .json beside store)."
        ),
        only: list[str] | None = typer.Option(None, "--only", help=ONLY_HELP),
        fmt: str = typer.Option(
            "html", "--format", help="html (the page), md (GitHub Markdown) or json."
        ),
        json_out: bool = typer.Option(False, "--json", help="Print one JSON summary."),
    ) -> None:
        """Regenerate the report (HTML, Markdown or JSON) from stored results, without
        training."""
        from overparam.report.formats import check_format, default_name
        from overparam.studies.registry import names
        from overparam.studies.reproduce import build_report

        with user_errors():
            names(only)  # unknown study names and formats first: they do not depend on the store
            check_format(fmt)
            target = out or store.parent / default_name(fmt)
            if target.is_dir():
                raise ConfigError(
                    "out", str(target), "a file path for the report (this is a folder)"
                )
            result = build_report(store, target, only=only, fmt=fmt)
        if json_out:
            print_json(
                {
                    "report": str(result.path),
                    "verdicts": result.verdicts,
                    "runs": result.runs,
                    "claims": result.claims,
                }
            )
            return
        _print_claims(result.claims, result.verdicts)
        typer.echo(f"report: {result.path}")


def _print_claims(claims: list[dict], verdicts: dict[str, int]) -> None:
    from rich.console import Console
    from rich.table import Table

    from overparam.report.text import plain

    counts = ", ".join(f"{v} {n}" for v, n in verdicts.items())
    table = Table(title=f"theory against measurement: {len(claims)} claims ({counts})")
    for col in ("study", "claim", "measured", "theory", "verdict"):
        table.add_column(col)
    for c in claims:
        table.add_row(c["study"], plain(c["text"]), c["measured"], c["theory"], c["verdict"])
    Console().print(table)
