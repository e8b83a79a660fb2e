"""Typed reads from a spec mapping that record a problem instead of raising on the first."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from broker.domain.problems import SpecProblem


class SpecReader:
    """Collects every problem so the author sees all of them at once."""

    def __init__(self, spec: Mapping[str, Any], prefix: str = "") -> None:
        self.spec = spec
        self.prefix = prefix
        self.problems: list[SpecProblem] = []

    def path(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def add(self, path: str, message: str) -> None:
        self.problems.append(SpecProblem(path, message))

    def child(self, key: str) -> SpecReader:
        value = self.spec.get(key, {})
        if not isinstance(value, Mapping):
            self.add(self.path(key), "expected an object")
            value = {}
        reader = SpecReader(value, self.path(key))
        reader.problems = self.problems  # one shared list
        return reader

    def string(self, key: str, default: str | None = None) -> str:
        value = self.spec.get(key, default)
        if not isinstance(value, str):
            self.add(self.path(key), "expected a string" if key in self.spec else "is required")
            return ""
        return value

    def strings(
        self, key: str, default: tuple[str, ...] | None = None, *, empty: str | None = None
    ) -> tuple[str, ...]:
        """A list of strings; ``empty`` is the problem to report for an empty list, if any."""
        value = self.spec.get(key, default)
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            self.add(
                self.path(key), "expected a list of strings" if key in self.spec else "is required"
            )
            return ()
        if empty and not value:
            self.add(self.path(key), empty)
        return tuple(value)

    def optional_int(self, key: str) -> int | None:
        value = self.spec.get(key)
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            self.add(self.path(key), f"{value!r} must be a positive whole number")
            return None
        return value
