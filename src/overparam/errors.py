"""User-facing errors: each names the field, the value received and what is allowed."""

from __future__ import annotations


class ConfigError(ValueError):
    """Bad user input. ``str(err)`` is one line: field, value, what is allowed."""

    def __init__(self, field: str, value: object, allowed: str) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        super().__init__(f"{field}: got {value!r}; allowed: {allowed}")
