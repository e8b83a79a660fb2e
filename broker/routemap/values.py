"""What a value put into a template may be: an id or a qualified name, never a path trick
or a pattern.

Every placeholder value (a path parameter, a body field, a GraphQL argument) ends up in a
resource, an environment name or a look-up the gateway sends with the master key. There a
dot segment would climb to another object (``vol-1/../vol-2``), and ``*`` or ``?`` would
read as a wildcard against a token's resource patterns. So a value may not contain ``\\``,
``*``, ``?`` or a control character, and a ``/`` only between parts that are neither
empty nor ``.`` or ``..`` (``acme/app``, GitHub's ``repositoryNameWithOwner``, is a name;
``a/../b``, ``/a`` and ``a//b`` are not). A ``TrustedValue`` (the canonical path's own
``{path+}``, a look-up's parameter or answer) is not split at its ``/``. A map may also pin
what each resource type's id looks like: ``spec.resource_types``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from broker.routemap.errors import BAD_VALUE, bad_request

MAX_VALUE_LENGTH = 256
_WILDCARDS = frozenset("*?\\")


class TrustedValue(str):
    """A value whose '/' the agent did not place: a canonical path's segments, or a
    look-up's own parameter or answer (the provider's word)."""

    __slots__ = ()


def trusted(value: object) -> object:
    """``value`` marked a ``TrustedValue`` when it is a string (resolvers return anything)."""
    return TrustedValue(value) if isinstance(value, str) else value


def check_value(value: str, what: str) -> str:
    """``value`` if it may fill a placeholder, else ``bad_value``."""
    if not 0 < len(value) <= MAX_VALUE_LENGTH:
        raise bad_request(BAD_VALUE, f"{what} must be 1 to {MAX_VALUE_LENGTH} characters")
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in value):
        raise bad_request(BAD_VALUE, f"{what} contains a control character")
    if value in (".", ".."):
        raise bad_request(BAD_VALUE, f"{what} is a dot segment")
    if "/" in value and _climbs(value):
        raise bad_request(BAD_VALUE, f"{what} has an empty or dot segment between '/'")
    if not _WILDCARDS.isdisjoint(value):
        raise bad_request(BAD_VALUE, f"{what} contains a wildcard or a backslash")
    return value


def _climbs(value: str) -> bool:
    if isinstance(value, TrustedValue):
        return False
    return any(part in ("", ".", "..") for part in value.split("/"))


def parse_resource_types(
    spec: Mapping[str, Any],
) -> tuple[dict[str, re.Pattern[str]], list[tuple[str, str]]]:
    """``spec.resource_types``: resource type -> the pattern its whole id must match."""
    patterns: dict[str, re.Pattern[str]] = {}
    problems = []
    for kind, text in spec.get("resource_types", {}).items():
        try:
            patterns[kind] = re.compile(text)
        except re.error as exc:
            problems.append((f"spec.resource_types.{kind}", f"is not a regular expression: {exc}"))
    return patterns, problems


def check_resource(resource: str, patterns: Mapping[str, re.Pattern[str]]) -> str:
    """A filled resource ``type:id`` whose type declares a pattern must match it."""
    kind, _, ident = resource.partition(":")
    pattern = patterns.get(kind)
    if pattern is not None and not pattern.fullmatch(ident):
        raise bad_request(BAD_VALUE, f"{resource[:64]!r} is not a valid {kind} id")
    return resource
