"""``overparam train``: one run from flags and/or a config file."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from overparam.cli.common import is_terminal, print_json, user_errors
from overparam.data.digits import DigitsTask
from overparam.data.labels import Labels
from overparam.errors import ConfigError
from overparam.models.activations import Activation
from overparam.models.parameterization import Parameterization


class ProgressBar:
    """A rich progress bar (step, loss, rate, ETA) as a training callback."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("[bold]train"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.3e}"),
            TextColumn("{task.speed} it/s"),
            TimeRemainingColumn(),
        )
        self.task = None

    def on_start(self, state) -> None:
        self.progress.start()
        self.task = self.progress.add_task("train", total=state.steps, loss=float("nan"))

    def on_step(self, state) -> None:
        self.progress.update(self.task, completed=state.step, loss=state.loss)

    def on_end(self, state) -> None:
        self.progress.stop()


def _choices(enum: type[StrEnum]) -> str:
    """The values of a str-Enum for --help. The options themselves are plain strings so that a
    bad value reaches RunConfig and fails with the one-line ``error: <field>: ...`` (exit 2)
    rather than click's multi-line usage box."""
    return ", ".join(e.value for e in enum)


def register(app: typer.Typer) -> None:
    @app.command()
    def train(
        config: Path | None = typer.Option(None, "--config", help="TOML or JSON RunConfig file."),
        data: str | None = typer.Option(
            None, help="sphere, close-pair, digits, sbm or karate (graphs: --arch gnn)."
        ),
        n: str | None = typer.Option(
            None, help="Training samples; 'all' keeps the whole digits train split."
        ),
        d: int | None = typer.Option(None, help="Input dimension (sphere, close-pair)."),
        k: int | None = typer.Option(None, help="Output dimension."),
        mu: float | None = typer.Option(None, help="Last input coordinate, in (0, 1)."),
        min_separation: float | None = typer.Option(None, help="Enforced separation phi."),
        phi: float | None = typer.Option(None, help="Close-pair distance."),
        labels: str | None = typer.Option(None, help=f"Synthetic labels: {_choices(Labels)}."),
        task: str | None = typer.Option(None, help=f"Digits task: {_choices(DigitsTask)}."),
        noise: float | None = typer.Option(None, help="Random-label fraction (digits)."),
        blocks: int | None = typer.Option(None, help="SBM communities."),
        p_in: float | None = typer.Option(None, help="SBM edge probability inside a block."),
        p_out: float | None = typer.Option(None, help="SBM edge probability across blocks."),
        feature_noise: float | None = typer.Option(None, help="SBM node-feature noise."),
        arch: str | None = typer.Option(None, help="Architecture: fc, resnet, cnn or gnn."),
        width: int | None = typer.Option(None, help="Width m."),
        depth: int | None = typer.Option(None, help="Depth: the paper's L."),
        parameterization: str | None = typer.Option(
            None, help=f"Parameterization: {_choices(Parameterization)}."
        ),
        activation: str | None = typer.Option(None, help=f"Activation: {_choices(Activation)}."),
        trainable: str | None = typer.Option(None, help="hidden, all, or layer names."),
        bias_std: float | None = typer.Option(None, help="Bias std (ntk, standard)."),
        tau: float | None = typer.Option(None, help="Residual scale (resnet, allen-zhu)."),
        c_res: float | None = typer.Option(None, help="Residual constant (resnet / cnn, du)."),
        kernel_size: int | None = typer.Option(None, help="Convolution kernel side (cnn)."),
        skip: bool | None = typer.Option(None, "--skip/--no-skip", help="JK read-out (gnn)."),
        algorithm: str | None = typer.Option(None, help="gd, sgd or online-sgd."),
        lr: str | None = typer.Option(None, help="Step size: a number, auto or theory."),
        lr_scale: float | None = typer.Option(None, help="Multiplies the step size."),
        steps: int | None = typer.Option(None, help="Step budget."),
        batch: int | None = typer.Option(None, help="SGD minibatch size."),
        loss: str | None = typer.Option(None, help="square, logistic or cross-entropy."),
        reduction: str | None = typer.Option(None, help="sum or mean."),
        target_loss: float | None = typer.Option(None, help="Stop at this loss."),
        target_ratio: float | None = typer.Option(None, help="Stop at this fraction of L(W0)."),
        seed: int | None = typer.Option(None, help="Seed (data, init and order streams)."),
        dtype: str | None = typer.Option(None, help="float32 or float64."),
        device: str | None = typer.Option(None, help="cpu, cuda, cuda:N."),
        probe: list[str] | None = typer.Option(None, "--probe", help="Probe name, or all."),
        probe_every: int | None = typer.Option(None, help="Probe every k steps (default: log)."),
        json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Train one network; flags override the config file."""
        from overparam.config import build_config, load_config_file
        from overparam.train.run import run, summary

        with user_errors():
            base = load_config_file(config) if config is not None else {}
            n_value = _parse_n(n)
            if n == "all":
                base = {**base, "n": None}  # None overrides are skipped by build_config
            lr_value: float | str | None = lr
            if lr is not None and lr not in ("auto", "theory"):
                try:
                    lr_value = float(lr)
                except ValueError:
                    lr_value = lr
            cfg = build_config(
                base,
                data=data,
                n=n_value,
                d=d,
                k=k,
                mu=mu,
                min_separation=min_separation,
                phi=phi,
                labels=labels,
                task=task,
                noise=noise,
                blocks=blocks,
                p_in=p_in,
                p_out=p_out,
                feature_noise=feature_noise,
                arch=arch,
                width=width,
                depth=depth,
                parameterization=parameterization,
                activation=activation,
                trainable=trainable,
                bias_std=bias_std,
                tau=tau,
                c_res=c_res,
                kernel_size=kernel_size,
                skip=skip,
                algorithm=algorithm,
                lr=lr_value,
                lr_scale=lr_scale,
                steps=steps,
                batch=batch,
                loss=loss,
                reduction=reduction,
                target_loss=target_loss,
                target_ratio=target_ratio,
                seed=seed,
                dtype=dtype,
                device=device,
                probes=tuple(probe) if probe else None,
                probe_every=probe_every,
            )
            callbacks = [ProgressBar()] if is_terminal() and not json_out else []
            history = run(cfg, callbacks=callbacks)
        out = summary(history)
        if history.records:
            from overparam.probes import summarize_records

            out["probes"] = summarize_records(history.records)
        if json_out:
            print_json(out)
            return
        from rich.console import Console

        console = Console()
        console.print(
            f"[bold]{cfg.arch} {cfg.parameterization}[/] m={cfg.width} L={cfg.depth}"
            f" n={history.config['n']}"
            f"  status={history.status}  steps={history.steps}  lr={history.lr:.4g}"
        )
        console.print(
            f"loss {history.initial_loss:.4e} -> {history.final_loss:.4e}  "
            f"train acc {history.train_accuracy}  wall {history.wall_s:.2f}s"
        )


def _parse_n(n: str | None) -> int | None:
    """``--n``: an integer, or 'all' (None: the whole digits train split)."""
    if n is None or n == "all":
        return None
    try:
        return int(n)
    except ValueError:
        raise ConfigError("n", n, "an integer >= 1, or 'all' for the whole digits split") from None
