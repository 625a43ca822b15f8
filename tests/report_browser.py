"""Read a report as a reader sees it: Debian's headless Chromium driven by Playwright for Python
(through ``executable_path``; no browser download), at a given viewport width."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - playwright is a dev dependency
    sync_playwright = None

AVAILABLE = CHROMIUM is not None and sync_playwright is not None

#: What the page's script measures (returned as one JSON object).
MEASURE = """() => {
  const q = (s, root = document) => Array.from(root.querySelectorAll(s));
  for (const d of q('details')) d.open = true;  // folded content is laid out too
  const vw = document.documentElement.clientWidth;
  const content = document.body.getBoundingClientRect().width
    - parseFloat(getComputedStyle(document.body).paddingLeft)
    - parseFloat(getComputedStyle(document.body).paddingRight);
  const figures = q('figure').map(f => {
    const svg = f.querySelector('svg');
    const box = (svg || f).getBoundingClientRect();
    let smallest = Infinity;
    if (svg) {
      for (const t of q('text', svg)) {
        if (!t.textContent.trim()) continue;
        const r = t.getBoundingClientRect();
        const size = parseFloat(getComputedStyle(t).fontSize);
        const ctm = t.getScreenCTM();
        const scale = ctm ? Math.hypot(ctm.a, ctm.b) : 1;
        if (r.width > 0 && r.height > 0) smallest = Math.min(smallest, size * scale);
      }
    }
    return {
      name: f.id, displayPx: +(f.dataset.displayPx || 0),
      wide: +(f.dataset.displayPx || 0) >= 900,
      width: box.width, hasSvg: !!svg, smallest,
      link: (f.querySelector('a[href]') || {getAttribute: () => ''}).getAttribute('href'),
    };
  });
  const links = q('a[href^="#"]').map(a => a.getAttribute('href').slice(1));
  const broken = links.filter(id => id && !document.getElementById(decodeURIComponent(id)));
  const counts = q('#verdict-counts [data-count]').map(s => +s.dataset.count);
  const maths = q('math').map(m => {
    const r = m.getBoundingClientRect();
    return [r.width, r.height];
  });
  return {
    viewport: vw, scrollWidth: document.documentElement.scrollWidth, content,
    figures, broken, links: links.length,
    totals: counts.reduce((a, b) => a + b, 0),
    summaryRows: q('#summary tbody tr').length || q('#summary tr').length - 1,
    maths, height: document.documentElement.scrollHeight,
  };
}"""


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def served(root: Path) -> Iterator[str]:
    """``root`` on an ephemeral 127.0.0.1 port; yields the base URL."""
    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def look(report: Path, width: int, screenshot: Path | None = None) -> tuple[dict, list[str]]:
    """Open ``report`` at ``width`` x 900 and return (measurements, console and page errors)."""
    if sync_playwright is None or CHROMIUM is None:
        raise RuntimeError("look() needs playwright and Debian's chromium (see AVAILABLE)")
    messages: list[str] = []
    with served(report.parent) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.on("console", lambda m: messages.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: messages.append(f"pageerror: {e}"))
            page.goto(f"{base}/{report.name}", wait_until="load")
            seen = page.evaluate(MEASURE)
            if screenshot is not None:
                page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return seen, messages
