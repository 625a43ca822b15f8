"""Sweep specs: a TOML file naming a base :class:`RunConfig`, a grid, probes and a budget.

Example (``overparam/specs/width-scaling.toml``)::

    name = "width-scaling"
    description = "zou-gu GD at widths 2^6..2^10, three seeds"
    probes = ["movement", "flips"]

    [base]                      # any RunConfig fields; the grid overrides them
    parameterization = "zou-gu"
    depth = 2
    n = 32
    steps = 500

    [grid]                      # the cartesian product, the last axis varying fastest
    width = {log2 = [6, 10]}    # 64, 128, 256, 512, 1024
    seed = [0, 1, 2]

    [budget]
    max_runs = 100              # refuse a grid larger than this (a typo guard)
    wall_s = 3600               # stop claiming new runs after this; re-run to continue

Grid axes are a list of values or one of these ranges:

==============================  ================================================
``{log2 = [a, b]}``             2^a, 2^(a+1), ..., 2^b (integers)
``{range = [start, stop]}``     Python's range, stop excluded; ``[start, stop, step]``
``{linspace = [a, b, num]}``    num evenly spaced floats from a to b inclusive
``{geomspace = [a, b, num]}``   num log-spaced floats from a to b inclusive
==============================  ================================================

A ``[critical]`` table turns the spec into a critical-width study: for each grid point the
smallest width at which GD reaches the target (see :func:`overparam.sweep.critical_width`); its
grid may not contain ``width`` or ``seed``, which the search sets.

Every error is a :class:`ConfigError` naming the field (``grid.width``, ``base.lr``,
``budget.max_runs``), the value and what is allowed; every grid point is validated when the spec
is loaded, before anything runs.
"""

from __future__ import annotations

import itertools
import math
import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from overparam.config import (
    RunConfig,
    build_config,
    checked,
    choice_check,
    field_allowed,
    float_check,
    int_check,
)
from overparam.errors import MAX_SEED, ConfigError, is_finite, is_int

RANGE_KINDS = ("log2", "range", "linspace", "geomspace")
MSG_GRID_VALUE = (
    "a non-empty list of values, or a table with one of: log2 = [a, b], range = [start, stop"
    "(, step)], linspace = [a, b, num], geomspace = [a, b, num]"
)
# Fields the critical-width search sets itself.
CRITICAL_OWNED = ("width", "seed", "steps", "target_loss", "target_ratio")
# The most values one range axis expands to (beyond any budget.max_runs a laptop sweep uses; the
# bound keeps a typo such as range = [0, 10**12] from filling memory before the budget check).
MAX_AXIS = 1_000_000
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.\-/]*"
MSG_NAME = "letters, digits and - _ . / (starting with a letter or digit), at most 200"
MSG_SEEDS = "a count >= 1, or a non-empty list of distinct seeds in [0, 4294967295]"


def _seeds_ok(v: Any) -> bool:
    if is_int(v):
        return 1 <= v <= MAX_AXIS
    return (
        isinstance(v, list)
        and bool(v)
        and all(is_int(s) and 0 <= s <= MAX_SEED for s in v)
        and len(set(v)) == len(v)
    )


def _name_ok(v: Any) -> bool:
    return isinstance(v, str) and len(v) <= 200 and re.fullmatch(NAME_PATTERN, v) is not None


def _table_ok(v: Any) -> bool:
    return isinstance(v, dict) and all(isinstance(k, str) for k in v)


def _probes_ok(v: Any) -> bool:
    return isinstance(v, list | tuple) and all(isinstance(p, str) for p in v)


class Budget(BaseModel):
    """Limits of one sweep."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # 10^4 runs: beyond any laptop sweep; a larger grid is almost always a typo in a range.
    max_runs: Annotated[int, int_check(1)] = Field(
        10_000, description="refuse a grid with more runs than this"
    )
    wall_s: Annotated[
        float | None,
        float_check(0.0, lo_open=True, none="no limit", allowed="a positive finite number"),
    ] = Field(None, description="stop claiming new runs after this many seconds")


class CriticalSpec(BaseModel):
    """The critical-width search run at each grid point (see :func:`critical_width`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    target_loss: Annotated[
        float | None,
        float_check(0.0, lo_open=True, none="use target_ratio", allowed="a number > 0"),
    ] = None
    target_ratio: Annotated[
        float | None,
        float_check(
            0.0,
            1.0,
            lo_open=True,
            hi_open=True,
            none="use target_loss",
            allowed="a number in the open interval (0, 1)",
        ),
    ] = None
    max_steps: Annotated[int, int_check(1)] = 1000
    success: Annotated[
        float, float_check(0.0, 1.0, lo_open=True, allowed="a fraction in (0, 1]")
    ] = 0.9
    seeds: Annotated[int | list[int], checked(_seeds_ok, MSG_SEEDS, lambda v: v)] = 5
    width_min: Annotated[int, int_check(1)] = 8
    width_max: Annotated[int, int_check(1)] = 8192
    rel_tol: Annotated[float, float_check(0.0, 1.0, hi_open=True, allowed="a number in [0, 1)")] = (
        0.02
    )
    method: Annotated[
        Literal["doubling", "bisect"], choice_check(("doubling", "bisect"))
    ] = Field("doubling", description="doubling: log2 grid then bisection; bisect: log-width")

    def seed_list(self) -> tuple[int, ...]:
        return tuple(range(self.seeds)) if isinstance(self.seeds, int) else tuple(self.seeds)


class SweepSpec(BaseModel):
    """A validated sweep: its name, base config fields, grid axes, probes and budget."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, checked(_name_ok, MSG_NAME, lambda v: v)]
    description: Annotated[str, checked(lambda v: isinstance(v, str), "a string", str)] = ""
    base: Annotated[dict[str, Any], checked(_table_ok, "a table of RunConfig fields", dict)] = (
        Field(default_factory=dict)
    )
    grid: Annotated[
        dict[str, list[Any]], checked(_table_ok, "a table of axes, each " + MSG_GRID_VALUE, dict)
    ] = Field(default_factory=dict)
    probes: Annotated[
        tuple[str, ...], checked(_probes_ok, "a list of probe names (or all)", tuple)
    ] = ()
    probe_every: Annotated[int | None, int_check(none="~50 log-spaced evaluations")] = None
    budget: Annotated[
        Budget,
        checked(
            lambda v: isinstance(v, dict | Budget), "a table with max_runs, wall_s", lambda v: v
        ),
    ] = Budget()
    critical: Annotated[
        CriticalSpec | None,
        checked(
            lambda v: v is None or isinstance(v, dict | CriticalSpec),
            "a table with " + ", ".join(CriticalSpec.model_fields),
            lambda v: v,
        ),
    ] = None

    # -- expansion ------------------------------------------------------------------------
    def points(self) -> list[dict[str, Any]]:
        """The grid points in order (last axis fastest); [{}] for an empty grid."""
        keys = list(self.grid)
        return [
            dict(zip(keys, combo, strict=True))
            for combo in itertools.product(*(self.grid[k] for k in keys))
        ]

    def base_fields(self) -> dict[str, Any]:
        """The base table with the spec's probes applied."""
        fields = dict(self.base)
        if self.probes:
            fields["probes"] = tuple(self.probes)
        if self.probe_every is not None:
            fields["probe_every"] = self.probe_every
        return fields

    def config_at(self, point: dict[str, Any]) -> RunConfig:
        """The RunConfig of one grid point; errors name ``grid.<field>`` or ``base.<field>``."""
        try:
            return build_config(self.base_fields(), **point)
        except ConfigError as e:
            where = "grid" if e.field.split(".")[0] in point else "base"
            allowed = e.allowed
            if e.field not in RunConfig.model_fields:
                allowed = "a RunConfig field: " + ", ".join(RunConfig.model_fields)
            raise ConfigError(f"{where}.{e.field}", e.value, allowed) from None

    def configs(self) -> list[RunConfig]:
        """Every run of the grid, validated (a critical spec: the base config of each point)."""
        return [self.config_at(p) for p in self.points()]

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def expand_axis(key: str, values: Any) -> list[Any]:
    """The values of one grid axis: a list as given, or a range table expanded."""
    field = f"grid.{key}"
    if isinstance(values, list):
        if not values:
            raise ConfigError(field, values, MSG_GRID_VALUE)
        return values
    if not isinstance(values, dict) or len(values) != 1:
        raise ConfigError(field, values, MSG_GRID_VALUE)
    ((kind, args),) = values.items()
    if kind not in RANGE_KINDS or not isinstance(args, list):
        raise ConfigError(field, values, MSG_GRID_VALUE)
    if kind in ("log2", "range"):
        if not all(isinstance(a, int) and not isinstance(a, bool) for a in args):
            raise ConfigError(f"{field}.{kind}", args, "integers")
        if kind == "log2":
            if len(args) != 2 or not 0 <= args[0] <= args[1] <= 40:
                raise ConfigError(f"{field}.log2", args, "[a, b] with 0 <= a <= b <= 40")
            return [2**e for e in range(args[0], args[1] + 1)]
        if len(args) not in (2, 3) or (len(args) == 3 and args[2] == 0):
            raise ConfigError(f"{field}.range", args, "[start, stop] or [start, stop, step != 0]")
        span = range(*args)
        if len(span) > MAX_AXIS:
            raise ConfigError(f"{field}.range", args, f"a range of at most {MAX_AXIS} values")
        out = list(span)
        if not out:
            raise ConfigError(f"{field}.range", args, "a non-empty range (stop is excluded)")
        return out
    if (
        len(args) != 3
        or not all(isinstance(a, int | float) and not isinstance(a, bool) for a in args)
        or not (is_int(args[2]) and 1 <= args[2] <= MAX_AXIS)
        or not all(is_finite(a) for a in args[:2])
    ):
        raise ConfigError(
            f"{field}.{kind}", args, f"[a, b, num]: finite a, b; num an integer in [1, {MAX_AXIS}]"
        )
    a, b, num = float(args[0]), float(args[1]), int(args[2])
    if kind == "geomspace" and not (a > 0 and b > 0):
        raise ConfigError(f"{field}.geomspace", args, "positive endpoints")
    if num == 1:
        return [a]
    if kind == "linspace":
        return [a + (b - a) * i / (num - 1) for i in range(num)]
    la, lb = math.log(a), math.log(b)
    return [math.exp(la + (lb - la) * i / (num - 1)) for i in range(num)]


def _spec_error(exc: ValidationError) -> ConfigError:
    """The first pydantic error as a ConfigError in overparam's words (never pydantic's)."""
    err = exc.errors()[0]
    parts = [str(x) for x in err.get("loc", ())]
    loc = ".".join(parts)
    model: type[BaseModel] = SweepSpec
    if len(parts) > 1:
        nested: dict[str, type[BaseModel]] = {"budget": Budget, "critical": CriticalSpec}
        model = nested.get(parts[0], SweepSpec)
    name = parts[-1] if parts else ""
    if err.get("type") == "value_error":
        msg = str(err.get("msg", "")).removeprefix("Value error, ")
    elif err.get("type") == "extra_forbidden":
        msg = "one of: " + ", ".join(model.model_fields)
    else:
        msg = field_allowed(name, model)
    if not re.fullmatch(r"[A-Za-z_][\w.-]*", loc):  # an unknown key that reads as no name
        return ConfigError("spec", parts[-1] if parts else err.get("input"), msg)
    return ConfigError(loc, err.get("input"), msg)


def parse_spec(raw: dict[str, Any]) -> SweepSpec:
    """Validate a spec dict (as parsed from TOML) and every grid point it expands to."""
    if not isinstance(raw, dict):
        raise ConfigError("spec", raw, "a table of name, description, base, grid, ...")
    raw = dict(raw)
    if isinstance(raw.get("grid"), dict):  # ranges expand first, so errors name the axis
        for key in raw["grid"]:
            if not (isinstance(key, str) and re.fullmatch(r"[A-Za-z_][\w-]*", key)):
                allowed = "axes named after RunConfig fields: " + ", ".join(RunConfig.model_fields)
                raise ConfigError("grid", key, allowed)
        raw["grid"] = {k: expand_axis(k, v) for k, v in raw["grid"].items()}
    try:
        spec = SweepSpec(**raw)
    except ValidationError as e:
        raise _spec_error(e) from None
    n = math.prod(len(v) for v in spec.grid.values())
    if n > spec.budget.max_runs:
        raise ConfigError("budget.max_runs", spec.budget.max_runs, f"at least the grid's {n} runs")
    if spec.critical is not None:
        owned = [k for k in CRITICAL_OWNED if k in spec.grid]
        if owned:
            raise ConfigError(
                f"grid.{owned[0]}",
                spec.grid[owned[0]],
                "no axis over " + ", ".join(CRITICAL_OWNED) + " (the critical search sets them)",
            )
        c = spec.critical
        if (c.target_loss is None) == (c.target_ratio is None):
            raise ConfigError(
                "critical.target_loss", c.target_loss, "exactly one of target_loss, target_ratio"
            )
        if c.width_min > c.width_max:
            raise ConfigError("critical.width_min", c.width_min, f"<= width_max={c.width_max}")
    spec.configs()  # every grid point validated before anything runs
    _check_probes(spec)
    return spec


def _check_probes(spec: SweepSpec) -> None:
    """Unknown probe names fail at load time when the probe registry can tell."""
    if not spec.probes:
        return
    try:
        from overparam.probes import make_probes
    except ImportError:  # registry not installed: the runs themselves will report it
        return
    try:
        make_probes(spec.probes, every=spec.probe_every)
    except ConfigError as e:
        raise ConfigError("probes", e.value, e.allowed) from None


# -- shipped specs ------------------------------------------------------------------------


def shipped_specs() -> dict[str, Path]:
    """{name: path} of the example specs inside the package (``overparam/specs/*.toml``)."""
    folder = resources.files("overparam") / "specs"
    out = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            out[entry.name.removesuffix(".toml")] = Path(str(entry))
    return out


def load_spec(name_or_path: str | Path) -> SweepSpec:
    """A spec from a TOML file, or a shipped spec by name (``"quick"``, ``"width-scaling"``).

    Raises:
        ConfigError: no such file or shipped spec, malformed TOML, an invalid field, or a file
            of several ``[[sweep]]`` tables (read those with :func:`load_specs`).
    """
    specs = load_specs(name_or_path)
    if len(specs) != 1:
        raise ConfigError("spec", str(name_or_path), "a file holding one spec (use load_specs)")
    return specs[0]


def load_specs(name_or_path: str | Path) -> list[SweepSpec]:
    """The specs of a TOML file (one spec, or an array of ``[[sweep]]`` tables, as
    ``overparam studies show NAME --toml`` prints a study's plan), or a shipped spec by name.

    Raises:
        ConfigError: no such file or shipped spec, malformed TOML, or an invalid field (named
            ``sweep[i].<field>`` inside an array).
    """
    p = Path(name_or_path)
    shipped = shipped_specs()
    if not p.is_file():
        key = str(name_or_path).removesuffix(".toml")
        if key not in shipped:
            allowed = "a TOML file, or a shipped spec: " + ", ".join(shipped)
            raise ConfigError("spec", str(name_or_path), allowed)
        p = shipped[key]
    try:
        raw = tomllib.loads(p.read_text())
    except OSError as e:
        raise ConfigError("spec", str(p), f"a readable TOML file ({e.strerror})") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError("spec", str(p), f"valid TOML ({e})") from None
    if "sweep" not in raw:
        return [parse_spec(raw)]
    tables = raw["sweep"]
    others = sorted(set(raw) - {"sweep"})
    if others:
        raise ConfigError(others[0], raw[others[0]], "only [[sweep]] tables beside each other")
    if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        raise ConfigError("sweep", tables, "an array of [[sweep]] tables, each a spec")
    specs = []
    for i, table in enumerate(tables):
        try:
            specs.append(parse_spec(table))
        except ConfigError as e:
            raise ConfigError(f"sweep[{i}].{e.field}", e.value, e.allowed) from None
    names = [s.name for s in specs]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError("sweep.name", twice[0], "a different name for each [[sweep]] table")
    return specs
