"""Study prose and formulas as a reader sees them: Markdown to HTML, LaTeX to MathML, and the
bibliography of the papers cited.

Prose (a study's description, a claim's text, a hypothesis, a figure caption) is written in
Markdown with formulas in LaTeX between ``$ ... $`` (inline) or ``$$ ... $$`` (display); ``\\$``
is a dollar sign. Formulas are converted first (``latex2mathml``) and kept out of Markdown's way
behind placeholders, so ``_`` and ``*`` inside them are never read as emphasis. Raw HTML in the
prose is text: it is escaped, only the markup Markdown itself produces reaches the page. A
formula latex2mathml cannot convert (a syntax error, an unknown command) is shown as its source
in ``<code class="latex-error">``; the rest of the page renders.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable

import markdown as _markdown
from latex2mathml.converter import convert as _convert

#: The pieces of prose that are not Markdown: code spans (left to Markdown, so a ``$`` inside
#: one stays literal), an escaped dollar, display formulas, inline formulas. An inline formula
#: starts and ends on a non-space and is not followed by a digit (so "$5 and $6" is text).
_TOKEN = re.compile(
    r"""(?P<code>(?P<ticks>`+).+?(?P=ticks))
    |(?P<dollar>\\\$)
    |\$\$(?P<block>.+?)\$\$
    |\$(?P<inline>[^$\s](?:[^$]*?[^$\s\\])?)\$(?!\d)""",
    re.S | re.X,
)
#: A command latex2mathml did not know: it passes it through as text (``<mi>\foo</mi>``).
_UNKNOWN = re.compile(r">(\\[A-Za-z]+)")
#: Placeholders in private-use code points, which Markdown leaves alone.
_OPEN, _CLOSE = "\ue000", "\ue001"
_PLACEHOLDER = re.compile(f"{_OPEN}(\\d+){_CLOSE}")


def _formula(tex: str, display: str) -> str:
    """MathML of LaTeX ``tex`` (``display`` "inline" or "block"), or its source in
    ``<code class="latex-error">`` when latex2mathml cannot convert it."""
    try:
        out = _convert(tex, display=display)
        unknown = _UNKNOWN.search(out)
        if unknown:
            raise ValueError(f"unknown command {unknown.group(1)}")
    except Exception as e:  # latex2mathml raises many types (and IndexError on some input)
        delim = "$$" if display == "block" else "$"
        title = html.escape(f"LaTeX error: {type(e).__name__} {e}".strip(), quote=True)
        source = html.escape(delim + tex + delim)
        return f'<code class="latex-error" title="{title}">{source}</code>'
    return out


def _protect(md: str) -> tuple[str, list[str], set[int]]:
    """``md`` with each formula and escaped dollar replaced by a placeholder, the HTML each
    placeholder stands for, and which of them are display formulas."""
    stash: list[str] = []
    blocks: set[int] = set()

    def put(fragment: str, block: bool = False) -> str:
        stash.append(fragment)
        if block:
            blocks.add(len(stash) - 1)
        return f"{_OPEN}{len(stash) - 1}{_CLOSE}"

    def sub(m: re.Match[str]) -> str:
        if m.group("code") is not None:
            return m.group(0)
        if m.group("dollar") is not None:
            return put("$")
        if m.group("block") is not None:
            return put(_formula(m.group("block").strip(), "block"), block=True)
        return put(_formula(m.group("inline"), "inline"))

    return _TOKEN.sub(sub, md), stash, blocks


def _converter() -> _markdown.Markdown:
    """A Markdown converter that treats raw HTML and entities in the source as text."""
    md = _markdown.Markdown(extensions=[], output_format="html")
    md.preprocessors.deregister("html_block")
    md.inlinePatterns.deregister("html")
    md.inlinePatterns.deregister("entity")
    return md


def prose(md: str) -> str:
    """Block HTML (paragraphs, lists) of Markdown ``md``, formulas as MathML."""
    text, stash, blocks = _protect(md)
    out = _converter().convert(text)

    def unwrap(m: re.Match[str]) -> str:  # a display formula alone in its paragraph replaces it
        i = int(m.group(1))
        return stash[i] if i in blocks else m.group(0)

    out = re.sub(f"<p>{_PLACEHOLDER.pattern}</p>", unwrap, out)
    return _PLACEHOLDER.sub(lambda m: stash[int(m.group(1))], out)


def inline(md: str) -> str:
    """Inline HTML of a one-line Markdown ``md`` (no enclosing paragraph), formulas as MathML:
    for table cells and headings."""
    out = prose(md).strip()
    if out.startswith("<p>") and out.endswith("</p>") and out.count("<p>") == 1:
        return out[3:-4]
    return out


def markdown(md: str) -> str:
    """``md`` as it goes into the Markdown report (formulas kept as ``$ ... $``)."""
    return md


#: Markdown marks dropped by :func:`plain`, in order: links, strong, emphasis, backslash escapes.
_MARKS: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    (re.compile(r"!?\[([^\]]*)\]\([^)]*\)"), r"\1"),
    (re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1"), r"\2"),
    (re.compile(r"\*(?=\S)(.+?)(?<=\S)\*"), r"\1"),
    (re.compile(r"(?<![\w\\])_(?=\S)(.+?)(?<=\S)_(?!\w)"), r"\1"),
    (re.compile(r"\\([\\`*_{}\[\]()#+\-.!])"), r"\1"),
)


def plain(md: str) -> str:
    """``md`` as plain text (the terminal, JSON): Markdown marks dropped, formulas as their LaTeX
    source without the dollars."""
    stash: list[str] = []

    def put(fragment: str) -> str:
        stash.append(fragment)
        return f"{_OPEN}{len(stash) - 1}{_CLOSE}"

    def sub(m: re.Match[str]) -> str:
        if m.group("code") is not None:
            ticks = m.group("ticks")
            return put(m.group(0)[len(ticks) : -len(ticks)].strip())
        if m.group("dollar") is not None:
            return put("$")
        return put((m.group("block") or m.group("inline")).strip())

    text = _TOKEN.sub(sub, md)
    for pattern, repl in _MARKS:
        text = pattern.sub(repl, text)
    return _PLACEHOLDER.sub(lambda m: stash[int(m.group(1))], text)


def cited(texts: Iterable[str]) -> list[str]:
    """The reference keys (:data:`overparam.references.REFERENCES`) cited in ``texts``, in order
    of first appearance.

    A key counts where it stands as a whole word: ``[key, Theorem 5.1]``, ``key, Lemma 7.1``,
    or a bare ``key`` (a study's ``cites``); ``du-2019-deeper`` does not cite ``du-2019-deep``."""
    from overparam.references import REFERENCES

    joined = "\n".join(texts)
    first: dict[str, int] = {}
    for key in REFERENCES:
        m = re.search(rf"(?<![\w-]){re.escape(key)}(?![\w-])", joined)
        if m:
            first[key] = m.start()
    return sorted(first, key=first.__getitem__)


def bibliography(keys: Iterable[str]) -> list[tuple[str, str]]:
    """(key, full citation) of each key, in the order given (each once; keys not in
    :data:`overparam.references.REFERENCES` are left out)."""
    from overparam.references import REFERENCES

    return [(k, REFERENCES[k]) for k in dict.fromkeys(keys) if k in REFERENCES]
