"""``RunConfig``: one frozen, validated description of a training run.

Validation happens once, here; errors name the field, the value and what is allowed.
Defaults reproduce a small zou-gu run [zou-gu-2019, Algorithm 1] that converges on a laptop.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from overparam import architectures
from overparam.data.digits import DigitsTask
from overparam.data.labels import Labels
from overparam.errors import (
    DEVICE_ALLOWED,
    MAX_SEED,
    MAX_SIZE,
    ConfigError,
    int_allowed,
    is_device_name,
    is_finite,
    is_int,
)
from overparam.models.activations import Activation
from overparam.models.parameterization import Parameterization

# The arch tables are read from the architecture registry (:mod:`overparam.architectures`, one
# declaration per arch), live: an architecture registered later shows up here too.
# Parameterizations each arch implements; the first is the default when none is given (fc:
# zou-gu, then every other; resnet: du, the ResNet of [du-2019-deep, Sec. 6] with an explicit
# Gram; cnn: allen-zhu's plain CNN; gnn: standard, since [xu-2021-gnn] prescribes no init).
ARCH_PARAMETERIZATIONS: Mapping[str, tuple[str, ...]] = architectures.View(
    lambda a: a.parameterizations
)
# The data each arch trains on; the first is its default when none is given: a gnn needs a graph
# (the SBM); fc, resnet and cnn (patch-wise 1-D convolutions of the sphere's coordinates) keep the
# sphere.
ARCH_DATA: Mapping[str, tuple[str, ...]] = architectures.View(lambda a: a.data)
ARCH_DEFAULT_DATA: Mapping[str, str] = architectures.View(lambda a: a.data[0])


class _ArchNames:
    """The registered arch names in words, read each time they are shown."""

    def __str__(self) -> str:
        return ", ".join(architectures.names())


def arch_check() -> Any:
    """The arch field's BeforeValidator: a registered architecture's name."""

    def validate(v: Any) -> Any:
        if not (isinstance(v, str) and v in architectures.names()):
            raise ValueError(str(_ArchNames()))
        return v

    validate.allowed = _ArchNames()  # type: ignore[attr-defined]
    return BeforeValidator(validate)


# -- field types ------------------------------------------------------------------------------
# Each field's BeforeValidator sees the raw value (from flags, JSON or TOML) and accepts only its
# own type: ints are not bools or floats, floats are finite numbers (not bools or strings), choices
# are strings from their list. Its ``allowed`` text is the message of every rejection.


def checked(check: Callable[[Any], bool], allowed: str, convert: Callable[[Any], Any]) -> Any:
    """A pydantic BeforeValidator: ``convert(v)`` if ``check(v)``, else ``allowed`` as error."""

    def validate(v: Any) -> Any:
        if not check(v):
            raise ValueError(allowed)
        return convert(v)

    validate.allowed = allowed  # type: ignore[attr-defined]
    return BeforeValidator(validate)


def int_check(lo: int = 1, hi: int = MAX_SIZE, none: str = "") -> Any:
    """An int in [lo, hi]; ``none``: None is allowed too, and means this."""
    allowed = int_allowed(lo, hi) + (f", or None ({none})" if none else "")

    def check(v: Any) -> bool:
        return (bool(none) and v is None) or (is_int(v) and lo <= v <= hi)

    return checked(check, allowed, lambda v: None if v is None else int(v))


def float_check(
    lo: float | None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
    none: str = "",
    allowed: str,
) -> Any:
    """A finite float within the bounds; ``none``: None is allowed too, and means this."""
    if none:
        allowed = f"{allowed}, or None ({none})"

    def check(v: Any) -> bool:
        if v is None:
            return bool(none)
        if not is_finite(v):
            return False
        if lo is not None and not (v > lo if lo_open else v >= lo):
            return False
        return hi is None or (v < hi if hi_open else v <= hi)

    return checked(check, allowed, lambda v: None if v is None else float(v))


def choice_check(values: tuple[str, ...], none: str = "") -> Any:
    """A string from ``values`` (StrEnum members count); ``none``: None too, meaning this."""
    allowed = ", ".join(values) + (f", or None ({none})" if none else "")

    def check(v: Any) -> bool:
        return (bool(none) and v is None) or (isinstance(v, str) and v in values)

    return checked(check, allowed, lambda v: v)


def _values(enum: Any) -> tuple[str, ...]:
    return tuple(e.value for e in enum)


def _lr_ok(v: Any) -> bool:
    return v in ("auto", "theory") or (is_finite(v) and v > 0)


def _probes(v: Any) -> bool:
    return isinstance(v, list | tuple) and all(isinstance(p, str) for p in v)


SizeInt = Annotated[int, int_check()]
PositiveFloat = Annotated[float, float_check(0.0, lo_open=True, allowed="a positive finite number")]
Probability = Annotated[float, float_check(0.0, 1.0, allowed="a probability in [0, 1]")]


class RunConfig(BaseModel):
    """Everything that determines a run; the same config and seed give the same numbers."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=True)

    # -- data ------------------------------------------------------------------------------
    data: Annotated[
        Literal["sphere", "close-pair", "digits", "sbm", "karate"],
        choice_check(("sphere", "close-pair", "digits", "sbm", "karate")),
    ] = Field("sphere", description="sphere (gnn: sbm)")
    n: Annotated[
        int | None,
        checked(
            lambda v: v is None or v == "all" or (is_int(v) and 1 <= v <= MAX_SIZE),
            int_allowed(1, MAX_SIZE) + ", or 'all' / None (digits: the whole train split)",
            lambda v: None if v in (None, "all") else int(v),
        ),
    ] = Field(64, description="samples (digits: None keeps the whole train split)")
    d: SizeInt = Field(16, description="input dimension (sphere / close-pair)")
    k: SizeInt = Field(1, description="output dimension")
    mu: Annotated[
        float,
        float_check(
            0.0, 1.0, lo_open=True, hi_open=True, allowed="a number in the open interval (0, 1)"
        ),
    ] = Field(0.5, description="last input coordinate [zou-gu-2019, Assumption 3.1]")
    min_separation: Annotated[
        float, float_check(0.0, 2.0, hi_open=True, allowed="a number in [0, 2)")
    ] = Field(0.0, description="enforced phi (sphere)")
    phi: Annotated[
        float | None,
        float_check(
            0.0,
            2.0,
            lo_open=True,
            hi_open=True,
            none="only without data=close-pair",
            allowed="a distance in the open interval (0, 2)",
        ),
    ] = Field(None, description="close-pair distance")
    labels: Annotated[Labels, choice_check(_values(Labels))] = Labels.GAUSSIAN
    task: Annotated[DigitsTask, choice_check(_values(DigitsTask))] = DigitsTask.BINARY
    noise: Annotated[float, float_check(0.0, 1.0, allowed="a fraction in [0, 1]")] = Field(
        0.0, description="fraction of random training labels (digits, graphs)"
    )
    # 0 (no held-out split) is for graphs; digits needs a test split, checked when it is built.
    test_fraction: Annotated[
        float, float_check(0.0, 1.0, hi_open=True, allowed="a fraction in [0, 1)")
    ] = 0.2
    # graphs (data=sbm / karate, arch=gnn): n nodes, d feature dims (sbm); k from the blocks
    blocks: Annotated[int, int_check(2)] = Field(
        2, description="SBM communities (2: +-1 labels; more: one-hot)"
    )
    p_in: Probability = Field(0.3, description="SBM edge probability inside a community")
    p_out: Probability = Field(0.05, description="SBM edge probability across communities")
    feature_noise: Annotated[float, float_check(0.0, allowed="a finite number >= 0")] = Field(
        1.0, description="SBM feature noise (0: features give labels)"
    )
    # -- network ---------------------------------------------------------------------------
    # width is the hidden width m for every arch: the channels of a cnn, m_l of a gnn.
    arch: Annotated[str, arch_check()] = Field("fc", description="a registered architecture")
    width: SizeInt = 256
    depth: SizeInt = 2
    parameterization: Annotated[Parameterization, choice_check(_values(Parameterization))] = Field(
        Parameterization.ZOU_GU, description="zou-gu (resnet: du; cnn: allen-zhu; gnn: standard)"
    )
    activation: Annotated[Activation, choice_check(_values(Activation))] = Activation.RELU
    trainable: Annotated[
        str | None,
        checked(
            lambda v: v is None or (isinstance(v, str) and bool(v.strip())),
            "hidden, all, or comma-separated layer names, or None (the paper's choice)",
            lambda v: v,
        ),
    ] = Field(None, description="hidden, all, or comma-separated layer names")
    weight_std: PositiveFloat = math.sqrt(2.0)  # He init, neural-tangents' usual relu choice
    bias_std: Annotated[
        float | None,
        float_check(0.0, none="no biases", allowed="a finite number >= 0"),
    ] = None
    readout_std: PositiveFloat = 1.0
    tau: Annotated[  # allen-zhu resnet's residual scale; None: 1/(sqrt(L) log m)
        float | None,
        float_check(
            0.0, lo_open=True, none="1/(sqrt(L) log m)", allowed="a positive finite number"
        ),
    ] = None
    c_res: PositiveFloat = 1.0  # du's residual constant c_res [du-2019-deep, Sec. 6]: small; 1
    # cnn kernel side: 3 (3x3 on digits) is the smallest centred kernel
    kernel_size: SizeInt = 3
    # gnn: JK-Net read-out of every layer [xu-2021-gnn, skip-connection GNN]
    skip: Annotated[bool, checked(lambda v: isinstance(v, bool), "true or false", bool)] = False
    # -- optimization ----------------------------------------------------------------------
    algorithm: Annotated[
        Literal["gd", "sgd", "online-sgd"], choice_check(("gd", "sgd", "online-sgd"))
    ] = "gd"
    lr: Annotated[
        float | Literal["auto", "theory"],
        checked(
            _lr_ok,
            "a positive number, 'auto' or 'theory'",
            lambda v: v if isinstance(v, str) else float(v),
        ),
    ] = Field("auto", description="auto: 1/lambda_max(Gauss-Newton)")
    lr_scale: PositiveFloat = 1.0
    steps: SizeInt = 1000
    batch: Annotated[int | None, int_check(none="full batch")] = None
    loss: Annotated[
        Literal["square", "logistic", "cross-entropy"] | None,
        choice_check(("square", "logistic", "cross-entropy"), none="the paper's loss"),
    ] = None
    reduction: Annotated[
        Literal["sum", "mean"] | None, choice_check(("sum", "mean"), none="the paper's reduction")
    ] = None
    target_loss: Annotated[
        float | None, float_check(0.0, none="no target", allowed="a finite number >= 0")
    ] = None
    target_ratio: Annotated[
        float | None,
        float_check(
            0.0,
            1.0,
            lo_open=True,
            hi_open=True,
            none="no target",
            allowed="a number in the open interval (0, 1)",
        ),
    ] = None
    # -- reproducibility -------------------------------------------------------------------
    seed: Annotated[int, int_check(0, MAX_SEED)] = 0
    dtype: Annotated[Literal["float32", "float64"], choice_check(("float32", "float64"))] = (
        "float32"
    )
    device: Annotated[str, checked(is_device_name, DEVICE_ALLOWED, lambda v: v)] = "cpu"
    # -- probes ----------------------------------------------------------------------------
    probes: Annotated[
        tuple[str, ...], checked(_probes, "a list of probe names (or all)", tuple)
    ] = ()
    probe_every: Annotated[int | None, int_check(none="~50 log-spaced evaluations")] = Field(
        None, description="None: ~50 log-spaced evaluations"
    )

    @model_validator(mode="before")
    @classmethod
    def _arch_defaults(cls, data: Any) -> Any:
        # An unset parameterization (or data) follows the arch: see ARCH_PARAMETERIZATIONS and
        # ARCH_DEFAULT_DATA. A non-string arch is left for its own validator to reject.
        if not isinstance(data, dict):
            return data
        arch = data.get("arch", "fc")
        if not isinstance(arch, str) or arch not in ARCH_PARAMETERIZATIONS:
            return data
        if "parameterization" not in data:
            data = {**data, "parameterization": ARCH_PARAMETERIZATIONS[arch][0]}
        if "data" not in data:
            data = {**data, "data": ARCH_DEFAULT_DATA[arch]}
        return data

    @model_validator(mode="after")
    def _cross_field(self) -> RunConfig:
        # Messages read "<field>=<value>: <allowed>" so config_error can name the field.
        if self.batch is not None and self.n is not None and self.batch > self.n:
            raise ValueError(f"batch={self.batch}: an integer in [1, n={self.n}]")
        if self.algorithm == "sgd" and self.batch is None:
            raise ValueError("batch=None: an integer in [1, n] (algorithm=sgd needs a batch)")
        if self.data != "digits" and self.n is None:
            raise ValueError("n=None: an integer >= 1 (None only for data=digits)")
        if self.data == "close-pair" and self.phi is None:
            raise ValueError("phi=None: a distance in (0, 2) (data=close-pair needs phi)")
        self._check_arch()
        return self

    def _check_arch(self) -> None:
        """arch / data / parameterization / arch-only fields fit together."""
        allowed = ARCH_PARAMETERIZATIONS[self.arch]
        if self.parameterization not in allowed:
            raise ValueError(
                f"parameterization={self.parameterization}: "
                f"{', '.join(allowed)} for arch={self.arch}"
            )
        data = ARCH_DATA[self.arch]
        if self.data not in data:
            # An arch for the default data (the sphere) given other data (a graph) is the wrong
            # arch; any other arch given data it does not read is the wrong data.
            fits = [a for a, ok in ARCH_DATA.items() if self.data in ok]
            if fits and RunConfig.model_fields["data"].default in data:
                raise ValueError(f"arch={self.arch}: {', '.join(fits)} for data={self.data}")
            raise ValueError(f"data={self.data}: {', '.join(data)} for arch={self.arch}")
        if self.tau is not None and (self.arch, self.parameterization) != ("resnet", "allen-zhu"):
            raise ValueError(
                f"tau={self.tau}: None unless arch=resnet with parameterization=allen-zhu"
            )
        if self.skip and self.arch != "gnn":
            raise ValueError(f"skip=True: False for arch={self.arch} (skip is the gnn read-out)")

    # -- helpers ---------------------------------------------------------------------------
    def seeds(self) -> dict[str, int]:
        """Independent seeds for data, init and minibatch order, derived from ``seed``."""
        import numpy as np

        # The data generators expand ``seed`` itself with SeedSequence(seed).generate_state;
        # init and order come from spawned children, whose words never repeat the data's
        # (generate_state(3)[0] equals generate_state(2)[0]: the init weights used to be drawn
        # from the same torch stream as the sphere's input directions).
        init, order = (
            int(np.random.SeedSequence(self.seed, spawn_key=(i,)).generate_state(1)[0])
            for i in (1, 2)
        )
        return {"data": self.seed, "init": init, "order": order}

    def config_hash(self) -> str:
        """SHA-256 of the canonical JSON of every field (the identity of a run)."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @classmethod
    def from_file(cls, path: str | Path, **overrides: Any) -> RunConfig:
        """Load TOML or JSON (by extension), then apply ``overrides`` (None values skipped)."""
        return build_config(load_config_file(path), **overrides)


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Parse a TOML / JSON file into a dict; a malformed file is a :class:`ConfigError`."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise ConfigError(
            "config", str(path), f"a readable TOML or JSON file ({e.strerror})"
        ) from None
    try:
        raw = json.loads(text) if p.suffix == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(
            "config", str(path), f"valid {p.suffix.lstrip('.') or 'TOML'} ({e})"
        ) from None
    if not isinstance(raw, dict):
        raise ConfigError("config", str(path), "a table / object of RunConfig fields")
    return raw


def field_allowed(name: str, model: type[BaseModel] | None = None) -> str:
    """What a field of ``model`` (default RunConfig) accepts, in words (its validator's
    ``allowed`` text); for a name that is no field, the list of fields."""
    model = model or RunConfig
    info = model.model_fields.get(name)
    for meta in info.metadata if info is not None else ():
        allowed = getattr(getattr(meta, "func", None), "allowed", None)
        if allowed:
            return str(allowed)
    if info is not None:
        return f"a valid {name}"
    if model is RunConfig:
        return "a RunConfig field: " + ", ".join(RunConfig.model_fields)
    return "one of: " + ", ".join(model.model_fields)


def config_error(exc: ValidationError) -> ConfigError:
    """The first pydantic error as a one-line :class:`ConfigError` (field, value, allowed).

    The wording is overparam's own: a field validator's ``allowed`` text, or the cross-field
    message; pydantic's messages never reach the user.
    """
    err = exc.errors()[0]
    loc = str(err["loc"][0]) if err.get("loc") else ""
    if err.get("type") == "extra_forbidden":
        return ConfigError(loc, err.get("input"), field_allowed(""))
    if loc and loc != "config":
        if err.get("type") == "value_error":
            allowed = str(err.get("msg", "")).removeprefix("Value error, ")
        else:
            allowed = field_allowed(loc)
        return ConfigError(loc, err.get("input"), allowed)
    # A cross-field message from _cross_field: "<field>=<value>: <allowed>".
    msg = str(err.get("msg", "")).removeprefix("Value error, ")
    field, _, rest = msg.partition("=")
    text, _, allowed = rest.partition(": ")
    raw = err.get("input")
    if isinstance(raw, dict) and field in raw:
        value: Any = raw[field]
    elif field in RunConfig.model_fields:
        value = RunConfig.model_fields[field].default
    else:
        value = text
    return ConfigError(field or "config", value, allowed or "a valid RunConfig")


def build_config(base: dict[str, Any] | None = None, **overrides: Any) -> RunConfig:
    """RunConfig from a dict plus overrides (None overrides are ignored), with clean errors."""
    if base is not None and not isinstance(base, dict):
        raise ConfigError("config", base, "a table / object of RunConfig fields")
    fields = dict(base or {})
    fields.update({k: v for k, v in overrides.items() if v is not None})
    for key in fields:
        if key not in RunConfig.model_fields:  # named, when it reads as a name
            named = isinstance(key, str) and re.fullmatch(r"[A-Za-z_][\w.-]{0,99}", key)
            raise ConfigError(key if named else "config", key, field_allowed(""))
    if isinstance(fields.get("probes"), str):
        fields["probes"] = (fields["probes"],)
    try:
        return RunConfig(**fields)
    except ValidationError as e:
        raise config_error(e) from None
