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


class RunConfig(BaseModel):
    """Everything that determines a run; the same config and seed give the same numbers."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=True)

    # -- data ------------------------------------------------------------------------------
    data: Literal["sphere", "close-pair", "digits"] = "sphere"
    n: int | None = Field(64, description="samples (digits: None keeps the whole train split)")
    d: int = Field(16, description="input dimension (sphere / close-pair)")
    k: int = Field(1, description="output dimension")
    mu: float = Field(0.5, description="last input coordinate [zou-gu-2019, Assumption 3.1]")
    min_separation: float = Field(0.0, description="enforced phi (sphere)")
    phi: float | None = Field(None, description="close-pair distance")
    labels: Labels = Labels.GAUSSIAN
    task: DigitsTask = DigitsTask.BINARY
    noise: float = Field(0.0, description="fraction of random training labels (digits)")
    test_fraction: float = 0.2
    # -- network ---------------------------------------------------------------------------
    arch: Literal["fc"] = "fc"
    width: int = 256
    depth: int = 2
    parameterization: Parameterization = Parameterization.ZOU_GU
    activation: Activation = Activation.RELU
    trainable: str | None = Field(None, description="hidden, all, or comma-separated layer names")
    weight_std: float = math.sqrt(2.0)  # He init, neural-tangents' usual relu choice
    bias_std: float | None = None
    readout_std: float = 1.0
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
        return self

    # -- helpers ---------------------------------------------------------------------------
    def seeds(self) -> dict[str, int]:
        """Independent seeds for data, init and minibatch order, derived from ``seed``."""
        import numpy as np

        a, b, c = np.random.SeedSequence(self.seed).generate_state(3)
        return {"data": self.seed, "init": int(a), "order": int(b) ^ int(c)}

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
    err = exc.errors()[0]
    loc = ".".join(str(x) for x in err.get("loc", ()) if not isinstance(x, int))
    msg = err.get("msg", "invalid")
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    if err.get("type") == "extra_forbidden":
        msg = "a RunConfig field: " + ", ".join(RunConfig.model_fields)
    value = err.get("input")
    if not loc or loc == "config":
        field, _, rest = msg.partition("=")
        value, _, allowed = rest.partition(": ")
        return ConfigError(field, value, allowed)
    return ConfigError(loc, value, msg)


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
