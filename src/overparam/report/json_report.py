"""The report as JSON: every judged claim with all its numbers
(:meth:`~overparam.studies.claims.Judgement.to_dict`), the verdict counts, what became of each
study's runs, and per study its context rows, tables (as records), figures and exact configs.

Prose is given as plain text (:func:`overparam.report.text.plain`: formulas as their LaTeX
source); a claim's ``text`` is its source as the study declares it, as ``--json`` prints it.
Non-finite numbers become ``null``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from overparam.report import text
from overparam.report.layout import (
    Section,
    bibliography_keys,
    chapters,
    claim_records,
    ordered,
    runs,
    verdicts,
)


def jsonable(value: Any) -> Any:
    """``value`` with NumPy / pandas scalars as Python ones and NaN, inf as None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        try:
            value = value.item()  # a NumPy scalar
        except (TypeError, ValueError):
            return str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, bool | int | str):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def _study(s: Section, chapter: str) -> dict[str, Any]:
    return {
        "name": s.name,
        "title": text.plain(s.title),
        "chapter": chapter,
        "mode": s.scale,
        "source": s.source,
        "description": text.plain(s.description),
        "hypotheses": [text.plain(h) for h in s.hypotheses],
        "claims": [j.key for j in s.claims],
        "context": [dict(r) for r in s.context],
        "figures": [
            {
                "name": f.name,
                "caption": text.plain(f.caption),
                "svg": f"figures/{f.svg_file.name}",
                "png": f"figures/{f.png.name}",
                "display_px": int(f.display_px),
            }
            for f in s.figures
        ],
        "tables": {name: frame.to_dict(orient="records") for name, frame in s.tables.items()},
        "configs": [dict(c) for c in s.configs],
        "error": s.error,
    }


def report_dict(sections: Sequence[Section], *, title: str, meta: dict[str, Any]) -> dict:
    """The report as one JSON-ready dict."""
    groups = chapters(sections)
    sections = ordered(sections)
    return jsonable(
        {
            "title": title,
            "meta": dict(meta),
            "verdicts": verdicts(sections),
            "runs": runs(sections),
            "claims": claim_records(sections),
            "chapters": [{"title": t, "studies": [s.name for s in g]} for t, g in groups],
            "studies": [_study(s, t) for t, g in groups for s in g],
            "bibliography": [
                {"key": k, "citation": c}
                for k, c in text.bibliography(sorted(bibliography_keys(sections)))
            ],
        }
    )


def render_json(sections: Sequence[Section], title: str, meta: dict[str, Any]) -> str:
    """The whole report as a JSON document (strict: no NaN)."""
    payload = report_dict(sections, title=title, meta=meta)
    return json.dumps(payload, indent=1, ensure_ascii=False, allow_nan=False) + "\n"
