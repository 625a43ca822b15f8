"""``overparam ntk``: the empirical NTK of one network on sphere data.

With ``--out FILE.npy`` the kernel goes to a file in blocks of rows
(:mod:`overparam.ntk.to_disk`) and no eigenvalue is computed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

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
    *,
    n: int,
    d: int,
    width: int,
    depth: int,
    k: int,
    dtype: str,
    device: str,
    rows: int | None = None,
) -> None:
    """Refuse sizes whose kernel, factors and network cannot fit (see overparam.memory); with
    ``rows`` (``--out``), the factors, the network and one block's tiles."""
    from overparam.memory import check_fits, ntk_bytes, ntk_rows_bytes

    sizes = {"n": n, "d": d, "width": width, "depth": depth, "k": k}
    if rows is not None:
        sizes["rows"] = rows

    def estimate(s: Mapping[str, int]) -> int:
        if rows is not None:
            return ntk_rows_bytes(**s, dtype=dtype)
        return ntk_bytes(**s, dtype=dtype)

    what = f"ntk, n {n}, k {k}, width {width}, depth {depth}"
    if rows is not None:
        what += f", --out in blocks of {rows} rows"
    check_fits(what, estimate(sizes), sizes, estimate, device=device)


def check_out_options(*, out: str | None, rows: int | None) -> tuple[Path, int] | None:
    """The --out file and its block of rows (None without --out, where --rows is refused)."""
    from overparam.errors import ConfigError
    from overparam.ntk.to_disk import DEFAULT_ROWS, check_out, check_rows

    if out is None:
        if rows is not None:
            raise ConfigError("rows", rows, "this option only together with --out FILE.npy")
        return None
    return check_out(out), check_rows(DEFAULT_ROWS if rows is None else rows)


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
        method: Method = typer.Option(
            Method.AUTO,
            help="auto (structured for overparam's layers), structured, generic or autograd.",
        ),
        mu: float = typer.Option(0.5, help="Last input coordinate."),
        seed: int = typer.Option(0),
        dtype: str = typer.Option("float32", help="float32 or float64."),
        device: str = typer.Option("cpu"),
        normalize: bool = typer.Option(
            False,
            help="Divide by kernel_scale (m for allen-zhu, zou-gu, cao-gu) to compare "
            "with the analytic kernel.",
        ),
        out: str | None = typer.Option(
            None, "--out", help="Write the kernel to this .npy file, in blocks of rows."
        ),
        rows: int | None = typer.Option(None, help="Rows per block with --out (default 1024)."),
        quiet: bool = typer.Option(False, "--quiet", help="No progress (bar or lines)."),
        json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Empirical NTK: seconds, shape, trace, lambda_min and lambda_max; with --out, the
        kernel written to a .npy file in --dtype (no eigenvalues) and its path, shape, dtype,
        seconds, trace, diagonal range, block rows and peak block memory."""
        from overparam.ntk.summary import empirical_summary

        with user_errors():
            check_sizes(n=n, d=d, width=width, depth=depth, k=k, seed=seed, dtype=dtype)
            check_device(device)
            to_disk = check_out_options(out=out, rows=rows)
            check_memory(
                n=n,
                d=d,
                width=width,
                depth=depth,
                k=k,
                dtype=dtype,
                device=device,
                rows=None if to_disk is None else to_disk[1],
            )
            if to_disk is not None:  # after the memory check, which names the size to reduce
                from overparam.ntk.to_disk import check_space, file_bytes

                check_space(to_disk[0], file_bytes((n, n, k, k), dtype))
        if to_disk is not None:
            from overparam.ntk.to_disk import sphere_empirical_to_npy

            with (
                user_errors(),
                Reporter(
                    f"ntk n={n} m={width} L={depth}", "rows", n, delay=1.0, enabled=not quiet
                ) as bar,
            ):
                result = sphere_empirical_to_npy(
                    to_disk[0],
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
                    rows=to_disk[1],
                    progress=bar,
                )
            _print(
                {
                    **result.summary(),
                    "method": str(method),
                    "parameterization": str(parameterization),
                },
                json_out,
                rows=True,
            )
            return
        # stderr only; plain lines once it has taken a second, then every 10 s.
        with (
            user_errors(),
            Reporter(
                f"ntk n={n} m={width} L={depth}", "", delay=1.0, transient=True, enabled=not quiet
            ),
        ):
            summary = empirical_summary(
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
        _print(summary, json_out)


def _print(out: dict[str, object], json_out: bool, *, rows: bool = False) -> None:
    """One JSON object, or a table: one row, or (``rows``) one row per quantity."""
    if json_out:
        print_json(out)
        return
    from rich.console import Console
    from rich.table import Table

    def cell(v: object) -> str:
        return f"{v:.6g}" if isinstance(v, float) else str(v)

    table = Table(title="empirical NTK on disk" if rows else "empirical NTK")
    if rows:
        table.add_column("quantity")
        table.add_column("value", justify="right")
        for key, value in out.items():
            table.add_row(key, cell(value))
    else:
        for key in out:
            table.add_column(key)
        table.add_row(*(cell(v) for v in out.values()))
    Console().print(table)
