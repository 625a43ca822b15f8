"""The documentation site: it builds with ``mkdocs build --strict``, every Python example on its
pages runs, and every registered study and probe has its generated page."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

for _module in ("mkdocs", "material", "mkdocstrings_handlers.python", "markdown_exec"):
    pytest.importorskip(_module, reason="the docs extra (mkdocs and its plugins) is not installed")

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
#: A fenced Python block, executed (```python exec="on" ...) or plain (```python).
FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)


def load_hooks():
    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def python_blocks(page: Path) -> list[str]:
    return [m.group(1) for m in FENCE.finditer(page.read_text())]


PAGES = sorted(DOCS.glob("*.md"))


# ---------------------------------------------------------------------------------------------
# Examples
# ---------------------------------------------------------------------------------------------


def test_block_extraction_finds_the_getting_started_examples():
    blocks = python_blocks(DOCS / "index.md")
    assert len(blocks) >= 5
    assert any("empirical(" in b for b in blocks) and any("summarize_records" in b for b in blocks)
    assert any("analytic(" in b for b in blocks) and any("lambda_min" in b for b in blocks)


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_python_blocks_run_in_order(page, capsys):
    namespace: dict = {"__name__": "__docs__"}
    for i, source in enumerate(python_blocks(page), start=1):
        code = compile(source, f"{page.name}, block {i}", "exec")
        try:
            exec(code, namespace)
        except Exception as e:  # report the page and block, then the error
            pytest.fail(f"docs/{page.name}, Python block {i} raised {type(e).__name__}: {e}")
    capsys.readouterr()


# ---------------------------------------------------------------------------------------------
# The hook's helpers
# ---------------------------------------------------------------------------------------------


def test_shared_argument_entries_split_and_example_sections_read_as_examples():
    hooks = load_hooks()
    doc = (
        "Summary.\n\n    Args:\n        a, b: the two sides\n            of it.\n"
        "        x / y: a pair.\n\n    Example:\n        >>> f(1)\n"
    )
    out = hooks.google_conventions(doc)
    assert "a: the two sides\n            of it.\n        b: the two sides\n" in out
    assert "        x: a pair.\n        y: a pair.\n" in out
    assert "    Examples:\n        >>> f(1)" in out and "Example:\n" not in out
    assert hooks.google_conventions("See :func:`~overparam.ntk.empirical`.") == (
        "See `overparam.ntk.empirical`."
    )


def test_formulas_become_mathml_outside_code_only():
    hooks = load_hooks()
    md = "Width $m^{-1/2}$, `$x$` kept.\n\n```bash\necho $HOME $y$\n```\n\n$$a \\le b$$\n"
    out = hooks.math_to_mathml(md)
    assert out.count("<math") == 2 and 'display="block"' in out
    assert "`$x$`" in out and "echo $HOME $y$" in out


def test_public_names_resolve_to_their_defining_module():
    hooks = load_hooks()
    from overparam.ntk.empirical import empirical
    from overparam.probes.base import PROBES

    assert hooks._defined_in("overparam.ntk", "empirical") == "overparam.ntk.empirical.empirical"
    path = hooks._defined_in("overparam.probes", "PROBES")
    assert path == "overparam.probes.base.PROBES" and PROBES is not None and empirical
    assert hooks._defined_in("overparam.probes", "LOWER") == "overparam.probes.base.LOWER"


def test_every_study_and_probe_gets_a_generated_page_and_nav_entry():
    hooks = load_hooks()
    from overparam.probes import PROBES, probe_names
    from overparam.studies.registry import CHAPTERS, STUDY_NAMES

    pages = hooks.generated_pages()
    for name in STUDY_NAMES:
        assert f"overparam reproduce --only {name}" in pages[f"studies/{name}.md"]
    for name, cls in PROBES.items():
        assert cls.formula in pages[f"probes/{name}.md"]
    for page, text in pages.items():
        assert "latex-error" not in text, page  # every formula converted
    chapters = {
        title: [next(iter(entry)) for entry in entries]
        for section in hooks.studies_nav()[1:]
        for title, entries in section.items()
    }
    assert chapters == {title: list(members) for title, members in CHAPTERS}
    assert [next(iter(entry)) for entry in hooks.probes_nav()[1:]] == probe_names()


def test_study_page_states_a_missing_figure_and_links_a_drawn_one(tmp_path, monkeypatch):
    hooks = load_hooks()
    without = hooks.study_page("depth", {"depth": None})
    assert "This study has no figure" in without and ".svg" not in without
    monkeypatch.setattr(hooks, "FIGURES", tmp_path)
    assert "No figure has been drawn yet" in hooks.study_page("depth", {})
    (tmp_path / "depth.svg").write_text("<svg/>")
    drawn = hooks.study_page("depth", {"depth": "Iterations against $L$."})
    assert "](../figures/depth.svg)" in drawn and "<math" in drawn


# ---------------------------------------------------------------------------------------------
# The built site
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site built once for this module (about 20-45 s on 2 cores, examples included)."""
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out


def test_site_builds_strict_with_executed_examples(site):
    index = (site / "index.html").read_text()
    assert "lambda_min = " in index  # an executed block's output is on the page
    assert "Traceback" not in index
    assert (site / "byon" / "index.html").exists()


def test_built_site_has_a_page_per_study_and_probe(site):
    from overparam.probes import PROBES
    from overparam.studies.registry import STUDY_NAMES, get

    for name in STUDY_NAMES:
        page = site / "studies" / name / "index.html"
        assert page.exists(), name
        text = page.read_text()
        assert f"overparam reproduce --only {name}" in re.sub(r"<[^>]+>", "", text)
        assert text.count("<tr>") == len(get(name).claims) + 1  # the claims table: one row each
    for name in PROBES:
        page = site / "probes" / name / "index.html"
        assert page.exists(), name
        assert "<math" in page.read_text() or PROBES[name].formula in page.read_text()
