"""``RunConfig``: one frozen, validated description of a training run.

Validation happens once, here; errors name the field, the value and what is allowed.
Defaults reproduce a small zou-gu run [zou-gu-2019, Algorithm 1] that converges on a laptop.
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from overparam.data.digits import DigitsTask
from overparam.data.labels import Labels
from overparam.errors import ConfigError
from overparam.models.activations import Activation
from overparam.models.parameterization import Parameterization

# Parameterizations each arch implements; the first is the default when none is given (resnet:
# du, the ResNet of [du-2019-deep, Sec. 6] with an explicit Gram; cnn: allen-zhu's plain CNN; gnn:
# standard, since [xu-2021-gnn] prescribes no init). Empty: every parameterization (fc).
ARCH_PARAMETERIZATIONS: dict[str, tuple[str, ...]] = {
    "fc": (),
    "resnet": ("du", "allen-zhu"),
    "cnn": ("allen-zhu", "du"),
    "gnn": ("standard", "ntk"),
}
GRAPH_DATA = ("sbm", "karate")


class RunConfig(BaseModel):
    """Everything that determines a run; the same config and seed give the same numbers."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=True)

    # -- data ------------------------------------------------------------------------------
    data: Literal["sphere", "close-pair", "digits", "sbm", "karate"] = "sphere"
    n: int | None = Field(64, description="samples (digits: None keeps the whole train split)")
    d: int = Field(16, description="input dimension (sphere / close-pair)")
    k: int = Field(1, description="output dimension")
    mu: float = Field(0.5, description="last input coordinate [zou-gu-2019, Assumption 3.1]")
    min_separation: float = Field(0.0, description="enforced phi (sphere)")
    phi: float | None = Field(None, description="close-pair distance")
    labels: Labels = Labels.GAUSSIAN
    task: DigitsTask = DigitsTask.BINARY
    noise: float = Field(0.0, description="fraction of random training labels (digits, graphs)")
    test_fraction: float = 0.2
    # graphs (data=sbm / karate, arch=gnn): n nodes, d feature dims (sbm); k from the blocks
    blocks: int = Field(2, description="SBM communities (2: +-1 labels; more: one-hot)")
    p_in: float = Field(0.3, description="SBM edge probability inside a community")
    p_out: float = Field(0.05, description="SBM edge probability across communities")
    feature_noise: float = Field(1.0, description="SBM feature noise (0: features give labels)")
    # -- network ---------------------------------------------------------------------------
    # width is the hidden width m for every arch: the channels of a cnn, m_l of a gnn.
    arch: Literal["fc", "resnet", "cnn", "gnn"] = "fc"
    width: int = 256
    depth: int = 2
    parameterization: Parameterization = Parameterization.ZOU_GU
    activation: Activation = Activation.RELU
    trainable: str | None = Field(None, description="hidden, all, or comma-separated layer names")
    weight_std: float = math.sqrt(2.0)  # He init, neural-tangents' usual relu choice
    bias_std: float | None = None
    readout_std: float = 1.0
    tau: float | None = None  # allen-zhu resnet's residual scale; None: 1/(sqrt(L) log m)
    c_res: float = 1.0  # du's residual constant c_res [du-2019-deep, Sec. 6]: small; 1 here
    kernel_size: int = 3  # cnn kernel side: 3 (3x3 on digits) is the smallest centred kernel
    skip: bool = False  # gnn: JK-Net read-out of every layer [xu-2021-gnn, skip-connection GNN]
    # -- optimization ----------------------------------------------------------------------
    algorithm: Literal["gd", "sgd", "online-sgd"] = "gd"
    lr: float | Literal["auto", "theory"] = "auto"  # auto: 1/lambda_max(Gauss-Newton)
    lr_scale: float = 1.0
    steps: int = 1000
    batch: int | None = None
    loss: Literal["square", "logistic", "cross-entropy"] | None = None  # None: paper's default
    reduction: Literal["sum", "mean"] | None = None
    target_loss: float | None = None
    target_ratio: float | None = None
    # -- reproducibility -------------------------------------------------------------------
    seed: int = 0
    dtype: Literal["float32", "float64"] = "float32"
    device: str = "cpu"
    # -- probes ----------------------------------------------------------------------------
    probes: tuple[str, ...] = ()
    probe_every: int | None = Field(None, description="None: ~50 log-spaced evaluations")

    @field_validator("n")
    @classmethod
    def _n(cls, v: int | None) -> int | None:
        if v is not None and v < 1:
            raise ValueError("an integer >= 1")
        return v

    @field_validator("d", "k", "width", "depth", "steps")
    @classmethod
    def _positive_int(cls, v: int) -> int:
        if v < 1:
            raise ValueError("an integer >= 1")
        return v

    @field_validator("mu")
    @classmethod
    def _mu(cls, v: float) -> float:
        if not 0.0 < v < 1.0:
            raise ValueError("a number in the open interval (0, 1)")
        return v

    @field_validator("noise")
    @classmethod
    def _noise(cls, v: float) -> float:
        if not 0.0 <= v <= 1.0:
            raise ValueError("a fraction in [0, 1]")
        return v

    @field_validator("lr")
    @classmethod
    def _lr(cls, v: float | str) -> float | str:
        if isinstance(v, float | int) and not (math.isfinite(v) and v > 0):
            raise ValueError("a positive number, 'auto' or 'theory'")
        return v

    @field_validator("lr_scale", "weight_std", "readout_std")
    @classmethod
    def _positive(cls, v: float) -> float:
        if not (math.isfinite(v) and v > 0):
            raise ValueError("a positive finite number")
        return v

    @field_validator("batch")
    @classmethod
    def _batch(cls, v: int | None) -> int | None:
        if v is not None and v < 1:
            raise ValueError("an integer >= 1")
        return v

    @field_validator("probe_every")
    @classmethod
    def _probe_every(cls, v: int | None) -> int | None:
        if v is not None and v < 1:
            raise ValueError("an integer >= 1")
        return v

    @field_validator("tau")
    @classmethod
    def _tau(cls, v: float | None) -> float | None:
        if v is not None and not (math.isfinite(v) and v > 0):
            raise ValueError("a positive number, or None for 1/(sqrt(L) log m)")
        return v

    @field_validator("c_res")
    @classmethod
    def _c_res(cls, v: float) -> float:
        if not (math.isfinite(v) and v > 0):
            raise ValueError("a positive finite number")
        return v

    @field_validator("kernel_size")
    @classmethod
    def _kernel_size(cls, v: int) -> int:
        if v < 1:
            raise ValueError("an integer >= 1")
        return v

    @field_validator("blocks")
    @classmethod
    def _blocks(cls, v: int) -> int:
        if v < 2:
            raise ValueError("an integer >= 2")
        return v

    @field_validator("p_in", "p_out")
    @classmethod
    def _probability(cls, v: float) -> float:
        if not 0.0 <= v <= 1.0:
            raise ValueError("a probability in [0, 1]")
        return v

    @field_validator("feature_noise")
    @classmethod
    def _feature_noise(cls, v: float) -> float:
        if not (math.isfinite(v) and v >= 0):
            raise ValueError("a number >= 0")
        return v

    @model_validator(mode="before")
    @classmethod
    def _arch_default_parameterization(cls, data: Any) -> Any:
        # An unset parameterization follows the arch (fc keeps zou-gu): see ARCH_PARAMETERIZATIONS.
        if isinstance(data, dict) and "parameterization" not in data:
            arch = data.get("arch", "fc")
            if arch in ARCH_PARAMETERIZATIONS and arch != "fc":
                data = {**data, "parameterization": ARCH_PARAMETERIZATIONS[arch][0]}
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
        if allowed and self.parameterization not in allowed:
            raise ValueError(
                f"parameterization={self.parameterization}: "
                f"{', '.join(allowed)} for arch={self.arch}"
            )
        graph = self.data in GRAPH_DATA
        if graph and self.arch != "gnn":
            raise ValueError(f"arch={self.arch}: gnn for data={self.data} (graph data)")
        if self.arch == "gnn" and not graph:
            raise ValueError(f"data={self.data}: {', '.join(GRAPH_DATA)} for arch=gnn")
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


def config_error(exc: ValidationError) -> ConfigError:
    """The first pydantic error as a one-line :class:`ConfigError` (field, value, allowed)."""
    errors = exc.errors()
    err = errors[0]

    def message(e: Any) -> str:
        msg = e.get("msg", "invalid")
        for prefix in ("Value error, ", "Assertion failed, "):
            msg = msg.removeprefix(prefix)
        if e.get("type") == "extra_forbidden":
            msg = "a RunConfig field: " + ", ".join(RunConfig.model_fields)
        return msg

    # RunConfig is flat: the field is loc[0]; a union field (lr) adds the member tried as loc[1].
    loc = str(err["loc"][0]) if err.get("loc") else ""
    if not loc or loc == "config":
        field, _, rest = message(err).partition("=")
        text, _, allowed = rest.partition(": ")
        raw = err.get("input")
        if isinstance(raw, dict) and field in raw:
            value: Any = raw[field]
        elif field in RunConfig.model_fields:
            value = RunConfig.model_fields[field].default
        else:
            value = text
        return ConfigError(field, value, allowed)
    same = [message(e) for e in errors if e.get("loc") and str(e["loc"][0]) == loc]
    return ConfigError(loc, err.get("input"), " or ".join(dict.fromkeys(same)))


def build_config(base: dict[str, Any] | None = None, **overrides: Any) -> RunConfig:
    """RunConfig from a dict plus overrides (None overrides are ignored), with clean errors."""
    fields = dict(base or {})
    fields.update({k: v for k, v in overrides.items() if v is not None})
    if isinstance(fields.get("probes"), str):
        fields["probes"] = (fields["probes"],)
    try:
        return RunConfig(**fields)
    except ValidationError as e:
        raise config_error(e) from None
