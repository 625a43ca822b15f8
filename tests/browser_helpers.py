"""Open a report in Debian's headless Chromium and read back what the browser saw."""

from __future__ import annotations

import functools
import http.server
import json
import re
import shutil
import subprocess
import threading
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

HARNESS = """<!DOCTYPE html><html><body><pre id="result">pending</pre>
<iframe id="f" src="{src}" width="1200" height="900"></iframe>
<script>
const f = document.getElementById('f');
f.addEventListener('load', () => {{
  // The iframe's load event fires after every image has loaded; drawing each one onto a
  // canvas forces a synchronous decode, and a decoded chart has opaque pixels.
  const doc = f.contentDocument;
  const imgs = Array.from(doc.images);
  const painted = imgs.map(i => {{
    if (!(i.complete && i.naturalWidth > 0 && i.naturalHeight > 0)) return false;
    const c = document.createElement('canvas');
    c.width = 16; c.height = 16;
    const ctx = c.getContext('2d');
    ctx.drawImage(i, 0, 0, 16, 16);
    const px = ctx.getImageData(0, 0, 16, 16).data;
    for (let k = 3; k < px.length; k += 4) if (px[k] > 0) return true;
    return false;
  }});
  const out = {{
    images: imgs.length,
    svgs: doc.querySelectorAll('figure svg').length,
    decoded: painted.filter(Boolean).length,
    sizes: imgs.map(i => [i.naturalWidth, i.naturalHeight]),
    summaryRows: doc.querySelectorAll('#summary tr').length,
    summaryText: (doc.querySelector('#summary') || {{innerText: ''}}).innerText,
    sections: doc.querySelectorAll('h2').length,
    external: Array.from(doc.querySelectorAll('[src]')).map(e => e.getAttribute('src'))
      .filter(s => !s.startsWith('data:')).length,
  }};
  document.getElementById('result').textContent = 'RESULT' + JSON.stringify(out) + 'END';
}});
</script></body></html>"""


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def inspect_report(report: Path, workdir: Path) -> tuple[dict, list[str]]:
    """Serve ``report`` on 127.0.0.1, load it in headless Chromium inside a same-origin
    harness page, and return (what the page's script measured, console lines Chromium logged).
    """
    root = report.parent
    (root / "_harness.html").write_text(HARNESS.format(src=report.name))
    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/_harness.html"
        proc = subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
                f"--user-data-dir={workdir / 'chromium'}",
                "--enable-logging=stderr",
                "--v=0",
                "--virtual-time-budget=20000",
                "--dump-dom",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        (root / "_harness.html").unlink()
    match = re.search(r"RESULT(\{.*?\})END", proc.stdout, re.S)
    if match is None:
        raise AssertionError(f"the harness did not report; stderr:\n{proc.stderr[-2000:]}")
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    return json.loads(match.group(1)), console
