"""Stage 4: the request in canonical form, and its body framed: read whole when
classification needs it (or its size is unknown), otherwise streamed as it arrives.

The size cap is enforced before anything is parsed; an ambiguous length is refused.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from broker.errors import InvalidRequest, PayloadTooLarge
from broker.gateway.headers import RawHeaders
from broker.gateway.request import BodySource
from broker.routemap.canonical import CanonicalRequest, canonical_request
from broker.routemap.routemap import GraphQLSpec, Route, RouteMap

Matched = tuple[Route, dict[str, str]]


def canonicalise(
    method: str, rest: str, query: str, headers: RawHeaders, route_map: RouteMap
) -> CanonicalRequest:
    """Method, path and query in the one form classification and forwarding both use."""
    text_headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers]
    return canonical_request(method, rest, query, text_headers, options=route_map.paths)


def declared_length(headers: RawHeaders, limit: int) -> int | None:
    """The Content-Length, if one; refuses other codings, ambiguity and oversize."""
    lengths = [v for k, v in headers if k.lower() == b"content-length"]
    codings = [v.strip().lower() for k, v in headers if k.lower() == b"transfer-encoding"]
    chunked = bool(codings)
    if codings and codings != [b"chunked"]:
        raise InvalidRequest(
            "only chunked transfer coding is accepted", extra={"refusal": "transfer_coding"}
        )
    if len(lengths) > 1 or (lengths and chunked):
        raise InvalidRequest("ambiguous message length", extra={"refusal": "ambiguous_length"})
    declared = int(lengths[0]) if lengths and lengths[0].isdigit() else None
    if lengths and declared is None:
        raise InvalidRequest("invalid Content-Length", extra={"refusal": "ambiguous_length"})
    if declared is not None and declared > limit:
        raise PayloadTooLarge(f"the body is larger than {limit} bytes")
    return declared


async def read_body(
    route_map: RouteMap, canonical: CanonicalRequest, headers: RawHeaders, source: BodySource
) -> tuple[bytes, AsyncIterator[bytes] | None, Matched]:
    """The whole body, or a stream of it (with ``b""``); also the request's route, which
    says whether classification reads the body."""
    limit = route_map.body.max_bytes
    declared = declared_length(headers, limit)
    matched = route_map.match(canonical.method, canonical.segments)
    route = matched[0]
    needs_body = isinstance(route, GraphQLSpec) or route.uses_body
    if declared is not None and not needs_body:
        if declared == 0:
            return b"", None, matched
        if canonical.method in ("GET", "HEAD"):
            raise InvalidRequest("a GET or HEAD request carries no body")
        return b"", _stream_body(source, declared), matched
    chunks: list[bytes] = []
    total = 0
    while True:
        message = await source()
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > limit:
            raise PayloadTooLarge(f"the body is larger than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), None, matched


async def _stream_body(source: BodySource, declared: int) -> AsyncIterator[bytes]:
    total = 0
    while True:
        message = await source()
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > declared:  # more than announced: stop rather than forward it
            raise PayloadTooLarge("the body is longer than its Content-Length")
        yield chunk
        if not message.get("more_body", False):
            return
