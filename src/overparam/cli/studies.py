"""``overparam studies list`` and ``overparam studies show NAME``: what each study runs, the
theorem's hypotheses and its declared claims, and its plan as TOML for ``overparam sweep run``."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import typer

from overparam.cli.common import print_json, user_errors
from overparam.studies.registry import STUDY_NAMES
from overparam.studies.study import SCALES


class ScaleChoice(StrEnum):
    QUICK = "quick"
    LAPTOP = "laptop"
    FULL = "full"
    CLUSTER = "cluster"


def _claims_rows(study) -> list[dict[str, str]]:
    return [
        {
            "key": c.key,
            "text": c.text,
            "cite": c.cite,
            "quantity": c.quantity,
            "test": c.test.describe(),
            "hypotheses": "; ".join(h.describe() for h in c.hypotheses),
        }
        for c in study.claims
    ]


def register(app: typer.Typer) -> None:
    studies_app = typer.Typer(
        help="The registered studies: their claims, hypotheses and plans.", no_args_is_help=True
    )
    app.add_typer(studies_app, name="studies")

    @studies_app.command("list")
    def list_cmd(
        json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Every study in report order: its claims and planned runs at each scale."""
        from overparam.studies.registry import select

        with user_errors():
            rows: list[dict[str, Any]] = [
                {
                    "name": s.name,
                    "title": s.title,
                    "cites": list(s.cites),
                    "claims": len(s.claims),
                    "runs": {scale: len(s.configs(scale)) for scale in SCALES},
                }
                for s in select()
            ]
        if json_out:
            print_json({"studies": rows})
            return
        for r in rows:
            typer.echo(
                f"{r['name']:20s} {r['claims']:3d} claims  runs quick {r['runs']['quick']:4d}, "
                f"full {r['runs']['full']:5d}  {r['title']}"
            )

    @studies_app.command("show")
    def show_cmd(
        name: str = typer.Argument(..., help="Study name: " + ", ".join(STUDY_NAMES) + "."),
        scale: ScaleChoice = typer.Option(
            ScaleChoice.FULL, "--scale", help="quick, laptop, full or cluster."
        ),
        toml: bool = typer.Option(
            False, "--toml", help="Print the plan as TOML for `overparam sweep run`."
        ),
        json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """A study's hypotheses, claims (with every margin) and plan; --toml prints the plan's
        sweep specs, which `overparam sweep run FILE` runs on any executor and `overparam
        report` reads as this study's runs."""
        from overparam.studies.plan import to_toml
        from overparam.studies.registry import get

        with user_errors():
            study = get(name)
            specs = study.specs(scale.value)
        if toml:
            typer.echo(to_toml(specs), nl=False)
            return
        info: dict[str, Any] = {
            "name": study.name,
            "title": study.title,
            "cites": list(study.cites),
            "description": study.description,
            "hypotheses": [h.describe() for h in study.hypotheses],
            "claims": _claims_rows(study),
            "scale": scale.value,
            "specs": [{"name": s.name, "runs": len(s.points())} for s in specs],
        }
        if json_out:
            print_json(info)
            return
        typer.echo(f"{study.name}: {study.title}\n{study.description}\n")
        for h in info["hypotheses"]:
            typer.echo(f"hypothesis: {h}")
        for c in info["claims"]:
            typer.echo(f"- [{c['key']}] {c['text']} ({c['cite']})\n    test: {c['test']}")
        for s in info["specs"]:
            typer.echo(f"plan ({scale.value}): {s['name']}: {s['runs']} runs")
