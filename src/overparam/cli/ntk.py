"""``overparam ntk``: the empirical NTK of one network on sphere data."""

from __future__ import annotations

import typer

from overparam.cli.common import print_json, user_errors
from overparam.models.activations import Activation
from overparam.models.parameterization import Parameterization
from overparam.ntk.empirical import Method


def register(app: typer.Typer) -> None:
    @app.command()
    def ntk(
        n: int = typer.Option(256, help="Samples."),
        d: int = typer.Option(64, help="Input dimension."),
        width: int = typer.Option(1024, help="Width m."),
        depth: int = typer.Option(3, help="Depth: the paper's L."),
        k: int = typer.Option(1, help="Outputs."),
        parameterization: Parameterization = typer.Option(Parameterization.NTK),
        activation: Activation = typer.Option(Activation.RELU),
        method: Method = typer.Option(Method.STRUCTURED, help="structured or autograd."),
        mu: float = typer.Option(0.5, help="Last input coordinate."),
        seed: int = typer.Option(0),
        dtype: str = typer.Option("float32", help="float32 or float64."),
        device: str = typer.Option("cpu"),
        normalize: bool = typer.Option(
            False,
            help="Divide by kernel_scale (m for allen-zhu, zou-gu, cao-gu) to compare "
            "with the analytic kernel.",
        ),
        json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Empirical NTK: seconds, shape, trace, lambda_min and lambda_max."""
        from overparam.ntk.summary import empirical_summary

        with user_errors():
            out = empirical_summary(
                n=n,
                d=d,
                width=width,
                depth=depth,
                k=k,
                parameterization=parameterization,
                activation=activation,
                method=method,
                mu=mu,
                seed=seed,
                dtype=dtype,
                device=device,
                normalize=normalize,
            )
        if json_out:
            print_json(out)
        else:
            from rich.console import Console
            from rich.table import Table

            table = Table(title="empirical NTK")
            for key in out:
                table.add_column(key)
            table.add_row(*(f"{v:.6g}" if isinstance(v, float) else str(v) for v in out.values()))
            Console().print(table)
