"""``overparam generalization``: Algorithm 2's test error next to Cao & Gu's NTK and NTRF bounds.

Parses options into a :class:`overparam.config.RunConfig` and calls
:func:`overparam.generalization.evaluate`; no math here.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import typer

from overparam.cli.common import is_terminal, print_json, user_errors


class GenData(StrEnum):
    """``digits``: scikit-learn's digits, 0-4 vs 5-9, noise on the training labels.
    ``sphere``: unit-sphere inputs labelled by the sign of a random teacher network."""

    DIGITS = "digits"
    SPHERE = "sphere"


class KernelChoice(StrEnum):
    """Theta^(L) of the NTK bound: ``analytic`` (m -> infinity) or ``empirical`` (Theta / m of
    the run's network at initialization)."""

    ANALYTIC = "analytic"
    EMPIRICAL = "empirical"


def _table(result: Any) -> Any:
    from rich.table import Table

    table = Table(title="Algorithm 2 against the NTK / NTRF bounds (per seed, then mean)")
    cols = [
        ("seed", "seed"),
        ("test_error", "test error"),
        ("expected_test_error", "E over iterates"),
        ("bound_analytic", "NTK bound (analytic)"),
        ("bound_empirical", "NTK bound (empirical)"),
        ("complexity_analytic", "yᵀΘ⁻¹y"),
        ("ntrf_loss", "NTRF loss"),
        ("ntrf_bound", "Thm 3.3 bound"),
    ]
    cols = [(k, h) for k, h in cols if any(k in r for r in result.rows)]
    for _, head in cols:
        table.add_column(head, justify="right")

    def cell(v: Any) -> str:
        if v is None:
            return "-"
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    for r in result.rows:
        table.add_row(*(cell(r.get(k)) for k, _ in cols))
    table.add_row(*("mean" if k == "seed" else cell(result.mean.get(k)) for k, _ in cols))
    return table


def check_memory(
    *, n: int, d: int, width: int, depth: int, n_test: int, kernels: list[str], ntrf: bool
) -> None:
    """The n x n kernels of the bound (analytic, empirical with its factors) and of the NTRF
    fit (one per layer) within memory (see overparam.memory)."""
    from overparam.memory import analytic_bytes, check_fits, ntk_bytes

    sizes = {"n": n, "width": width, "depth": depth}

    def estimate(s: Mapping[str, int]) -> int:
        total = analytic_bytes(n=s["n"], d=d, depth=s["depth"])
        if "empirical" in kernels or ntrf:
            total += ntk_bytes(n=s["n"], d=d, width=s["width"], depth=s["depth"], dtype="float64")
        if ntrf:
            total += 3 * 8 * s["n"] ** 2 * (s["depth"] + 1)
        return total + 8 * n_test * s["width"] * (s["depth"] + 1)

    what = f"generalization, n {n}, width {width}, depth {depth}"
    check_fits(what, estimate(sizes), sizes, estimate)


def register(app: typer.Typer) -> None:
    """Add the ``generalization`` command to ``app``."""

    @app.command("generalization")
    def generalization_command(
        data: GenData = typer.Option(GenData.DIGITS, "--data", help="Data set."),
        noise: float = typer.Option(0.0, "--noise", help="Fraction of random training labels."),
        n: int | None = typer.Option(
            None, "--n", help="Training samples = SGD steps [default: digits 1437, sphere 800]."
        ),
        dim: int = typer.Option(6, "--dim", help="Input dimension d for --data sphere."),
        width: int = typer.Option(512, "--width", help="Network width m."),
        depth: int = typer.Option(2, "--depth", help="Cao & Gu's L (weight matrices), >= 2."),
        lr: float | None = typer.Option(None, "--lr", help="Step size eta [default: 1/m]."),
        seeds: int = typer.Option(3, "--seeds", help="Seeds 0..seeds-1 to average over."),
        n_test: int = typer.Option(1000, "--n-test", help="Held-out points (sphere)."),
        delta: float = typer.Option(0.05, "--delta", help="Failure probability delta."),
        c_ntk: float = typer.Option(1.0, "--c-ntk", help="Constant of L sqrt(yᵀΘ⁻¹y/n)."),
        c_conf: float = typer.Option(1.0, "--c-conf", help="Constant of sqrt(log(1/δ)/n)."),
        kernel: list[KernelChoice] = typer.Option(
            [KernelChoice.ANALYTIC, KernelChoice.EMPIRICAL],
            "--kernel",
            help="Theta^(L) for the bound (repeat for both).",
        ),
        ntrf: bool = typer.Option(True, "--ntrf/--no-ntrf", help="Fit the best NTRF function."),
        radius_factor: float = typer.Option(
            1.0, "--radius-factor", help="NTRF radius R = factor * sqrt(yᵀΘ⁻¹y)."
        ),
        ntrf_tol: float = typer.Option(1e-4, "--ntrf-tol", help="Certified NTRF loss tolerance."),
        json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Cao & Gu's Algorithm 2: expected test error, NTK bound and NTRF loss."""
        from overparam.config import build_config
        from overparam.errors import ConfigError, require_int
        from overparam.generalization import evaluate

        with user_errors():
            require_int("width", width)
            require_int(
                "depth", depth, 2, allowed="an integer >= 2 for cao-gu (L counts the output layer)"
            )
            require_int("dim", dim, 2, allowed="an integer >= 2 (the last coordinate is mu)")
            require_int("n_test", n_test)
            if seeds < 1:
                raise ConfigError("seeds", seeds, "an integer >= 1")
            if n is None:
                n = 1437 if data is GenData.DIGITS else 800
            require_int("n", n)
            check_memory(
                n=n,
                d=64 if data is GenData.DIGITS else dim,
                width=width,
                depth=depth,
                n_test=n_test if data is GenData.SPHERE else 0,
                kernels=[k.value for k in kernel],
                ntrf=ntrf,
            )
            sphere: dict[str, Any] = (
                {"d": dim, "labels": "teacher"} if data is GenData.SPHERE else {}
            )
            cfg = build_config(
                data=data.value,
                **sphere,
                noise=noise,
                n=n,
                width=width,
                depth=depth,
                parameterization="cao-gu",
                algorithm="online-sgd",
                lr=(1.0 / width) if lr is None else lr,
                steps=n,
            )
            result = evaluate(
                cfg,
                tuple(range(seeds)),
                n_test=n_test,
                kernels=tuple(dict.fromkeys(k.value for k in kernel)),
                ntrf=ntrf,
                delta=delta,
                c_ntk=c_ntk,
                c_conf=c_conf,
                radius_factor=radius_factor,
                ntrf_tol=ntrf_tol,
            )
        if json_out:
            print_json(result.to_dict())
            return
        from rich.console import Console

        console = Console(width=None if is_terminal() else 160)
        console.print(
            f"{data} n={n} noise={noise} m={width} L={depth} eta={cfg.lr:.4g} delta={delta}"
        )
        console.print(_table(result))
        jitters = {
            k: result.mean[k] for k in result.mean if k.startswith("jitter") and result.mean[k]
        }
        if jitters:
            console.print(f"Cholesky jitter used (absolute, mean over seeds): {jitters}")
