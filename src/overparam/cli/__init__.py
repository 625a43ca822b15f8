"""The ``overparam`` command line: thin wrappers over the library (no math here)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import Any

import typer
from typer.core import TyperGroup

from overparam import __version__
from overparam.errors import ConfigError


class OneLineErrors(TyperGroup):
    """The root command: every usage error (bad type or choice, unknown or missing option) ends
    in one stderr line ``error: <field>: got <value>; allowed: <...>`` and exit code 2, instead
    of click's usage box; Ctrl-C / EOF exit 130 quietly; ``--help`` exits 0."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        from overparam.cli.common import click_error, is_a, print_error

        argv = list(sys.argv[1:] if args is None else args)
        if not standalone_mode:
            return super().main(argv, prog_name, complete_var, False, **extra)
        try:
            rv = super().main(argv, prog_name, complete_var, False, **extra)
        except ConfigError as e:
            print_error(e)
            sys.exit(2)
        except Exception as e:
            if is_a(e, "NoArgsIsHelpError"):
                help_text = e.ctx.get_help()  # type: ignore[attr-defined]  # rich help prints
                if help_text:
                    typer.echo(help_text)
                sys.exit(0)
            if is_a(e, "ClickException"):
                print_error(click_error(e, argv, self))
                sys.exit(2)
            if is_a(e, "Abort"):
                sys.exit(130)
            raise
        sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(
    cls=OneLineErrors,
    name="overparam",
    help="Measure the convergence theory of over-parameterized deep networks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Each module adds its commands with ``register(app)``; see overparam/cli/<name>.py.
COMMAND_MODULES = (
    "train",
    "ntk",
    "kernel",
    "bounds",
    "sweep",
    "critical",
    "reproduce",
    "studies",
    "generalization",
    "store",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"overparam {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """overparam: the papers' networks, kernels, proof probes, bounds, sweeps and report."""


for _name in COMMAND_MODULES:
    try:
        _module = importlib.import_module(f"overparam.cli.{_name}")
    except ModuleNotFoundError as _e:
        if _e.name != f"overparam.cli.{_name}":
            raise
        continue
    _module.register(app)


def main(args: Sequence[str] | None = None) -> None:
    """Run the command line on ``args`` (default: ``sys.argv[1:]``); always exits."""
    typer.main.get_command(app).main(args=args, prog_name="overparam")
