"""Strict JSON for request bodies: one reading only, whichever decoder reads it next.

Refused, because two decoders could read the document differently (first key wins here,
last wins there; a case-insensitive decoder merges keys; a C decoder stops at NUL; a
JavaScript one rounds big integers): duplicate keys, keys that differ only in case (or
Unicode case folding, as Go's ``encoding/json`` matches them), control characters in
keys, lone surrogates, a byte order mark, NaN and Infinity, numbers beyond an IEEE double
(I-JSON, RFC 7493), non-UTF-8 text and nesting deeper than ``PROVIDER_BODY_DEPTH``
(``broker/limits.py``: the classifier and the audit walk what is parsed).
``body_json`` adds the one rule for whole request bodies: no method-override key.
"""

from __future__ import annotations

import json
import math
from typing import Any

from broker.limits import (
    PROVIDER_BODY_DEPTH,
    InputProblem,
    check_document,
    json_deeper_than,
    may_be_deep,
)
from broker.routemap.errors import INVALID_JSON, METHOD_OVERRIDE, bad_request
from broker.routemap.overrides import is_override_field

MAX_SAFE_INTEGER = 2**53 - 1  # the largest integer every JSON decoder reads exactly
MAX_NUMBER_LENGTH = 64


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _integer(text: str) -> int:
    if len(text) > MAX_NUMBER_LENGTH or abs(int(text)) > MAX_SAFE_INTEGER:
        raise ValueError("an integer beyond 2**53 is read differently by different decoders")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if len(text) > MAX_NUMBER_LENGTH or not math.isfinite(value):
        raise ValueError("a number too long or too large for a double")
    return value


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    folded: set[str] = set()
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key[:64]!r}")
        fold = key.casefold()
        if fold in folded:
            raise ValueError(f"keys that differ only in case ({key[:64]!r})")
        if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in key):
            raise ValueError("a key contains a control character")
        folded.add(fold)
        out[key] = value
    return out


def strict_json(data: bytes | str, what: str = "the body") -> Any:
    try:
        text = data.decode("utf-8", errors="strict") if isinstance(data, bytes) else data
        value = json.loads(
            text,
            object_pairs_hook=_object,
            parse_constant=_no_constant,
            parse_int=_integer,
            parse_float=_float,
        )
    except UnicodeDecodeError:
        raise bad_request(INVALID_JSON, f"{what} is not UTF-8") from None
    except RecursionError:
        depth = f"nested more than {PROVIDER_BODY_DEPTH} levels deep"
        raise bad_request(INVALID_JSON, f"{what} is {depth}") from None
    except ValueError as exc:
        raise bad_request(INVALID_JSON, f"{what} is not valid JSON: {exc}") from None
    # Only a \\u escape can make a lone surrogate (the text itself is strict UTF-8), and
    # only as many brackets as the limit can nest that deep: otherwise nothing to walk.
    if may_be_deep(text, PROVIDER_BODY_DEPTH) and json_deeper_than(text, PROVIDER_BODY_DEPTH):
        depth = f"nested more than {PROVIDER_BODY_DEPTH} levels deep"
        raise bad_request(INVALID_JSON, f"{what} is {depth}")
    if "\\u" in text:
        try:
            check_document(value, max_depth=PROVIDER_BODY_DEPTH, refuse_nul=False)
        except InputProblem as exc:
            raise bad_request(INVALID_JSON, f"{what} is refused: {exc.message}") from None
    return value


def body_json(data: bytes) -> Any:
    """A whole request body (an object, or a batch of them): strict, and no key a
    method-override middleware would read as the method."""
    value = strict_json(data)
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, dict) and any(is_override_field(k) for k in item):
            raise bad_request(METHOD_OVERRIDE, "a method-override key in the body is refused")
    return value
