"""The ray executor on a local Ray instance stores what the local executor stores."""

from __future__ import annotations

import numpy as np
import pytest

from overparam.store import load
from overparam.sweep import parse_spec, run_sweep

ray = pytest.importorskip("ray")

pytestmark = [
    pytest.mark.slow,  # starting Ray takes ~10-30 s
    # lr="auto" uses torch.func.jvp, whose first use imports a module calling torch.jit.script.
    pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning"),
]

SPEC = {
    "name": "ray-vs-local",
    "base": {
        "parameterization": "zou-gu",
        "n": 8,
        "d": 4,
        "depth": 2,
        "steps": 50,
        "dtype": "float64",
    },
    "grid": {"width": [8, 16], "seed": [0, 1], "lr": ["auto", 1e4]},
}


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.mark.parametrize("mode", ["ray", "ray-batched"])
def test_ray_matches_local(tmp_path, local_ray, mode):
    from overparam.sweep.executors import RayExecutor

    spec = parse_spec(SPEC)
    local = run_sweep(spec, store=tmp_path / "local.sqlite", executor="local", workers=1)
    executor = RayExecutor(mode="batched" if mode == "ray-batched" else "one")
    remote = run_sweep(spec, store=tmp_path / "ray.sqlite", executor=executor)
    executor.close()
    assert local_ray.is_initialized()  # an instance the caller started is left running
    assert remote.complete and remote.counts == local.counts
    assert remote.counts["diverged"] == 4 and remote.counts["done"] == 4
    a, b = load(tmp_path / "local.sqlite"), load(tmp_path / "ray.sqlite")
    ra = a.runs.set_index("config_hash")
    rb = b.runs.set_index("config_hash").loc[ra.index]
    assert (rb["executor"] == "ray").all()
    assert (ra["status"] == rb["status"]).all() and (ra["steps_run"] == rb["steps_run"]).all()
    np.testing.assert_allclose(ra["lr_used"], rb["lr_used"], rtol=1e-12)
    la = a.losses.merge(a.runs[["id", "config_hash"]], left_on="run_id", right_on="id")
    lb = b.losses.merge(b.runs[["id", "config_hash"]], left_on="run_id", right_on="id")
    la, lb = (x.set_index(["config_hash", "step"]).sort_index()["loss"] for x in (la, lb))
    assert la.index.equals(lb.index)
    np.testing.assert_allclose(la.to_numpy(), lb.to_numpy(), rtol=1e-10)


def test_cli_runs_the_shipped_quick_spec_on_ray(tmp_path, local_ray):
    import json

    from typer.testing import CliRunner

    from overparam.cli import app

    store = tmp_path / "r.sqlite"
    args = ["sweep", "run", "quick", "--store", str(store), "--executor", "ray", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["complete"] and out["executor"] == "ray" and out["counts"]["done"] == 6
    assert set(load(store).runs["executor"]) == {"ray"}
