"""What the three report formats (HTML, Markdown, JSON) share: the sections a study contributes,
their grouping into the chapters of :data:`overparam.studies.registry.CHAPTERS`, the anchors
that link a summary row to its claim, the paper a claim cites, and the keys of the
bibliography.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from overparam.report import text
from overparam.report.fate import RunFate
from overparam.studies.claims.verdicts import Judgement, count_verdicts

if TYPE_CHECKING:
    import pandas as pd

#: The CSS width a single-panel figure is shown at when its maker recorded none (two per row).
DEFAULT_DISPLAY_PX = 490

#: The chapter of studies that :data:`~overparam.studies.registry.CHAPTERS` does not list.
OTHER_CHAPTER = "Other studies"

#: The chapter of a user's own networks (sections named ``own-<experiment>``,
#: :mod:`overparam.byon.report`), after every study.
OWN_CHAPTER = "Your networks"
OWN_PREFIX = "own-"


@dataclass(frozen=True)
class FigureFile:
    """A saved figure: its PNG, its SVG (default: beside the PNG) and the CSS width it is
    shown at."""

    name: str
    caption: str
    png: Path
    svg: Path | None = None
    display_px: int = DEFAULT_DISPLAY_PX

    @property
    def svg_file(self) -> Path:
        return self.svg if self.svg is not None else self.png.with_suffix(".svg")


@dataclass(frozen=True)
class Section:
    """One study's part of the report.

    ``tables`` maps a name to its DataFrame (shown folded, downloadable as CSV); ``context``
    rows are dicts with label, value, cite, why; ``scale`` is "quick" or "full" when known."""

    name: str
    title: str
    source: str
    description: str
    claims: Sequence[Judgement]
    figures: Sequence[FigureFile]
    configs: Sequence[dict[str, Any]] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    context: Sequence[dict[str, str]] = field(default_factory=list)
    hypotheses: Sequence[str] = field(default_factory=list)
    error: str | None = None
    fate: RunFate | None = None
    scale: str | None = None


def slug(value: str) -> str:
    """``value`` as an HTML id / file-name part: letters, digits, ``_`` and ``-`` only."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", value).strip("-") or "x"


def claim_id(study: str, key: str) -> str:
    """The id of a claim's row in its study's section."""
    return f"claim-{slug(study)}-{slug(key)}"


def summary_id(study: str, key: str) -> str:
    """The id of a claim's row in the summary table."""
    return f"summary-{slug(study)}-{slug(key)}"


def chapter_id(index: int) -> str:
    return f"chapter-{index + 1}"


def chapters(sections: Sequence[Section]) -> list[tuple[str, list[Section]]]:
    """(chapter title, its sections) in the order of ``CHAPTERS`` and, within a chapter, of the
    chapter's list; sections of unlisted studies after them, under :data:`OTHER_CHAPTER`, and
    a user's own networks last, under :data:`OWN_CHAPTER`. Chapters without a section are left
    out."""
    from overparam.studies.registry import CHAPTERS

    by_name = {s.name: s for s in sections}
    out: list[tuple[str, list[Section]]] = []
    placed: set[str] = set()
    for title, members in CHAPTERS:
        found = [by_name[n] for n in members if n in by_name]
        if found:
            out.append((title, found))
            placed.update(s.name for s in found)
    rest = [s for s in sections if s.name not in placed and not s.name.startswith(OWN_PREFIX)]
    if rest:
        out.append((OTHER_CHAPTER, rest))
    own = [s for s in sections if s.name not in placed and s.name.startswith(OWN_PREFIX)]
    if own:
        out.append((OWN_CHAPTER, own))
    return out


def ordered(sections: Sequence[Section]) -> list[Section]:
    """The sections in chapter order (the order every format lists them in)."""
    return [s for _, group in chapters(sections) for s in group]


def paper(cite: str) -> str:
    """The reference key a ``"key, location"`` cite names first ("" when none)."""
    keys = text.cited([cite])
    return keys[0] if keys else ""


def cite_parts(cite: str) -> list[tuple[str, bool]]:
    """``cite`` cut into (piece, is a reference key) pieces, in order, so that a renderer can
    link each key to its bibliography entry."""
    keys = sorted(text.cited([cite]), key=len, reverse=True)
    if not keys:
        return [(cite, False)] if cite else []
    pattern = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, keys)) + r")(?![\w-])")
    out, last = [], 0
    for m in pattern.finditer(cite):
        if m.start() > last:
            out.append((cite[last : m.start()], False))
        out.append((m.group(1), True))
        last = m.end()
    if last < len(cite):
        out.append((cite[last:], False))
    return out


def bibliography_keys(sections: Sequence[Section]) -> list[str]:
    """Every reference key cited anywhere in ``sections``: claim cites, sources, descriptions,
    hypotheses, context rows and captions, in order of first appearance."""
    texts: list[str] = []
    for s in ordered(sections):
        texts += [s.source, s.description, *s.hypotheses]
        texts += [j.cite for j in s.claims]
        texts += [r.get("cite", "") for r in s.context]
        texts += [f.caption for f in s.figures]
    keys = text.cited(texts)
    for t in texts:  # a key found in one text is listed even if the joined scan missed it
        keys += [k for k in text.cited([t]) if k not in keys]
    return keys


def claim_record(section: Section, judgement: Judgement) -> dict[str, Any]:
    """A judged claim as JSON: :meth:`Judgement.to_dict` plus ``study`` and, when the study's
    runs are known, ``runs_used`` (its finished runs) and ``runs_planned``."""
    counts = (
        {"runs_used": section.fate.finished, "runs_planned": section.fate.planned}
        if section.fate is not None
        else {}
    )
    return {"study": section.name, **judgement.to_dict(), **counts}


def claim_records(sections: Sequence[Section]) -> list[dict[str, Any]]:
    return [claim_record(s, j) for s in ordered(sections) for j in s.claims]


def verdicts(sections: Sequence[Section]) -> dict[str, int]:
    """How many claims of ``sections`` received each verdict (zeros included)."""
    return count_verdicts(j for s in sections for j in s.claims)


def runs(sections: Sequence[Section]) -> dict[str, dict[str, Any]]:
    """Per study what became of its runs (:meth:`RunFate.to_dict` plus ``mode``)."""
    return {
        s.name: {"mode": s.scale, **s.fate.to_dict()}
        for s in ordered(sections)
        if s.fate is not None
    }
