"""overparam.probes: measure, during real training, every quantity the convergence proofs bound,
next to the bound.

Attach probes to any run: ``RunConfig(probes=("all",))`` / ``overparam train --probe all``, or
a list of names; each measures at ~50 log-spaced steps by default or every ``probe_every``
steps, and appends tidy rows (step, probe, quantity, layer, value, bound, ratio, kind, lemma,
width, depth, seed, parameterization) to ``History.records``. See :mod:`overparam.probes.base`
for the row semantics and :data:`PROBES` for the registry:

=================  =====================================================  ===================
name               what it measures                                       result checked
=================  =====================================================  ===================
norms              min / max_i ||h_{i,l}||                                [allen-zhu-2019,
                                                                          Lemma 7.1]
separation         min pairwise distance of normalized h_{i,l}            >= delta / 2
flips              ReLU sign changes from init                            O(m omega^(2/3) L)
movement           ||W_l^t - W_l^0||_2, _F, max row                       [zou-gu-2019, L 4.2]
hidden_drift       ||h_{i,l}^t - h_{i,l}^0||                              O(omega L^(5/2))
gradient_ratio     ||grad L||^2 / L                                       [allen-zhu-2019,
                                                                          Thm 3]; [zou-gu L 4.1]
semi_smoothness    L(W + W') - L(W) - <grad L, W'>                        [allen-zhu-2019,
                                                                          Thm 4]
linearization      f_t - (f_0 + <grad f_0, W_t - W_0>)                    [lee-2019]
ntk_drift          ||Theta_t - Theta_0||_F / ||Theta_0||_F, lambda_min    lambda_0 / 2
rate               loss contraction, kernel-predicted loss curve          [du-2019-deep,
                                                                          Thm 5.1]
label_complexity   y^T (H^inf)^-1 y, y^T Theta^-1 y                       [arora-2019]
=================  =====================================================  ===================

Example:
    >>> from overparam.config import RunConfig
    >>> from overparam.run import run
    >>> h = run(RunConfig(n=16, width=128, steps=50, probes=("norms", "movement")))
    >>> summarize_records(h.records)["movement"]["spectral"]["ratio"]  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from overparam.errors import ConfigError
from overparam.probes import (  # noqa: F401  (importing registers each probe)
    flips,
    gradient,
    kernel,
    linearization,
    movement,
    norms,
    smoothness,
)
from overparam.probes.base import (
    KINDS,
    LOWER,
    NONE,
    PROBES,
    UPPER,
    Probe,
    ProbeRecord,
    probe_steps,
    register,
)
from overparam.probes.context import Context, spectral_norm

# The registry order: the list, which --probe all and summaries follow.
ORDER = (
    "norms",
    "separation",
    "flips",
    "movement",
    "hidden_drift",
    "gradient_ratio",
    "semi_smoothness",
    "linearization",
    "ntk_drift",
    "rate",
    "label_complexity",
)

__all__ = [
    "KINDS",
    "LOWER",
    "NONE",
    "ORDER",
    "PROBES",
    "UPPER",
    "Context",
    "Probe",
    "ProbeRecord",
    "describe_probes",
    "make_probes",
    "parse_probe",
    "probe_names",
    "probe_steps",
    "register",
    "spectral_norm",
    "summarize_records",
    "validate_probe_names",
]


def probe_names() -> list[str]:
    """Registered probe names: the built-in ones in the issue's order, then any others."""
    return [n for n in ORDER if n in PROBES] + sorted(set(PROBES) - set(ORDER))


def _allowed() -> str:
    return ", ".join(probe_names()) + " or all (options as name:key=value,...)"


def _convert(name: str, key: str, raw: str, typ: type) -> Any:
    if typ is bool:
        low = raw.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"probes.{name}.{key}", raw, "true or false")
    try:
        return typ(raw)
    except ValueError:
        raise ConfigError(f"probes.{name}.{key}", raw, f"a {typ.__name__}") from None


def parse_probe(spec: str) -> tuple[str, dict[str, Any]]:
    """``"name"`` or ``"name:key=value,key=value"`` -> (name, options).

    Every probe accepts ``every`` (int) and ``points`` (int); a probe may declare more in its
    ``options`` (``linearization:linear_run=true``).

    Raises:
        ConfigError: an unknown name or option, or a value of the wrong type.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError("probes", spec, _allowed())
    name, _, rest = spec.strip().partition(":")
    name = name.strip()
    if name not in PROBES:
        raise ConfigError("probes", name, _allowed())
    cls = PROBES[name]
    allowed = {"every": int, "points": int, **cls.options}
    options: dict[str, Any] = {}
    for item in filter(None, (s.strip() for s in rest.split(","))):
        key, eq, raw = item.partition("=")
        key = key.strip()
        if not eq or key not in allowed:
            raise ConfigError(
                f"probes.{name}", item, ", ".join(f"{k}=<{t.__name__}>" for k, t in allowed.items())
            )
        options[key] = _convert(name, key, raw, allowed[key])
    return name, options


def _expand(names: Iterable[str]) -> list[str]:
    """Specs with ``all`` expanded, one per probe name: a name keeps its first position and
    its last spec (so ``["all", "linearization:linear_run=true"]`` has one linearization)."""
    if isinstance(names, str):
        names = [names]
    by_name: dict[str, str] = {}
    for spec in names:
        items = probe_names() if isinstance(spec, str) and spec.strip() == "all" else [spec]
        for item in items:
            if not isinstance(item, str):
                raise ConfigError("probes", item, _allowed())
            name = item.partition(":")[0].strip()
            if name in by_name and ":" not in item:
                continue  # a plain name does not undo earlier options
            by_name[name] = item
    return list(by_name.values())


def validate_probe_names(names: Sequence[str]) -> list[str]:
    """Check probe specs without building probes (e.g. while validating a config); returns
    them with ``all`` expanded. Raises :class:`ConfigError` naming the bad one."""
    specs = _expand(names)
    for spec in specs:
        parse_probe(spec)
    return specs


def make_probes(names: Sequence[str], every: int | None = None) -> list[Probe]:
    """Build the probes named in ``names`` (specs as in :func:`parse_probe`, or ``"all"``).

    Args:
        names: probe names / specs; ``"all"`` adds every registered probe (duplicates kept once).
        every: default schedule, measure every ``every`` steps; None for ~50 log-spaced steps.
            A spec's own ``every=`` overrides it.

    Raises:
        ConfigError: for an unknown name or option, before anything is trained.
    """
    if every is not None and (not isinstance(every, int) or every < 1):
        raise ConfigError("probe_every", every, "an integer >= 1, or None for log-spaced")
    probes: list[Probe] = []
    for spec in validate_probe_names(names):
        name, options = parse_probe(spec)
        options.setdefault("every", every)
        probes.append(PROBES[name](**options))
    return probes


def describe_probes() -> list[dict[str, str]]:
    """[{name, lemma, formula, doc}] for every registered probe (for docs and --help)."""
    out = []
    for name in probe_names():
        cls = PROBES[name]
        doc = (cls.__doc__ or "").strip().splitlines()
        out.append(
            {"name": name, "lemma": cls.lemma, "formula": cls.formula, "doc": doc[0] if doc else ""}
        )
    return out


# ---------------------------------------------------------------------------------------------
# Summaries
# ---------------------------------------------------------------------------------------------


def _worse(kind: str, a: float, b: float) -> bool:
    """Whether ratio / value ``a`` is further from satisfying the bound than ``b``."""
    return a < b if kind == LOWER else a > b


def _pick(rows: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """The row closest to violating its bound (by ratio when there is one, else by value)."""
    with_ratio = [r for r in rows if r.get("ratio") is not None]
    key = "ratio" if with_ratio and kind != NONE else "value"
    pool = with_ratio if key == "ratio" else [r for r in rows if r.get("value") is not None]
    if not pool:
        return rows[-1]
    best = pool[0]
    for r in pool[1:]:
        if _worse(kind if kind != NONE else UPPER, r[key], best[key]):
            best = r
    return best


def summarize_records(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Per probe and quantity: the last value, the extreme over the run, measured / bound.

    For each (probe, quantity), over all layers:

    * ``last``: the last evaluated step's worst layer (the row closest to violating its bound,
      or the largest value when there is no bound): ``{step, layer, value, bound, ratio}``;
    * ``extreme``: the same, over the whole run (max for upper bounds and unbounded
      quantities, min for lower bounds);
    * ``ratio``: last ratio (measured / bound); ``worst_ratio``: the extreme's ratio;
    * ``kind``: upper / lower / none; ``rows``: number of rows.

    Each probe also gets ``lemma``. Returns ``{probe: {"lemma": ..., quantity: {...}}}`` in the
    registry's order; NaN-free (missing numbers are None).
    """
    groups: dict[str, dict[str, list[dict[str, Any]]]] = {}
    lemmas: dict[str, str] = {}
    for row in records:
        probe, quantity = row["probe"], row.get("quantity", "value")
        groups.setdefault(probe, {}).setdefault(quantity, []).append(row)
        lemmas.setdefault(probe, row.get("lemma", ""))
    order = {n: i for i, n in enumerate(probe_names())}
    out: dict[str, Any] = {}
    for probe in sorted(groups, key=lambda p: (order.get(p, len(order)), p)):
        entry: dict[str, Any] = {"lemma": lemmas[probe]}
        for quantity, rows in groups[probe].items():
            kind = next((r.get("kind", NONE) for r in rows if r.get("kind") != NONE), NONE)
            last_step = max(r["step"] for r in rows)
            last = _pick([r for r in rows if r["step"] == last_step], kind)
            extreme = _pick(rows, kind)
            entry[quantity] = {
                "kind": kind,
                "last": _brief(last),
                "extreme": _brief(extreme),
                "ratio": last.get("ratio"),
                "worst_ratio": extreme.get("ratio"),
                "rows": len(rows),
            }
        out[probe] = entry
    return out


def _brief(row: dict[str, Any]) -> dict[str, Any]:
    def clean(x: Any) -> Any:
        return None if isinstance(x, float) and not math.isfinite(x) else x

    return {k: clean(row.get(k)) for k in ("step", "layer", "value", "bound", "ratio")}
