"""``overparam sweep status`` names the diverged and failed runs of each experiment (run id, the
config fields that vary across it, the first error line), capped by ``--limit``. The store is
written through :class:`overparam.store.Store` without training; expected values come from SQL."""

from __future__ import annotations

import json
import sqlite3

import pytest
from typer.testing import CliRunner

from overparam.cli import app
from overparam.config import build_config
from overparam.errors import ConfigError
from overparam.report.fate import stored_listed
from overparam.store import Owner, RunResult, Store

runner = CliRunner()
# (width, seed) -> the status the run ends in
GRID = {
    (8, 0): "failed",
    (8, 1): "done",
    (16, 0): "failed",
    (16, 1): "diverged",
    (32, 0): "failed",
    (32, 1): "failed",
}


def _finish(db: Store, name: str, configs, statuses) -> None:
    exp = db.experiment(name, {"name": name})
    db.enqueue(exp, configs)
    owner = Owner()
    ids = [int(r["id"]) for r in db.query("SELECT id FROM runs WHERE status = 'queued'")]
    by_hash = {c.config_hash(): st for c, st in zip(configs, statuses, strict=True)}
    for claim in db.claim(owner, ids, len(ids)):
        status = by_hash[claim.config_hash]
        error = (
            f"ValueError: width {claim.config.width}\n  traceback" if status == "failed" else None
        )
        result = RunResult(
            status=status,
            train_status={"done": "converged", "diverged": "diverged"}.get(status),
            losses=(1.0, 0.5),
            error=error,
            executor="batched",
        )
        assert db.finish(owner, claim.run_id, result)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("status") / "r.sqlite"
    with Store(path) as db:
        grid = [build_config(n=6, width=w, seed=s) for w, s in GRID]
        _finish(db, "grid", grid, list(GRID.values()))
        seeds = [build_config(n=6, width=64, seed=s) for s in (0, 1)]
        _finish(db, "seeds", seeds, ["diverged", "done"])
        clean = [build_config(n=6, width=128, seed=s) for s in (0, 1)]
        _finish(db, "clean", clean, ["done", "done"])
    return path


def _sql(path, experiment: str, status: str) -> list[tuple[int, dict, str | None]]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT r.id, r.config, r.error FROM runs r JOIN experiment_runs er"
            " ON er.run_id = r.id JOIN experiments e ON e.id = er.experiment_id"
            " WHERE e.name = ? AND r.status = ? ORDER BY r.id",
            (experiment, status),
        ).fetchall()
    finally:
        conn.close()
    return [(int(i), json.loads(c), e) for i, c, e in rows]


def _status(store, *args) -> dict:
    result = runner.invoke(app, ["sweep", "status", "--store", str(store), "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_json_lists_every_diverged_and_failed_run(store):
    out = _status(store)
    for status in ("failed", "diverged"):
        expected = [
            {
                "experiment": name,
                "run_id": rid,
                # grid varies width and seed; seeds varies only the seed
                "fields": {k: cfg[k] for k in (("width", "seed") if name == "grid" else ("seed",))},
                "error": error.splitlines()[0] if error else "",
            }
            for name in ("grid", "seeds", "clean")
            for rid, cfg, error in _sql(store, name, status)
        ]
        assert out[status] == expected, status
    assert out["unlisted"] == {"diverged": 0, "failed": 0}
    assert [r["experiment"] for r in out["experiments"]] == ["grid", "seeds", "clean"]


def test_limit_caps_the_list_and_counts_the_rest(store):
    failed = _sql(store, "grid", "failed")
    out = _status(store, "--limit", "2")
    assert [r["run_id"] for r in out["failed"]] == [rid for rid, _, _ in failed[:2]]
    assert out["unlisted"]["failed"] == len(failed) - 2
    table = runner.invoke(app, ["sweep", "status", "--store", str(store), "--limit", "2"])
    assert table.exit_code == 0, table.output
    assert f"grid: and {len(failed) - 2} more failed" in table.stdout
    for _, cfg, _ in failed[:2]:
        assert f"width={cfg['width']} seed={cfg['seed']}" in table.stdout
    none = _status(store, "--limit", "0")
    assert none["failed"] == [] and none["unlisted"]["failed"] == len(failed)


def test_table_names_runs_with_their_first_error_line(store):
    table = runner.invoke(app, ["sweep", "status", "--store", str(store)])
    assert table.exit_code == 0, table.output
    assert "diverged and failed runs" in table.stdout
    for _, _, error in _sql(store, "grid", "failed"):
        assert error.splitlines()[0] in table.stdout
    assert "traceback" not in table.stdout


def test_a_clean_store_lists_nothing(tmp_path):
    path = tmp_path / "clean.sqlite"
    with Store(path) as db:
        _finish(db, "ok", [build_config(n=6, width=8, seed=s) for s in (0, 1)], ["done", "done"])
    out = _status(path)
    assert out["failed"] == [] and out["diverged"] == []
    table = runner.invoke(app, ["sweep", "status", "--store", str(path)])
    assert table.exit_code == 0 and "diverged and failed runs" not in table.stdout


def test_bad_limit_and_bad_store_are_one_line_errors(store, tmp_path):
    bad = runner.invoke(app, ["sweep", "status", "--store", str(store), "--limit", "-1"])
    assert bad.exit_code == 2
    assert bad.stderr.strip() == "error: limit: got -1; allowed: an integer >= 0"
    missing = runner.invoke(app, ["sweep", "status", "--store", str(tmp_path / "none.sqlite")])
    assert missing.exit_code == 2 and missing.stderr.startswith("error: store: got ")
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all" * 100)
    garbled = runner.invoke(app, ["sweep", "status", "--store", str(junk)])
    assert garbled.exit_code == 2, garbled.output
    assert garbled.stderr.startswith("error: store: got ") and "Traceback" not in garbled.output
    with pytest.raises(
        ConfigError, match=r"^store: got '.*junk\.sqlite'; allowed: an overparam results"
    ):
        stored_listed(junk)
