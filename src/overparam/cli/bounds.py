"""``overparam bounds``: the papers' width / iteration / step-size requirements as a table.

Parses options and calls :func:`overparam.theory.bounds` or, with ``--data``,
:func:`overparam.theory.bounds_for`; no math here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from enum import StrEnum
from typing import Any

import typer

from overparam.cli.common import is_terminal, print_json, user_errors
from overparam.data.digits import DigitsTask
from overparam.errors import ConfigError, require_int, require_seed
from overparam.models.activations import Activation


class DataSource(StrEnum):
    """Where ``--data`` measures n, φ, ‖X‖₂, λ₀ and λ_min(K^(L)): scikit-learn's digits
    (training split) or random points on the sphere (``--n`` points in ``--dim`` dimensions)."""

    DIGITS = "digits"
    SPHERE = "sphere"


_MEASURED = ("phi", "lambda0", "lambda_min_k", "x_norm")
# The library's argument names, as this command's options (--delta, --constant, --dim, ...).
_OPTION_OF = {
    "delta_fail": "delta",
    "lambda_min_K": "lambda_min_k",
    "constants.width": "constant",
    "constants.iterations": "constant",
    "constants.step_size": "constant",
    "constants.depth": "depth_constant",
    "d": "dim",
}


@contextmanager
def _as_options() -> Iterator[None]:
    """Re-raise a library ConfigError under the name of the option the user typed."""
    try:
        yield
    except ConfigError as e:
        if e.field not in _OPTION_OF:
            raise
        raise ConfigError(_OPTION_OF[e.field], e.value, e.allowed) from None


def _load(data: DataSource, n: int | None, k: int | None, task: DigitsTask, dim: int, seed: int):
    from overparam.data import digits, sphere

    if data is DataSource.DIGITS:
        if k is not None:
            raise ConfigError("k", k, "omit --k with --data digits (k follows --task)")
        return digits(task=task, n=n, seed=seed)[0]
    if n is None:
        raise ConfigError("n", None, "an integer >= 2 with --data sphere")
    require_int("n", n)
    require_int("dim", dim, 2, allowed="an integer >= 2 (the last coordinate is mu)")
    return sphere(n, dim, k=1 if k is None else k, seed=seed)


def _check_measure(data: DataSource, n: int | None, dim: int, depth: int, act: Activation) -> None:
    """Sizes valid; the n x n Gram and K^(L) of --data within memory (overparam.memory)."""
    from overparam.memory import analytic_bytes, check_fits

    require_int("depth", depth)
    if data is DataSource.DIGITS:
        return  # at most the 1437 digits
    if n is None:
        raise ConfigError("n", None, "an integer >= 2 with --data sphere")
    dim_ok = require_int("dim", dim, 2, allowed="an integer >= 2 (the last coordinate is mu)")
    sizes = {"n": require_int("n", n), "dim": dim_ok}

    def estimate(s: Mapping[str, int]) -> int:
        return analytic_bytes(n=s["n"], d=s["dim"], depth=depth, activation=str(act))

    check_fits(f"bounds --data sphere, n {n}", estimate(sizes), sizes, estimate)


def _table(rows: list, measured_width: float | None) -> Any:
    from rich.markup import escape
    from rich.table import Table

    from overparam.theory import format_log10

    table = Table(title="Over-parameterization requirements (sorted by width)")
    table.add_column("result")
    table.add_column("alg")
    table.add_column("network")
    table.add_column("width m", justify="right")
    table.add_column("iterations T", justify="right")
    table.add_column("step size η", justify="right")
    if measured_width is not None:
        table.add_column("theory / practice", justify="right")
    table.add_column("width condition")
    for b in rows:
        cells = [
            f"{b.paper}, {b.theorem}",
            b.algorithm,
            b.network,
            format_log10(b.width_log10),
            format_log10(b.iterations_log10),
            format_log10(b.step_size_log10),
        ]
        if measured_width is not None:
            cells.append(format_log10(b.theory_over_practice_log10(measured_width)))
        cells.append(b.width_formula)
        table.add_row(*(escape(c) for c in cells))
    return table


def register(app: typer.Typer) -> None:
    """Add the ``bounds`` command to ``app``."""

    @app.command("bounds")
    def bounds_command(
        n: int | None = typer.Option(None, "--n", help="Training examples n (>= 1)."),
        depth: int = typer.Option(..., "--depth", help="Hidden layers L (Du et al.'s H)."),
        phi: float | None = typer.Option(None, "--phi", help="Separation phi, in (0, 2]."),
        k: int | None = typer.Option(None, "--k", help="Output dimension k [default: 1]."),
        batch: int | None = typer.Option(None, "--batch", help="SGD minibatch B, 1 <= B <= n."),
        eps: float = typer.Option(1e-3, "--eps", help="Target training loss, in (0, 1)."),
        lambda0: float | None = typer.Option(None, "--lambda0", help="lambda_min(H^inf) > 0."),
        lambda_min_k: float | None = typer.Option(
            None, "--lambda-min-k", help="lambda_min(K^(L)) > 0 of Du et al."
        ),
        x_norm: float | None = typer.Option(None, "--x-norm", help="||X||_2 > 0."),
        delta: float = typer.Option(0.01, "--delta", help="Failure probability of Du Thm 5.1."),
        constant: float = typer.Option(1.0, "--constant", help="Hidden constant of O / Omega."),
        depth_constant: float = typer.Option(1.0, "--depth-constant", help="c in 2^O(L) = 2^(cL)."),
        log_factor: bool = typer.Option(
            True, "--log-factor/--no-log-factor", help="Keep log^3(m) of Omega~ (fixed point)."
        ),
        data: DataSource | None = typer.Option(
            None, "--data", help="Measure n, phi, ||X||_2, lambda0, lambda_min(K^(L)) on data."
        ),
        task: DigitsTask = typer.Option(DigitsTask.BINARY, "--task", help="Digits task."),
        dim: int = typer.Option(10, "--dim", help="Input dimension d for --data sphere."),
        seed: int = typer.Option(0, "--seed", help="Data seed."),
        activation: Activation = typer.Option(
            Activation.RELU, "--activation", help="K^(L) activation (Du's theorem: smooth; slow)."
        ),
        measured_width: float | None = typer.Option(
            None, "--measured-width", help="Measured critical width W: adds theory / practice."
        ),
        json_out: bool = typer.Option(False, "--json", help="Print the rows as one JSON list."),
    ) -> None:
        """Width, iteration and step-size requirements of the GD/SGD convergence theorems."""
        from overparam.theory import Constants, bounds, bounds_for, measure_inputs, sort_by_width

        inputs = None
        with user_errors(), _as_options():
            require_seed("seed", seed)
            consts = Constants(
                width=constant, iterations=constant, step_size=constant, depth=depth_constant
            )
            if data is None:
                if n is None:
                    raise ConfigError("n", None, "an integer >= 1 (or --data to measure it)")
                rows = bounds(
                    n=n,
                    depth=depth,
                    phi=phi,
                    k=1 if k is None else k,
                    batch=batch,
                    eps=eps,
                    lambda0=lambda0,
                    lambda_min_K=lambda_min_k,
                    x_norm=x_norm,
                    delta_fail=delta,
                    constants=consts,
                    log_factor=log_factor,
                )
            else:
                given = {"phi": phi, "lambda0": lambda0, "lambda_min_k": lambda_min_k}
                for field, value in {**given, "x_norm": x_norm}.items():
                    if value is not None:
                        raise ConfigError(field, value, f"omit it with --data {data}: measured")
                _check_measure(data, n, dim, depth, activation)
                inputs = measure_inputs(
                    _load(data, n, k, task, dim, seed), depth, activation=activation
                )
                rows = bounds_for(
                    inputs,
                    depth,
                    batch=batch,
                    eps=eps,
                    delta_fail=delta,
                    constants=consts,
                    log_factor=log_factor,
                )
            rows = sort_by_width(rows)
            if json_out:
                from overparam.theory import to_records

                print_json(to_records(rows, measured_width))
                return
            table = _table(rows, measured_width)
        from rich.console import Console
        from rich.markup import escape

        console = Console(width=None if is_terminal() else 200)
        if inputs is not None:
            lam_k = "n/a" if inputs.lambda_min_K is None else f"{inputs.lambda_min_K:.4g}"
            console.print(
                f"{data} ({inputs.activation} K^(L)): n={inputs.n} k={inputs.k} "
                f"phi={inputs.phi:.4g} ||X||_2={inputs.x_norm:.4g} "
                f"lambda0={inputs.lambda0:.4g} lambda_min(K^({depth}))={lam_k}"
            )
        console.print(table)
        for b in rows:
            if b.missing and not b.available:
                console.print(f"[dim]{escape(f'{b.key}: unavailable: {b.missing}')}[/]")
