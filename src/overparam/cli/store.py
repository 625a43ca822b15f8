"""``overparam store verify``: check every stored run against its checksum (no math here)."""

from __future__ import annotations

from pathlib import Path

import typer

from overparam.cli.common import print_json, user_errors
from overparam.store.sqlite import DEFAULT_PATH


def register(app: typer.Typer) -> None:
    store_app = typer.Typer(help="Inspect a results database.", no_args_is_help=True)
    app.add_typer(store_app, name="store")

    @store_app.command("verify")
    def verify_cmd(
        store: Path = typer.Option(DEFAULT_PATH, "--store", help="SQLite results database."),
        json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Check every finished run's stored rows against its checksum, read-only.

        Exit 0: every finished run matches its checksum.
        Exit 1: damaged runs, each named with what differs (result, losses, records, checksum).
        Exit 2: not a readable results database.
        """
        from overparam.store.sqlite import Store

        with user_errors(), Store(store, mode="read") as db:
            checked, damaged = db.verify()
            version = db.schema_version
            total = int(db.query("SELECT COUNT(*) FROM runs")[0][0])
        unchecked = total - checked
        if json_out:
            print_json(
                {
                    "store": str(store),
                    "schema_version": version,
                    "ok": not damaged,
                    "verified": checked - len(damaged),
                    "checked": checked,
                    "damaged": [d.to_dict() for d in damaged],
                }
            )
        elif damaged:
            for d in damaged:
                typer.echo(f"damaged: {d.describe()}")
            typer.echo(f"{len(damaged)} of {checked} finished runs damaged in {store}")
        elif version < 2:
            typer.echo(
                f"ok: 0 runs verified; this version-{version} store has no checksums yet "
                "(the next `overparam sweep run` or `overparam reproduce` on it adds them)"
            )
        else:
            note = f" ({unchecked} queued or running, not finished)" if unchecked else ""
            typer.echo(f"ok: {checked} runs verified{note}")
        if damaged:
            raise typer.Exit(1)
