"""``overparam critical-width``: the smallest width at which GD reaches a target (no math here)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from overparam import progress
from overparam.cli.common import check_device, print_json, user_errors
from overparam.cli.sweep import ExecutorChoice
from overparam.data.labels import Labels
from overparam.errors import ConfigError, require_int
from overparam.models.activations import Activation
from overparam.models.parameterization import Parameterization
from overparam.progress import Reporter
from overparam.store.sqlite import DEFAULT_PATH

if TYPE_CHECKING:
    from overparam.config import RunConfig

# 1% of the initial loss: far enough below L(W_0) that fitting, not luck, decides success.
DEFAULT_TARGET_RATIO = 0.01


def check_memory(cfg: RunConfig, width_max: int, seeds: int, *, batched: bool) -> None:
    """The widest run of the search (all seeds at once when batched) within memory."""
    from overparam.memory import check_fits, train_estimate
    from overparam.sweep.critical import MAX_SEEDS

    require_int("width_max", width_max)
    require_int("seeds", seeds, 1, MAX_SEEDS)
    copies = seeds if batched else 1
    sizes = {"width_max": width_max, "depth": cfg.depth}
    if cfg.n is not None:
        sizes["n"] = cfg.n

    def estimate(s: Mapping[str, int]) -> int:
        update = {"width": s["width_max"], "depth": s["depth"]}
        if "n" in s:
            update["n"] = s["n"]
        return copies * train_estimate(cfg.model_copy(update=update)).bytes

    what = f"critical-width, {copies} runs at width {width_max}, depth {cfg.depth}"
    check_fits(what, estimate(sizes), sizes, estimate, device=cfg.device)


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
        quiet: bool = typer.Option(False, "--quiet", help="No progress (bars or lines)."),
        json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Smallest width (log2 grid, then bisection) at which GD reaches the target within
        --max-steps for at least --success of the seeds; every run is stored."""
        from overparam.config import build_config, load_config_file
        from overparam.sweep import critical_width
        from overparam.sweep.critical import validate_search

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
            if target_ratio is not None and target_loss is not None:
                # the same rule, and words, as a [critical] table of a sweep spec
                raise ConfigError(
                    "target_loss", target_loss, "exactly one of target_loss, target_ratio"
                )
            if target_ratio is None and target_loss is None:
                target_ratio = DEFAULT_TARGET_RATIO
            check_device(cfg.device)
            require_int("width_max", width_max)
            if store.is_dir():
                raise ConfigError("store", str(store), "a results database file (this is a folder)")
            validate_search(
                target_loss, target_ratio, max_steps, success, seeds, width_min, width_max, rel_tol
            )
            if workers is not None:
                require_int("workers", workers)
            check_memory(cfg, width_max, seeds, batched=executor.value == "batched")
            # Runs so far: the bisection adds runs as it goes.
            with Reporter(
                "critical-width", "runs", delay=progress.COMMAND_DELAY_S, enabled=not quiet
            ) as bar:
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
