"""Stage 1: the headers the provider may receive, computed before anything reads the request.

A pure function of the agent's headers. What it drops never reaches the provider: the
hop-by-hop fields (and whatever a Connection header lists), forwarding headers an
untrusted client could use to claim another origin or route, the capability token
(``Authorization``), ``Accept-Encoding`` (the gateway asks for identity itself, so the
redactor sees the answer), and our own ``x-capbroker-*`` control headers. The forward
stage adds the master key and ``Accept-Encoding: identity``.
"""

from __future__ import annotations

from collections.abc import Sequence

# RFC 9110 section 7.6.1 hop-by-hop fields, plus what a proxy must never pass on.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
    }
)
# Set by an untrusted client, they would let it claim another origin or route.
UNTRUSTED_FORWARDING = frozenset(
    {
        b"forwarded",
        b"x-forwarded-for",
        b"x-forwarded-host",
        b"x-forwarded-proto",
        b"x-forwarded-port",
        b"x-forwarded-prefix",
        b"x-real-ip",
        b"x-original-url",
        b"x-rewrite-url",
        b"true-client-ip",
        b"x-client-ip",
        b"cf-connecting-ip",
        b"via",
        b"host",
        b"content-length",
    }
)
# The agent's token and its choice of coding are replaced by the gateway's own.
REPLACED = frozenset({b"authorization", b"accept-encoding"})
# Our own control headers never reach the provider.
CONTROL_PREFIX = b"x-capbroker-"

RawHeaders = Sequence[tuple[bytes, bytes]]


def connection_listed(headers: RawHeaders) -> frozenset[bytes]:
    """Header names a Connection header declares hop-by-hop."""
    listed: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            listed.update(v.strip().lower() for v in value.split(b","))
    return frozenset(listed)


def outbound_headers(headers: RawHeaders) -> list[tuple[str, str]]:
    """The agent's headers that may go on to the provider, in order, as text."""
    listed = connection_listed(headers)
    out: list[tuple[str, str]] = []
    for name, value in headers:
        lower = name.lower()
        if (
            lower in HOP_BY_HOP
            or lower in UNTRUSTED_FORWARDING
            or lower in listed
            or lower in REPLACED
            or lower.startswith(CONTROL_PREFIX)
        ):
            continue
        out.append((name.decode("latin-1"), value.decode("latin-1")))
    return out


def single_header(headers: RawHeaders, name: str) -> str | None:
    """The value of a header sent exactly once (at most 128 characters), else None."""
    wanted = name.lower().encode()
    values = [v for k, v in headers if k.lower() == wanted]
    return values[0].decode("latin-1")[:128] if len(values) == 1 else None
