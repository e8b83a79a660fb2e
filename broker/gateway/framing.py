"""Stage 4: the request in canonical form, and its body framed: read whole when
classification needs it (or its size is unknown), otherwise streamed as it arrives.

The size cap is enforced before anything is parsed; an ambiguous length is refused. A
body that ends short (fewer bytes than its Content-Length, or the client gone before the
last chunk) is never taken as complete: read whole, it is refused before anything is
forwarded; streamed, the ``BodyStream`` fails, which aborts the upstream request (no last
chunk is sent, so the provider sees a broken request) and the refusal is audited.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from broker.errors import BrokerError, InvalidRequest, PayloadTooLarge
from broker.gateway.headers import RawHeaders
from broker.gateway.request import BodySource
from broker.routemap.canonical import CanonicalRequest, canonical_request
from broker.routemap.errors import bad_request
from broker.routemap.routemap import GraphQLSpec, Route, RouteMap

Matched = tuple[Route, dict[str, str]]
# Headers that ask the server to switch protocols (RFC 9110 section 7.8; RFC 7540 h2c).
SWITCHING = frozenset({b"upgrade", b"http2-settings"})


def upgrade_requested(headers: RawHeaders) -> bool:
    """Whether a request asks to switch protocols (WebSocket, h2c, anything else): the
    gateway classifies HTTP requests only, so such a request is refused, never forwarded."""
    for name, value in headers:
        lower = name.lower()
        if lower in SWITCHING or (lower == b"connection" and b"upgrade" in value.lower()):
            return True
    return False


def upgrade_refusal() -> InvalidRequest:
    return bad_request(
        "upgrade_not_supported",
        "the gateway does not switch protocols (WebSocket, h2c): send plain HTTP/1.1 requests",
    )


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


def incomplete_body(detail: str) -> InvalidRequest:
    return bad_request("incomplete_body", detail)


def _piece(message: Mapping[str, Any]) -> tuple[bytes, bool]:
    """One ASGI receive message as (bytes, more to come); a hang-up is an incomplete body."""
    if message.get("type") == "http.disconnect":
        raise incomplete_body("the client hung up before the body was complete")
    return message.get("body", b""), message.get("more_body", False)


async def read_body(
    route_map: RouteMap, canonical: CanonicalRequest, headers: RawHeaders, source: BodySource
) -> tuple[bytes, BodyStream | None, Matched]:
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
        return b"", BodyStream(source, declared), matched
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk, more = _piece(await source())
        total += len(chunk)
        if total > limit:
            raise PayloadTooLarge(f"the body is larger than {limit} bytes")
        chunks.append(chunk)
        if not more:
            if declared is not None and total != declared:
                raise incomplete_body("the body is shorter than its Content-Length")
            return b"".join(chunks), None, matched


class BodyStream:
    """A body forwarded as it arrives, exactly its declared length or a failure.

    The HTTP client sends it to the provider; when it ends short or long it raises, which
    makes the client abort the upstream request rather than end it, and ``failure`` keeps
    why (the client's own error says only that the connection broke)."""

    def __init__(self, source: BodySource, declared: int) -> None:
        self.source, self.remaining = source, declared
        self.failure: BrokerError | None = None
        self._done = False

    def __aiter__(self) -> BodyStream:
        return self

    @property
    def done(self) -> bool:
        """Whether the whole body has been read from the client."""
        return self._done

    async def __anext__(self) -> bytes:
        if self._done:
            raise StopAsyncIteration
        try:
            chunk, more = _piece(await self.source())
            self.remaining -= len(chunk)
            if self.remaining < 0:  # more than announced: stop rather than forward it
                raise PayloadTooLarge("the body is longer than its Content-Length")
            if not more and self.remaining:
                raise incomplete_body("the body is shorter than its Content-Length")
        except BrokerError as error:
            self.failure = error
            raise
        self._done = not more
        return chunk
