"""The report's page and its Markdown and JSON twins, read back with ``html.parser`` / regexes:
every in-page link has its target, the summary has one row per claim and links each to its row
in its section and back, sections come in the order of the registry's chapters, raw tables
decode from their CSV data URIs to the same numbers, figures are inline SVG with ids that never
clash, the bibliography lists every key cited, and the three formats agree."""

from __future__ import annotations

import base64
import html
import io
import json
import math
import re
from collections import Counter
from html.parser import HTMLParser

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from overparam.references import REFERENCES
from overparam.report import text
from overparam.report.fate import ListedRun, RunFate
from overparam.report.html import FigureFile, Section, inline_svg, render
from overparam.report.json_report import render_json
from overparam.report.layout import OTHER_CHAPTER, ordered
from overparam.report.markdown import render_markdown
from overparam.studies.claims.verdicts import VERDICTS, Judgement
from overparam.studies.registry import CHAPTERS

NAN = math.nan


def _figure(directory, name: str, ncols: int = 1) -> FigureFile:
    """A small line plot saved as SVG and PNG (straight from matplotlib)."""
    fig, axes = plt.subplots(1, ncols, figsize=(3 * ncols, 2), squeeze=False)
    for ax in axes[0]:
        ax.plot([1, 2, 3], [1, 4, 9], marker="o", label="y")
        ax.fill_between([1, 2, 3], [0, 3, 8], [2, 5, 10], alpha=0.2)
        ax.legend()
    png, svg = directory / f"{name}.png", directory / f"{name}.svg"
    fig.savefig(png, dpi=40)
    fig.savefig(svg)
    plt.close(fig)
    return FigureFile(name, f"caption of {name} [jacot-2018, Theorem 1]", png, svg, 490 * ncols)


def _sections(tmp_path) -> list[Section]:
    """Three studies: one of the last chapter, one of the first, one no chapter lists; claims
    of every verdict, a claim text with pipes, ``<`` and LaTeX, tables with NaN, an incomplete
    study."""
    figures = tmp_path / "figures"
    figures.mkdir()
    claims_a = [
        Judgement("slope", r"movement $\|W_l - W_l^{(0)}\|_2$ is $O(m^{-1/2})$ | a<b",
                  "zou-gu-2019, Lemma 4.2", "consistent", "slope -0.51", "slope -1/2 ± 0.1",
                  "", 1.02),
        Judgement("rate", "loss falls linearly", "du-2019-deep, Theorem 5.1", "contradicted",
                  "ratio 1.3", "≤ 1", "above the bound", 1.3),
        Judgement("flip", "signs flip", "allen-zhu-2019, Lemma 8.2", "inconclusive", "", "",
                  "too few points"),
    ]  # fmt: skip
    claims_b = [
        Judgement("bound", "a vacuous bound", "cao-gu-2019, Theorem 3.3", "vacuous", "2.0", "≤ 1",
                  "bound ≥ 1", 2.0),
        Judgement("smooth", "needs a smooth activation", "lee-2019, Theorem 2.1",
                  "outside assumptions", "", "", "relu is not smooth"),
        Judgement("gram", "the Gram matrix is positive definite", "du-2019-deep, Lemma 5.1",
                  "consistent", "λ_min 0.2", "> 0", "", 0.5),
    ]  # fmt: skip
    claims_c = [
        Judgement("toy", "a toy claim", "zou-gu-2019, Theorem 3.3", "consistent", "1", "1"),
    ]
    frame = pd.DataFrame(
        {"width": [16, 32, 64], "value": [0.1, 1 / 3, NAN], "label": ["a", "b,c", 'd"e']}
    )
    fate = RunFate(
        planned=4, done=2, diverged=0, failed=1, missing=1, finished=2,
        runs=(ListedRun("failed", 7, {"width": 32}, "boom"), ListedRun("missing", None, {})),
    )  # fmt: skip
    configs = [{"width": 16, "seed": 0, "lr": 0.1}, {"width": 32, "seed": 1, "lr": 0.1}]
    return [
        Section(
            "generalization", "Generalization [cao-gu-2019]", "cao-gu-2019, Theorem 3.3",
            "The bound of [cao-gu-2019, Theorem 3.3] against $n$.", claims_b,
            [_figure(figures, "generalization-n")],
            tables={"bounds": frame}, context=[{"label": "$L$", "value": "3",
                                                "cite": "arora-2019, Theorem 5.1", "why": "x"}],
            scale="quick",
        ),
        Section(
            "toy", "Toy", "zou-gu-2019, Theorem 3.3", "", claims_c, [], scale="full",
        ),
        Section(
            "width-scaling", "Width scaling", "; ".join(j.cite for j in claims_a),
            "Movement against width [du-2019-deep, Section 4].", claims_a,
            [_figure(figures, "width-scaling-a"), _figure(figures, "width-scaling-b", ncols=2)],
            configs=configs, tables={"fits (per width)": frame.iloc[:2]},
            hypotheses=["activation relu [du-2019-two-layer]"], fate=fate, scale="quick",
        ),
    ]  # fmt: skip


class _Page(HTMLParser):
    """Every element's tag and attributes, in document order, with the ``<details>`` and
    ``<table>`` each sits in."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str], tuple[str, ...]]] = []
        self.stack: list[str] = []
        self.headings: list[tuple[str, str, str]] = []  # (tag, id, text)
        self._heading: list | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        self.elements.append((tag, a, tuple(self.stack)))
        if tag in ("h2", "h3"):
            self._heading = [tag, a.get("id", ""), ""]
        if tag not in ("br", "meta", "img", "input", "path", "use", "rect", "circle"):
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, {k: v or "" for k, v in attrs}, tuple(self.stack)))

    def handle_endtag(self, tag):
        if tag in self.stack:
            while self.stack.pop() != tag:
                pass
        if tag in ("h2", "h3") and self._heading is not None:
            self.headings.append(tuple(self._heading))
            self._heading = None

    def handle_data(self, data):
        if self._heading is not None:
            self._heading[2] += data


def _parse(page: str) -> _Page:
    p = _Page()
    p.feed(page)
    return p


def _summary(page: str) -> str:
    return re.search(r"<table id='summary'>.*?</table>", page, re.S).group(0)


@pytest.fixture()
def sections(tmp_path):
    return _sections(tmp_path)


@pytest.fixture()
def page(sections):
    return render(sections, title="t", meta={"k": "v"})


def test_every_in_page_link_has_its_target_and_ids_are_unique(page):
    parsed = _parse(page)
    ids = [a["id"] for _, a, _ in parsed.elements if "id" in a]
    assert [i for i, n in Counter(ids).items() if n > 1] == []
    hrefs = [
        v[1:]
        for _, a, _ in parsed.elements
        for k, v in a.items()
        if k in ("href", "xlink:href") and v.startswith("#")
    ]
    hrefs += re.findall(r"url\(#([^)]+)\)", page)
    assert len(hrefs) > 50
    assert sorted(set(hrefs) - set(ids)) == []
    for target in ("summary", "toc", "bibliography", "verdict-counts", "filter-study",
                   "filter-paper", "filter-verdict"):  # fmt: skip
        assert target in ids, target
    # nothing to fetch: every link is in the page, a data URI or a figure file beside it
    urls = [v for _, a, _ in parsed.elements for k, v in a.items() if k in ("src", "href")]
    assert urls and all(u.startswith(("#", "data:", "figures/")) for u in urls)


def test_summary_rows_link_to_their_claims_and_back(sections, page):
    counts = {v: int(n) for v, n in re.findall(r"data-verdict='([a-z ]+)' data-count='(\d+)'",
                                                  page)}  # fmt: skip
    judged = Counter(j.verdict for s in sections for j in s.claims)
    assert counts == {v: judged[v] for v in VERDICTS}
    rows = re.findall(r"<tr (class='\w+' data-verdict=.*?)>(.*?)</tr>", _summary(page), re.S)
    assert len(rows) == sum(counts.values()) == sum(len(s.claims) for s in sections)
    parsed = _parse(page)
    by_id = {a["id"]: (t, a) for t, a, _ in parsed.elements if "id" in a}
    for s in sections:
        for j in s.claims:
            row = f"summary-{s.name}-{j.key}"
            tag, attrs = by_id[row]
            assert tag == "tr" and attrs["data-study"] == s.name
            assert attrs["data-verdict"] == j.verdict
            assert attrs["data-paper"] == j.cite.split(",")[0]
            summary_row = _summary(page).split(f"id='{row}'>", 1)[1].split("</tr>", 1)[0]
            assert f"href='#claim-{s.name}-{j.key}'" in summary_row
            assert f"href='#{s.name}'" in summary_row  # the row links to the study section
            tag, attrs = by_id[f"claim-{s.name}-{j.key}"]
            assert tag == "tr" and attrs["data-verdict"] == j.verdict
            section_row = page.split(f"id='claim-{s.name}-{j.key}'>", 1)[1].split("</tr>")[0]
            assert f"href='#{row}'" in section_row  # and back
    # the filters offer exactly the studies, papers and verdicts of the rows
    for name, values in (
        ("study", {s.name for s in sections}),
        ("paper", {j.cite.split(",")[0] for s in sections for j in s.claims}),
        ("verdict", set(VERDICTS)),
    ):
        select = re.search(rf"<select id='filter-{name}'>(.*?)</select>", page, re.S).group(1)
        assert set(re.findall(r"<option value='([^']*)'", select)) == values | {""}
    # every study section links back to the summary
    for s in sections:
        start = page.index(f"<h3 id='{s.name}'>")
        assert "href='#summary'" in page[start : page.index("</p>", start)]


def test_sections_follow_the_chapters_and_the_contents_lists_them(sections, page):
    parsed = _parse(page)
    order = [n for _, names in CHAPTERS for n in names]
    chapter_of = {n: t for t, names in CHAPTERS for n in names}
    current, seen = None, []
    for tag, hid, words in parsed.headings:
        if tag == "h2" and hid.startswith("chapter-"):
            current = words.split(" ", 1)[1]
        elif tag == "h3":
            seen.append((hid, current))
    expected = sorted((s.name for s in sections if s.name in chapter_of), key=order.index)
    expected += [s.name for s in sections if s.name not in chapter_of]
    assert [n for n, _ in seen] == expected
    assert all(c == chapter_of.get(n, OTHER_CHAPTER) for n, c in seen)
    toc = re.search(r"<nav id='toc'>.*?</nav>", page, re.S).group(0)
    links = re.findall(r"href='#([^']+)'", toc)
    headings = [hid for tag, hid, _ in parsed.headings if hid]
    assert links == ["summary", *headings, "bibliography"]  # chapters and studies, in order


def _download(page: str, filename: str) -> str:
    found = re.search(
        rf"<details[^>]*><summary>[^<]*<a download='{re.escape(filename)}' "
        r"href='data:text/csv;base64,([A-Za-z0-9+/=]+)'>",
        page,
    )
    assert found is not None, filename
    return base64.b64decode(found.group(1)).decode("utf-8")


def test_folded_tables_download_as_their_csv(sections, page):
    for s in sections:
        for name, frame in s.tables.items():
            filename = f"{s.name}-{re.sub(r'[^A-Za-z0-9_-]+', '-', name).strip('-')}.csv"
            csv_text = _download(page, filename)
            assert csv_text == frame.to_csv(index=False)
            back = pd.read_csv(io.StringIO(csv_text))
            pd.testing.assert_frame_equal(back, frame.reset_index(drop=True), check_exact=True)
    configs = pd.read_csv(io.StringIO(_download(page, "width-scaling-configs.csv")))
    assert configs.to_dict(orient="records") == sections[2].configs
    assert page.count("<details class='raw-table'>") == 2
    assert "<details class='configs'>" in page


def test_figures_are_inline_svg_links_at_their_display_width(tmp_path, sections, page):
    parsed = _parse(page)
    figures = [(t, a, st) for t, a, st in parsed.elements if t == "figure"]
    files = [f for s in ordered(sections) for f in s.figures]  # in page order
    assert len(figures) == len(files) == 3
    for (_, attrs, _), f in zip(figures, files, strict=True):
        shrink = math.ceil(0.88 * f.display_px)  # html.MIN_SHRINK: text stays >= 10 px
        assert attrs["style"] == f"max-width:{f.display_px}px;min-width:{shrink}px"
        assert attrs["data-display-px"] == str(f.display_px)
    svgs = [(a, st) for t, a, st in parsed.elements if t == "svg"]
    assert len(svgs) == len(files)
    assert all(st[-1] == "a" and "figure" in st for _, st in svgs)
    links = [a["href"] for t, a, st in parsed.elements if t == "a" and "figure" in st[-1:]]
    assert links == [f"figures/{f.svg.name}" for f in files]
    assert all("width" not in a and "viewbox" in a for a, _ in svgs)
    assert "<?xml" not in page and "<!DOCTYPE svg" not in page and "<img" not in page
    # every figure's ids carry its own prefix: the same matplotlib id in two figures differs
    prefixes = {re.match(r"fig\d+-", a["id"]).group(0) for t, a, st in parsed.elements
                if "svg" in st and "id" in a}  # fmt: skip
    assert len(prefixes) == len(files)
    # without its SVG a figure falls back to the PNG as a data URI
    files[0].svg.unlink()
    again = render(sections, title="t", meta={})
    src = re.search(rf"<img alt='{files[0].name}' src='data:image/png;base64,([^']+)'>", again)
    assert base64.b64decode(src.group(1)) == files[0].png.read_bytes()


def test_inline_svg_prefixes_ids_and_references():
    svg = (
        '<?xml version="1.0"?>\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "x.dtd">\n'
        '<svg xmlns:xlink="http://www.w3.org/1999/xlink" width="10pt" height="5pt" '
        'viewBox="0 0 10 5" xmlns="http://www.w3.org/2000/svg"><metadata>m</metadata>'
        '<defs><style type="text/css">*{stroke:red}</style><path id="m1" d="M0 0"/></defs>'
        '<g clip-path="url(#c1)"><use xlink:href="#m1"/></g><clipPath id="c1"/></svg>\n'
    )
    out = inline_svg(svg, "p-", "a & b")
    assert out.startswith("<svg") and out.endswith("</svg>")
    assert 'viewBox="0 0 10 5"' in out and "width=" not in out and "xmlns" not in out
    assert 'id="p-m1"' in out and 'xlink:href="#p-m1"' in out
    assert 'id="p-c1"' in out and "url(#p-c1)" in out
    assert "<metadata>" not in out and "<style" not in out and 'aria-label="a &amp; b"' in out


def _cited_texts(sections) -> list[str]:
    out = []
    for s in sections:
        out += [s.source, s.description, *s.hypotheses, *(j.cite for j in s.claims)]
        out += [r.get("cite", "") for r in s.context] + [f.caption for f in s.figures]
    return out


def test_bibliography_lists_every_key_cited(sections, page):
    keys = {k for t in _cited_texts(sections) for k in REFERENCES if k in t}
    bib = re.search(r"<section id='bibliography'>.*?</section>", page, re.S).group(0)
    entry = r"<li id='ref-([\w-]+)'><span class='key'>\[[\w-]+\]</span> (.*?)</li>"
    entries = dict(re.findall(entry, bib))
    assert set(entries) == keys
    for k, citation in entries.items():
        assert citation == html.escape(REFERENCES[k])
    linked = set(re.findall(r"href='#ref-([\w-]+)'", page))
    assert {j.cite.split(",")[0] for s in sections for j in s.claims} <= linked
    assert linked <= keys


def _markdown_rows(md: str) -> list[list[str]]:
    """The summary table's body rows, each split on unescaped pipes."""
    block = md.split('## Summary: theory against measurement <a id="summary"></a>', 1)[1]
    block = block.split("\n## ", 1)[0]
    lines = [ln for ln in block.strip().splitlines() if ln.startswith("|")]
    assert re.fullmatch(r"\|(---\|)+", lines[1])
    return [[c.strip() for c in re.split(r"(?<!\\)\|", ln)[1:-1]] for ln in lines[2:]]


def test_markdown_has_one_summary_row_per_claim_and_the_sections(sections):
    md = render_markdown(sections, title="t", meta={"k": "v"})
    rows = _markdown_rows(md)
    claims = [j for s in sections for j in s.claims]
    assert len(rows) == len(claims)
    assert all(len(r) == 7 for r in rows)  # the pipes of a claim text are escaped
    ids = set(re.findall(r'<a id="([^"]+)"></a>', md))
    for link in re.findall(r"\]\(#([^)]+)\)", md):
        assert link in ids, link
    for s in sections:
        assert f'<a id="{s.name}"></a>' in md
        for f in s.figures:
            assert f"](figures/{f.svg.name})" in md
        for name in s.tables:
            assert f"<details><summary>table: {name} (" in md
    assert '<a id="ref-cao-gu-2019"></a>**[cao-gu-2019]** ' + REFERENCES["cao-gu-2019"] in md


def test_json_holds_every_number(sections):
    payload = json.loads(
        render_json(sections, title="t", meta={"k": "v"}),
        parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"),
    )
    claims = {(c["study"], c["key"]): c for c in payload["claims"]}
    for s in sections:
        for j in s.claims:
            c = claims[(s.name, j.key)]
            assert {k: c[k] for k in j.to_dict()} == j.to_dict()
            if math.isfinite(j.tightness):
                assert c["tightness"] == j.tightness  # all digits, not a rounded copy
    study = {x["name"]: x for x in payload["studies"]}
    assert study["generalization"]["tables"]["bounds"] == [
        {"width": 16, "value": 0.1, "label": "a"},
        {"width": 32, "value": 1 / 3, "label": "b,c"},
        {"width": 64, "value": None, "label": 'd"e'},
    ]
    assert study["generalization"]["context"] == sections[0].context
    assert study["width-scaling"]["configs"] == sections[2].configs
    assert payload["runs"]["width-scaling"]["failed"] == 1
    assert payload["runs"]["width-scaling"]["mode"] == "quick"
    assert payload["runs"]["width-scaling"]["failed_runs"] == [
        {"run_id": 7, "fields": {"width": 32}, "error": "boom"}
    ]
    for c in payload["claims"]:  # the runs a claim was drawn from, where the study's are known
        counts = (c.get("runs_used"), c.get("runs_planned"))
        assert counts == ((2, 4) if c["study"] == "width-scaling" else (None, None))
    assert [c["title"] for c in payload["chapters"]][-1] == OTHER_CHAPTER


def test_the_three_formats_agree(sections, page):
    md = render_markdown(sections, title="t", meta={})
    payload = json.loads(render_json(sections, title="t", meta={}))
    html_rows = re.findall(r"data-verdict='([a-z ]+)' data-study='([\w-]+)'[^>]*"
                           r"id='summary-[\w-]+'", _summary(page))  # fmt: skip
    md_rows = [
        (re.search(r"\*\*([a-z ]+)\*\*", r[6]).group(1), re.sub(r"<a id=\"[^\"]+\"></a>", "", r[0]))
        for r in _markdown_rows(md)
    ]
    json_rows = [(c["verdict"], c["study"]) for c in payload["claims"]]
    assert html_rows == md_rows == json_rows
    html_counts = {v: int(n) for v, n in re.findall(r"data-verdict='([a-z ]+)' data-count='(\d+)'",
                                                       page)}  # fmt: skip
    md_counts = dict(
        (v, int(n)) for v, n in re.findall(r"(?:· )([a-z ]+): (\d+)", md.split("\n\n")[2])
    )
    assert html_counts == md_counts == payload["verdicts"]
    md_keys = re.findall(r'<a id="summary-([\w-]+)"></a>', md)
    html_keys = re.findall(r"id='summary-([\w-]+)'", _summary(page))
    json_keys = [f"{c['study']}-{c['key']}" for c in payload["claims"]]
    assert md_keys == html_keys == json_keys
    assert text.cited([md]) and text.cited([page])


def test_sections_with_nothing_to_show_render(tmp_path):
    bare = Section("s", "S", "", "", [], [])
    page = render([bare], title="t", meta={})
    assert "<table id='summary'>" in page and "<details" not in page
    assert "bibliography" not in page
    assert json.loads(render_json([bare], title="t", meta={}))["claims"] == []
    assert len(_markdown_rows(render_markdown([bare], title="t", meta={}))) == 0


@pytest.mark.parametrize("values", [[np.float64(1.5), np.int64(3)], [np.nan, np.inf]])
def test_json_turns_numpy_and_non_finite_into_plain_json(values):
    from overparam.report.json_report import jsonable

    out = jsonable({"v": values})
    assert json.loads(json.dumps(out, allow_nan=False)) == {
        "v": [float(v) if math.isfinite(v) else None for v in values]
    }
