"""User-facing errors: each names the field, the value received and what is allowed.

The ``require_*`` helpers check one argument of a library function or command and raise a
:class:`ConfigError` naming it; they accept what JSON / TOML can hold (ints, floats) and reject
bools, NaN, inf, strings and sizes that would overflow a torch shape.
"""

from __future__ import annotations

import math
import numbers

# Largest size (n, d, width, depth, steps, ...) any field accepts: torch shapes are int64, and the
# memory estimates refuse sizes far below this; beyond it a product of two sizes would overflow.
MAX_SIZE = 2**31 - 1
# Seeds: non-negative and small enough that seed + 1 still seeds a torch.Generator.
MAX_SEED = 2**32 - 1


class ConfigError(ValueError):
    """Bad user input. ``str(err)`` is one line: field, value, what is allowed."""

    def __init__(self, field: str, value: object, allowed: str) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        text = f"{field}: got {_short(value)}; allowed: {allowed}"
        super().__init__(" ".join(text.split()))


def _short(value: object, limit: int = 200) -> str:
    """repr(value) on one line, cut to ``limit`` characters."""
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def int_allowed(lo: int | None = None, hi: int | None = None) -> str:
    """'an integer >= 1', 'an integer in [0, 4294967295]', ... for messages."""
    if lo is not None and hi is not None:
        return f"an integer >= {lo} and <= {hi}"
    if lo is not None:
        return f"an integer >= {lo}"
    if hi is not None:
        return f"an integer <= {hi}"
    return "an integer"


def is_int(value: object) -> bool:
    """An integer that is not a bool (numpy integers count)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    """A real number that is not a bool (ints, floats, numpy scalars)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_finite(value: object) -> bool:
    """A real number (not a bool) that is finite as a float (10**400 is not: it overflows)."""
    if not is_number(value):
        return False
    try:
        return math.isfinite(float(value))  # type: ignore[arg-type]
    except OverflowError:
        return False


def require_int(
    field: str, value: object, lo: int | None = 1, hi: int | None = MAX_SIZE, allowed: str = ""
) -> int:
    """``value`` as an int in [lo, hi]; otherwise a ConfigError naming ``field``."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):  # is_int(value)
        number = int(value)
        if (lo is None or number >= lo) and (hi is None or number <= hi):
            return number
    raise ConfigError(field, value, allowed or int_allowed(lo, hi))


def require_seed(field: str, value: object) -> int:
    """A seed: an integer in [0, MAX_SEED]."""
    return require_int(field, value, 0, MAX_SEED)


def require_float(
    field: str,
    value: object,
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
    allowed: str = "",
) -> float:
    """``value`` as a finite float within the bounds (open or closed); else a ConfigError."""
    ok = is_finite(value)
    if ok:
        v = float(value)  # type: ignore[arg-type]
        if lo is not None:
            ok = v > lo if lo_open else v >= lo
        if ok and hi is not None:
            ok = v < hi if hi_open else v <= hi
    if not ok:
        raise ConfigError(field, value, allowed or float_allowed(lo, hi, lo_open, hi_open))
    return float(value)  # type: ignore[arg-type]


def float_allowed(
    lo: float | None = None, hi: float | None = None, lo_open: bool = False, hi_open: bool = False
) -> str:
    """'a finite number > 0', 'a number in the open interval (0, 1)', ... for messages."""
    if lo is not None and hi is not None:
        if lo_open and hi_open:
            return f"a number in the open interval ({lo:g}, {hi:g})"
        return f"a number in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    if lo is not None:
        return f"a finite number {'>' if lo_open else '>='} {lo:g}"
    if hi is not None:
        return f"a finite number {'<' if hi_open else '<='} {hi:g}"
    return "a finite number"


DEVICE_ALLOWED = "cpu, cuda, cuda:N, mps"


def is_device_name(value: object) -> bool:
    """A device string overparam runs on: cpu, cuda, cuda:N or mps."""
    import re

    return isinstance(value, str) and re.fullmatch(r"cpu|mps|cuda(:\d{1,4})?", value) is not None


def require_device_name(field: str, value: object) -> str:
    """A device string torch can parse whose type overparam runs on (cpu, cuda, cuda:N, mps).

    Availability (is there a CUDA device here?) is checked where the device is used, by
    :func:`overparam.models.base.resolve_device`.
    """
    if not is_device_name(value):
        raise ConfigError(field, value, DEVICE_ALLOWED)
    return value  # type: ignore[return-value]
