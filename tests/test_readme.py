"""Every `overparam ...` command the README shows names a real command, and every flag it uses
is one that command accepts (read from the command's own --help)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from overparam.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"
GROUPS = {"sweep"}  # commands with subcommands


def readme_commands() -> list[list[str]]:
    """The `overparam` invocations inside the README's fenced code blocks."""
    commands, fenced = [], False
    for line in README.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            continue
        for part in re.split(r"&&|\|", line.split("#")[0]):
            words = shlex.split(part.strip().strip("`$ ")) if part.strip() else []
            if words[:1] == ["overparam"] and len(words) > 1:
                commands.append(words[1:])
    return commands


COMMANDS = readme_commands()


def test_readme_shows_the_main_commands():
    names = {c[0] for c in COMMANDS}
    assert {"reproduce", "train", "ntk", "kernel", "bounds", "critical-width"} <= names


@pytest.mark.parametrize("words", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_readme_command_exists_with_its_flags(words):
    n_sub = 2 if words[0] in GROUPS else 1
    sub, args = words[:n_sub], words[n_sub:]
    result = CliRunner().invoke(app, [*sub, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for flag in (a.split("=")[0] for a in args if a.startswith("--")):
        assert re.search(rf"{re.escape(flag)}(?![\w-])", result.output), (
            f"{' '.join(sub)} has no {flag}"
        )
