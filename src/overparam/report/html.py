"""A self-contained HTML report: a header with the verdict totals and a table of contents, the
summary of claims (sortable, filterable by study, paper and verdict), one section per study
grouped by chapter, and the bibliography.

Figures are inline SVG (no network requests), each a link to its file in ``figures/``; raw
tables and exact configs are folded, each downloadable as CSV from a data URI.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from overparam.report import text
from overparam.report.fate import RunFate, format_fields, format_provenance, totals
from overparam.report.layout import (
    FigureFile,
    Section,
    bibliography_keys,
    chapter_id,
    chapters,
    cite_parts,
    claim_id,
    ordered,
    paper,
    slug,
    summary_id,
)
from overparam.studies.claims.verdicts import VERDICTS, Judgement, count_verdicts

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["RUNS_SHOWN", "VERDICT_CLASS", "FigureFile", "Section", "inline_svg", "render", "write"]

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
margin:2em auto;padding:0 1em;color:#222;line-height:1.45;overflow-wrap:break-word}
h1{margin-bottom:.2em} h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
h3{margin-top:1.8em}
table{border-collapse:collapse;width:100%;font-size:.9em;margin:1em 0}
th,td{border:1px solid #ddd;padding:.35em .5em;text-align:left;vertical-align:top}
td{overflow-wrap:break-word} td.m,td .meta{overflow-wrap:anywhere}
th{background:#f5f5f5} .meta{color:#666;font-size:.9em}
.ok{background:#e6f4ea} .bad{background:#fde8e8} .none{background:#fff7e0}
.vac{background:#eef} .out{background:#eee;color:#666}
.verdicts{font-size:1em} .verdicts span{padding:.15em .5em;margin-right:.4em;border-radius:.3em;
display:inline-block}
.scroll{overflow-x:auto;max-width:100%}
.scroll table.dataframe{width:auto}
.scroll table.dataframe td,.scroll table.dataframe th{overflow-wrap:normal;white-space:nowrap}
.figures{display:flex;flex-wrap:wrap;gap:1em 20px;align-items:flex-start;margin:1em 0;
overflow-x:auto}
.figures figure{flex:0 1 100%;min-width:0;margin:0}
.figures a.figlink{display:block} .figures svg,.figures img{display:block;width:100%;height:auto}
.figures svg *{stroke-linejoin:round;stroke-linecap:butt}
.figures img{border:1px solid #eee} figcaption{font-size:.85em;color:#444}
pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:.8em}
details{margin:.5em 0} summary{cursor:pointer}
.badge{font-size:.6em;vertical-align:middle;padding:.1em .5em;border-radius:.3em;
background:#c0392b;color:#fff;margin-left:.5em}
.runs-incomplete{background:#fde8e8;border-left:4px solid #c0392b;padding:.4em .6em;
font-weight:600} .runs-note{color:#a12;font-weight:600}
.runs-fate,.runs-total{font-size:.9em} .provenance{color:#555;font-size:.85em}
.runs-listed{width:auto}
nav#toc{font-size:.9em;background:#fafafa;border:1px solid #eee;padding:.3em 1em;margin:1em 0}
nav#toc ul{margin:.2em 0;padding-left:1.2em;list-style:none}
nav#toc .toc-title{font-weight:600;margin:.4em 0}
.filters{display:flex;flex-wrap:wrap;gap:.4em 1.2em;align-items:center;font-size:.9em}
.filters select{max-width:16em}
#summary{scroll-margin-top:3.5em} #summary td a{color:inherit;text-decoration-color:#99a}
#summary td a[href^='#ref-']{color:#1a4fa0} #summary thead th{cursor:pointer;user-select:none}
#summary th[aria-sort=ascending]::after{content:" \\25B2"}
#summary th[aria-sort=descending]::after{content:" \\25BC"}
tr:target{outline:2px solid #3366cc;outline-offset:-2px}
a.sec,a.back{font-size:.8em;text-decoration:none;margin-left:.3em;white-space:nowrap}
.refs{list-style:none;padding-left:0} .refs li{margin:.3em 0}
.refs .key{font-family:ui-monospace,monospace;font-size:.9em}
math{max-width:100%;overflow-x:auto}
"""

#: Sorting and filtering of the summary table: a click on a header sorts by that column
#: (numbers as numbers, empty cells last; again to reverse), the three selects keep the rows
#: of one study, paper and verdict. No network, nothing logged.
SCRIPT = """
(function () {
  var table = document.getElementById('summary');
  if (!table || !table.tBodies.length) return;
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var names = ['study', 'paper', 'verdict'];
  var count = document.getElementById('filter-count');
  function select(n) { return document.getElementById('filter-' + n); }
  function apply() {
    var shown = 0;
    rows.forEach(function (r) {
      var keep = names.every(function (n) {
        var s = select(n), v = s ? s.value : '';
        return v === '' || r.getAttribute('data-' + n) === v;
      });
      r.hidden = !keep;
      if (keep) shown += 1;
    });
    if (count) count.textContent = shown + ' of ' + rows.length + ' claims shown';
  }
  names.forEach(function (n) { var s = select(n); if (s) s.addEventListener('change', apply); });
  function key(r, i) {
    var c = r.cells[i];
    if (!c) return '';
    return c.hasAttribute('data-sort') ? c.getAttribute('data-sort') : c.textContent.trim();
  }
  function number(k) { return k !== '' && !isNaN(Number(k)); }
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  heads.forEach(function (th, i) {
    function sort() {
      var dir = th.getAttribute('aria-sort') === 'ascending' ? -1 : 1;
      heads.forEach(function (h) { h.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', dir === 1 ? 'ascending' : 'descending');
      var sorted = rows.slice().sort(function (a, b) {
        var x = key(a, i), y = key(b, i);
        if (x === '' || y === '') {
          if (x !== y) return x === '' ? 1 : -1;
          return rows.indexOf(a) - rows.indexOf(b);
        }
        var c = number(x) && number(y) ? Number(x) - Number(y) : x.localeCompare(y);
        return c * dir || rows.indexOf(a) - rows.indexOf(b);
      });
      sorted.forEach(function (r) { body.appendChild(r); });
    }
    th.tabIndex = 0;
    th.addEventListener('click', sort);
    th.addEventListener('keydown', function (e) {
      if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); sort(); }
    });
  });
  window.addEventListener('hashchange', function () {
    var target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (target && target.hidden) {
      names.forEach(function (n) { var s = select(n); if (s) s.value = ''; });
      apply();
      target.scrollIntoView();
    }
  });
  apply();
})();
"""

#: A section lists its diverged, failed and missing runs openly up to this many, else folded.
RUNS_SHOWN = 5

#: The summary's columns (the claim tables of the sections drop ``study``).
COLUMNS = ("study", "claim", "paper and location", "measured", "theory", "tightness", "verdict")


def _e(value: object) -> str:
    return html.escape(str(value))


def _data_uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def _img(path: Path) -> str:
    return _data_uri("image/png", path.read_bytes())


def _tightness(j: Judgement) -> str:
    t = j.tightness
    return "" if not math.isfinite(t) else f"{t:.3g}"


def _tightness_key(j: Judgement) -> str:
    t = j.tightness
    return "" if not math.isfinite(t) else repr(float(t))


def _cite(cite: str) -> str:
    """``cite`` escaped, each reference key in it a link to its bibliography entry."""
    return "".join(
        f"<a href='#ref-{_e(piece)}'>{_e(piece)}</a>" if key else _e(piece)
        for piece, key in cite_parts(cite)
    )


def _verdict_cell(j: Judgement, mark: str = "") -> str:
    note = f"<br><span class='meta'>{_inline(j.reason)}</span>" if j.reason else ""
    if mark:
        note += f"<br><span class='runs-note'>{_e(mark)}</span>"
    return f"<td data-sort='{VERDICTS.index(j.verdict)}'>{_e(j.verdict)}{note}</td>"


def _row_attrs(study: str, j: Judgement, row_id: str) -> str:
    cls = VERDICT_CLASS.get(j.verdict, "none")
    return (
        f"class='{cls}' data-verdict='{_e(j.verdict)}' data-study='{_e(study)}'"
        f" data-paper='{_e(paper(j.cite))}' id='{row_id}'"
    )


def _numbers(j: Judgement) -> str:
    return (
        f"<td>{_cite(j.cite)}</td><td class='m'>{_e(j.measured)}</td>"
        f"<td class='m'>{_e(j.theory)}</td>"
        f"<td data-sort='{_tightness_key(j)}'>{_tightness(j)}</td>"
    )


def _options(name: str, label: str, values: Sequence[str]) -> str:
    opts = "".join(f"<option value='{_e(v)}'>{_e(v)}</option>" for v in values)
    return (
        f"<label>{_e(label)} <select id='filter-{name}'><option value=''>all</option>{opts}"
        "</select></label>"
    )


def _filters(sections: Sequence[Section]) -> str:
    papers = list(dict.fromkeys(p for s in sections for j in s.claims if (p := paper(j.cite))))
    return (
        "<div class='filters' id='filters'>"
        + _options("study", "study", [s.name for s in sections if s.claims])
        + _options("paper", "paper", papers)
        + _options("verdict", "verdict", list(VERDICTS))
        + "<span id='filter-count' class='meta'></span></div>"
    )


def _summary_table(sections: Sequence[Section], marks: dict[str, str]) -> str:
    """One row per claim: its claim cell links to the claim's row in its section, the ``§``
    beside it to the section."""
    head = "<thead><tr>" + "".join(f"<th>{_e(c)}</th>" for c in COLUMNS) + "</tr></thead>"
    body = []
    for s in sections:
        for j in s.claims:
            body.append(
                f"<tr {_row_attrs(s.name, j, summary_id(s.name, j.key))}>"
                f"<td>{_e(s.name)}</td>"
                f"<td><a href='#{claim_id(s.name, j.key)}'>{text.inline(j.text)}</a>"
                f"<a class='sec' href='#{slug(s.name)}' title='the study section'>§</a></td>"
                f"{_numbers(j)}{_verdict_cell(j, marks.get(s.name, ''))}</tr>"
            )
    table = f"<table id='summary'>{head}<tbody>{''.join(body)}</tbody></table>"
    return f"<div class='scroll'>{table}</div>"


def _section_claims(s: Section) -> str:
    """The section's claims, each row linking back to its summary row."""
    head = "<tr>" + "".join(f"<th>{_e(c)}</th>" for c in COLUMNS[1:]) + "</tr>"
    body = "".join(
        f"<tr {_row_attrs(s.name, j, claim_id(s.name, j.key))}>"
        f"<td>{_inline(j.text)}<a class='back' href='#{summary_id(s.name, j.key)}'"
        f" title='its row in the summary'>↑ summary</a></td>{_numbers(j)}{_verdict_cell(j)}</tr>"
        for j in s.claims
    )
    return f"<div class='scroll'><table class='section-claims'>{head}{body}</table></div>"


def _verdict_counts(judgements: Sequence[Judgement]) -> str:
    """The header's first line: how many claims received each verdict."""
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
        f"<tr class='context'><td>{_inline(r['label'])}</td><td>{_e(r['value'])}</td>"
        f"<td>{_cite(r.get('cite', ''))}</td><td>{_inline(r.get('why', ''))}</td></tr>"
        for r in rows
    )
    return f"<div class='scroll'><table class='context'>{head}{body}</table></div>"


def _download(filename: str, csv_text: str) -> str:
    uri = _data_uri("text/csv", csv_text.encode("utf-8"))
    return f"<a download='{_e(filename)}' href='{uri}'>CSV</a>"


def _data_table(study: str, name: str, frame: pd.DataFrame) -> str:
    """A raw table, folded, with its CSV (full precision) as a download."""
    rows, cols = frame.shape
    shown = frame.to_html(index=False, float_format=lambda x: f"{x:.4g}", border=0)
    link = _download(f"{slug(study)}-{slug(name)}.csv", frame.to_csv(index=False))
    return (
        f"<details class='raw-table'><summary>table: {_e(name)} ({rows} rows × {cols} columns)"
        f" · {link}</summary><div class='scroll'>{shown}</div></details>"
    )


def _configs(study: str, configs: Sequence[dict[str, Any]]) -> str:
    """The exact configs of the study's runs, folded: one JSON line per run, and a CSV."""
    if not configs:
        return ""
    import pandas as pd

    lines = "\n".join(json.dumps(c, sort_keys=True) for c in configs)
    csv_text = pd.DataFrame(list(configs)).to_csv(index=False)
    link = _download(f"{slug(study)}-configs.csv", csv_text)
    return (
        f"<details class='configs'><summary>exact configs ({len(configs)} runs) · {link}"
        f"</summary><pre>{_e(lines)}</pre></details>"
    )


def _counts_attrs(counts: dict[str, int]) -> str:
    return " ".join(f"data-{k}='{int(v)}'" for k, v in counts.items())


def _runs_total(fates: Sequence[RunFate]) -> str:
    """The header's runs line: runs planned / done / diverged / failed / missing."""
    if not fates:
        return ""
    t = totals(fates)
    words = " · ".join(f"{k} {v}" for k, v in t.items())
    return f"<p class='runs-total' {_counts_attrs(t)}>runs: {words}</p>"


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
        parts.append(f"<div class='scroll'>{table}</div>")
    return "\n".join(parts)


_SVG_DROP = re.compile(
    r"<\?xml.*?\?>|<!DOCTYPE[^>]*>|<!--.*?-->|<metadata>.*?</metadata>|<style[^>]*>.*?</style>",
    re.S,
)


def inline_svg(svg_text: str, prefix: str, label: str) -> str:
    """An SVG file's markup for an HTML page: XML prolog, doctype, metadata and style dropped,
    the root's fixed size and namespaces removed (it scales to its box; the HTML parser
    supplies the namespaces), every id prefixed with ``prefix`` (references too) so that the
    figures of one page never share an id."""
    body = _SVG_DROP.sub("", svg_text)
    body = body[body.index("<svg") :].strip()
    end = body.index(">")
    root = re.sub(r"\s(?:width|height|xmlns(?::\w+)?)=\"[^\"]*\"", "", body[:end])
    root += f' role="img" aria-label="{_e(label)}"'
    body = root + body[end:]
    body = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}{m.group(1)}"', body)
    body = re.sub(r'\bhref="#([^"]+)"', lambda m: f'href="#{prefix}{m.group(1)}"', body)
    return re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}{m.group(1)})", body)


#: A figure shrinks to at most this fraction of its display width on a narrow page (beyond
#: that its box scrolls): the figures' smallest text, 8.5 pt at 1.35 px/pt = 11.5 px at the
#: display width (:mod:`overparam.studies.plots`), stays >= 10 px.
MIN_SHRINK = 0.88


def _min_width(display_px: float) -> int:
    return math.ceil(MIN_SHRINK * display_px)


def _figure(study: str, f: FigureFile, index: int) -> str:
    """A figure at its display width: the SVG inline, a link to its file; the PNG as a data URI
    when the SVG is missing."""
    svg = f.svg_file
    if svg.exists():
        art = inline_svg(svg.read_text(encoding="utf-8"), f"fig{index}-", f.name)
        art = f"<a class='figlink' href='figures/{_e(svg.name)}'>{art}</a>"
    else:
        art = f"<img alt='{_e(f.name)}' src='{_img(f.png)}'>"
    return (
        f"<figure id='fig-{slug(study)}-{slug(f.name)}' data-display-px='{int(f.display_px)}'"
        f" style='max-width:{int(f.display_px)}px;min-width:{_min_width(f.display_px)}px'>"
        f"{art}<figcaption>{_inline(f.caption)}</figcaption></figure>"
    )


def _toc(groups: Sequence[tuple[str, Sequence[Section]]], has_bibliography: bool) -> str:
    """The contents: the summary, each chapter with its studies (numbered as their headings),
    the bibliography."""
    items = ["<li><a href='#summary'>Summary: theory against measurement</a></li>"]
    for i, (title, group) in enumerate(groups):
        studies = "".join(
            f"<li>{i + 1}.{k + 1} <a href='#{slug(s.name)}'>{text.inline(s.title)}</a>"
            f" <span class='meta'>{len(s.claims)} claims</span></li>"
            for k, s in enumerate(group)
        )
        items.append(
            f"<li>{i + 1} <a href='#{chapter_id(i)}'>{_e(title)}</a><ul>{studies}</ul></li>"
        )
    if has_bibliography:
        items.append("<li><a href='#bibliography'>Bibliography</a></li>")
    return f"<nav id='toc'><p class='toc-title'>Contents</p><ul>{''.join(items)}</ul></nav>"


_TAG = re.compile(r"(<[^>]*>)")
_TAG_NAME = re.compile(r"<(/?)([A-Za-z][\w-]*)")
#: Elements whose text never gets a bibliography link (a link inside a link, a formula, code).
_NO_LINKS = frozenset({"a", "math", "code", "pre"})


def _linked(fragment: str) -> str:
    """The HTML ``fragment`` with each reference key in its text a link to the bibliography."""
    keys = sorted(text.cited([fragment]), key=len, reverse=True)
    if not keys:
        return fragment
    pattern = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, keys)) + r")(?![\w-])")
    out, depth = [], 0
    for piece in _TAG.split(fragment):
        tag = _TAG_NAME.match(piece) if piece.startswith("<") else None
        if tag is not None:
            if tag.group(2).lower() in _NO_LINKS and not piece.endswith("/>"):
                depth = max(0, depth + (-1 if tag.group(1) else 1))
            out.append(piece)
        elif depth == 0 and not piece.startswith("<"):
            out.append(
                pattern.sub(lambda m: f"<a href='#ref-{m.group(1)}'>{m.group(1)}</a>", piece)
            )
        else:
            out.append(piece)
    return "".join(out)


def _prose(md: str) -> str:
    return _linked(text.prose(md))


def _inline(md: str) -> str:
    return _linked(text.inline(md))


def _section(s: Section, number: str, start: int) -> tuple[list[str], int]:
    """A study's part (heading, runs, prose, claims, context, figures, folded tables and
    configs), and the next figure index."""
    badge = (
        "<span class='badge'>incomplete</span>" if s.fate is not None and s.fate.incomplete else ""
    )
    parts = [
        f"<h3 id='{slug(s.name)}'>{number} {_inline(s.title)}{badge}</h3>",
        f"<p class='meta'>{_cite(s.source)} · <a href='#summary'>back to summary</a></p>",
    ]
    if s.fate is not None:
        parts.append(_fate(s.fate))
    if s.description:
        parts.append(_prose(s.description))
    if s.hypotheses:
        items = "".join(f"<li>{_inline(h)}</li>" for h in s.hypotheses)
        parts.append(f"<p>The theorem's hypotheses:</p><ul class='hypotheses'>{items}</ul>")
    if s.claims:
        parts.append(_section_claims(s))
    parts.append(_context(s.context))
    if s.error:
        parts.append(f"<p class='bad'>analysis failed: {_e(s.error)}</p>")
    if s.figures:
        figures = [_figure(s.name, f, start + k) for k, f in enumerate(s.figures)]
        parts.append(f"<div class='figures'>{''.join(figures)}</div>")
    for name, frame in s.tables.items():
        parts.append(_data_table(s.name, name, frame))
    parts.append(_configs(s.name, s.configs))
    return parts, start + len(s.figures)


def _bibliography(keys: Sequence[str]) -> str:
    """The full citation of each key, by key."""
    items = "".join(
        f"<li id='ref-{_e(k)}'><span class='key'>[{_e(k)}]</span> {_e(c)}</li>"
        for k, c in text.bibliography(sorted(keys))
    )
    head = "<section id='bibliography'><h2>Bibliography</h2>"
    return f"{head}<ul class='refs'>{items}</ul></section>"


def render(sections: Sequence[Section], *, title: str, meta: dict[str, Any]) -> str:
    """The whole report as one HTML string."""
    groups = chapters(sections)
    sections = ordered(sections)
    judged = [j for s in sections for j in s.claims]
    fates = [s.fate for s in sections if s.fate is not None]
    marks = {s.name: s.fate.note() for s in sections if s.fate is not None and s.fate.note()}
    keys = bibliography_keys(sections)
    meta_text = " · ".join(f"{_e(k)}: {_e(v)}" for k, v in meta.items())
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        "<link rel='icon' href='data:,'>",
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>",
        f"<header><h1>{_e(title)}</h1><p class='meta'>{meta_text}</p>",
        _verdict_counts(judged),
        _runs_total(fates),
        _toc(groups, bool(keys)),
        "</header>",
        "<h2>Summary: theory against measurement</h2>",
        _filters(sections),
        _summary_table(sections, marks),
    ]
    figure_index = 0
    for i, (chapter, group) in enumerate(groups):
        parts.append(f"<h2 id='{chapter_id(i)}'>{i + 1} {_e(chapter)}</h2>")
        for k, s in enumerate(group):
            body, figure_index = _section(s, f"{i + 1}.{k + 1}", figure_index)
            parts.append("<section class='study'>")
            parts += body
            parts.append("</section>")
    linked = re.findall(r"href='#ref-([\w-]+)'", "".join(parts))
    keys += [k for k in dict.fromkeys(linked) if k not in keys]
    if keys:
        parts.append(_bibliography(keys))
    parts.append(f"<script>{SCRIPT}</script></body></html>")
    return "\n".join(p for p in parts if p)


def write(path: Path, content: str) -> Path:
    """Write atomically (temp file + rename): a report is never half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(content, encoding="utf-8")
    tmp.replace(path)
    return path
