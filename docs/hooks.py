"""MkDocs hooks: the pages generated from overparam's registries at build time.

* one page per study of :data:`overparam.studies.registry.STUDY_NAMES`, grouped by chapter
  (:data:`~overparam.studies.registry.CHAPTERS`): what it measures, its hypotheses, its claims
  table, its command and its figure (``docs/figures/<study>.svg``, drawn by
  ``docs/make_figures.py``);
* one page per probe of :data:`overparam.probes.PROBES`: the quantity and its bound as an
  equation, the result it checks and the paper it comes from;
* one API reference page per public module (:data:`API_MODULES`), rendered by mkdocstrings.

A study, probe or module registered later gets its page and its place in the navigation with no
change here. Formulas are converted to MathML at build time
(:func:`overparam.report.text.prose`, the report's own converter), so the pages need no
JavaScript and no network.
"""

from __future__ import annotations

import ast
import dataclasses
import html
import importlib
import inspect
import json
import re
import sys
from pathlib import Path
from typing import Any

import griffe
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

DOCS = Path(__file__).resolve().parent
FIGURES = DOCS / "figures"

#: The nav placeholders of mkdocs.yml that the hook expands into generated sections.
STUDIES_INDEX, PROBES_INDEX, API_INDEX = "studies/index.md", "probes/index.md", "api/index.md"

#: The public modules with an API reference page, in the order of the navigation.
API_MODULES: tuple[str, ...] = (
    "overparam",
    "overparam.models",
    "overparam.ntk",
    "overparam.probes",
    "overparam.train",
    "overparam.theory",
    "overparam.studies",
    "overparam.sweep",
    "overparam.store",
)

#: Each probe's quantity and bound as LaTeX, with the result each equation states (constants
#: set to 1, as the probes record them). A probe missing here shows its ``formula`` text.
PROBE_EQUATIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "norms": (
        (
            r"1-\varepsilon \le \|h_{i,l}\| \le 1+\varepsilon, \quad "
            r"\varepsilon = \min\left(1, \sqrt{L \ln(nL) / m}\right)",
            "allen-zhu-2019, Lemma 7.1",
        ),
    ),
    "separation": (
        (
            r"\min_{i \ne j} \left\| \frac{h_{i,l}}{\|h_{i,l}\|} - \frac{h_{j,l}}{\|h_{j,l}\|}"
            r" \right\| \ge \frac{\delta}{2}",
            "allen-zhu-2019, Theorem 3 proof, Step 1",
        ),
    ),
    "flips": (
        (
            r"\|D_{i,l} - D_{i,l}^{(0)}\|_0 \le m\, \omega^{2/3} L",
            "allen-zhu-2019, Theorems 3-4 proof, Step 2 (a)",
        ),
    ),
    "movement": (
        (
            r"\|W_l^{(t)} - W_l^{(0)}\|_2 \le \sqrt{\frac{k\, n^2 \log n}{m\, \phi}}",
            "zou-gu-2019, Lemma 4.2",
        ),
    ),
    "hidden_drift": (
        (
            r"\|h_{i,l}^{(t)} - h_{i,l}^{(0)}\| \le \omega\, L^{5/2}",
            "allen-zhu-2019, Theorems 3-4 proof, Step 2 (b)",
        ),
    ),
    "gradient_ratio": (
        (
            r"\frac{\delta\, m}{d\, n^2} \le \frac{\|\nabla F(W)\|_F^2}{F(W)}"
            r" \le \frac{L\, n\, m}{d}",
            "allen-zhu-2019, Theorem 3",
        ),
        (
            r"\frac{\|\nabla L(W)\|_F^2}{L(W)} \ge \frac{m\, \phi}{k\, n^2}",
            "zou-gu-2019, Lemma 4.1",
        ),
    ),
    "semi_smoothness": (
        (
            r"L(W + W') - L(W) - \langle \nabla L(W), W' \rangle \le "
            r"\sqrt{n F(W)}\, \omega^{1/3} L^2 \sqrt{\frac{m \log m}{k}}\, \|W'\|_2"
            r" + \frac{n L^2 m}{k} \|W'\|_2^2",
            "allen-zhu-2019, Theorem 4",
        ),
    ),
    "linearization": (
        (
            r"\max_i \left| f_t(x_i) - f_0(x_i) - \langle \nabla f_0(x_i), W_t - W_0 \rangle"
            r" \right| \le L^3 \omega^{4/3} \sqrt{m}",
            "allen-zhu-2019, NTK relation (b)",
        ),
        (r"\max_i \|f_t(x_i) - f_t^{\mathrm{lin}}(x_i)\| \le m^{-1/2}", "lee-2019, Theorem 2.1"),
    ),
    "ntk_drift": (
        (
            r"\frac{\|\Theta_t - \Theta_0\|_F}{\|\Theta_0\|_F} \le m^{-1/2}",
            "lee-2019, Theorem 2.1",
        ),
        (r"\lambda_{\min}(\Theta_t) \ge \frac{\lambda_0}{2}", "du-2019-deep, Theorem 5.1"),
    ),
    "rate": (
        (
            r"L_t \le \left(1 - \frac{\eta \lambda_0}{2}\right)^t L_0",
            "du-2019-deep, Theorem 5.1",
        ),
        (
            r"u_t - y = (I - \eta\, \Theta_0)^t (u_0 - y)",
            "arora-2019, Section 4",
        ),
    ),
    "label_complexity": (
        (
            r"y^\top (H^\infty)^{-1} y \le \frac{\|y\|^2}{\lambda_{\min}(H^\infty)}",
            "arora-2019, Theorem 5.1",
        ),
        (
            r"L \sqrt{\frac{y^\top \Theta^{-1} y}{n}}",
            "cao-gu-2019, Corollary (NTK bound)",
        ),
    ),
}

_CITE = re.compile(r"\[([A-Za-z0-9-]+),\s*([^\]]+)\]")


# ---------------------------------------------------------------------------------------------
# The project's docstring conventions, read by mkdocstrings
# ---------------------------------------------------------------------------------------------

_SECTION = re.compile(r"^(\s*)([A-Z][A-Za-z ]*):\s*$")
_ENTRY_SECTIONS = {
    "Args",
    "Arguments",
    "Parameters",
    "Keyword Args",
    "Keyword Arguments",
    "Attributes",
}
#: A Sphinx cross-reference role (``:func:`name```, ``:class:`~pkg.Name```).
_ROLE = re.compile(r":(?:func|class|mod|meth|attr|data|exc|obj):`~?([^`]+)`")
#: An argument entry documenting several arguments at once: ``a, b, c: ...``, ``x / y: ...``.
_SHARED = re.compile(r"^(\s+)(\w+(?:\s*[,/]\s*\w+)+):\s?(.*)$")


def google_conventions(doc: str) -> str:
    """``doc`` with the two liberties the project's Google-style docstrings take rewritten into
    what the Google parser reads: an ``Example:`` section (STYLE.md's section name) becomes
    ``Examples:`` (rendered as code), and an argument entry shared by several names
    (``weight_std, bias_std: ...``) becomes one entry per name, each with the description.
    Sphinx roles (``:func:`name```) become code spans."""
    lines = _ROLE.sub(r"`\1`", doc).splitlines()
    out: list[str] = []
    section, i = "", 0
    while i < len(lines):
        line = lines[i]
        head = _SECTION.match(line)
        if head:
            section = head.group(2)
            out.append(f"{head.group(1)}Examples:" if section == "Example" else line)
            i += 1
            continue
        shared = _SHARED.match(line) if section in _ENTRY_SECTIONS else None
        if shared is None:
            out.append(line)
            i += 1
            continue
        indent, names, first = shared.groups()
        body = []
        i += 1
        while i < len(lines) and (
            not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > len(indent)
        ):
            body.append(lines[i])
            i += 1
        blanks = []
        while body and not body[-1].strip():  # blank lines after the entry stay after it
            blanks.append(body.pop())
        for name in re.split(r"\s*[,/]\s*", names):
            out += [f"{indent}{name}: {first}", *body]
        out += blanks
    return "\n".join(out)


class DocstringConventions(griffe.Extension):
    """A griffe extension (mkdocs.yml: ``extensions``) applying :func:`google_conventions`."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = google_conventions(obj.docstring.value)


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _src_on_path() -> None:
    src = str(DOCS.parent / "src")
    if src not in sys.path:
        sys.path.insert(0, src)


def _prose(md: str) -> str:
    """Markdown with ``$...$`` LaTeX as block HTML, formulas as MathML."""
    from overparam.report.text import prose

    return prose(md)


def _inline(md: str) -> str:
    """One line of Markdown with ``$...$`` LaTeX as inline HTML (table cells)."""
    from overparam.report.text import inline

    return inline(md)


def _reference(key: str) -> str:
    from overparam.references import REFERENCES

    return REFERENCES.get(key, key)


def _cite(cite: str) -> str:
    """``"key, location"`` as HTML: the location, then the key in a code span."""
    key, _, location = (part.strip() for part in cite.partition(","))
    title = html.escape(_reference(key), quote=True)
    return f'<span title="{title}"><code>{html.escape(key)}</code></span>, {html.escape(location)}'


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, str):
        return repr(value)
    return str(value)


def _margins(test: Any) -> str:
    """A claim test's fields (its margins) as ``name=value, ...``; None fields left out."""
    if not dataclasses.is_dataclass(test):
        return html.escape(repr(test))
    return ", ".join(
        f"{f.name}={html.escape(_fmt(getattr(test, f.name)))}"
        for f in dataclasses.fields(test)
        if getattr(test, f.name) is not None
    )


def _table(head: list[str], rows: list[list[str]]) -> str:
    """An HTML table (cells already HTML): Markdown tables cannot hold formulas with ``|``."""
    th = "".join(f"<th>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table>\n<thead><tr>{th}</tr></thead>\n<tbody>{body}</tbody>\n</table>"


def _captions() -> dict[str, str | None]:
    path = FIGURES / "captions.json"
    return json.loads(path.read_text()) if path.exists() else {}


# ---------------------------------------------------------------------------------------------
# Studies
# ---------------------------------------------------------------------------------------------


def _planned(study) -> str:
    """How many runs a study plans per scale; a critical-width search decides its own runs."""

    def count(scale: str) -> str:
        specs = study.specs(scale)
        fixed = sum(len(s.points()) for s in specs if s.critical is None)
        searches = sum(len(s.points()) for s in specs if s.critical is not None)
        return f"{fixed}" + (f" plus {searches} critical-width searches" if searches else "")

    text = f"Planned training runs: {count('quick')} at the quick scale, {count('full')} at the "
    text += "full scale"
    return text + ("; it also computes quantities that need no training." if study.measure else ".")


def study_page(name: str, captions: dict[str, str | None]) -> str:
    """The Markdown page of study ``name``."""
    from overparam.studies.registry import chapter, get

    study = get(name)
    out = [
        f"# {study.title}",
        "",
        f"Study `{name}`, chapter *{chapter(name)}*.",
        "",
        "## What it measures",
        "",
        _prose(study.description),
        "",
    ]
    if study.hypotheses:
        out += ["## Hypotheses", "", "The cited theorems assume, for every claim below:", ""]
        out += [f"- {html.escape(h.describe())}" for h in study.hypotheses] + [""]
    rows = []
    for c in study.claims:
        text = _inline(c.text)
        extra = [h.describe() for h in c.hypotheses if h not in study.hypotheses]
        if extra:
            text += "<br><small>assumes: " + html.escape("; ".join(extra)) + "</small>"
        if c.by_construction:
            text += "<br><small>by construction: " + html.escape(c.by_construction) + "</small>"
        test = html.escape(c.test.describe())
        test += f"<br><small><code>{type(c.test).__name__}</code>({_margins(c.test)})</small>"
        if c.resolution is not None:
            test += "<br><small>resolution: " + html.escape(c.resolution.describe()) + "</small>"
        rows.append([text, _cite(c.cite), f"<code>{c.quantity}</code>", test])
    out += [
        "## Claims",
        "",
        "Each claim is judged by its test object into one of five verdicts (consistent, "
        "contradicted, inconclusive, vacuous, outside assumptions); the margins are the "
        "test's fields, shown under it.",
        "",
        _table(["claim", "paper", "quantity", "test and margins"], rows),
        "",
        "## Run it",
        "",
        "```bash",
        f"overparam reproduce --only {name}            # full scale, then open the report",
        f"overparam reproduce --quick --only {name}    # the quick scale",
        f"overparam studies show {name}               # hypotheses, claims, plan",
        "```",
        "",
        _planned(study),
        "",
        "## Figure",
        "",
    ]
    svg = FIGURES / f"{name}.svg"
    if name in captions and captions[name] is None:
        out += ["This study has no figure; its report section shows tables.", ""]
    elif not svg.exists():
        out += ["No figure has been drawn yet (`python docs/make_figures.py`).", ""]
    else:
        caption = captions.get(name) or ""
        out += [
            f"![{name}: main figure](../figures/{name}.svg)",
            "",
            f"<p><em>{_inline(caption)}</em></p>" if caption else "",
            "",
            "Drawn at the quick scale by `docs/make_figures.py`.",
            "",
        ]
    out += ["## Papers", ""]
    out += [f"- `{key}`: {html.escape(_reference(key))}" for key in study.cites] + [""]
    return "\n".join(out)


def studies_index() -> str:
    """The Studies section's index: every study by chapter."""
    from overparam.studies.registry import CHAPTERS, get

    out = [
        "# Studies",
        "",
        "Each study runs the papers' networks, measures what a theorem bounds and judges its "
        "declared claims. The chapters follow the chain of the proofs. "
        "`overparam reproduce` runs them all.",
        "",
    ]
    for title, members in CHAPTERS:
        out += [f"## {title}", "", "| study | what | claims |", "| --- | --- | --- |"]
        for name in members:
            study = get(name)
            out.append(f"| [`{name}`]({name}.md) | {study.title} | {len(study.claims)} |")
        out.append("")
    return "\n".join(out)


def studies_nav() -> list[Any]:
    from overparam.studies.registry import CHAPTERS

    return [STUDIES_INDEX] + [
        {title: [{name: f"studies/{name}.md"} for name in members]} for title, members in CHAPTERS
    ]


# ---------------------------------------------------------------------------------------------
# Probes
# ---------------------------------------------------------------------------------------------


def _lemma(lemma: str) -> list[str]:
    """The citations of a probe's ``lemma`` (``[key, location]; ...``) as list items."""
    found = _CITE.findall(lemma)
    if not found:
        return [f"- {html.escape(lemma)}"]
    return [f"- {_cite(f'{k}, {loc}')}: {html.escape(_reference(k))}" for k, loc in found]


def probe_page(name: str) -> str:
    """The Markdown page of probe ``name``."""
    from overparam.probes import PROBES

    cls = PROBES[name]
    summary = (cls.__doc__ or "").strip().splitlines()
    out = [f"# `{name}`", "", html.escape(summary[0]) if summary else "", "", "## Equation", ""]
    equations = PROBE_EQUATIONS.get(name)
    if equations:
        for tex, cite in equations:
            out += [_prose(f"$${tex}$$"), "", f"<p>{_cite(cite)}</p>", ""]
    else:
        out += ["```text", cls.formula, "```", ""]
    options = {"every": int, "points": int, **cls.options}
    out += [
        "## The bound it is compared with",
        "",
        "As the probe evaluates it (every hidden constant set to 1, at the run's n, m, L, k, "
        "φ and the measured ω):",
        "",
        "```text",
        cls.formula,
        "```",
        "",
        "## The result it checks",
        "",
        *_lemma(cls.lemma),
        "",
        "## Use it",
        "",
        "```bash",
        f"overparam train --probe {name} --json",
        "```",
        "",
        f'From Python: `RunConfig(probes=("{name}",))`. Options, as '
        f"`{name}:key=value,...`: "
        + ", ".join(f"`{k}` ({t.__name__})" for k, t in options.items())
        + ".",
        "",
        "## Reference",
        "",
        f"::: {cls.__module__}.{cls.__qualname__}",
        "    options:",
        "      show_root_heading: false",
        "      show_root_toc_entry: false",
        "      members: false",
        "      show_bases: false",
        "",
    ]
    return "\n".join(out)


def probes_index() -> str:
    """The Probes section's index: every probe, the result it checks."""
    from overparam.probes import PROBES, probe_names

    rows = [
        f'<tr><td><a href="{n}/"><code>{n}</code></a></td>'
        f"<td>{html.escape((PROBES[n].__doc__ or '').strip().splitlines()[0])}</td>"
        f"<td>{html.escape(PROBES[n].lemma)}</td></tr>"
        for n in probe_names()
    ]
    return "\n".join(
        [
            "# Probes",
            "",
            "A probe measures, during real training, one quantity a convergence proof bounds, "
            "next to the bound, and appends tidy records (step, probe, quantity, layer, value, "
            "bound, ratio, kind, lemma, ...) to the run's history. Attach them with "
            '`overparam train --probe NAME` or `RunConfig(probes=("NAME", ...))`; `all` '
            "attaches every one.",
            "",
            "<table><thead><tr><th>probe</th><th>what it measures</th><th>result checked</th>"
            "</tr></thead><tbody>",
            *rows,
            "</tbody></table>",
            "",
        ]
    )


def probes_nav() -> list[Any]:
    from overparam.probes import probe_names

    return [PROBES_INDEX] + [{name: f"probes/{name}.md"} for name in probe_names()]


# ---------------------------------------------------------------------------------------------
# API reference
# ---------------------------------------------------------------------------------------------


def _assigns(module: Any, name: str) -> bool:
    """Whether ``module``'s source assigns ``name`` at top level (tuple targets included)."""
    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError):
        return False
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        else:
            continue
        for target in targets:
            names = target.elts if isinstance(target, ast.Tuple) else [target]
            if any(isinstance(t, ast.Name) and t.id == name for t in names):
                return True
    return False


def _defined_in(package: str, name: str) -> str:
    """The dotted path where the public ``name`` of ``package`` is defined (re-exports and
    names loaded on first use resolved to their own module)."""
    obj = getattr(importlib.import_module(package), name)
    owner = getattr(obj, "__module__", None)
    if (inspect.isclass(obj) or inspect.isfunction(obj)) and owner:
        return f"{owner}.{obj.__qualname__}"
    below = sorted(m for m in list(sys.modules) if m.startswith(package + ".") and sys.modules[m])
    candidates = [package, *below]
    for mod in candidates:
        module = sys.modules.get(mod) or importlib.import_module(mod)
        if getattr(module, name, None) is obj and _assigns(module, name):
            return f"{mod}.{name}"
    return f"{package}.{name}"


_STATIC: dict[str, Any] = {}


def _documented(path: str) -> bool:
    """Whether mkdocstrings' static analysis (griffe) finds the object at ``path``; names it
    cannot see (e.g. bound by tuple unpacking) get a plain entry instead."""
    import griffe

    top = path.split(".")[0]
    if top not in _STATIC:
        _STATIC[top] = griffe.load(top, search_paths=[str(DOCS.parent / "src")])
    try:
        _STATIC[top][path.removeprefix(top + ".")]
    except (KeyError, griffe.AliasResolutionError):
        return False
    return True


def api_page(module: str, shown: dict[str, str]) -> str:
    """The API reference page of ``module``: its docstring, then every name in ``__all__``.

    ``shown`` maps each object already documented on an earlier page to that page's module; it
    gets a link there instead of a second copy (and is updated with this page's objects)."""
    mod = importlib.import_module(module)
    out = [
        f"# `{module}`",
        "",
        f"::: {module}",
        "    options:",
        "      show_root_heading: false",
        "      show_root_toc_entry: false",
        "      members: false",
        "",
    ]
    for name in getattr(mod, "__all__", ()):
        path = _defined_in(module, name)
        if path in shown:
            target = f"{shown[path]}.md#{path}"
            out += [f"## `{name}`", "", f"Documented under [`{shown[path]}`]({target}).", ""]
        elif _documented(path):
            shown[path] = module
            out += [f"::: {path}", "    options:", "      show_root_full_path: false", ""]
        else:
            value = html.escape(repr(getattr(mod, name)))
            out += [f"## `{name}`", "", f"<code>{html.escape(path)} = {value}</code>", ""]
    return "\n".join(out)


def api_index() -> str:
    rows = []
    for module in API_MODULES:
        doc = (importlib.import_module(module).__doc__ or "").strip().split("\n\n")[0]
        rows.append(f"| [`{module}`]({module}.md) | {' '.join(doc.split())} |")
    return "\n".join(
        [
            "# API reference",
            "",
            "The public names of each module (its `__all__`), from their docstrings.",
            "",
            "| module | |",
            "| --- | --- |",
            *rows,
            "",
        ]
    )


def api_nav() -> list[Any]:
    return [API_INDEX] + [{module: f"api/{module}.md"} for module in API_MODULES]


# ---------------------------------------------------------------------------------------------
# MkDocs events
# ---------------------------------------------------------------------------------------------


def generated_pages() -> dict[str, str]:
    """{docs path: Markdown} of every generated page."""
    from overparam.probes import probe_names
    from overparam.studies.registry import STUDY_NAMES

    captions = _captions()
    pages = {STUDIES_INDEX: studies_index(), PROBES_INDEX: probes_index(), API_INDEX: api_index()}
    pages.update({f"studies/{n}.md": study_page(n, captions) for n in STUDY_NAMES})
    pages.update({f"probes/{n}.md": probe_page(n) for n in probe_names()})
    shown: dict[str, str] = {}
    pages.update({f"api/{m}.md": api_page(m, shown) for m in API_MODULES})
    return pages


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    """Expand the nav placeholders into the generated sections."""
    _src_on_path()
    expand = {STUDIES_INDEX: studies_nav, PROBES_INDEX: probes_nav, API_INDEX: api_nav}
    nav = []
    for item in config.nav or []:
        if isinstance(item, dict) and len(item) == 1:
            ((title, target),) = item.items()
            if isinstance(target, str) and target in expand:
                item = {title: expand[target]()}
        nav.append(item)
    config.nav = nav
    return config


#: Fenced code blocks (left alone) and the formulas of the prose around them.
_FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.M | re.S)
_MATH = re.compile(r"`+[^`]*`+|\\\$|\$\$(.+?)\$\$|\$([^$\s](?:[^$\n]*?[^$\s\\])?)\$(?!\d)", re.S)


def math_to_mathml(markdown: str) -> str:
    """``markdown`` with each ``$...$`` / ``$$...$$`` formula outside code replaced by its
    MathML (:mod:`overparam.report.text`), so the pages need no JavaScript."""

    def formula(m: re.Match[str]) -> str:
        if m.group(1) is not None:
            return _prose(f"$${m.group(1).strip()}$$")
        if m.group(2) is not None:  # in a span: Markdown reads a line-initial <math> as a block
            return f'<span class="math">{_inline(f"${m.group(2)}$")}</span>'
        return m.group(0)  # a code span or an escaped dollar

    out, last = [], 0
    for fence in _FENCE.finditer(markdown):
        out += [_MATH.sub(formula, markdown[last : fence.start()]), fence.group(0)]
        last = fence.end()
    out.append(_MATH.sub(formula, markdown[last:]))
    return "".join(out)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """Formulas of the hand-written pages as MathML (generated pages have them already)."""
    return math_to_mathml(markdown)


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the generated pages (a docs file of the same path would be replaced)."""
    for path, content in generated_pages().items():
        existing = files.get_file_from_path(path)
        if existing is not None:
            files.remove(existing)
        files.append(File.generated(config, path, content=content))
    return files
