"""The limits every JSON and YAML entry point holds a document to, in one place.

Request bodies (``api/wire.py``), ``authorization_details`` at ``/oauth/token``, manifest
files (``manifests/documents.py``), token claims (``tokens/claims.py``) and provider
bodies at the gateway (``routemap/jsonbody.py``) all check a parsed document here
before anything walks it: code after a parser recurses (schema validation, canonical
JSON for the audit chain), so a document deeper than ``MAX_DEPTH`` is refused at the
door instead of failing later with a ``RecursionError``. Strings with NUL or a lone
surrogate are refused too: PostgreSQL cannot store a NUL in text or JSON, and a
surrogate cannot be encoded as UTF-8, so either one would fail a whole group-commit
batch, not just its own request.

A caller turns ``InputProblem`` into its own refusal (a problem+json, a CLI line, an
``InvalidToken``); ``path`` names the place (``spec.actions[2]``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from itertools import accumulate
from typing import Any

MAX_DEPTH = 32  # our own documents nest 5 deep; provider bodies get PROVIDER_BODY_DEPTH
PROVIDER_BODY_DEPTH = 128  # GraphQL variables and REST bodies of real APIs nest more
MAX_JSON_BYTES = 1 << 20  # a broker request body or a manifest file


class InputProblem(ValueError):
    """A document beyond a limit; ``path`` is where (empty: the whole document)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path[:200]}: {message}" if path else message)
        self.path, self.message = path[:200], message


def may_be_deep(data: bytes | str, limit: int = MAX_DEPTH) -> bool:
    """Cheap test before a walk: fewer brackets than ``limit`` cannot nest deeper."""
    if isinstance(data, bytes):
        return data.count(b"[") + data.count(b"{") > limit
    return data.count("[") + data.count("{") > limit


_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')  # linear on valid JSON
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


_DELTA = {"[": 1, "{": 1, "]": -1, "}": -1}


def _bracket_depth(text: str) -> int:
    return max(accumulate(map(_DELTA.__getitem__, _NOT_BRACKET.sub("", text))), default=0)


def json_deeper_than(text: str, limit: int) -> bool:
    """Whether valid JSON ``text`` nests deeper than ``limit``, from the text alone: its
    strings taken out, then its brackets counted (no walk of the parsed value, which
    for large bodies cost several times more)."""
    return _bracket_depth(_JSON_STRING.sub("", text)) > limit


def _bad_text(text: str) -> str | None:
    if "\x00" in text:
        return "contains a NUL character"
    return _surrogate(text)


def _surrogate(text: str) -> str | None:
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "contains a lone surrogate"
    return None


# Where a node is: (its key, where its parent is), built only when a problem is found, so
# a large provider body costs no string per node.
Trail = tuple[object, "Trail"] | None


def _path(trail: Trail) -> str:
    keys: list[object] = []
    while trail is not None:
        key, trail = trail
        keys.append(key)
    path = ""
    for key in reversed(keys):
        path = f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else str(key))
    return path


def check_document(value: Any, *, max_depth: int = MAX_DEPTH, refuse_nul: bool = True) -> None:
    """Raise ``InputProblem`` at the first place ``value`` (parsed JSON or YAML) nests
    deeper than ``max_depth`` or holds a string with a lone surrogate or (unless
    ``refuse_nul`` is false: a provider's body is the provider's business) a NUL.
    Iterative, so it never recurses itself."""
    bad_text = _bad_text if refuse_nul else _surrogate
    stack: list[tuple[Any, int, Trail]] = [(value, 0, None)]
    while stack:
        item, depth, trail = stack.pop()
        if isinstance(item, str):
            bad = bad_text(item)
            if bad is not None:
                raise InputProblem(_path(trail), f"the text {bad}")
        elif isinstance(item, Mapping | list | tuple):
            if depth >= max_depth:
                raise InputProblem(_path(trail), f"nested more than {max_depth} levels deep")
            pairs = item.items() if isinstance(item, Mapping) else enumerate(item)
            for key, child in pairs:
                if isinstance(key, str) and (bad := bad_text(key)) is not None:
                    raise InputProblem(_path(trail), f"a key {bad}")
                stack.append((child, depth + 1, (key, trail)))


def parse_json(text: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` held to the limits (``ValueError`` for bad JSON, ``InputProblem``
    for a document beyond them)."""
    if len(text) > MAX_JSON_BYTES:
        raise InputProblem("", f"larger than {MAX_JSON_BYTES} bytes")
    try:
        value = json.loads(text)
    except RecursionError:
        raise InputProblem("", f"nested more than {max_depth} levels deep") from None
    check_document(value, max_depth=max_depth)
    return value
