"""``overparam ntk``: the empirical NTK of one network on sphere data."""

from __future__ import annotations

import typer

from overparam.cli.common import check_device, print_json, user_errors
from overparam.models.activations import Activation
from overparam.models.parameterization import Parameterization
from overparam.ntk.empirical import Method
from overparam.progress import Reporter


def check_sizes(*, n: int, d: int, width: int, depth: int, k: int, seed: int, dtype: str) -> None:
    """Each size a positive int (named as its option), the seed and the dtype valid."""
    from overparam.errors import require_int, require_seed
    from overparam.models.base import resolve_dtype

    for field, value in (("n", n), ("d", d), ("width", width), ("depth", depth), ("k", k)):
        require_int(field, value)
    require_seed("seed", seed)
    resolve_dtype(dtype)


def check_memory(
    *, n: int, d: int, width: int, depth: int, k: int, dtype: str, device: str
) -> None:
    """Refuse sizes whose kernel, factors and network cannot fit (see overparam.memory)."""
    from overparam.memory import check_fits, ntk_bytes

    sizes = {"n": n, "d": d, "width": width, "depth": depth, "k": k}

    def estimate(s: dict[str, int]) -> int:
        return ntk_bytes(**s, dtype=dtype)

    what = f"ntk, n {n}, k {k}, width {width}, depth {depth}"
    check_fits(what, estimate(sizes), sizes, estimate, device=device)


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
        quiet: bool = typer.Option(False, "--quiet", help="No progress (bar or lines)."),
        json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Empirical NTK: seconds, shape, trace, lambda_min and lambda_max."""
        from overparam.ntk.summary import empirical_summary

        with user_errors():
            check_sizes(n=n, d=d, width=width, depth=depth, k=k, seed=seed, dtype=dtype)
            check_device(device)
            check_memory(n=n, d=d, width=width, depth=depth, k=k, dtype=dtype, device=device)
        # stderr only; plain lines once it has taken a second, then every 10 s.
        with (
            user_errors(),
            Reporter(
                f"ntk n={n} m={width} L={depth}", "", delay=1.0, transient=True, enabled=not quiet
            ),
        ):
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
