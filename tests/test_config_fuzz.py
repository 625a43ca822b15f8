"""Fuzzing the config boundary: build_config and parse_spec given arbitrary JSON-typed values
(bools, NaN, inf, huge ints, strings, None, lists, dicts) under known field names either raise
one ConfigError whose message is one line in overparam's words, or return a config that passes
the same validation again (and keeps its hash)."""

from __future__ import annotations

import math
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from overparam.config import RunConfig, build_config
from overparam.errors import ConfigError
from overparam.sweep.spec import Budget, CriticalSpec, SweepSpec, parse_spec

LINE = re.compile(r"^[A-Za-z_][\w.-]*: got .*; allowed: .+$")
FOREIGN = ("Input should", "validation error", "pydantic", "Value error", "type=")

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.sampled_from([0, 1, 2, 3, 8, 64, -1, 2**31, 2**64, 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0, -0.5, math.nan, math.inf, -math.inf, 1e-3]),
    st.text(max_size=8),
)
# Strings the fields accept, so that some examples get through to the deeper checks.
VALID_WORDS = st.sampled_from(
    [
        "sphere",
        "digits",
        "close-pair",
        "sbm",
        "karate",
        "fc",
        "resnet",
        "cnn",
        "gnn",
        "zou-gu",
        "allen-zhu",
        "du",
        "cao-gu",
        "ntk",
        "standard",
        "relu",
        "tanh",
        "gd",
        "sgd",
        "auto",
        "theory",
        "float64",
        "float32",
        "cpu",
        "cuda:0",
        "square",
        "mean",
        "gaussian",
        "binary",
        "movement",
        "all",
        "hidden",
    ]
)
json_values = st.recursive(
    st.one_of(scalars, VALID_WORDS),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
# Mostly known names (seven branches of eight), with values that are often plausible.
known_fields = st.sampled_from(sorted(RunConfig.model_fields))
field_names = st.one_of(*[known_fields] * 7, st.text(max_size=6))
plausible = st.sampled_from([1, 2, 4, 8, 0.1, 0.5, 0.9, 1.0, 1.5])
field_values = st.one_of(json_values, plausible, VALID_WORDS)


def assert_clean(err: ConfigError) -> None:
    text = str(err)
    assert "\n" not in text, text
    assert LINE.match(text), text
    for word in FOREIGN:
        assert word not in text, text


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(field_names, field_values, max_size=4))
def test_build_config_raises_one_line_or_validates_again(fields):
    try:
        cfg = build_config(fields)
    except ConfigError as e:
        assert_clean(e)
        return
    again = build_config(cfg.model_dump(mode="json"))
    assert again == cfg and again.config_hash() == cfg.config_hash()
    for name in ("n", "d", "width", "depth", "steps", "seed"):
        value = getattr(cfg, name)
        assert value is None or (type(value) is int and value >= 0), (name, value)
    for name, value in cfg.model_dump().items():
        if isinstance(value, float):
            assert math.isfinite(value), (name, value)


known_keys = st.sampled_from(sorted(SweepSpec.model_fields))
spec_keys = st.one_of(*[known_keys] * 7, st.text(max_size=6))
axis = st.one_of(
    st.lists(json_values, max_size=3),
    st.dictionaries(
        st.sampled_from(["log2", "range", "linspace", "geomspace", "log3"]),
        st.lists(st.one_of(scalars, st.integers(0, 12)), max_size=4),
        min_size=1,
        max_size=2,
    ),
    json_values,
)
small_base = st.fixed_dictionaries(
    {"n": st.just(4), "d": st.just(3), "width": st.just(4), "steps": st.just(2)}
)
tables = {
    "name": st.one_of(st.sampled_from(["s", "a-b", "has space", ""]), json_values),
    "grid": st.one_of(
        st.dictionaries(st.sampled_from(["width", "seed", "lr", "mu", "wdith"]), axis, max_size=2),
        json_values,
    ),
    "base": st.one_of(
        small_base,
        st.dictionaries(st.sampled_from(sorted(RunConfig.model_fields)), json_values, max_size=2),
        json_values,
    ),
    "budget": st.one_of(
        st.dictionaries(st.sampled_from([*Budget.model_fields, "max_run"]), json_values),
        json_values,
    ),
    "critical": st.one_of(
        st.dictionaries(st.sampled_from([*CriticalSpec.model_fields, "seed"]), json_values),
        json_values,
    ),
}


@st.composite
def specs(draw):
    raw = {"name": "fuzz", "base": {"n": 4, "d": 3, "width": 4, "steps": 2}}
    for key in draw(st.lists(spec_keys, max_size=4)):
        raw[key] = draw(tables.get(key, json_values))
    return raw


@settings(max_examples=200, deadline=None)
@given(specs())
def test_parse_spec_raises_one_line_or_validates_again(raw):
    try:
        spec = parse_spec(raw)
    except ConfigError as e:
        assert_clean(e)
        return
    again = parse_spec(spec.to_dict())
    assert again == spec
    assert [c.config_hash() for c in again.configs()] == [c.config_hash() for c in spec.configs()]
    if spec.critical is not None:
        seeds = spec.critical.seed_list()
        assert seeds and len(set(seeds)) == len(seeds) and min(seeds) >= 0
