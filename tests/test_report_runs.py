"""The report says what became of each study's planned runs: counts by status, missing runs,
the diverged and failed runs by name, where they ran; the summary marks the claims of a study
that lost runs; and ``sweep status`` lists the same runs. Expected values come from SQL on the
store, never from the code under test."""

from __future__ import annotations

import json
import re
import sqlite3
from html.parser import HTMLParser

import pandas as pd
import pytest
from study_helpers import grid_plan, use_studies
from typer.testing import CliRunner

from overparam.cli import app
from overparam.config import RunConfig, build_config
from overparam.report import fate as F
from overparam.report.fate import RunFate, format_fields
from overparam.report.html import RUNS_SHOWN, Section, render
from overparam.store import Store
from overparam.studies import reproduce as R
from overparam.studies.claims import Claim, Threshold
from overparam.studies.study import Evidence, Study

WIDTHS, SEEDS = (8, 16, 32), (0, 1)
FAILED, DIVERGED, DELETED = (16, 1), (32, 0), (8, 1)  # (width, seed) of the injected fates
ERROR = "RuntimeError: injected failure\nTraceback (most recent call last):\n  File 'x'"


CLAIMS = (
    Claim(
        "runs-used",
        "every finished run took steps",
        cite="zou-gu-2019, Theorem 3.3",
        quantity="steps",
        test=Threshold(at_least=1),
    ),
)


def _evidence(data) -> Evidence:
    return Evidence(frames={"runs-used": data.runs[data.runs["status"].isin(["done", "diverged"])]})


def _study(name: str, widths: tuple[int, ...]) -> Study:
    return Study(
        name=name,
        title=name.title(),
        cites=("zou-gu-2019",),
        description="",
        claims=CLAIMS,
        plan=grid_plan(name, {"quick": widths, "full": widths}, SEEDS, steps=20),
        evidence=_evidence,
    )


REGISTRY = {"toy": _study("toy", WIDTHS), "clean": _study("clean", (12,))}


def run_fate(plan, runs):
    """:func:`overparam.report.fate.run_fate` of RunConfigs."""
    planned = [(c.config_hash(), c.model_dump(mode="json")) for c in plan]
    return F.run_fate(planned, runs, tuple(RunConfig.model_fields))


def _fields(width_seed: tuple[int, int]) -> dict[str, int]:
    return {"width": width_seed[0], "seed": width_seed[1]}


def _run_id(conn: sqlite3.Connection, width: int, seed: int) -> int:
    (rid,) = conn.execute(
        "SELECT id FROM runs WHERE json_extract(config, '$.width') = ? AND seed = ?",
        (width, seed),
    ).fetchone()
    return int(rid)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Both toy studies trained (quick) and stored; then in ``toy`` one run is marked failed,
    one diverged, one deleted, and one is relabelled as run by another executor."""
    path = tmp_path_factory.mktemp("fate") / "results.sqlite"
    R.run_studies(list(REGISTRY.values()), store_path=path, scale="quick", executor="batched")
    with sqlite3.connect(path) as conn:
        conn.execute(
            "UPDATE runs SET status = 'failed', train_status = NULL, error = ? WHERE id = ?",
            (ERROR, _run_id(conn, *FAILED)),
        )
        conn.execute(
            "UPDATE runs SET status = 'diverged', train_status = 'diverged' WHERE id = ?",
            (_run_id(conn, *DIVERGED),),
        )
        conn.execute("UPDATE runs SET executor = 'local' WHERE id = ?", (_run_id(conn, 8, 0),))
        gone = _run_id(conn, *DELETED)
        for table in ("losses", "records", "experiment_runs"):
            conn.execute(f"DELETE FROM {table} WHERE run_id = ?", (gone,))
        conn.execute("DELETE FROM runs WHERE id = ?", (gone,))
    conn.close()
    with Store(path) as db:  # the edits above stand for real outcomes: checksum them anew
        db.seal()
    return path


@pytest.fixture()
def registry(monkeypatch):
    use_studies(monkeypatch, *REGISTRY.values())
    return REGISTRY


def _expected(path, name: str) -> dict:
    """Counts of study ``name``'s planned runs, straight from the store by config hash."""
    plan = {c.config_hash() for c in REGISTRY[name].configs("quick")}
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT r.config_hash, r.status, r.id, r.error, r.config FROM runs r"
            " JOIN experiment_runs er ON er.run_id = r.id"
            " JOIN experiments e ON e.id = er.experiment_id WHERE e.name = ?",
            (f"study/{name}/quick",),
        ).fetchall()
    finally:
        conn.close()
    by = {
        s: [r for r in rows if r[0] in plan and r[1] == s] for s in ("done", "diverged", "failed")
    }
    out = {s: len(v) for s, v in by.items()}
    out["missing"] = len(plan) - sum(out.values())
    out["planned"] = len(plan)
    out["finished"] = sum(1 for r in rows if r[1] in ("done", "diverged"))
    out["ids"] = {s: sorted(int(r[2]) for r in v) for s, v in by.items()}
    out["rows"] = rows
    return out


class _Grab(HTMLParser):
    """Text and attributes of every element with a given class (outermost matches only)."""

    def __init__(self, cls: str) -> None:
        super().__init__()
        self.cls, self.found, self._depth, self._text = cls, [], 0, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if self._depth:
            self._depth += 1
        elif self.cls in (attrs.get("class") or "").split():
            self._depth, self._attrs, self._text = 1, attrs, []

    def handle_endtag(self, tag):
        if self._depth:
            self._depth -= 1
            if not self._depth:
                self.found.append((self._attrs, "".join(self._text)))

    def handle_data(self, data):
        if self._depth:
            self._text.append(data)


def _grab(text: str, cls: str) -> list[tuple[dict, str]]:
    p = _Grab(cls)
    p.feed(text)
    return p.found


def _section(text: str, name: str) -> str:
    start = text.index(f"<h3 id='{name}'>")
    end = text.find("<h3 id=", start + 1)
    return text[start : end if end > 0 else len(text)]


def test_section_states_the_stored_counts(tmp_path, store, registry):
    report = R.build_report(store, tmp_path / "r.html", scale="quick")
    text = report.path.read_text()
    exp = _expected(store, "toy")
    toy = _section(text, "toy")
    ((attrs, line),) = _grab(toy, "runs-fate")
    for key in ("planned", "done", "diverged", "failed", "missing", "finished"):
        assert int(attrs[f"data-{key}"]) == exp[key], key
    words = " · ".join(f"{k} {exp[k]}" for k in ("planned", "done", "diverged", "failed"))
    assert line == f"runs: {words} · missing {exp['missing']}"
    ((_, warning),) = _grab(toy, "runs-incomplete")
    assert warning == (
        f"incomplete: {exp['missing']} of {exp['planned']} planned runs missing, "
        f"{exp['failed']} failed — the claims below use the {exp['finished']} that finished "
        f"({exp['diverged']} of them diverged)"
    )
    assert "<span class='badge'>incomplete</span>" in toy[: toy.index("</h3>")]
    # the clean study lost nothing: no warning, no badge
    clean = _section(text, "clean")
    assert _grab(clean, "runs-incomplete") == [] and "badge" not in clean
    ((attrs, _),) = _grab(clean, "runs-fate")
    assert int(attrs["data-done"]) == _expected(store, "clean")["done"] == len(SEEDS)


def test_section_names_the_diverged_failed_and_missing_runs(tmp_path, store, registry):
    text = R.build_report(store, tmp_path / "r.html", scale="quick").path.read_text()
    exp = _expected(store, "toy")
    assert len(_grab(text, "runs-listed")) == 1  # one table, in the toy section
    toy = _section(text, "toy")
    listed = {
        (a["data-status"], a["data-run-id"]): t
        for status in ("failed", "diverged", "missing")
        for a, t in _grab(toy, f"run-{status}")
    }
    (failed_id,) = exp["ids"]["failed"]
    (diverged_id,) = exp["ids"]["diverged"]
    (w, s) = FAILED
    assert listed[("failed", str(failed_id))] == (
        f"failed{failed_id}width={w} seed={s}{ERROR.splitlines()[0]}"
    )
    (w, s) = DIVERGED
    assert listed[("diverged", str(diverged_id))] == f"diverged{diverged_id}width={w} seed={s}"
    (w, s) = DELETED
    assert listed[("missing", "")] == f"missingwidth={w} seed={s}"
    assert len(listed) == exp["failed"] + exp["diverged"] + exp["missing"]
    assert "<details><summary>runs" not in toy  # few enough to show openly


def test_summary_marks_the_incomplete_studys_claims(tmp_path, store, registry):
    report = R.build_report(store, tmp_path / "r.html", scale="quick")
    text = report.path.read_text()
    toy, clean = _expected(store, "toy"), _expected(store, "clean")
    summary = re.search(r"<table id='summary'>.*?</table>", text, re.S).group(0)
    marks = {
        re.match(r"<tr class='\w+'[^>]*><td>(\w+)</td>", row).group(1): re.findall(
            r"<span class='runs-note'>(.*?)</span>", row
        )
        for row in re.findall(r"<tr class='\w+' data-verdict.*?</tr>", summary)
    }
    assert marks == {"toy": [f"from {toy['finished']} of {toy['planned']} runs"], "clean": []}
    # the claims below the warning were drawn from exactly the runs it counts
    by_study = {c["study"]: c for c in report.claims}
    assert by_study["toy"]["measured"].endswith(f"over {toy['finished']} rows")
    assert (by_study["toy"]["runs_used"], by_study["toy"]["runs_planned"]) == (
        toy["finished"],
        toy["planned"],
    )
    ((attrs, _),) = _grab(text, "runs-total")
    for key in ("planned", "done", "diverged", "failed", "missing"):
        assert int(attrs[f"data-{key}"]) == toy[key] + clean[key], key


def test_reproduce_returns_the_counts_per_study(tmp_path, store, registry):
    report = R.build_report(store, tmp_path / "r.html", scale="quick")
    exp = _expected(store, "toy")
    toy = report.runs["toy"]
    assert toy["mode"] == "quick" and toy["complete"] is False
    for key in ("planned", "done", "diverged", "failed", "missing", "finished"):
        assert toy[key] == exp[key], key
    assert [r["run_id"] for r in toy["failed_runs"]] == exp["ids"]["failed"]
    assert [r["run_id"] for r in toy["diverged_runs"]] == exp["ids"]["diverged"]
    assert [r["fields"] for r in toy["missing_runs"]] == [_fields(DELETED)]
    assert report.runs["clean"]["complete"] is True
    json.dumps(report.runs)  # JSON-ready: the CLI prints it as is


def _provenance(line: str) -> dict[str, dict[str, int]]:
    out = {}
    for part in line.removeprefix("ran with: ").split("; "):
        label, _, values = part.partition(" ")
        out[label] = {v.rsplit(" ×", 1)[0]: int(v.rsplit(" ×", 1)[1]) for v in values.split(", ")}
    return out


def test_provenance_counts_match_sql(tmp_path, store, registry):
    text = R.build_report(store, tmp_path / "r.html", scale="quick").path.read_text()
    ((_, line),) = _grab(_section(text, "toy"), "provenance")
    seen = _provenance(line)
    conn = sqlite3.connect(store)
    try:
        columns = {r[1] for r in conn.execute("PRAGMA table_info(runs)")}

        def counts(expr: str) -> dict[str, int]:
            rows = conn.execute(
                f"SELECT {expr}, COUNT(*) FROM runs r JOIN experiment_runs er ON er.run_id = r.id"
                " JOIN experiments e ON e.id = er.experiment_id WHERE e.name = 'study/toy/quick'"
                f" AND r.status IN ('done', 'diverged', 'failed') AND {expr} IS NOT NULL"
                f" GROUP BY {expr}"
            ).fetchall()
            return {str(v): int(n) for v, n in rows}

        expected = {
            label: counts(column)
            for column, label in (
                ("executor", "executor"),
                ("threads", "threads"),
                ("torch_version", "torch"),
                ("package_version", "overparam"),
                ("host", "host"),
            )
            if column in columns
        }
        expected["device"] = counts(
            "device" if "device" in columns else "json_extract(r.config, '$.device')"
        )
    finally:
        conn.close()
    assert seen == expected
    assert len(seen["executor"]) == 2  # the relabelled run shows up as a second executor


def test_sweep_status_lists_the_same_runs(store):
    result = CliRunner().invoke(app, ["sweep", "status", "--store", str(store), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    exp = _expected(store, "toy")
    for status in ("failed", "diverged"):
        entries = out[status]
        assert {e["experiment"] for e in entries} == {"study/toy/quick"}
        assert [e["run_id"] for e in entries] == exp["ids"][status]
    (failed,) = out["failed"]
    assert failed["fields"] == _fields(FAILED)
    assert failed["error"] == ERROR.splitlines()[0]
    table = CliRunner().invoke(app, ["sweep", "status", "--store", str(store)])
    assert table.exit_code == 0, table.output
    assert "diverged and failed runs" in table.stdout
    assert format_fields(failed["fields"]) in table.stdout


# -- run_fate and the section's HTML on hand-built frames (no store) ------------------------------


def _frame(plan, statuses, extra=()):
    rows = [
        {
            "run_id": i + 1,
            "config_hash": c.config_hash(),
            "status": st,
            "error": "ValueError: bad\nmore" if st == "failed" else None,
            "config": c.model_dump_json(),
            "executor": "batched",
        }
        for i, (c, st) in enumerate(zip(plan, statuses, strict=True))
        if st is not None
    ]
    return pd.DataFrame(rows + list(extra))


def test_queued_runs_count_as_missing_and_unplanned_runs_are_counted():
    plan = [build_config(width=w, seed=s) for w in (8, 16) for s in (0, 1)]
    old = build_config(width=8, seed=0, steps=7)
    extra = {
        "run_id": 99,
        "config_hash": old.config_hash(),
        "status": "failed",
        "error": "OSError: disk",
        "config": old.model_dump_json(),
    }
    fate = run_fate(plan, _frame(plan, ["done", "queued", "running", None], [extra]))
    assert (fate.planned, fate.done, fate.missing, fate.failed) == (4, 1, 3, 0)
    assert fate.unplanned == 1 and fate.finished == 1 and fate.incomplete
    assert [r.run_id for r in fate.listed("missing")] == [2, 3, None]
    (failed,) = fate.listed("failed")  # the unplanned one: named, not counted as planned
    assert failed.run_id == 99 and failed.error == "OSError: disk"
    assert failed.fields == {"width": 8, "steps": 7, "seed": 0}  # steps varies: an old plan
    assert "1 stored runs are not in the current plan" in fate.headline()


def test_a_complete_study_has_no_warning_and_a_duplicate_config_counts_once():
    plan = [build_config(width=8, seed=0), build_config(width=8, seed=0), build_config(width=16)]
    fate = run_fate(plan, _frame(plan[1:], ["done", "diverged"]))
    assert (fate.planned, fate.done, fate.diverged, fate.missing) == (2, 1, 1, 0)
    assert not fate.incomplete and fate.headline() == "" and fate.note() == ""
    assert fate.provenance == {"executor": {"batched": 2}}


def _listed_html(fate: RunFate) -> str:
    section = Section("s", "S", "-", "", [], [], fate=fate)
    return _section(render([section], title="t", meta={}), "s")


def test_many_listed_runs_are_folded():
    plan = [build_config(width=8, seed=s) for s in range(RUNS_SHOWN + 1)]
    many = _listed_html(run_fate(plan, _frame(plan, ["failed"] * len(plan))))
    assert f"<details><summary>runs {len(plan)} failed</summary>" in many
    assert len(_grab(many, "run-failed")) == len(plan)
    few = _listed_html(
        run_fate(plan[:RUNS_SHOWN], _frame(plan[:RUNS_SHOWN], ["failed"] * RUNS_SHOWN))
    )
    assert "<details>" not in few and len(_grab(few, "run-failed")) == RUNS_SHOWN


def test_a_study_without_training_runs_says_so():
    html_text = _listed_html(run_fate([], pd.DataFrame()))
    assert _grab(html_text, "runs-fate") == [
        ({"class": "runs-fate", "data-planned": "0"}, "no training runs planned")
    ]
