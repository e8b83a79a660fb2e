"""The JSON Schemas shipped in ``broker/schemas`` and plain-words messages for their errors.

``broker/schemas`` is the one source; the top-level ``schemas/`` is its published copy,
kept identical by a test.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from importlib.resources import files
from typing import Any, cast

from jsonschema import Draft202012Validator, ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import extend

API_VERSION = "capbroker.dev/v1"
# Manifest kinds (``capbroker apply``), each checked against its schema.
SCHEMA_FILES = {
    "CapabilityTemplate": "template.schema.json",
    "PolicyFloor": "policy-floor.schema.json",
    "ResourceServer": "resource-server.schema.json",
}
# Every document with a schema: the manifest kinds and the gateway's own files.
DOCUMENT_SCHEMAS = {
    **SCHEMA_FILES,
    "RouteMap": "route-map.schema.json",
    "Providers": "providers.schema.json",
    # Read by broker.identity from the trusted_issuers_file, not by `capbroker apply`.
    "TrustedIssuer": "trusted-issuer.schema.json",
}
_TYPE_NAMES = {
    "object": "an object",
    "array": "a list",
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def load_schema(filename: str) -> dict[str, Any]:
    text = (files("broker") / "schemas" / filename).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _ecma_pattern(
    validator: Validator, pattern: str, instance: object, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    # JSON Schema patterns are ECMA-262, where $ is the very end. Python's $ also
    # matches before a final newline, which would let "railway\n" through.
    if isinstance(instance, str):
        python = pattern[:-1] + r"\Z" if pattern.endswith("$") else pattern
        if not re.search(python, instance):
            yield ValidationError(f"{instance!r} does not match {pattern!r}")


_Validator = extend(Draft202012Validator, {"pattern": _ecma_pattern})  # type: ignore[no-untyped-call]


@cache  # package data never changes while the process runs
def validator_for(kind: str) -> Validator:
    """The document validator (Draft 2020-12) for ``kind`` (a key of ``DOCUMENT_SCHEMAS``)."""
    return cast(Validator, _Validator(load_schema(DOCUMENT_SCHEMAS[kind])))


def format_path(parts: Iterator[str | int] | list[str | int]) -> str:
    """``['spec', 'actions', 2]`` -> ``spec.actions[2]``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _show(value: object) -> str:
    # Strings as Python quotes them ('Volume:Delete'); everything else as JSON spells it.
    text = repr(value) if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _json_type(value: object) -> str:
    match value:
        case bool():
            return "true or false"
        case int():
            return "a whole number"
        case float():
            return "a number"
        case str():
            return "a string"
        case list():
            return "a list"
        case dict():
            return "an object"
        case None:
            return "null"
    return type(value).__name__


def describe(error: ValidationError) -> list[tuple[str, str]]:
    """``(field path, message)`` pairs for one schema error, in plain words."""
    parts: list[str | int] = list(error.absolute_path)
    path = format_path(parts)
    kw = str(error.validator)
    value: Any = error.validator_value
    instance: Any = error.instance
    schema = error.schema if isinstance(error.schema, dict) else {}
    # A schema may word a keyword's failure itself, where the generic words would not do.
    if kw in schema.get("x-errors", {}):
        return [(path, schema["x-errors"][kw])]
    if kw == "required" and isinstance(instance, dict):
        return [(format_path([*parts, k]), "is required") for k in value if k not in instance]
    if kw == "additionalProperties" and value is False and isinstance(instance, dict):
        known = schema.get("properties", {})
        extras = [str(k) for k in instance if k not in known]
        return [(format_path([*parts, k]), "unknown field") for k in extras]
    if "x-message" in schema and kw != "type":
        return [(path, f"{_show(instance)} {schema['x-message']}")]
    return [(path, _keyword_message(kw, value, instance) or error.message)]


def _keyword_message(kw: str, value: Any, instance: object) -> str | None:
    match kw:
        case "type":
            return f"expected {_TYPE_NAMES.get(str(value), value)}, got {_json_type(instance)}"
        case "const":
            return f"must be {value!r}"
        case "enum":
            return "must be one of " + ", ".join(map(repr, value))
        case "minItems":
            return f"must have at least {value} item(s)"
        case "maxItems":
            return f"must have at most {value} items"
        case "uniqueItems":
            return "lists the same entry more than once"
        case "minimum":
            return f"must be at least {value}"
        case "maximum":
            return f"must be at most {value}"
        case "minLength":
            return f"must be at least {value} character(s) long"
        case "maxLength":
            return f"must be at most {value} characters long"
        case "maxProperties":
            return f"must have at most {value} entries"
        case "pattern":
            return f"{_show(instance)} does not have the expected form"
    return None


def _sort_key(error: ValidationError) -> tuple[tuple[int, int, str], ...]:
    return tuple((0, p, "") if isinstance(p, int) else (1, 0, p) for p in error.absolute_path)


def schema_problems(kind: str, document: object) -> list[tuple[str, str]]:
    """Every schema problem of ``document`` as ``(field path, message)``, in field order."""
    errors = sorted(validator_for(kind).iter_errors(cast(Any, document)), key=_sort_key)
    # dict.fromkeys: "required" yields one error per missing field, each describing all.
    return list(dict.fromkeys(pair for error in errors for pair in describe(error)))
