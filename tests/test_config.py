"""RunConfig: every bad input becomes one ConfigError naming the field (hypothesis-generated),
config files apply before overrides, and the config hash identifies a run."""

from __future__ import annotations

import json
import math
import re
import string
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from overparam.config import RunConfig, build_config, load_config_file
from overparam.errors import ConfigError
from overparam.models import Activation, Parameterization
from overparam.run import setup

ONE_LINE = re.compile(r"^(?P<field>[a-z_]+): got .*; allowed: .+$")
PARAMETERIZATIONS = {p.value for p in Parameterization}
ACTIVATIONS = {a.value for a in Activation}


def assert_one_line(err: ConfigError, field: str) -> None:
    text = str(err)
    assert "\n" not in text, text
    match = ONE_LINE.match(text)
    assert match is not None, text
    assert match["field"] == field == err.field, text


# ---------------------------------------------------------------------------------------------
# Strategies: (overrides, field the error must name)
# ---------------------------------------------------------------------------------------------

not_in = lambda allowed: st.text(min_size=1, max_size=12).filter(lambda s: s not in allowed)  # noqa: E731
outside_unit = st.one_of(
    st.floats(max_value=0.0, allow_nan=False), st.floats(min_value=1.0), st.just(math.nan)
)
nonpositive = st.one_of(st.floats(max_value=0.0, allow_nan=False), st.just(math.nan))


@st.composite
def batch_above_n(draw):
    n = draw(st.integers(1, 200))
    return {"n": n, "batch": draw(st.integers(n + 1, 10_000))}, "batch"


# Rejected when the config is built.
BAD_AT_BUILD = st.one_of(
    st.tuples(st.fixed_dictionaries({"width": st.integers(max_value=0)}), st.just("width")),
    st.tuples(st.fixed_dictionaries({"depth": st.integers(-5, 0)}), st.just("depth")),
    st.tuples(st.fixed_dictionaries({"mu": outside_unit}), st.just("mu")),
    st.tuples(
        st.fixed_dictionaries({"parameterization": not_in(PARAMETERIZATIONS)}),
        st.just("parameterization"),
    ),
    st.tuples(st.fixed_dictionaries({"activation": not_in(ACTIVATIONS)}), st.just("activation")),
    st.tuples(
        st.fixed_dictionaries({"lr": st.one_of(nonpositive, st.just(math.inf))}), st.just("lr")
    ),
    st.tuples(  # letters only: "1e-3" would be a valid lr ("nan" / "inf" are rejected as lr)
        st.fixed_dictionaries(
            {
                "lr": st.text(string.ascii_letters, min_size=1).filter(
                    lambda s: s not in ("auto", "theory")
                )
            }
        ),
        st.just("lr"),
    ),
    batch_above_n(),
    st.tuples(st.fixed_dictionaries({"steps": st.integers(max_value=0)}), st.just("steps")),
    st.tuples(st.fixed_dictionaries({"d": st.integers(max_value=0)}), st.just("d")),
    st.tuples(st.fixed_dictionaries({"noise": st.floats(min_value=1.0001)}), st.just("noise")),
    st.tuples(
        st.fixed_dictionaries({"lr_scale": nonpositive}),
        st.just("lr_scale"),
    ),
    st.tuples(st.just({"algorithm": "sgd"}), st.just("batch")),
    st.tuples(st.just({"data": "close-pair"}), st.just("phi")),
    st.tuples(st.just({"dtype": "float16"}), st.just("dtype")),
    st.tuples(st.just({"widht": 64}), st.just("widht")),
    # separations no n points reach on the unit sphere, and devices torch has no name for
    st.tuples(
        st.fixed_dictionaries(
            {"min_separation": st.one_of(st.floats(2.0, 10.0), st.floats(-5.0, -1e-9))}
        ),
        st.just("min_separation"),
    ),
    st.tuples(st.just({"device": "not-a-device"}), st.just("device")),
)


@st.composite
def infeasible_separation(draw):
    """On the d = 3 slice (a circle of radius r = sqrt(1 - mu^2)) at most floor(pi / asin(phi /
    2r)) points are phi apart; ask for more, or for phi outside [0, 2)."""
    mu = draw(st.floats(0.05, 0.95))
    r = math.sqrt(1 - mu * mu)
    phi = draw(st.floats(0.05, 1.99))
    chord = phi / r
    most = 1 if chord > 2 else math.floor(math.pi / math.asin(chord / 2))
    n = draw(st.integers(most + 1, most + 50))
    return {"n": n, "d": 3, "mu": mu, "min_separation": phi}, "min_separation"


# Accepted by RunConfig, rejected when data and network are built.
BAD_AT_SETUP = st.one_of(
    infeasible_separation(),
    st.tuples(st.just({"parameterization": "cao-gu", "depth": 1}), st.just("depth")),
    st.tuples(
        st.fixed_dictionaries(
            {
                "parameterization": st.sampled_from(["allen-zhu", "zou-gu", "cao-gu"]),
                "activation": st.sampled_from(sorted(ACTIVATIONS - {"relu"})),
            }
        ),
        st.just("activation"),
    ),
    st.tuples(st.just({"parameterization": "du", "bias_std": 0.1}), st.just("bias_std")),
    st.tuples(st.just({"loss": "logistic", "k": 2}), st.just("loss")),
    st.tuples(st.just({"loss": "cross-entropy", "k": 1}), st.just("loss")),
    st.tuples(st.just({"labels": "onehot", "k": 1}), st.just("k")),
    st.tuples(st.just({"data": "close-pair", "phi": 1.9}), st.just("phi")),
    st.tuples(st.just({"trainable": "W7"}), st.just("trainable")),
    st.tuples(st.just({"d": 1}), st.just("d")),
    st.tuples(st.just({"data": "digits", "n": 5000}), st.just("n")),
)

SMALL = {"n": 8, "d": 4, "width": 8, "depth": 2}


@given(BAD_AT_BUILD)
def test_bad_config_raises_one_config_error_naming_the_field(case):
    overrides, field = case
    with pytest.raises(ConfigError) as err:
        build_config(SMALL, **overrides)
    assert_one_line(err.value, field)


@given(BAD_AT_SETUP)
def test_bad_setup_raises_one_config_error_naming_the_field(case):
    overrides, field = case
    cfg = build_config(SMALL, **overrides)  # valid as a config ...
    with pytest.raises(ConfigError) as err:
        setup(cfg)  # ... but not as data + network
    assert_one_line(err.value, field)


def test_cuda_device_is_a_config_error_when_absent():
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(ConfigError) as err:
        setup(build_config(SMALL, device="cuda"))
    assert_one_line(err.value, "device")


def test_the_arch_picks_data_and_parameterization_only_when_unset():
    assert (build_config(arch="gnn").data, build_config(arch="gnn").parameterization) == (
        "sbm",
        "standard",
    )
    assert build_config(arch="gnn", data="karate").data == "karate"
    assert build_config(arch="cnn").data == "sphere"  # 1-D convolutions of the coordinates
    with pytest.raises(ConfigError) as err:
        build_config(arch="gnn", data="sphere")
    assert_one_line(err.value, "data")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"width": True}, "width"),
        ({"width": 3.0}, "width"),
        ({"width": "64"}, "width"),
        ({"width": 2**40}, "width"),
        ({"seed": -1}, "seed"),
        ({"arch": ["fc"]}, "arch"),
        ({"arch": {"a": 1}}, "arch"),
        ({"skip": 1}, "skip"),
        ({"lr": True}, "lr"),
        ({"target_ratio": 1.0}, "target_ratio"),
        ({"target_loss": math.nan}, "target_loss"),
        ({"test_fraction": 1.5}, "test_fraction"),
        ({"bias_std": math.inf}, "bias_std"),
        ({"phi": 2.0, "data": "close-pair"}, "phi"),
        ({"probes": [1]}, "probes"),
    ],
)
def test_strict_types_reject_bools_floats_strings_and_overflow(fields, field):
    with pytest.raises(ConfigError) as err:
        build_config(SMALL, **fields)
    assert_one_line(err.value, field)
    for word in ("Input should", "validation error", "pydantic"):
        assert word not in str(err.value)


def test_numpy_integers_and_python_ints_are_accepted():
    import numpy as np

    cfg = build_config(width=np.int64(32), seed=np.uint32(7), mu=np.float64(0.25))
    assert (cfg.width, cfg.seed, cfg.mu) == (32, 7, 0.25)
    assert (
        type(cfg.width) is int
        and cfg.config_hash() == build_config(width=32, seed=7, mu=0.25).config_hash()
    )


def test_cross_field_errors_report_the_value_received():
    with pytest.raises(ConfigError) as err:
        build_config(n=10, batch=100)
    assert err.value.value == 100 and "n=10" in err.value.allowed
    with pytest.raises(ConfigError) as err:
        build_config(lr="fast")
    assert err.value.field == "lr" and "'auto' or 'theory'" in err.value.allowed


# ---------------------------------------------------------------------------------------------
# Config files
# ---------------------------------------------------------------------------------------------


@given(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=200),
    st.sampled_from([".toml", ".json"]),
)
def test_arbitrary_config_file_gives_a_config_or_a_config_error(text, suffix):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"run{suffix}"
        path.write_text(text, encoding="utf-8")
        try:
            cfg = RunConfig.from_file(path)
        except ConfigError as e:
            assert "\n" not in str(e) and ONE_LINE.match(str(e)), str(e)
        else:
            assert isinstance(cfg, RunConfig)


@pytest.mark.parametrize(
    ("name", "text", "field"),
    [
        ("bad.toml", "width = \n", "config"),
        ("bad.toml", "[[x]\n", "config"),
        ("bad.json", "{width: 3}", "config"),
        ("list.json", "[1, 2]", "config"),
        ("null.json", "null", "config"),
        ("unknown.toml", "widht = 64\n", "widht"),
        ("type.toml", 'width = "wide"\n', "width"),
        ("date.toml", "seed = 1979-05-27\n", "seed"),
        ("bad_value.json", '{"mu": 1.5}', "mu"),
    ],
)
def test_malformed_config_files(tmp_path, name, text, field):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        RunConfig.from_file(path)
    assert_one_line(err.value, field)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config_file(tmp_path / "nope.toml")
    assert_one_line(err.value, "config")


def test_file_then_overrides(tmp_path):
    (tmp_path / "run.toml").write_text('width = 48\ndepth = 3\nparameterization = "du"\n')
    (tmp_path / "run.json").write_text(
        json.dumps({"width": 48, "depth": 3, "parameterization": "du"})
    )
    from_toml = RunConfig.from_file(tmp_path / "run.toml", depth=4, seed=None)
    from_json = RunConfig.from_file(tmp_path / "run.json", depth=4)
    assert from_toml == from_json
    assert (from_toml.width, from_toml.depth, from_toml.parameterization) == (48, 4, "du")
    assert from_toml.seed == RunConfig().seed  # None overrides are "not given"


def test_defaults_are_the_documented_zou_gu_run():
    cfg = RunConfig()
    assert (cfg.parameterization, cfg.algorithm, cfg.activation, cfg.lr) == (
        "zou-gu",
        "gd",
        "relu",
        "auto",
    )
    assert (cfg.data, cfg.n, cfg.d, cfg.mu) == ("sphere", 64, 16, 0.5)


def test_config_hash_identifies_the_run():
    a = build_config(width=64)
    assert a.config_hash() == build_config(width=64).config_hash()
    for change in ({"width": 65}, {"seed": 1}, {"lr": 0.1}, {"probes": ("norms",)}):
        assert a.model_copy(update=change).config_hash() != a.config_hash(), change
    with pytest.raises(ValueError):  # frozen
        a.width = 3  # type: ignore[misc]


def test_seeds_are_distinct_and_derived():
    for seed in (0, 1, 12345):
        s = build_config(seed=seed).seeds()
        assert s["data"] == seed
        assert len(set(s.values())) == 3
        assert s == build_config(seed=seed).seeds()
    assert build_config(seed=0).seeds()["init"] != build_config(seed=1).seeds()["init"]
