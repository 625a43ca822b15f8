"""``overparam critical-width``: the smallest width at which GD reaches a target (no math here)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from overparam.cli.common import print_json, user_errors
from overparam.cli.sweep import ExecutorChoice, RunProgress
from overparam.data.labels import Labels
from overparam.models.activations import Activation
from overparam.models.parameterization import Parameterization
from overparam.store.sqlite import DEFAULT_PATH

# 1% of the initial loss: far enough below L(W_0) that fitting, not luck, decides success.
DEFAULT_TARGET_RATIO = 0.01


def register(app: typer.Typer) -> None:
    @app.command("critical-width")
    def critical_width_cmd(
        config: Path | None = typer.Option(None, "--config", help="Base RunConfig TOML / JSON."),
        parameterization: Parameterization | None = typer.Option(None, help="Parameterization."),
        depth: int | None = typer.Option(None, help="Depth: the paper's L."),
        n: int | None = typer.Option(None, help="Training samples."),
        d: int | None = typer.Option(None, help="Input dimension."),
        k: int | None = typer.Option(None, help="Output dimension."),
        data: str | None = typer.Option(None, help="sphere, close-pair or digits."),
        phi: float | None = typer.Option(None, help="Close-pair distance."),
        min_separation: float | None = typer.Option(None, help="Enforced separation phi."),
        labels: Labels | None = typer.Option(None, help="Synthetic labels."),
        activation: Activation | None = typer.Option(None, help="Activation."),
        lr: str | None = typer.Option(None, help="Step size: a number, auto or theory."),
        lr_scale: float | None = typer.Option(None, help="Multiplies the step size."),
        dtype: str | None = typer.Option(None, help="float32 or float64."),
        width_min: int = typer.Option(8, help="First width of the log2 grid."),
        width_max: int = typer.Option(8192, help="Largest width tried."),
        seeds: int = typer.Option(5, help="Seeds per width (0..seeds-1)."),
        target_ratio: float | None = typer.Option(
            None, help=f"Success: L <= ratio * L(W0) (default {DEFAULT_TARGET_RATIO})."
        ),
        target_loss: float | None = typer.Option(None, help="Success: L <= this."),
        max_steps: int = typer.Option(1000, help="GD step budget per run."),
        success: float = typer.Option(0.9, help="Fraction of seeds that must succeed."),
        rel_tol: float = typer.Option(0.02, help="Bisection stops at hi - lo <= rel_tol * hi."),
        store: Path = typer.Option(DEFAULT_PATH, "--store", help="SQLite results database."),
        executor: ExecutorChoice = typer.Option(ExecutorChoice.BATCHED, help="Where runs train."),
        workers: int | None = typer.Option(None, help="Processes or Ray tasks."),
        address: str | None = typer.Option(
            None, help="Ray cluster address ('auto': an existing cluster); ray only."
        ),
        json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Smallest width (log2 grid, then bisection) at which GD reaches the target within
        --max-steps for at least --success of the seeds; every run is stored."""
        from overparam.config import build_config, load_config_file
        from overparam.sweep import critical_width

        with user_errors():
            base = load_config_file(config) if config is not None else {}
            lr_value: float | str | None = lr
            if lr is not None and lr not in ("auto", "theory"):
                try:
                    lr_value = float(lr)
                except ValueError:
                    lr_value = lr
            cfg = build_config(
                base,
                parameterization=parameterization,
                depth=depth,
                n=n,
                d=d,
                k=k,
                data=data,
                phi=phi,
                min_separation=min_separation,
                labels=labels,
                activation=activation,
                lr=lr_value,
                lr_scale=lr_scale,
                dtype=dtype,
            )
            if target_ratio is None and target_loss is None:
                target_ratio = DEFAULT_TARGET_RATIO
            show = sys.stderr.isatty() and not json_out
            with RunProgress("critical-width", show) as bar:
                result = critical_width(
                    cfg,
                    target_loss=target_loss,
                    target_ratio=target_ratio,
                    max_steps=max_steps,
                    success=success,
                    seeds=seeds,
                    width_min=width_min,
                    width_max=width_max,
                    rel_tol=rel_tol,
                    store=store,
                    executor=executor.value,
                    workers=workers,
                    address=address,
                    progress=bar,
                )
        if json_out:
            print_json(result.to_dict())
            return
        tried = ", ".join(f"{w}: {r:.2f}" for w, r in result.evaluations)
        if result.found:
            typer.echo(
                f"critical width {result.width} (success rate {result.success_rate:.2f} over "
                f"{len(result.seeds)} seeds)"
            )
        else:
            typer.echo(f"no width up to {width_max} reached the target")
        typer.echo(f"  success rate by width: {tried}")
        typer.echo(f"  stored as {result.experiment} in {result.store}")
