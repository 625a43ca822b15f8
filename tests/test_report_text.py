"""The text layer: Markdown to HTML, LaTeX to MathML (checked against latex2mathml's element
structure), plain text, citations and the bibliography; and every study's prose through it."""

from __future__ import annotations

import ast
import html
import re
from pathlib import Path

import pytest

from overparam.references import REFERENCES
from overparam.report.text import bibliography, cited, inline, markdown, plain, prose
from overparam.studies import registry

ERROR = 'class="latex-error"'


def _math(out: str) -> list[str]:
    return re.findall(r"<math\b.*?</math>", out, re.S)


# -- formulas ----------------------------------------------------------------------------------


def test_inline_formulas_become_inline_mathml_with_sub_and_superscripts():
    out = prose(r"movement $\|W_l - W_l^{(0)}\|_2$ is $O(m^{-1/2})$")
    maths = _math(out)
    assert len(maths) == 2 and all('display="inline"' in m for m in maths)
    assert "<msubsup>" in maths[0] and "<msub>" in maths[0]  # W_l^{(0)} and \|..\|_2
    assert "<msup>" in maths[1] and "&#x02212;" in maths[1]  # m^{-1/2}: a minus sign
    assert out.startswith("<p>movement <math") and out.endswith("</math></p>")


def test_display_formulas_become_blocks_outside_paragraphs():
    out = prose("the rate\n\n$$\\frac{\\|\\nabla L\\|^2}{L} \\ge \\lambda_0$$\n\nholds")
    (block,) = _math(out)
    assert 'display="block"' in block and "<mfrac>" in block and "&#x02265;" in block
    assert "<p><math" not in out and out.count("<p>") == 2
    assert prose("$x$").startswith("<p><math")  # an inline formula alone stays in its paragraph


def test_markdown_inside_a_formula_is_not_emphasis():
    out = prose(r"$a_i * b_j * c$ and *word*")
    (m,) = _math(out)
    assert "<em>" not in m and m.count("<msub>") == 2
    assert out.count("<em>word</em>") == 1


def test_escaped_dollars_and_prices_stay_text():
    out = prose(r"costs \$5 and \$6, or $5 and $6")
    assert "<math" not in out and out == "<p>costs $5 and $6, or $5 and $6</p>"


def test_a_broken_formula_falls_back_to_its_source_and_the_rest_renders():
    out = prose(r"first $x^{$ then $\frobnicate y$ then $\lambda_0$ and *more*")
    errors = re.findall(r'<code class="latex-error"[^>]*>(.*?)</code>', out)
    assert [html.unescape(e) for e in errors] == ["$x^{$", r"$\frobnicate y$"]
    assert len(_math(out)) == 1 and "<em>more</em>" in out


# -- Markdown ----------------------------------------------------------------------------------


def test_markdown_emphasis_lists_and_code():
    out = prose("*shape* and **not** the `target_ratio`:\n\n* one\n* two $n^2$\n")
    assert "<em>shape</em>" in out and "<strong>not</strong>" in out
    assert "<code>target_ratio</code>" in out
    assert re.search(r"<ul>\s*<li>one</li>\s*<li>two <math.*</li>\s*</ul>", out, re.S)


def test_a_dollar_inside_code_is_not_a_formula():
    assert prose("`$x$`") == "<p><code>$x$</code></p>"


def test_html_in_the_prose_is_text():
    out = prose('x < y, <b>bold</b> <script>alert("x")</script> & more')
    assert "<b>" not in out and "<script>" not in out
    assert "&lt;b&gt;bold&lt;/b&gt;" in out and "x &lt; y" in out and "&amp; more" in out


def test_inline_has_no_paragraph():
    out = inline(r"the kernel is *lazy*: $\lambda_{\min} > 0$")
    assert not out.startswith("<p>") and "<em>lazy</em>" in out
    assert 'display="inline"' in out and "&#x0003E;" in out  # the > of the formula


def test_plain_keeps_the_latex_source_and_drops_the_marks():
    md = r"*the* **shape**, `target_ratio` and $m^{-1/2}$ cost \$5; snake_case_name stays"
    assert plain(md) == r"the shape, target_ratio and m^{-1/2} cost $5; snake_case_name stays"
    assert plain(r"$a*b*c$ and $$\frac{1}{2}$$") == r"a*b*c and \frac{1}{2}"


def test_markdown_is_unchanged():
    md = r"*the* $\lambda_0$, \$5"
    assert markdown(md) == md


# -- citations ---------------------------------------------------------------------------------


def test_cited_in_order_of_first_appearance_whole_keys_only():
    texts = [
        "as in [du-2019-deep, Theorem 5.1] and du-2019-deeper",
        "allen-zhu-2019",  # bare, a study's cites
        "lee-2019, Theorem 2.1; du-2019-deep, Section 6",
    ]
    assert cited(texts) == ["du-2019-deep", "allen-zhu-2019", "lee-2019"]
    assert cited(["xdu-2019-deep", "du-2019-deep-x"]) == []


def test_bibliography_is_the_references_in_the_order_given():
    keys = ["lee-2019", "du-2019-deep", "lee-2019", "not-a-key"]
    assert bibliography(keys) == [
        ("lee-2019", REFERENCES["lee-2019"]),
        ("du-2019-deep", REFERENCES["du-2019-deep"]),
    ]


# -- every study's prose -----------------------------------------------------------------------

STUDIES_DIR = Path(registry.__file__).parent
#: Calls whose arguments are prose: {call: (positional indices, keywords)}.
PROSE_ARGS = {
    "Study": ((), ("title", "description")),
    "Claim": ((1,), ("text",)),
    "Hypothesis": ((), ("reason",)),
    "Context": ((0, 3), ("label", "why")),
    "FigureSpec": ((1,), ("caption",)),
    "Quantity": ((5,), ("claim",)),
    "_convergence": ((4,), ()),  # kernel_regime's figure helper: (frame, x, title, name, caption)
}


def _literal(node: ast.expr, names: dict[str, ast.expr]) -> str | None:
    """The text of a string expression, each interpolation as "1"; None if not a string."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(_literal(v, names) or "1" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _literal(node.left, names), _literal(node.right, names)
        return None if left is None or right is None else left + right
    if isinstance(node, ast.Name) and node.id in names:
        return _literal(names[node.id], names)
    return None


def _source_prose(path: Path) -> list[tuple[str, str]]:
    """(where, text) of every prose argument in a study module's source, and of the values of
    its ``captions`` dictionaries."""
    tree = ast.parse(path.read_text())
    names = {
        t.id: n.value
        for n in tree.body
        if isinstance(n, ast.Assign)
        for t in n.targets
        if isinstance(t, ast.Name)
    }
    out = []
    for node in ast.walk(tree):
        nodes: list[ast.expr] = []
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name in PROSE_ARGS:
                positions, keywords = PROSE_ARGS[name]
                nodes += [node.args[i] for i in positions if i < len(node.args)]
                nodes += [k.value for k in node.keywords if k.arg in keywords]
        is_captions = isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict)
        if is_captions and any(getattr(t, "id", "") == "captions" for t in node.targets):
            for v in node.value.values:
                nodes += list(v.elts) if isinstance(v, ast.Tuple) else [v]
        for n in nodes:
            text = _literal(n, names)
            if text is not None and " " in text:
                out.append((f"{path.name}:{n.lineno}", text))
    return out


def _runtime_prose() -> list[tuple[str, str]]:
    """(where, text) of every study's title, description, claim texts and hypothesis reasons."""
    out = []
    for s in registry.select():
        out += [(f"{s.name}: title", s.title), (f"{s.name}: description", s.description)]
        out += [(f"{s.name}: claim {c.key}", c.text) for c in s.claims]
        hyps = {h for c in s.claims for h in c.hypotheses} | set(s.hypotheses)
        out += [(f"{s.name}: hypothesis {h.column}", h.reason) for h in hyps if h.reason]
    return out


MODULES = sorted(p for p in STUDIES_DIR.glob("*.py") if "STUDY = Study(" in p.read_text())
PROSE = _runtime_prose() + [x for p in MODULES for x in _source_prose(p)]
#: Math written outside a formula: unicode math symbols, ASCII powers, indices and norms.
OUTSIDE_MATH = re.compile(r"[λσΘθ‖∇≤≥√²³⁴⁻¹ᵀ₀₁₂∞φωηδΩπ∝·−→×]|\^|\|\||\w_\w|\bsqrt\(|\blambda")


def _outside_formulas(md: str) -> str:
    return re.sub(r"`[^`]*`|\$\$.+?\$\$|\$[^$]+\$", " ", md.replace(r"\$", ""))


def test_the_prose_was_found():
    assert len(MODULES) == len(registry.STUDY_NAMES)
    assert len(PROSE) > 200 and sum("$" in t for _, t in PROSE) > 150


@pytest.mark.parametrize(("where", "text"), PROSE, ids=[w for w, _ in PROSE])
def test_study_prose_renders_with_latex_formulas(where, text):
    out = prose(text)
    assert ERROR not in out, out
    assert "``" not in text and "{{" not in text  # rST, or an f-string brace in a plain string
    assert "claim" not in where or "\n" not in text
    words = re.sub(r"<math\b.*?</math>|<code>.*?</code>", " ", out, flags=re.S)
    assert not re.search(r"\*\w|\w\*", words), words  # emphasis left unrendered
    assert not OUTSIDE_MATH.search(_outside_formulas(text)), _outside_formulas(text)
