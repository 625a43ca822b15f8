"""The formats ``overparam report --format`` writes: the HTML page, the same content as
GitHub-flavoured Markdown, or as JSON."""

from __future__ import annotations

from collections.abc import Callable

from overparam.errors import ConfigError

#: Every format, the default first.
FORMATS: tuple[str, ...] = ("html", "md", "json")

#: (sections, *, title, meta) -> the report's text.
Renderer = Callable[..., str]


def check_format(fmt: str) -> str:
    """``fmt`` if it is one of :data:`FORMATS`, else a :class:`ConfigError` naming them."""
    if fmt not in FORMATS:
        raise ConfigError("format", fmt, ", ".join(FORMATS))
    return fmt


def default_name(fmt: str) -> str:
    """The report's file name in format ``fmt``: report.html, report.md, report.json."""
    return f"report.{check_format(fmt)}"


def renderer(fmt: str) -> Renderer:
    """The function (sections, *, title, meta) -> text that writes format ``fmt``."""
    check_format(fmt)
    if fmt == "md":
        from overparam.report.markdown import render_markdown

        return render_markdown
    if fmt == "json":
        from overparam.report.json_report import render_json

        return render_json
    from overparam.report.html import render

    return render
