"""A self-contained HTML report: summary of claims first, then one section per study.

Figures are embedded as base64 PNG (no network requests); their SVGs sit beside the report.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from overparam.report.fate import RunFate, format_fields, format_provenance, totals
from overparam.studies.claims.verdicts import VERDICTS, Judgement, count_verdicts

#: The CSS class of each verdict (only ``consistent`` is green).
VERDICT_CLASS = {
    "consistent": "ok",
    "contradicted": "bad",
    "inconclusive": "none",
    "vacuous": "vac",
    "outside assumptions": "out",
}

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{margin-bottom:.2em} h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;width:100%;font-size:.9em;margin:1em 0}
th,td{border:1px solid #ddd;padding:.35em .5em;text-align:left;vertical-align:top}
th{background:#f5f5f5} .meta{color:#666;font-size:.9em}
.ok{background:#e6f4ea} .bad{background:#fde8e8} .none{background:#fff7e0}
.vac{background:#eef} .out{background:#eee;color:#666}
.verdicts{font-size:1em} .verdicts span{padding:.15em .5em;margin-right:.4em;border-radius:.3em}
figure{display:inline-block;margin:.5em 1em .5em 0;max-width:520px;vertical-align:top}
figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85em;color:#444}
pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:.8em}
.badge{font-size:.6em;vertical-align:middle;padding:.1em .5em;border-radius:.3em;
background:#c0392b;color:#fff;margin-left:.5em}
.runs-incomplete{background:#fde8e8;border-left:4px solid #c0392b;padding:.4em .6em;
font-weight:600} .runs-note{color:#a12;font-weight:600}
.runs-fate,.runs-total{font-size:.9em} .provenance{color:#555;font-size:.85em}
.runs-listed{width:auto}
"""

#: A section lists its diverged, failed and missing runs openly up to this many, else folded.
RUNS_SHOWN = 5


@dataclass(frozen=True)
class FigureFile:
    name: str
    caption: str
    png: Path


@dataclass(frozen=True)
class Section:
    """One study's part of the report."""

    name: str
    title: str
    source: str
    description: str
    claims: Sequence[Judgement]
    figures: Sequence[FigureFile]
    configs: Sequence[dict[str, Any]] = field(default_factory=list)
    tables: dict[str, str] = field(default_factory=dict)  # name -> HTML table
    context: Sequence[dict[str, str]] = field(default_factory=list)  # label, value, cite, why
    hypotheses: Sequence[str] = field(default_factory=list)
    error: str | None = None
    fate: RunFate | None = None


def _e(text: object) -> str:
    return html.escape(str(text))


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f"data:image/png;base64,{data}"


def _tightness(j: Judgement) -> str:
    t = j.tightness
    return "" if not math.isfinite(t) else f"{t:.3g}"


def _claims_table(
    rows: Sequence[tuple[str, Judgement]],
    marks: dict[str, str] | None = None,
    attrs: str = "id='summary'",
) -> str:
    head = (
        "<tr><th>study</th><th>claim</th><th>paper and location</th><th>measured</th>"
        "<th>theory</th><th>tightness</th><th>verdict</th></tr>"
    )
    body = []
    for study, j in rows:
        cls = VERDICT_CLASS.get(j.verdict, "none")
        note = f"<br><span class='meta'>{_e(j.reason)}</span>" if j.reason else ""
        mark = (marks or {}).get(study, "")
        if mark:
            note += f"<br><span class='runs-note'>{_e(mark)}</span>"
        body.append(
            f"<tr class='{cls}' data-verdict='{_e(j.verdict)}' data-study='{_e(study)}'>"
            f"<td>{_e(study)}</td><td>{_e(j.text)}</td><td>{_e(j.cite)}</td>"
            f"<td>{_e(j.measured)}</td><td>{_e(j.theory)}</td><td>{_tightness(j)}</td>"
            f"<td>{_e(j.verdict)}{note}</td></tr>"
        )
    return f"<table {attrs}>{head}{''.join(body)}</table>"


def _verdict_counts(judgements: Sequence[Judgement]) -> str:
    """The summary's first line: how many claims received each verdict."""
    counts = count_verdicts(judgements)
    spans = " ".join(
        f"<span class='{VERDICT_CLASS[v]}' data-verdict='{_e(v)}' data-count='{counts[v]}'>"
        f"{_e(v)}: {counts[v]}</span>"
        for v in VERDICTS
    )
    return f"<p class='verdicts' id='verdict-counts'>{len(judgements)} claims · {spans}</p>"


def _context(rows: Sequence[dict[str, str]]) -> str:
    """Numbers shown beside the claims, not judged (no outcome of the data could fail them)."""
    if not rows:
        return ""
    head = "<tr><th>context (not a claim)</th><th>value</th><th>paper</th><th>why</th></tr>"
    body = "".join(
        f"<tr class='context'><td>{_e(r['label'])}</td><td>{_e(r['value'])}</td>"
        f"<td>{_e(r.get('cite', ''))}</td><td>{_e(r.get('why', ''))}</td></tr>"
        for r in rows
    )
    return f"<table class='context'>{head}{body}</table>"


def _configs(configs: Sequence[dict[str, Any]]) -> str:
    if not configs:
        return ""
    text = "\n".join(json.dumps(c, sort_keys=True) for c in configs)
    return (
        f"<details><summary>exact configs ({len(configs)} runs)</summary>"
        f"<pre>{_e(text)}</pre></details>"
    )


def _counts_attrs(counts: dict[str, int]) -> str:
    return " ".join(f"data-{k}='{int(v)}'" for k, v in counts.items())


def _runs_total(fates: Sequence[RunFate]) -> str:
    """The summary's one line: runs planned / done / diverged / failed / missing."""
    if not fates:
        return ""
    t = totals(fates)
    text = " · ".join(f"{k} {v}" for k, v in t.items())
    return f"<p class='runs-total' {_counts_attrs(t)}>runs: {text}</p>"


def _fate(fate: RunFate) -> str:
    """A section's runs: counts, the incomplete warning, provenance, the runs that did not end
    well (folded when more than :data:`RUNS_SHOWN`)."""
    if fate.planned == 0 and fate.unplanned == 0:
        return "<p class='runs-fate' data-planned='0'>no training runs planned</p>"
    parts = []
    if fate.incomplete:
        parts.append(f"<p class='runs-incomplete'>{_e(fate.headline())}</p>")
    counts = fate.counts()
    words = [f"planned {fate.planned}"] + [
        f"{k} {counts[k]}" for k in ("done", "diverged", "failed", "missing")
    ]
    if fate.unplanned:
        words.append(f"stored but not in the current plan {fate.unplanned}")
    parts.append(f"<p class='runs-fate' {_counts_attrs(counts)}>runs: {' · '.join(words)}</p>")
    if fate.provenance:
        parts.append(
            f"<p class='provenance'>ran with: {_e(format_provenance(fate.provenance))}</p>"
        )
    if fate.runs:
        head = "<tr><th>status</th><th>run</th><th>config</th><th>error</th></tr>"
        body = "".join(
            f"<tr class='run-{_e(r.status)}' data-status='{_e(r.status)}'"
            f" data-run-id='{'' if r.run_id is None else r.run_id}'>"
            f"<td>{_e(r.status)}</td><td>{'' if r.run_id is None else r.run_id}</td>"
            f"<td>{_e(format_fields(r.fields))}</td><td>{_e(r.error)}</td></tr>"
            for r in fate.runs
        )
        table = f"<table class='runs-listed'>{head}{body}</table>"
        if len(fate.runs) > RUNS_SHOWN:
            kinds = ", ".join(
                f"{n} {s}" for s in ("diverged", "failed", "missing") if (n := len(fate.listed(s)))
            )
            table = f"<details><summary>runs {kinds}</summary>{table}</details>"
        parts.append(table)
    return "\n".join(parts)


def render(sections: Sequence[Section], *, title: str, meta: dict[str, Any]) -> str:
    """The whole report as one HTML string."""
    rows = [(s.name, c) for s in sections for c in s.claims]
    fates = [s.fate for s in sections if s.fate is not None]
    marks = {s.name: s.fate.note() for s in sections if s.fate is not None and s.fate.note()}
    meta_text = " · ".join(f"{_e(k)}: {_e(v)}" for k, v in meta.items())
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1><p class='meta'>{meta_text}</p>",
        "<h2>Summary: theory against measurement</h2>",
        _verdict_counts([j for _, j in rows]),
        _runs_total(fates),
        _claims_table(rows, marks),
    ]
    for s in sections:
        badge = (
            "<span class='badge'>incomplete</span>"
            if s.fate is not None and s.fate.incomplete
            else ""
        )
        parts.append(f"<h2 id='{_e(s.name)}'>{_e(s.title)}{badge}</h2>")
        parts.append(f"<p class='meta'>{_e(s.source)}</p>")
        if s.fate is not None:
            parts.append(_fate(s.fate))
        if s.description:
            parts.append(f"<p>{_e(s.description)}</p>")
        if s.hypotheses:
            items = "".join(f"<li>{_e(h)}</li>" for h in s.hypotheses)
            parts.append(f"<p>The theorem's hypotheses:</p><ul class='hypotheses'>{items}</ul>")
        if s.claims:
            rows = [(s.name, j) for j in s.claims]
            parts.append(_claims_table(rows, attrs="class='section-claims'"))
        parts.append(_context(s.context))
        if s.error:
            parts.append(f"<p class='bad'>analysis failed: {_e(s.error)}</p>")
        for f in s.figures:
            parts.append(
                f"<figure><img alt='{_e(f.name)}' src='{_img(f.png)}'>"
                f"<figcaption>{_e(f.caption)}</figcaption></figure>"
            )
        for name, table_html in s.tables.items():
            parts.append(f"<h3>{_e(name)}</h3>{table_html}")
        parts.append(_configs(s.configs))
    parts.append("</body></html>")
    return "\n".join(parts)


def write(path: Path, text: str) -> Path:
    """Write atomically (temp file + rename): a report is never half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
