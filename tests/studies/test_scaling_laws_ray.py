"""The cluster path of ``scaling-laws`` as the README documents it: ``ray start --head``, then
``overparam reproduce --only scaling-laws --executor ray --address auto``, here against a local
Ray instance with 2 worker CPUs at the quick scale. Every search must evaluate the same widths
with the same outcomes as the local executor, every run must have been trained by Ray, and a
second invocation must find all of them in the store."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

ray = pytest.importorskip("ray")

pytestmark = [
    pytest.mark.slow,  # the quick scale twice (local and Ray), and a Ray head to start
    pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning"),
]

RAY_CLI = [sys.executable, "-m", "ray.scripts.scripts"]  # this interpreter's `ray` command
ENV = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}


@pytest.fixture
def ray_head():
    """A head node with 2 CPUs, started and stopped with the ``ray`` command line."""
    if ray.is_initialized():
        ray.shutdown()
    start = [*RAY_CLI, "start", "--head", "--num-cpus=2", "--include-dashboard=false",
             "--disable-usage-stats"]  # fmt: skip
    out = subprocess.run(start, capture_output=True, text=True, env=ENV, timeout=180)
    if out.returncode != 0:
        pytest.fail(f"ray start --head failed:\n{out.stdout}\n{out.stderr}")
    try:
        yield
    finally:
        subprocess.run([*RAY_CLI, "stop", "--force"], capture_output=True, env=ENV, timeout=180)


def _reproduce(out) -> dict:
    from typer.testing import CliRunner

    from overparam.cli import app

    args = ["reproduce", "--only", "scaling-laws", "--scale", "quick", "--executor", "ray",
            "--address", "auto", "--out", str(out), "--json", "--quiet"]  # fmt: skip
    result = CliRunner().invoke(app, args, env={"RAY_USAGE_STATS_ENABLED": "0"})
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_the_quick_scale_on_a_ray_cluster_matches_local_and_resumes(
    tmp_path, ray_head, scaling_laws_quick
):
    from overparam.store import load

    local_path, _ = scaling_laws_quick
    first = _reproduce(tmp_path)
    remote = load(tmp_path / "results.sqlite").runs
    local = load(local_path).runs
    assert first["executed_runs"] == len(remote) == len(local)
    assert set(remote["executor"]) == {"ray"}
    a = local.set_index("config_hash").sort_index()
    b = remote.set_index("config_hash").sort_index()
    assert a.index.equals(b.index)  # the bisections evaluated the same (width, seed) configs
    assert (a["train_status"] == b["train_status"]).all()
    assert (a["steps_run"] == b["steps_run"]).all()
    np.testing.assert_allclose(a["lr_used"].to_numpy(float), b["lr_used"].to_numpy(float),
                               rtol=1e-6)  # fmt: skip
    again = _reproduce(tmp_path)
    assert again["executed_runs"] == 0
    assert again["claims"] == first["claims"]
