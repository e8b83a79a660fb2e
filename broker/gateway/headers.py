"""Stage 1: the headers the provider may receive, computed before anything reads the request.

A pure function of the agent's headers. What it drops never reaches the provider: the
hop-by-hop fields (and whatever a Connection header lists), forwarding headers an
untrusted client could use to claim another origin or route, the capability token
(``Authorization``), ``Accept-Encoding`` (the gateway asks for identity itself, so the
redactor sees the answer), and our own ``x-capbroker-*`` control headers. The forward
stage adds the master key and ``Accept-Encoding: identity``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from broker.errors import InvalidRequest

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


DRY_RUN_HEADER = "X-Capbroker-Dry-Run"
APPROVAL_HEADER = "X-Capbroker-Approval"
_CONTROL_NAMES = frozenset({DRY_RUN_HEADER.lower().encode(), APPROVAL_HEADER.lower().encode()})
# A name that reads as one of ours once case, '-' and '_' are ignored: another server (or
# the agent) could take it for the real one, so anything but the exact name is refused.
_CONTROL_LOOKALIKES = frozenset(n.translate(None, b"-_") for n in _CONTROL_NAMES)
DRY_RUN_VALUES = (b"1", b"true")
_APPROVAL_ID = re.compile(rb"[A-Za-z0-9_-]{1,128}")


@dataclass(frozen=True, slots=True)
class Control:
    """What our own control headers ask for."""

    dry_run: bool = False
    approval_id: str | None = None


def control_headers(headers: RawHeaders) -> Control:
    """The dry-run and approval headers, parsed strictly: exactly their names, at most once
    each, with a documented value. Anything else that reads as one of them is an
    ``InvalidRequest`` (refusal ``control_header``), never a silent real call."""
    found: dict[bytes, bytes] = {}
    for name, value in headers:
        lower = name.lower()
        if lower.translate(None, b"-_") not in _CONTROL_LOOKALIKES:
            continue
        if lower not in _CONTROL_NAMES:
            raise _control_error(f"{_show(name)} is not a capbroker header; did you mean one?")
        if lower in found:
            raise _control_error(f"{_show(name)} is sent more than once")
        found[lower] = value.strip()
    dry_run = found.get(b"x-capbroker-dry-run")
    if dry_run is not None and dry_run not in DRY_RUN_VALUES:
        raise _control_error(f"{DRY_RUN_HEADER} must be 1 or true")
    approval = found.get(b"x-capbroker-approval")
    if approval is not None and not _APPROVAL_ID.fullmatch(approval):
        raise _control_error(f"{APPROVAL_HEADER} must be an approval id")
    return Control(dry_run is not None, approval.decode("ascii") if approval else None)


def _show(name: bytes) -> str:
    return repr(name.decode("latin-1")[:64])


def _control_error(detail: str) -> InvalidRequest:
    return InvalidRequest(detail, extra={"refusal": "control_header"})
