"""Toy studies for the pipeline tests, and a fixture-style helper that registers them."""

from __future__ import annotations

from overparam.studies import registry
from overparam.studies.plan import sweep
from overparam.studies.study import Study


def use_studies(monkeypatch, *studies: Study) -> None:
    """Make ``studies`` the whole registry for one test."""
    monkeypatch.setattr(registry, "STUDY_NAMES", tuple(s.name for s in studies))
    monkeypatch.setattr(registry, "LOADED", {s.name: s for s in studies})


def grid_plan(name: str, widths_of: dict[str, tuple[int, ...]], seeds=(0, 1), **base):
    """plan(scale): one spec over widths_of[scale] x seeds with ``base`` fields."""
    fields = {"n": 8, "d": 4, "depth": 1, "steps": 30, "dtype": "float64", **base}

    def plan(scale):
        return [
            sweep(
                name,
                scale,
                base=fields,
                grid={"width": list(widths_of[scale]), "seed": list(seeds)},
            )
        ]

    return plan
