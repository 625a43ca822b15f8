"""Draw each study's main figure for the documentation site.

Runs every registered study at the ``quick`` scale (the runs of ``overparam reproduce --quick``)
into a temporary results store, judges it exactly as the report does, and writes the study's
first figure as ``docs/figures/<study>.svg``, with its caption in ``docs/figures/captions.json``.
The pages the site builds (``docs/hooks.py``) reference these committed files; a study without a
figure gets none, and its page says so.

Usage::

    nice python docs/make_figures.py                  # every study (minutes on 2 cores)
    python docs/make_figures.py --only linear-rate    # one study, the others' files kept
    python docs/make_figures.py --store overparam-results/results.sqlite   # after reproduce --quick
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

FIGURES = Path(__file__).resolve().parent / "figures"
CAPTIONS = FIGURES / "captions.json"


def draw(store: Path, only: list[str] | None, out: Path) -> dict[str, str | None]:
    """Judge what ``store`` holds at the quick scale and write each study's first figure.

    Args:
        store: a results database written by :func:`overparam.studies.reproduce.run_studies`.
        only: study names, or None for every registered study.
        out: the folder receiving ``<study>.svg``.

    Returns:
        {study: caption of its figure, or None for a study without one}.
    """
    import matplotlib.pyplot as plt

    from overparam.studies.plots import save
    from overparam.studies.reproduce import analyze_store

    captions: dict[str, str | None] = {}
    for study, _, _, result, error in analyze_store(store, only=only, scale="quick"):
        if error is not None:
            raise RuntimeError(f"{study.name}: the analysis failed: {error}")
        first, *rest = result.figures or [None]
        for fig in rest:
            plt.close(fig.figure)
        stale = out / f"{study.name}.svg"
        if first is None:
            stale.unlink(missing_ok=True)
            captions[study.name] = None
            continue
        save(first.figure, out, study.name, png=False)
        captions[study.name] = first.caption
    return captions


def main(argv: list[str] | None = None) -> int:
    """Run the quick studies (or read ``--store``) and write the figures; returns 0."""
    from overparam.studies.registry import names, select
    from overparam.studies.reproduce import run_studies

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", help="a study name (repeatable)")
    parser.add_argument("--store", type=Path, help="an existing quick-scale results store")
    parser.add_argument("--workers", type=int, default=None, help="local executor processes")
    args = parser.parse_args(argv)
    only = names(args.only)

    FIGURES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="overparam-figures-") as tmp:
        store = args.store
        if store is None:
            store = Path(tmp) / "results.sqlite"

            def progress(name: str, done: int, total: int) -> None:
                if done == -1:
                    print(f"{name}: training", file=sys.stderr, flush=True)

            run_studies(
                select(only),
                store_path=store,
                scale="quick",
                workers=args.workers,
                progress=progress,
            )
        captions = draw(store, only, FIGURES)

    known = json.loads(CAPTIONS.read_text()) if CAPTIONS.exists() else {}
    known.update(captions)
    order = {name: i for i, name in enumerate(names(None))}
    ordered = {k: known[k] for k in sorted(known, key=lambda k: order.get(k, len(order)))}
    CAPTIONS.write_text(json.dumps(ordered, indent=2, ensure_ascii=False) + "\n")
    for name, caption in captions.items():
        print(f"{name}: {'docs/figures/' + name + '.svg' if caption is not None else 'no figure'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
