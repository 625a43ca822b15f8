"""``overparam train``: one run from flags and/or a config file."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from overparam.cli.common import print_json, user_errors
from overparam.data.digits import DigitsTask
from overparam.data.labels import Labels
from overparam.errors import ConfigError
from overparam.models.activations import Activation
from overparam.models.parameterization import Parameterization
from overparam.progress import TrainProgress


def _choices(enum: type[StrEnum]) -> str:
    """The values of a str-Enum for --help. The options themselves are plain strings so that a
    bad value reaches RunConfig and fails with the one-line ``error: <field>: ...`` (exit 2)
    rather than click's multi-line usage box."""
    return ", ".join(e.value for e in enum)


def _help(text: str, field: str) -> str:
    """``text`` and the RunConfig default of ``field`` ("[default: 256]"), read from
    ``RunConfig.model_fields`` so the help never disagrees with the config."""
    from rich.markup import escape

    from overparam.config import RunConfig, field_allowed

    info = RunConfig.model_fields[field]
    value = info.default
    shown = value.value if isinstance(value, StrEnum) else value
    if field in ("data", "parameterization"):  # the default follows --arch
        shown = info.description
    elif field == "n":
        shown = f"{value}; digits: all"
    elif value is None or value == ():
        # "..., or None (what None means)" from the field's validator
        _, sep, meaning = field_allowed(field).rpartition("or None (")
        shown = meaning.removesuffix(")") if sep and field != "phi" else "none"
    return f"{text} {escape(f'[default: {shown}]')}"


def register(app: typer.Typer) -> None:
    @app.command()
    def train(
        config: Path | None = typer.Option(None, "--config", help="TOML or JSON RunConfig file."),
        data: str | None = typer.Option(
            None,
            help=_help("sphere, close-pair, digits, sbm or karate (graphs: --arch gnn).", "data"),
        ),
        n: str | None = typer.Option(
            None, help=_help("Training samples; 'all' keeps the whole digits train split.", "n")
        ),
        d: int | None = typer.Option(
            None, help=_help("Input dimension (sphere, close-pair).", "d")
        ),
        k: int | None = typer.Option(None, help=_help("Output dimension.", "k")),
        mu: float | None = typer.Option(
            None, help=_help("Last input coordinate, in (0, 1).", "mu")
        ),
        min_separation: float | None = typer.Option(
            None, help=_help("Enforced separation phi.", "min_separation")
        ),
        phi: float | None = typer.Option(None, help=_help("Close-pair distance.", "phi")),
        labels: str | None = typer.Option(
            None, help=_help(f"Synthetic labels: {_choices(Labels)}.", "labels")
        ),
        task: str | None = typer.Option(
            None, help=_help(f"Digits task: {_choices(DigitsTask)}.", "task")
        ),
        noise: float | None = typer.Option(
            None, help=_help("Random-label fraction (digits).", "noise")
        ),
        blocks: int | None = typer.Option(None, help=_help("SBM communities.", "blocks")),
        p_in: float | None = typer.Option(
            None, help=_help("SBM edge probability inside a block.", "p_in")
        ),
        p_out: float | None = typer.Option(
            None, help=_help("SBM edge probability across blocks.", "p_out")
        ),
        feature_noise: float | None = typer.Option(
            None, help=_help("SBM node-feature noise.", "feature_noise")
        ),
        arch: str | None = typer.Option(
            None, help=_help("Architecture: fc, resnet, cnn or gnn.", "arch")
        ),
        width: int | None = typer.Option(None, help=_help("Width m.", "width")),
        depth: int | None = typer.Option(None, help=_help("Depth: the paper's L.", "depth")),
        parameterization: str | None = typer.Option(
            None, help=_help(f"Parameterization: {_choices(Parameterization)}.", "parameterization")
        ),
        activation: str | None = typer.Option(
            None, help=_help(f"Activation: {_choices(Activation)}.", "activation")
        ),
        trainable: str | None = typer.Option(
            None, help=_help("hidden, all, or layer names.", "trainable")
        ),
        bias_std: float | None = typer.Option(
            None, help=_help("Bias std (ntk, standard).", "bias_std")
        ),
        tau: float | None = typer.Option(
            None, help=_help("Residual scale (resnet, allen-zhu).", "tau")
        ),
        c_res: float | None = typer.Option(
            None, help=_help("Residual constant (resnet / cnn, du).", "c_res")
        ),
        kernel_size: int | None = typer.Option(
            None, help=_help("Convolution kernel side (cnn).", "kernel_size")
        ),
        skip: bool | None = typer.Option(
            None, "--skip/--no-skip", help=_help("JK read-out (gnn).", "skip")
        ),
        algorithm: str | None = typer.Option(
            None, help=_help("gd, sgd or online-sgd.", "algorithm")
        ),
        lr: str | None = typer.Option(
            None, help=_help("Step size: a number, auto or theory.", "lr")
        ),
        lr_scale: float | None = typer.Option(
            None, help=_help("Multiplies the step size.", "lr_scale")
        ),
        steps: int | None = typer.Option(None, help=_help("Step budget.", "steps")),
        batch: int | None = typer.Option(None, help=_help("SGD minibatch size.", "batch")),
        loss: str | None = typer.Option(
            None, help=_help("square, logistic or cross-entropy.", "loss")
        ),
        reduction: str | None = typer.Option(None, help=_help("sum or mean.", "reduction")),
        target_loss: float | None = typer.Option(
            None, help=_help("Stop at this loss.", "target_loss")
        ),
        target_ratio: float | None = typer.Option(
            None, help=_help("Stop at this fraction of L(W0).", "target_ratio")
        ),
        seed: int | None = typer.Option(
            None, help=_help("Seed (data, init and order streams).", "seed")
        ),
        dtype: str | None = typer.Option(None, help=_help("float32 or float64.", "dtype")),
        device: str | None = typer.Option(None, help=_help("cpu, cuda, cuda:N.", "device")),
        probe: list[str] | None = typer.Option(
            None, "--probe", help=_help("Probe name, or all.", "probes")
        ),
        probe_every: int | None = typer.Option(
            None, help=_help("Probe every k steps (default: log).", "probe_every")
        ),
        quiet: bool = typer.Option(False, "--quiet", help="No progress (bar or lines)."),
        json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Train one network; flags override the config file."""
        from overparam.cli.common import check_device
        from overparam.config import build_config, load_config_file
        from overparam.memory import check_train
        from overparam.run import run, summary

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
            check_device(cfg.device)
            if cfg.probes:  # unknown probe names fail here, not after the data are built
                from overparam.probes import make_probes

                make_probes(cfg.probes, every=cfg.probe_every)
            check_train(cfg)  # sizes that cannot fit stop here, before anything is allocated
            # stderr only: a rich bar on a terminal; else plain lines once a run takes 10 s.
            with TrainProgress(enabled=not quiet) as bar:
                history = run(cfg, callbacks=[] if quiet else [bar])
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
