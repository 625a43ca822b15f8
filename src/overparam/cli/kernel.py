"""``overparam kernel``: the infinite-width NTK of a network on sphere data (no math here).

With ``--out FILE.npy`` the kernel goes to a file in blocks of rows
(:mod:`overparam.ntk.to_disk`) and no eigenvalue is computed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import typer

from overparam.cli.common import print_json, user_errors
from overparam.models.activations import Activation
from overparam.models.parameterization import Parameterization
from overparam.ntk.to_disk import DEFAULT_ROWS, KernelKind, check_space, file_bytes
from overparam.progress import Reporter


def check_memory(
    *, n: int, d: int, depth: int, activation: str, seed: int, rows: int | None = None
) -> None:
    """Sizes and seed valid, and the n x n recursion arrays (or, with ``rows``, one block of
    rows and the inputs) within memory (overparam.memory)."""
    from overparam.errors import require_int, require_seed
    from overparam.memory import analytic_bytes, analytic_rows_bytes, check_fits

    sizes = {"n": require_int("n", n), "d": require_int("d", d)}
    require_int("depth", depth)
    require_seed("seed", seed)
    if rows is not None:
        import torch

        sizes["rows"] = rows

        def estimate_rows(s: Mapping[str, int]) -> int:
            return analytic_rows_bytes(
                n=s["n"],
                n2=s["n"],
                d=s["d"],
                depth=depth,
                rows=s["rows"],
                activation=activation,
                threads=torch.get_num_threads(),
            )

        check_fits(f"kernel --out, n {n}, rows {rows}", estimate_rows(sizes), sizes, estimate_rows)
        return

    def estimate(s: Mapping[str, int]) -> int:
        return analytic_bytes(**s, depth=depth, activation=activation)

    check_fits(f"kernel, n {n}", estimate(sizes), sizes, estimate)


def check_out_options(
    *, out: str | None, rows: int | None, dtype: str | None, kernel: str | None
) -> dict[str, Any] | None:
    """The --out file, its block of rows, dtype and kernel as keyword arguments of
    :func:`overparam.ntk.to_disk.sphere_analytic_to_npy` (None without --out, where the other
    three are refused)."""
    from overparam.errors import ConfigError
    from overparam.ntk.to_disk import (
        check_dtype,
        check_kernel,
        check_out,
        check_rows,
    )

    if out is None:
        for field, value in (("rows", rows), ("dtype", dtype), ("kernel", kernel)):
            if value is not None:
                raise ConfigError(field, value, "this option only together with --out FILE.npy")
        return None
    options = {
        "path": check_out(out),
        "rows": check_rows(DEFAULT_ROWS if rows is None else rows),
        "dtype": check_dtype("float32" if dtype is None else dtype),
        "kernel": check_kernel("ntk" if kernel is None else kernel),
    }
    return options


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
        out: str | None = typer.Option(
            None, "--out", help="Write the kernel to this .npy file, in blocks of rows."
        ),
        rows: int | None = typer.Option(
            None, help=f"Rows per block with --out (default {DEFAULT_ROWS})."
        ),
        dtype: str | None = typer.Option(
            None, help="File dtype with --out: float32 (default) or float64."
        ),
        kernel_kind: KernelKind | None = typer.Option(
            None, "--kernel", help="Kernel written with --out: ntk (default) or nngp."
        ),
        quiet: bool = typer.Option(False, "--quiet", help="No progress (bar or lines)."),
        json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Analytic (infinite-width) NTK: seconds, shape, trace, lambda_min and lambda_max;
        with --out, the kernel written to a .npy file (no eigenvalues) and its path, shape,
        dtype, seconds, trace, diagonal range, block rows and peak block memory."""
        from overparam.ntk.analytic import analytic_summary

        with user_errors():
            kind = None if kernel_kind is None else kernel_kind.value
            to_disk = check_out_options(out=out, rows=rows, dtype=dtype, kernel=kind)
            block_rows = None if to_disk is None else to_disk["rows"]
            check_memory(
                n=n, d=d, depth=depth, activation=str(activation), seed=seed, rows=block_rows
            )
            if to_disk is not None:  # after the memory check, which names the size to reduce
                check_space(to_disk["path"], file_bytes((n, n), to_disk["dtype"]))
        if to_disk is not None:
            _to_disk(
                to_disk,
                n=n,
                d=d,
                depth=depth,
                activation=activation,
                parameterization=parameterization,
                weight_std=weight_std,
                bias_std=bias_std,
                mu=mu,
                seed=seed,
                quiet=quiet,
                json_out=json_out,
            )
            return
        # stderr only; plain lines once it has taken a second, then every 10 s.
        with (
            user_errors(),
            Reporter(f"kernel n={n} L={depth}", "", delay=1.0, transient=True, enabled=not quiet),
        ):
            summary = analytic_summary(
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
            print_json(summary)
            return
        from rich.console import Console
        from rich.table import Table

        table = Table(title="analytic NTK")
        table.add_column("quantity")
        table.add_column("value", justify="right")
        for key, value in summary.items():
            table.add_row(key, f"{value:.6g}" if isinstance(value, float) else str(value))
        Console().print(table)


def _to_disk(
    to_disk: dict[str, Any],
    *,
    n: int,
    depth: int,
    activation: Activation,
    parameterization: Parameterization,
    quiet: bool,
    json_out: bool,
    **kwargs: Any,
) -> None:
    """``kernel --out``: the file in blocks of rows, a progress bar over rows, the summary."""
    from overparam.ntk.to_disk import sphere_analytic_to_npy

    with (
        user_errors(),
        Reporter(f"kernel n={n} L={depth}", "rows", n, delay=1.0, enabled=not quiet) as bar,
    ):
        result = sphere_analytic_to_npy(
            n=n,
            depth=depth,
            activation=activation,
            parameterization=parameterization,
            progress=bar,
            **to_disk,
            **kwargs,
        )
    out = {
        **result.summary(),
        "kernel": to_disk["kernel"],
        "parameterization": str(parameterization.value),
        "activation": str(activation.value),
        "depth": depth,
    }
    if json_out:
        print_json(out)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"analytic {to_disk['kernel'].upper()} on disk")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    for key, value in out.items():
        table.add_row(key, f"{value:.6g}" if isinstance(value, float) else str(value))
    Console().print(table)
