"""``overparam train``: one run from flags and/or a config file."""

from __future__ import annotations

from pathlib import Path

import typer

from overparam.cli.common import is_terminal, print_json, user_errors
from overparam.data.digits import DigitsTask
from overparam.data.labels import Labels
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


def register(app: typer.Typer) -> None:
    @app.command()
    def train(
        config: Path | None = typer.Option(None, "--config", help="TOML or JSON RunConfig file."),
        data: str | None = typer.Option(None, help="sphere, close-pair or digits."),
        n: int | None = typer.Option(None, help="Training samples."),
        d: int | None = typer.Option(None, help="Input dimension (sphere, close-pair)."),
        k: int | None = typer.Option(None, help="Output dimension."),
        mu: float | None = typer.Option(None, help="Last input coordinate, in (0, 1)."),
        min_separation: float | None = typer.Option(None, help="Enforced separation phi."),
        phi: float | None = typer.Option(None, help="Close-pair distance."),
        labels: Labels | None = typer.Option(None, help="Synthetic labels."),
        task: DigitsTask | None = typer.Option(None, help="Digits task."),
        noise: float | None = typer.Option(None, help="Random-label fraction (digits)."),
        arch: str | None = typer.Option(None, help="Architecture."),
        width: int | None = typer.Option(None, help="Width m."),
        depth: int | None = typer.Option(None, help="Depth: the paper's L."),
        parameterization: Parameterization | None = typer.Option(None, help="Parameterization."),
        activation: Activation | None = typer.Option(None, help="Activation."),
        trainable: str | None = typer.Option(None, help="hidden, all, or layer names."),
        bias_std: float | None = typer.Option(None, help="Bias std (ntk, standard)."),
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
            lr_value: float | str | None = lr
            if lr is not None and lr not in ("auto", "theory"):
                try:
                    lr_value = float(lr)
                except ValueError:
                    lr_value = lr
            cfg = build_config(
                base,
                data=data,
                n=n,
                d=d,
                k=k,
                mu=mu,
                min_separation=min_separation,
                phi=phi,
                labels=labels,
                task=task,
                noise=noise,
                arch=arch,
                width=width,
                depth=depth,
                parameterization=parameterization,
                activation=activation,
                trainable=trainable,
                bias_std=bias_std,
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
            f"[bold]{cfg.parameterization}[/] m={cfg.width} L={cfg.depth} n={history.config['n']}"
            f"  status={history.status}  steps={history.steps}  lr={history.lr:.4g}"
        )
        console.print(
            f"loss {history.initial_loss:.4e} -> {history.final_loss:.4e}  "
            f"train acc {history.train_accuracy}  wall {history.wall_s:.2f}s"
        )
