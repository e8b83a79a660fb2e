"""The one settings mechanism: how a raw value becomes a typed field, and how limits are checked.

``broker.settings`` (the config file and ``CAPBROKER_*``) and
``broker.secrets.vault.config`` (``VAULT_*`` and ``CAPBROKER_VAULT_*``) both build their
frozen dataclasses with it, so a value is coerced the same way, a limit is declared and
worded the same way, and an unknown name is refused with the same words wherever it is
set. Errors name where the value came from (a label such as ``environment variable
CAPBROKER_PORT``), never the value. Pure: no I/O, nothing read at import.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, get_args, get_type_hints

from broker.errors import InvalidRequest

__all__ = ["Limit", "coerce", "field_kinds", "limit_problems", "unknown"]

# How an error says what a field of each kind expects.
_EXPECTED: Final[Mapping[type, str]] = {int: "int", float: "a number of seconds", str: "str"}


def field_kinds(cls: type) -> dict[str, type]:
    """Each dataclass field's value type, with ``X | None`` read as ``X``."""
    kinds: dict[str, type] = {}
    for name, hint in get_type_hints(cls).items():
        inner = [arg for arg in get_args(hint) if arg is not type(None)]
        kinds[name] = inner[0] if inner else hint
    return kinds


def coerce(label: str, raw: object, kind: type) -> object:
    """``raw`` (a variable's text, a YAML value or a typed override) as a value of ``kind``."""
    if kind is Path:
        return Path(str(raw))
    try:
        if kind is int or kind is float:
            if isinstance(raw, bool):  # YAML's yes/no is not a number
                raise ValueError
            return kind(raw)  # type: ignore[call-overload, arg-type]
        if kind is str:
            if not isinstance(raw, str | int):
                raise ValueError
            return str(raw)
    except (TypeError, ValueError):
        raise InvalidRequest(f"{label}: expected {_EXPECTED[kind]}") from None
    raise InvalidRequest(f"{label}: cannot be set this way")


def unknown(label: str, what: str = "setting") -> InvalidRequest:
    """The error for a name nothing reads: a typo must not be silently ignored."""
    return InvalidRequest(f"{label}: unknown {what}")


@dataclass(frozen=True)
class Limit:
    """A declared bound on one field. Comparisons are written so that NaN fails them."""

    low: float | None = None  # the least value allowed
    high: float | None = None  # the most value allowed
    above: float | None = None  # values must be more than this
    choices: tuple[str, ...] = ()
    unit: str = ""  # appended to numbers in the message, e.g. " seconds"
    says: str | None = None  # the message, where the generated one would read badly

    def allows(self, value: Any) -> bool:
        if self.choices:
            return value in self.choices
        return (
            (self.low is None or value >= self.low)
            and (self.high is None or value <= self.high)
            and (self.above is None or value > self.above)
        )

    def message(self) -> str:
        if self.says is not None:
            return self.says
        if self.choices:
            return "must be " + " or ".join(repr(choice) for choice in self.choices)
        if self.above is not None:
            return f"must be more than {self.above:g}{self.unit}"
        if self.low is not None and self.high is not None:
            return f"must be between {self.low:g} and {self.high:g}{self.unit}"
        if self.low is not None:
            return f"must be at least {self.low:g}{self.unit}"
        return f"must be at most {self.high:g}{self.unit}"


def limit_problems(values: object, limits: Mapping[str, Limit]) -> list[tuple[str, str]]:
    """``(field, message)`` for every field of ``values`` outside its limit, in ``limits`` order."""
    return [
        (name, limit.message())
        for name, limit in limits.items()
        if not limit.allows(getattr(values, name))
    ]
