"""The report as GitHub-flavoured Markdown, for a paper draft or an issue: the same content as
the HTML page (verdict totals, contents, the summary table, one section per study grouped by
chapter, the bibliography), figures as links to their SVG files, formulas kept as ``$ ... $``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from overparam.report import text
from overparam.report.fate import RunFate, format_provenance, totals
from overparam.report.layout import (
    Section,
    bibliography_keys,
    chapter_id,
    chapters,
    cite_parts,
    claim_id,
    ordered,
    slug,
    summary_id,
)
from overparam.studies.claims.verdicts import VERDICTS, Judgement, count_verdicts

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = ("study", "claim", "paper and location", "measured", "theory", "tightness", "verdict")


def cell(value: object) -> str:
    """``value`` as one GFM table cell: one line, every ``|`` escaped (a LaTeX ``\\|`` stays
    ``\\|`` once the table is split)."""
    return " ".join(str(value).split()).replace("|", "\\|")


def _anchor(name: str) -> str:
    return f'<a id="{name}"></a>'


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(cell(h) for h in head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _cite(cite: str) -> str:
    """``cite`` with its reference keys linked to the bibliography."""
    return "".join(
        f"[{piece}](#ref-{piece})" if key else piece.replace("\n", " ").replace("|", "\\|")
        for piece, key in cite_parts(cite)
    )


def _tightness(j: Judgement) -> str:
    return f"{j.tightness:.3g}" if math.isfinite(j.tightness) else ""


def _verdict(j: Judgement, mark: str = "") -> str:
    notes = [cell(n) for n in (j.reason, mark) if n]
    return "<br>".join([f"**{j.verdict}**", *notes])


def _numbers(j: Judgement) -> list[str]:
    return [_cite(j.cite), cell(j.measured), cell(j.theory), _tightness(j)]


def _summary(sections: Sequence[Section]) -> str:
    marks = {s.name: s.fate.note() for s in sections if s.fate is not None}
    rows = [
        [
            f"{_anchor(summary_id(s.name, j.key))}{cell(s.name)}",
            f"{cell(text.markdown(j.text))} [↗](#{claim_id(s.name, j.key)})",
            *_numbers(j),
            _verdict(j, marks.get(s.name, "")),
        ]
        for s in sections
        for j in s.claims
    ]
    return _table(COLUMNS, rows)


def _claims(s: Section) -> str:
    rows = [
        [
            f"{_anchor(claim_id(s.name, j.key))}{cell(text.markdown(j.text))}"
            f" [↑ summary](#{summary_id(s.name, j.key)})",
            *_numbers(j),
            _verdict(j),
        ]
        for j in s.claims
    ]
    return _table(COLUMNS[1:], rows)


def _context(rows: Sequence[dict[str, str]]) -> str:
    body = [
        [
            cell(text.markdown(r["label"])),
            cell(r["value"]),
            _cite(r.get("cite", "")),
            cell(text.markdown(r.get("why", ""))),
        ]
        for r in rows
    ]
    return _table(("context (not a claim)", "value", "paper", "why"), body)


def _value(v: Any) -> str:
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.4g}"
    return cell(v)


def frame_table(frame: pd.DataFrame) -> str:
    """A DataFrame as a GFM table (floats to 4 significant digits, NaN empty)."""
    rows = [[_value(v) for v in row] for row in frame.itertuples(index=False, name=None)]
    return _table([str(c) for c in frame.columns], rows)


def _folded(summary: str, body: str) -> str:
    return f"<details><summary>{summary}</summary>\n\n{body}\n\n</details>"


def _fate(fate: RunFate) -> list[str]:
    if fate.planned == 0 and fate.unplanned == 0:
        return ["no training runs planned"]
    counts = fate.counts()
    words = [f"planned {fate.planned}"] + [
        f"{k} {counts[k]}" for k in ("done", "diverged", "failed", "missing")
    ]
    if fate.unplanned:
        words.append(f"stored but not in the current plan {fate.unplanned}")
    out = [f"> **{fate.headline()}**"] if fate.incomplete else []
    out.append(f"runs: {' · '.join(words)}")
    if fate.provenance:
        out.append(f"ran with: {format_provenance(fate.provenance)}")
    return out


def _section(s: Section, number: str) -> list[str]:
    badge = " **(incomplete)**" if s.fate is not None and s.fate.incomplete else ""
    parts = [
        f"### {number} {text.markdown(s.title)}{badge} {_anchor(slug(s.name))}",
        f"{_cite(s.source)} · [back to summary](#summary)",
    ]
    if s.fate is not None:
        parts += _fate(s.fate)
    if s.description:
        parts.append(text.markdown(s.description))
    if s.hypotheses:
        items = "\n".join(f"- {' '.join(text.markdown(h).split())}" for h in s.hypotheses)
        parts.append(f"The theorem's hypotheses:\n\n{items}")
    if s.claims:
        parts.append(_claims(s))
    if s.context:
        parts.append(_context(s.context))
    if s.error:
        parts.append(f"**analysis failed:** `{s.error}`")
    for f in s.figures:
        alt = " ".join(text.plain(f.caption).split()).replace("[", "\\[").replace("]", "\\]")
        parts.append(f"![{alt}](figures/{f.svg_file.name})\n\n{text.markdown(f.caption)}")
    for name, frame in s.tables.items():
        rows, cols = frame.shape
        parts.append(_folded(f"table: {name} ({rows} rows × {cols} columns)", frame_table(frame)))
    if s.configs:
        lines = "\n".join(json.dumps(c, sort_keys=True) for c in s.configs)
        parts.append(_folded(f"exact configs ({len(s.configs)} runs)", f"```json\n{lines}\n```"))
    return parts


def _counts(judgements: Sequence[Judgement]) -> str:
    counts = count_verdicts(judgements)
    return f"**{len(judgements)} claims** · " + " · ".join(f"{v}: {counts[v]}" for v in VERDICTS)


def render_markdown(sections: Sequence[Section], title: str, meta: dict[str, Any]) -> str:
    """The whole report as GitHub-flavoured Markdown."""
    groups = chapters(sections)
    sections = ordered(sections)
    keys = bibliography_keys(sections)
    fates = [s.fate for s in sections if s.fate is not None]
    parts = [f"# {title}", " · ".join(f"{k}: {v}" for k, v in meta.items())]
    parts.append(_counts([j for s in sections for j in s.claims]))
    if fates:
        parts.append("runs: " + " · ".join(f"{k} {v}" for k, v in totals(fates).items()))
    toc = ["- [Summary: theory against measurement](#summary)"]
    for i, (chapter, group) in enumerate(groups):
        toc.append(f"- [{i + 1} {chapter}](#{chapter_id(i)})")
        toc += [f"  - [{text.markdown(s.title)}](#{slug(s.name)})" for s in group]
    if keys:
        toc.append("- [Bibliography](#bibliography)")
    parts += ["## Contents", "\n".join(toc)]
    parts += [f"## Summary: theory against measurement {_anchor('summary')}", _summary(sections)]
    for i, (chapter, group) in enumerate(groups):
        parts.append(f"## {i + 1} {chapter} {_anchor(chapter_id(i))}")
        for k, s in enumerate(group):
            parts += _section(s, f"{i + 1}.{k + 1}")
    if keys:
        parts.append(f"## Bibliography {_anchor('bibliography')}")
        parts.append(
            "\n".join(
                f"- {_anchor(f'ref-{k}')}**[{k}]** {c}" for k, c in text.bibliography(sorted(keys))
            )
        )
    return "\n\n".join(parts) + "\n"
