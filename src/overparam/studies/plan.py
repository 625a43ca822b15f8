"""A study's plan as sweep specs: built like a TOML spec, named under the study and scale, and
printed back as TOML (``overparam studies show NAME --toml``) for ``overparam sweep run``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tomli_w

from overparam.sweep.spec import SweepSpec, parse_spec

#: No study plans more runs than this per spec (the spec's ``budget.max_runs``).
MAX_RUNS = 10_000


def experiment_name(study: str, scale: str, part: str = "") -> str:
    """The store's experiment name of a study's runs: ``study/NAME/SCALE[/PART]``."""
    return f"study/{study}/{scale}" + (f"/{part}" if part else "")


def sweep(
    study: str,
    scale: str,
    *,
    base: dict[str, Any],
    grid: dict[str, list[Any]] | None = None,
    part: str = "",
    probes: Sequence[str] = (),
    probe_every: int | None = None,
    description: str = "",
    critical: dict[str, Any] | None = None,
) -> SweepSpec:
    """One spec of a study's plan, validated exactly as a TOML spec is (:func:`parse_spec`).

    The grid is the cartesian product of its axes, the last varying fastest; a plan that is
    not one product is several specs (``part`` names each). ``critical``: a ``[critical]``
    table, which makes each grid point a critical-width search
    (:func:`overparam.sweep.critical_width`)."""
    raw: dict[str, Any] = {
        "name": experiment_name(study, scale, part),
        "description": description,
        "base": dict(base),
        "grid": {k: list(v) for k, v in (grid or {}).items()},
        "budget": {"max_runs": MAX_RUNS},
    }
    if probes:
        raw["probes"] = list(probes)
    if probe_every is not None:
        raw["probe_every"] = probe_every
    if critical is not None:
        raw["critical"] = dict(critical)
    return parse_spec(raw)


def _plain(spec: SweepSpec) -> dict[str, Any]:
    """The spec as TOML-ready data (no None, no empty tables, tuples as lists)."""
    raw = spec.to_dict()
    out: dict[str, Any] = {"name": raw["name"]}
    if raw.get("description"):
        out["description"] = raw["description"]
    if raw.get("probes"):
        out["probes"] = list(raw["probes"])
    if raw.get("probe_every") is not None:
        out["probe_every"] = raw["probe_every"]
    out["base"] = {k: v for k, v in raw["base"].items() if v is not None}
    if raw.get("grid"):
        out["grid"] = raw["grid"]
    out["budget"] = {k: v for k, v in raw["budget"].items() if v is not None}
    if raw.get("critical"):
        out["critical"] = {k: v for k, v in raw["critical"].items() if v is not None}
    return out


#: What ``studies show NAME --toml`` prints for a study that trains nothing.
NO_RUNS = (
    "# This study plans no training runs: its measurements (kernels, bounds) are computed by\n"
    "# `overparam reproduce --only NAME`, with no sweep to run.\n"
)


def to_toml(specs: Sequence[SweepSpec]) -> str:
    """The specs as one TOML document: a single spec as a plain spec file, several as an array
    of ``[[sweep]]`` tables (both read by :func:`overparam.sweep.spec.load_specs`); no spec
    gives a comment saying so."""
    if not specs:
        return NO_RUNS
    if len(specs) == 1:
        return tomli_w.dumps(_plain(specs[0]))
    return tomli_w.dumps({"sweep": [_plain(s) for s in specs]})
