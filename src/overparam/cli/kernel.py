"""``overparam kernel``: the infinite-width NTK of a network on sphere data (no math here)."""

from __future__ import annotations

import typer

from overparam.cli.common import print_json, user_errors
from overparam.models.activations import Activation
from overparam.models.parameterization import Parameterization
from overparam.progress import Reporter


def check_memory(*, n: int, d: int, depth: int, activation: str, seed: int) -> None:
    """Sizes and seed valid, and the n x n recursion arrays within memory (overparam.memory)."""
    from overparam.errors import require_int, require_seed
    from overparam.memory import analytic_bytes, check_fits

    sizes = {"n": require_int("n", n), "d": require_int("d", d)}
    require_int("depth", depth)
    require_seed("seed", seed)

    def estimate(s: dict[str, int]) -> int:
        return analytic_bytes(**s, depth=depth, activation=activation)

    check_fits(f"kernel, n {n}", estimate(sizes), sizes, estimate)


def register(app: typer.Typer) -> None:
    @app.command()
    def kernel(
        n: int = typer.Option(1000, help="Samples."),
        d: int = typer.Option(64, help="Input dimension."),
        depth: int = typer.Option(3, help="Depth: the paper's L (hidden layers for ntk)."),
        activation: Activation = typer.Option(Activation.RELU),
        parameterization: Parameterization = typer.Option(Parameterization.NTK),
        weight_std: float = typer.Option(2**0.5, help="sigma_w (ntk / standard)."),
        bias_std: float = typer.Option(0.0, help="sigma_b (ntk / standard)."),
        mu: float = typer.Option(0.5, help="Last input coordinate, in (0, 1)."),
        seed: int = typer.Option(0, help="Data seed."),
        quiet: bool = typer.Option(False, "--quiet", help="No progress (bar or lines)."),
        json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Analytic (infinite-width) NTK: seconds, shape, trace, lambda_min and lambda_max."""
        from overparam.ntk.analytic import analytic_summary

        with user_errors():
            check_memory(n=n, d=d, depth=depth, activation=str(activation), seed=seed)
        # stderr only; plain lines once it has taken a second, then every 10 s.
        with (
            user_errors(),
            Reporter(f"kernel n={n} L={depth}", "", delay=1.0, transient=True, enabled=not quiet),
        ):
            out = analytic_summary(
                n=n,
                d=d,
                depth=depth,
                activation=activation,
                parameterization=parameterization,
                weight_std=weight_std,
                bias_std=bias_std,
                mu=mu,
                seed=seed,
            )
        if json_out:
            print_json(out)
            return
        from rich.console import Console
        from rich.table import Table

        table = Table(title="analytic NTK")
        table.add_column("quantity")
        table.add_column("value", justify="right")
        for key, value in out.items():
            table.add_row(key, f"{value:.6g}" if isinstance(value, float) else str(value))
        Console().print(table)
