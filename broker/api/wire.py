"""Decoding request bodies strictly: exact content type, known fields, right types."""

from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import parse_qsl

import msgspec
from litestar import Request

from broker.errors import InvalidRequest, UnsupportedMediaType
from broker.limits import MAX_DEPTH, InputProblem, check_document, may_be_deep

T = TypeVar("T")
MAX_FORM_FIELDS = 32


def _media_type(request: Request[Any, Any, Any]) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def decode_json(request: Request[Any, Any, Any], body: bytes, kind: type[T]) -> T:
    if _media_type(request) != "application/json":
        raise UnsupportedMediaType("send the body as application/json")
    try:
        if not may_be_deep(body) and b"\\u" not in body:  # nothing the limits could refuse
            return msgspec.json.decode(body, type=kind, strict=True)
        value = msgspec.json.decode(body)
        check_document(value)
        return msgspec.convert(value, kind, strict=True)
    except msgspec.ValidationError as exc:
        raise InvalidRequest(f"the body does not match the schema: {exc}") from None
    except msgspec.DecodeError:
        raise InvalidRequest("the body is not valid JSON") from None
    except RecursionError:
        raise InvalidRequest(f"the body is nested more than {MAX_DEPTH} levels deep") from None
    except InputProblem as exc:
        raise InvalidRequest(f"the body is refused: {exc}") from None


def decode_form(request: Request[Any, Any, Any], body: bytes) -> dict[str, str]:
    """RFC 6749 form parameters: each at most once (section 3.2), UTF-8, bounded in number."""
    if _media_type(request) != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType("send the body as application/x-www-form-urlencoded")
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=False,
            strict_parsing=bool(body),
            max_num_fields=MAX_FORM_FIELDS,
            errors="strict",
        )
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("the form body is malformed") from None
    form: dict[str, str] = {}
    for key, value in pairs:
        if key in form:
            raise InvalidRequest(f"parameter {key!r} appears more than once")
        form[key] = value
    try:
        check_document(form)  # a NUL (%00) would reach the database
    except InputProblem as exc:
        raise InvalidRequest(f"the form body is refused: {exc}") from None
    return form


def bearer(request: Request[Any, Any, Any]) -> str:
    from broker.errors import Unauthenticated

    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthenticated("send a Bearer credential in the Authorization header")
    return value.strip()
