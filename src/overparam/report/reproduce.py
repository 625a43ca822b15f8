"""``overparam reproduce``: run the registered studies through the sweep machinery, then write
figures and one self-contained HTML report.

Resumable: every training run is a row of ``DIR/results.sqlite`` keyed by its config hash and
every study's measurements are stored in one transaction, so a second call finishes only what
is missing and ``overparam report`` regenerates the page from the database alone.
"""

from __future__ import annotations

import importlib
import pkgutil
import platform
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from overparam import __version__
from overparam.errors import ConfigError
from overparam.report import fate, html, plots
from overparam.report.study import STUDIES, Study, StudyData, StudyResult
from overparam.store import measurements

#: (study name, finished runs, total runs) after each run; (name, -1, -1) when a study starts;
#: (stage, -2, -2) when a stage that is not a study starts (writing the report).
Progress = Callable[[str, int, int], None]


def load_studies() -> dict[str, Study]:
    """Import every module of :mod:`overparam.report.studies` (each registers its studies)."""
    import overparam.report.studies as pkg

    for info in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(f"{pkg.__name__}.{info.name}")
    return STUDIES


def select(only: Sequence[str] | None) -> list[Study]:
    """The studies named in ``only`` (all registered ones if empty), in registry order."""
    studies = load_studies()
    if not only:
        return list(studies.values())
    unknown = [name for name in only if name not in studies]
    if unknown:
        raise ConfigError("only", ",".join(unknown), ", ".join(studies))
    return [studies[name] for name in only]


def experiment_name(study: Study, quick: bool) -> str:
    return f"study/{study.name}/{'quick' if quick else 'full'}"


@dataclass(frozen=True)
class ReproduceResult:
    out: Path
    report: Path
    studies: list[str]
    executed: int
    wall_s: float
    claims: list[dict]
    runs: dict[str, dict] = field(default_factory=dict)  # study -> Report.runs entry


@dataclass(frozen=True)
class Report:
    """A written report: its path, the claims as dicts, and per study what became of its runs.

    ``runs`` maps each study shown to ``{"mode": "quick" | "full", "planned", "done",
    "diverged", "failed", "missing", "unplanned", "finished", "complete", "diverged_runs",
    "failed_runs", "missing_runs", "provenance"}`` (see :class:`overparam.report.fate.RunFate`).
    Each claim dict carries ``runs_used`` (finished runs of its study) and ``runs_planned``.
    """

    path: Path
    claims: list[dict]
    runs: dict[str, dict]


def _fate(study: Study, quick: bool, runs: pd.DataFrame) -> fate.RunFate | None:
    try:
        return fate.run_fate(study.plan(quick), runs)
    except Exception:  # a plan that cannot be rebuilt must not lose the report
        traceback.print_exc()
        return None


def run_studies(
    studies: Sequence[Study],
    *,
    store_path: Path,
    quick: bool,
    executor: str = "local",
    workers: int | None = None,
    address: str | None = None,
    progress: Progress | None = None,
) -> int:
    """Train every study's planned runs and store its measurements; returns runs executed."""
    from overparam.store import Owner, Store
    from overparam.sweep.runner import Heartbeat, open_executor, run_configs

    db = Store(store_path)
    owner = Owner()
    ex, owned = open_executor(executor, workers=workers, address=address)
    beat = Heartbeat(db.path, owner)
    executed = 0
    try:
        for study in studies:
            if progress:
                progress(study.name, -1, -1)
            configs = study.plan(quick)
            spec = {"study": study.name, "quick": quick, "runs": len(configs)}
            exp_id = db.experiment(experiment_name(study, quick), spec, kind="study")
            stats = run_configs(
                db,
                exp_id,
                configs,
                ex,
                owner=owner,
                progress=(lambda done, total, s=study.name: progress(s, done, total))
                if progress
                else None,
            )
            executed += stats.executed
            if study.measure is not None and measurements.load(store_path, exp_id) is None:
                rows = study.measure(quick)
                if rows is not None and not rows.empty:
                    measurements.save(store_path, exp_id, rows)
    finally:
        beat.stop()
        if owned:
            ex.close()
        db.release(owner)
        db.close()
    return executed


def _study_data(tables, store_path: Path, name: str) -> StudyData | None:
    try:
        sub = tables.for_experiment(name)
    except ConfigError:
        return None
    exp_id = int(sub.experiments["id"].iloc[0])
    runs = sub.runs.rename(columns={"id": "run_id"})
    meas = measurements.load(store_path, exp_id)
    return StudyData(
        runs=runs.reset_index(drop=True),
        losses=sub.losses.reset_index(drop=True),
        probes=sub.records.reset_index(drop=True),
        measurements=meas if meas is not None else pd.DataFrame(),
    )


def build_report(
    store_path: Path,
    out_html: Path,
    *,
    only: Sequence[str] | None = None,
    quick: bool | None = None,
) -> Report:
    """Analyze what the store holds for each study and write figures and the HTML page.

    ``quick=None`` takes, per study, the full results if stored, else the quick ones. Each
    study's plan is matched with its stored runs, so the page says which runs are missing,
    diverged or failed, and marks the claims of incomplete studies.
    """
    from overparam.store import load

    tables = load(store_path)
    figures_dir = out_html.parent / "figures"
    sections, claims, runs = [], [], {}
    for study in select(only):
        modes = [quick] if quick is not None else [False, True]
        data, mode = None, None
        for m in modes:
            data = _study_data(tables, store_path, experiment_name(study, m))
            if data is not None:
                mode = m
                break
        if data is None:
            continue
        study_fate = _fate(study, bool(mode), data.runs)
        try:
            result: StudyResult = study.analyze(data)
            error = None
        except Exception as exc:  # one broken analysis must not lose the others
            result, error = StudyResult(), f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
        figure_files = []
        for fig in result.figures:
            png, _ = plots.save(fig.figure, figures_dir, f"{study.name}-{fig.name}")
            figure_files.append(html.FigureFile(fig.name, fig.caption, png))
        configs = [
            {k: v for k, v in row.items() if k in _CONFIG_KEYS and pd.notna(v)}
            for row in data.runs.to_dict(orient="records")
        ]
        sections.append(
            html.Section(
                name=study.name,
                title=study.title + (" (quick)" if mode else ""),
                source=study.source,
                description=study.description,
                claims=result.claims,
                figures=figure_files,
                configs=configs,
                tables={
                    k: v.to_html(index=False, float_format=lambda x: f"{x:.4g}")
                    for k, v in result.tables.items()
                },
                error=error,
                fate=study_fate,
            )
        )
        counts = (
            {"runs_used": study_fate.finished, "runs_planned": study_fate.planned}
            if study_fate is not None
            else {}
        )
        claims.extend({"study": study.name, **c.__dict__, **counts} for c in result.claims)
        if study_fate is not None:
            runs[study.name] = {"mode": "quick" if mode else "full", **study_fate.to_dict()}
    meta = {
        "overparam": __version__,
        "python": platform.python_version(),
        "generated": time.strftime("%Y-%m-%d %H:%M:%S"),
        "store": store_path.name,
    }
    text = html.render(sections, title="overparam: theory against measurement", meta=meta)
    return Report(html.write(out_html, text), claims, runs)


def write_report(
    store_path: Path,
    out_html: Path,
    *,
    only: Sequence[str] | None = None,
    quick: bool | None = None,
) -> tuple[Path, list[dict]]:
    """:func:`build_report`, returning (path, claims)."""
    report = build_report(store_path, out_html, only=only, quick=quick)
    return report.path, report.claims


def _config_keys() -> set[str]:
    from overparam.config import RunConfig

    return set(RunConfig.model_fields)


_CONFIG_KEYS = _config_keys()


def reproduce(
    *,
    out: Path = Path("overparam-results"),
    quick: bool = False,
    only: Sequence[str] | None = None,
    executor: str = "local",
    workers: int | None = None,
    address: str | None = None,
    progress: Progress | None = None,
) -> ReproduceResult:
    """Run the studies (resuming what is stored) and write ``out/report.html``."""
    start = time.perf_counter()
    studies = select(only)
    out.mkdir(parents=True, exist_ok=True)
    store_path = out / "results.sqlite"
    executed = run_studies(
        studies,
        store_path=store_path,
        quick=quick,
        executor=executor,
        workers=workers,
        address=address,
        progress=progress,
    )
    if progress:
        progress("writing report", -2, -2)
    report = build_report(
        store_path, out / "report.html", only=[s.name for s in studies], quick=quick
    )
    return ReproduceResult(
        out,
        report.path,
        [s.name for s in studies],
        executed,
        time.perf_counter() - start,
        report.claims,
        report.runs,
    )
