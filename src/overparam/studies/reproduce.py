"""``overparam reproduce``: run the registered studies through the sweep machinery, judge their
claims and write one self-contained HTML report.

Resumable: every training run is a row of ``DIR/results.sqlite`` keyed by its config hash, and
every study's measurements are stored in one transaction, so a second call finishes only what is
missing and ``overparam report`` regenerates the page from the database alone. A study's runs are
stored under its sweep specs' names (``study/NAME/SCALE[/PART]``), so runs made by ``overparam
sweep run`` on the specs ``overparam studies show NAME --toml`` prints are the same runs.
"""

from __future__ import annotations

import json
import platform
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from overparam import __version__
from overparam.config import RunConfig
from overparam.report import fate, formats, html, layout
from overparam.store import measurements
from overparam.studies.plan import experiment_name
from overparam.studies.registry import select
from overparam.studies.study import (
    SCALES,
    Scale,
    Study,
    StudyData,
    StudyResult,
    resolve_scale,
)
from overparam.sweep.spec import SweepSpec

#: (study name, finished runs, total runs) after each run; (name, -1, -1) when a study starts;
#: (stage, -2, -2) when a stage that is not a study starts (writing the report).
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class ReproduceResult:
    out: Path
    report: Path
    studies: list[str]
    executed: int
    wall_s: float
    claims: list[dict]
    runs: dict[str, dict] = field(default_factory=dict)  # study -> Report.runs entry
    verdicts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Report:
    """A written report: its path, the judged claims as dicts, the count of each verdict, and
    per study what became of its runs.

    ``runs`` maps each study shown to ``{"mode": "quick" | "full", "planned", "done",
    "diverged", "failed", "missing", "unplanned", "finished", "complete", "diverged_runs",
    "failed_runs", "missing_runs", "provenance"}`` (see :class:`overparam.report.fate.RunFate`).
    Each claim dict is a :class:`~overparam.studies.claims.Judgement` dict plus ``study``,
    ``runs_used`` (finished runs of its study) and ``runs_planned``.
    """

    path: Path
    claims: list[dict]
    runs: dict[str, dict]
    verdicts: dict[str, int] = field(default_factory=dict)


def run_studies(
    studies: Sequence[Study],
    *,
    store_path: Path,
    scale: Scale,
    executor: str = "local",
    workers: int | None = None,
    address: str | None = None,
    progress: Progress | None = None,
) -> int:
    """Train every study's planned runs and store its measurements; returns runs executed."""
    from overparam.sweep.critical import run_critical_spec
    from overparam.sweep.queue import run_configs
    from overparam.sweep.session import run_session

    executed = 0
    with run_session(store_path, executor, workers=workers, address=address) as session:
        db = session.store
        for study in studies:
            if progress:
                progress(study.name, -1, -1)
            specs = study.specs(scale)
            sizes = study.sizes_of(scale)
            total = sum(len(s.points()) for s in specs)
            index = {"study": study.name, "scale": sizes, "specs": [s.name for s in specs]}
            study_id = db.experiment(experiment_name(study.name, sizes), index, kind="study")
            offset = 0
            for spec in specs:
                exp_id = db.experiment(spec.name, spec.to_dict(), kind="study")

                def report(done: int, _: int, s: str = study.name, o: int = offset,
                           t: int = total) -> None:  # fmt: skip
                    if progress:
                        progress(s, o + done, t)

                if spec.critical is not None:  # adaptive: a critical-width search per point
                    stats, _ = run_critical_spec(
                        spec, db, exp_id, session.executor, owner=session.owner,
                    )  # fmt: skip
                    report(len(spec.points()), total)
                else:
                    stats = run_configs(
                        db, exp_id, spec.configs(), session.executor, owner=session.owner,
                        progress=report,
                    )  # fmt: skip
                executed += stats.executed
                offset += len(spec.points())
            if study.measure is not None and measurements.load(store_path, study_id) is None:
                rows = study.measure(sizes)
                if rows is not None and not rows.empty:
                    measurements.save(store_path, study_id, rows)
    return executed


def _experiment_ids(experiments: pd.DataFrame, study: str, scale: Scale) -> list[int]:
    """The stored experiments of a study at a scale: its index and every spec under it."""
    prefix = experiment_name(study, scale)
    names = experiments["name"].astype(str)
    mask = (names == prefix) | names.str.startswith(prefix + "/")
    return [int(i) for i in experiments.loc[mask, "id"]]


def study_data(tables, store_path: Path, study: Study, scale: Scale) -> StudyData | None:
    """What the store holds for ``study`` at ``scale`` (None when nothing is stored).

    Measurements missing from the store (runs made by ``overparam sweep run``) are computed
    here; ``measure`` trains nothing and is seeded, so they equal what reproduce stores."""
    scale = study.sizes_of(scale)
    ids = _experiment_ids(tables.experiments, study.name, scale)
    if not ids:
        return None
    links = tables.experiment_runs[tables.experiment_runs["experiment_id"].isin(ids)]
    run_ids = set(links["run_id"])
    runs = tables.runs[tables.runs["id"].isin(run_ids)].rename(columns={"id": "run_id"})
    stored = (measurements.load(store_path, i) for i in ids)
    meas = next((m for m in stored if m is not None), None)
    if meas is None and study.measure is not None:
        meas = study.measure(scale)
    return StudyData(
        runs=runs.reset_index(drop=True),
        losses=tables.losses[tables.losses["run_id"].isin(run_ids)].reset_index(drop=True),
        probes=tables.records[tables.records["run_id"].isin(run_ids)].reset_index(drop=True),
        measurements=meas if meas is not None else pd.DataFrame(),
        scale=scale,
    )


def _fate(study: Study, scale: Scale, runs: pd.DataFrame) -> fate.RunFate | None:
    try:
        specs = study.specs(scale)
        fixed = [c for s in specs if s.critical is None for c in s.configs()]
        plan = [(c.config_hash(), c.model_dump(mode="json")) for c in fixed]
        plan += searched_runs([s for s in specs if s.critical is not None], runs)
        return fate.run_fate(plan, runs, tuple(RunConfig.model_fields))
    except Exception:  # a plan that cannot be rebuilt must not lose the report
        traceback.print_exc()
        return None


def searched_runs(specs: Sequence[SweepSpec], runs: pd.DataFrame) -> list[tuple[str, dict]]:
    """(config hash, config) of the stored runs that a critical-width search of ``specs``
    made: the search decides its runs as it goes, so the plan is what it stored (every run
    whose config is a grid point's apart from the fields the search sets)."""
    from overparam.sweep.spec import CRITICAL_OWNED

    def key(cfg: dict) -> str:
        return json.dumps({k: v for k, v in cfg.items() if k not in CRITICAL_OWNED},
                          sort_keys=True, default=str)  # fmt: skip

    points = {key(c.model_dump(mode="json")) for s in specs for c in s.configs()}
    if not points or runs.empty or "config" not in runs:
        return []
    out = []
    for h, text in zip(runs["config_hash"], runs["config"], strict=True):
        cfg = json.loads(text) if isinstance(text, str) else dict(text)
        if key(cfg) in points:
            out.append((str(h), cfg))
    return out


def analyze_store(
    store_path: Path, *, only: Sequence[str] | None = None, scale: Scale | None = None
) -> Iterator[tuple[Study, Scale, StudyData, StudyResult, str | None]]:
    """(study, scale, data, result, analysis error) for every study with stored rows, one study
    at a time (so a caller can write and close one study's figures before the next).

    ``scale=None`` takes, per study, the results of its largest stored scale."""
    from overparam.store import load

    tables = load(store_path)
    studies = select(only)
    for study in studies:
        found = None
        for s in [scale] if scale is not None else list(reversed(SCALES)):
            data = study_data(tables, store_path, study, s)
            if data is not None:
                found = (data.scale, data)
                break
        if found is None:
            continue
        s, data = found
        try:
            result, error = study.analyze(data), None
        except Exception as exc:  # one broken analysis must not lose the others
            result, error = StudyResult(), f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
        yield study, s, data, result, error


def build_report(
    store_path: Path,
    out_html: Path,
    *,
    only: Sequence[str] | None = None,
    scale: Scale | None = None,
    fmt: str = "html",
) -> Report:
    """Judge what the store holds for each study and write figures and the report: the HTML
    page, or with ``fmt`` the same content as Markdown (``md``) or JSON (``json``).

    Each study's plan is matched with its stored runs, so the page says which runs are
    missing, diverged or failed, and marks the claims of incomplete studies."""
    from overparam.studies.plots import save

    renderer = formats.renderer(fmt)
    figures_dir = out_html.parent / "figures"
    keys = set(RunConfig.model_fields)
    sections = []
    for study, s, data, result, error in analyze_store(store_path, only=only, scale=scale):
        study_fate = _fate(study, s, data.runs)
        figure_files = []
        for fig in result.figures:
            saved = save(fig.figure, figures_dir, f"{study.name}-{fig.name}")
            figure_files.append(
                html.FigureFile(fig.name, fig.caption, saved.png, saved.svg, saved.display_px)
            )
        configs = [
            {k: v for k, v in row.items() if k in keys and pd.notna(v)}
            for row in data.runs.to_dict(orient="records")
        ]
        sections.append(
            html.Section(
                name=study.name,
                title=study.title + (" (quick)" if s == "quick" else ""),
                source=study.source,
                description=study.description,
                claims=result.judgements,
                figures=figure_files,
                configs=configs,
                tables=dict(result.tables),
                context=[c.to_dict() for c in result.context],
                hypotheses=[h.describe() for h in study.hypotheses],
                error=error,
                fate=study_fate,
                scale=s,
            )
        )
    if only is None:  # the user's own networks (overparam.measure / track / width_sweep)
        from overparam.byon.report import sections as own_sections

        sections.extend(own_sections(store_path, figures_dir))
    meta = {
        "overparam": __version__,
        "python": platform.python_version(),
        "generated": time.strftime("%Y-%m-%d %H:%M:%S"),
        "store": store_path.name,
    }
    text = renderer(sections, title="overparam: theory against measurement", meta=meta)
    path = html.write(out_html, text)
    return Report(
        path, layout.claim_records(sections), layout.runs(sections), layout.verdicts(sections)
    )


def reproduce(
    *,
    out: Path = Path("overparam-results"),
    quick: bool = False,
    scale: Scale | None = None,
    only: Sequence[str] | None = None,
    executor: str = "local",
    workers: int | None = None,
    address: str | None = None,
    progress: Progress | None = None,
) -> ReproduceResult:
    """Run the studies (resuming what is stored) at ``scale`` (default ``full``; ``quick=True``
    is ``scale="quick"``) and write ``out/report.html``."""
    start = time.perf_counter()
    scale = resolve_scale(scale, quick)
    studies = select(only)
    out.mkdir(parents=True, exist_ok=True)
    store_path = out / "results.sqlite"
    executed = run_studies(
        studies,
        store_path=store_path,
        scale=scale,
        executor=executor,
        workers=workers,
        address=address,
        progress=progress,
    )
    if progress:
        progress("writing report", -2, -2)
    names = [s.name for s in studies]
    report = build_report(store_path, out / "report.html", only=names, scale=scale)
    return ReproduceResult(
        out,
        report.path,
        names,
        executed,
        time.perf_counter() - start,
        report.claims,
        report.runs,
        report.verdicts,
    )
