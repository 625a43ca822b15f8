"""Shared CLI plumbing: turning library and click errors into one line and exit code 2."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from difflib import get_close_matches
from enum import Enum
from pathlib import PurePath
from typing import Any, cast, get_args

import typer

from overparam.errors import ConfigError


def print_error(err: ConfigError) -> None:
    """``error: <field>: got <value>; allowed: <...>`` on stderr, one line."""
    typer.echo(f"error: {err}", err=True)


@contextmanager
def user_errors() -> Iterator[None]:
    """Print ``error: <field>: got <value>; allowed: <...>`` and exit 2 on bad input."""
    try:
        yield
    except ConfigError as e:
        print_error(e)
        raise typer.Exit(2) from None


def check_device(device: object, field: str = "device") -> None:
    """A device name overparam runs on (cpu, cuda, cuda:N, mps) that exists on this machine."""
    from overparam.errors import require_device_name
    from overparam.models.base import resolve_device

    require_device_name(field, device)
    try:
        resolve_device(str(device))
    except ConfigError as e:
        raise ConfigError(field, e.value, e.allowed) from None
    import torch

    if device == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(field, device, "cpu (no MPS device is available here)")
    if str(device).startswith("cuda:"):
        index, count = int(str(device).partition(":")[2]), torch.cuda.device_count()
        if index >= count:
            raise ConfigError(field, device, f"cuda:0 .. cuda:{count - 1} (devices here)")


# -- click's errors as one line --------------------------------------------------------------
# Typer parses the command line with click (typer >= 0.20 with its own copy, typer._click), so
# its errors are matched by class name and attributes, whichever copy raised them.


class _Nothing:
    """The value of an option given without one (prints as ``got nothing``)."""

    def __repr__(self) -> str:
        return "nothing"


NOTHING = _Nothing()


def is_a(exc: BaseException, *names: str) -> bool:
    """Whether ``exc`` is an instance of a class named one of ``names`` (any click copy)."""
    return any(c.__name__ in names for c in type(exc).__mro__)


def _words(annotation: Any, choices: Sequence[Any] | None) -> str:
    if choices:
        return ", ".join(str(c.value if isinstance(c, Enum) else c) for c in choices)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return ", ".join(str(c.value) for c in annotation)
    named = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    if annotation in named:
        return named[annotation]
    if isinstance(annotation, type) and issubclass(annotation, PurePath):
        return "a path"
    return f"a {getattr(annotation, '__name__', annotation)}"


def type_words(param: Any) -> str:
    """What a command-line parameter accepts, in words: its choices, 'an integer', ..."""
    if param is None:
        return "a valid value (see --help)"
    if getattr(param, "is_flag", False):
        return f"no value: {param.opts[0]} is a flag"
    desc = getattr(param, "type_descriptor", None)
    if desc is not None:  # typer's own click: the annotation and its choices
        annotation = desc.annotation
        if desc.is_list and get_args(annotation):
            annotation = get_args(annotation)[0]
        return _words(annotation, desc.choices)
    t: Any = getattr(param, "type", None)  # click's ParamType
    if isinstance(getattr(t, "choices", None), Sequence):
        return _words(None, t.choices)
    named = {"integer": "an integer", "float": "a number", "boolean": "true or false"}
    return named.get(getattr(t, "name", ""), f"a {getattr(t, 'name', 'value')}")


def _given(param: Any, argv: Sequence[str]) -> list[str]:
    """The values the user gave the option ``param`` on the command line, in order."""
    opts = [*getattr(param, "opts", ()), *getattr(param, "secondary_opts", ())]
    out = []
    for i, tok in enumerate(argv):
        for o in opts:
            if o.startswith("-") and tok == o and i + 1 < len(argv):
                out.append(argv[i + 1])
            elif o.startswith("-") and tok.startswith(o + "="):
                out.append(tok[len(o) + 1 :])
    return out


def _rejected_value(e: BaseException, param: Any, argv: Sequence[str]) -> Any:
    """The value the parser refused: the input its validator saw, else the one typed last."""
    cause = e.__cause__
    errors = getattr(cause, "errors", None)
    if callable(errors):
        try:
            first = errors()[0]
        except (IndexError, TypeError):
            first = {}
        if "input" in first:
            return first["input"]
    given = _given(param, argv) if param is not None else []
    return given[-1] if given else NOTHING


def _find_option(command: Any, name: str) -> Any:
    for p in getattr(command, "params", ()):
        if name in (*getattr(p, "opts", ()), *getattr(p, "secondary_opts", ())):
            return p
    return None


def _command_depth(ctx: Any) -> int:
    depth = 0
    while ctx is not None and ctx.parent is not None:
        depth, ctx = depth + 1, ctx.parent
    return depth


def _resolve(root: Any, argv: Sequence[str]) -> tuple[Any, str]:
    """The (sub)command ``argv`` names under ``root``, and its path ('overparam sweep run')."""
    cmd, path = root, ["overparam"]
    for tok in argv:
        sub = getattr(cmd, "commands", {}).get(tok)
        if sub is None:
            if not tok.startswith("-") and hasattr(cmd, "commands"):
                break
            continue
        cmd, path = sub, [*path, tok]
    return cmd, " ".join(path)


def _field(param: Any) -> str:
    """An option's name as typed, without dashes ('--min-separation' -> min_separation)."""
    longs = [o for o in getattr(param, "opts", ()) if o.startswith("--")]
    if longs:
        return longs[0][2:].replace("-", "_")
    return getattr(param, "name", None) or "value"


def click_error(e: BaseException, argv: Sequence[str], root: Any = None) -> ConfigError:
    """A click usage error as a :class:`ConfigError` naming the option (without dashes)."""
    ctx = getattr(e, "ctx", None)
    command: Any
    command, where = _resolve(root, argv) if root is not None else (None, "overparam")
    if ctx is not None:
        command, where = ctx.command, ctx.command_path
    message = str(getattr(e, "message", e))
    param = getattr(e, "param", None)
    name = _field(param)
    if is_a(e, "MissingParameter"):
        opts = getattr(param, "opts", None) or [name.upper()]
        return ConfigError(name, NOTHING, f"{type_words(param)} (required: {opts[0]})")
    if is_a(e, "BadParameter"):
        return ConfigError(name, _rejected_value(e, param, argv), type_words(param))
    # Both classes (matched by name, from any click copy) carry the option as typed.
    if is_a(e, "NoSuchOption"):
        option: str = cast(Any, e).option_name
        matches = get_close_matches(option, _all_options(command)) or list(
            getattr(e, "possibilities", None) or ()
        )
        hint = f"did you mean {', '.join(matches[:3])}? " if matches else ""
        return ConfigError("option", option, f"an option of '{where}' ({hint}see --help)")
    if is_a(e, "BadOptionUsage"):
        option = cast(Any, e).option_name
        p = _find_option(command, option)
        field = option.lstrip("-").replace("-", "_")
        if getattr(p, "is_flag", False):
            given = [a.partition("=")[2] for a in argv if a.startswith(option + "=")]
            return ConfigError(
                field, given[-1] if given else NOTHING, f"no value: {option} is a flag"
            )
        return ConfigError(field, NOTHING, f"{type_words(p)} after {option}")
    if hasattr(command, "list_commands") and "command" in message.lower():
        value: Any = getattr(e, "command_name", None)
        if value is None:
            positional = [a for a in argv if not a.startswith("-")]
            depth = _command_depth(ctx)
            value = positional[depth] if depth < len(positional) else NOTHING
        commands = ", ".join(command.list_commands(ctx))
        return ConfigError("command", value, f"a command of '{where}': {commands}")
    if "extra argument" in message:
        found = re.search(r"\(([^()]*)\)\s*$", message)
        extra = found.group(1) if found else message
        args = [
            (p.name or "").upper()
            for p in getattr(command, "params", ())
            if not getattr(p, "opts", [""])[0].startswith("-")
        ]
        allowed = f"only {', '.join(args)}" if args else "no arguments"
        return ConfigError("argument", extra, f"{allowed} for '{where}' (options start with --)")
    return ConfigError("usage", " ".join(argv), f"see {where} --help ({message})")


def _all_options(command: Any) -> list[str]:
    out: list[str] = []
    for p in getattr(command, "params", ()):
        out += [o for o in (*getattr(p, "opts", ()), *getattr(p, "secondary_opts", ())) if o]
    return out


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
