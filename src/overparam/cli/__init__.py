"""The ``overparam`` command line: thin wrappers over the library (no math here)."""

from __future__ import annotations

import importlib

import typer

from overparam import __version__

app = typer.Typer(
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
    "generalization",
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


def main() -> None:
    app()
