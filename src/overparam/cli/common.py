"""Shared CLI plumbing: turning library errors into one line and exit code 2."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import typer

from overparam.errors import ConfigError


@contextmanager
def user_errors() -> Iterator[None]:
    """Print ``error: <field>: got <value>; allowed: <...>`` and exit 2 on bad input."""
    try:
        yield
    except ConfigError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None


def print_json(obj: Any) -> None:
    """One JSON object on stdout (NaN / inf written as null so jq can read it)."""
    typer.echo(json.dumps(_clean(obj), default=str))


def _clean(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if obj == obj and abs(obj) != float("inf") else None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    return obj


def is_terminal() -> bool:
    return sys.stdout.isatty()


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    import time

    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start
