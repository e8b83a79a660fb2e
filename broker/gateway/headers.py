"""Stage 1: the headers the provider may receive: only what its route map declares.

A pure function of the agent's headers and the map's ``HeaderAllowlist``
(``broker.routemap.allowlist``): the safe set (Accept, Accept-Language, Content-Type,
User-Agent) and the names in ``spec.headers.forward`` pass, unless a Connection header
lists them; everything else is dropped, among it the capability token, the agent's
``Accept-Encoding`` (the gateway asks for identity itself, so the redactor sees the
answer), forwarding headers and our own ``x-capbroker-*`` control headers. Refused rather
than dropped, because another server would act on them: a method override in any case or
spelling, and a name with ``_`` that reads as a declared or reserved header once ``_`` is
``-``. The forward stage adds the master key and ``Accept-Encoding: identity``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from broker.errors import InvalidRequest
from broker.routemap import errors as e
from broker.routemap.allowlist import HOP_BY_HOP as HOP_BY_HOP_NAMES
from broker.routemap.allowlist import HeaderAllowlist
from broker.routemap.overrides import is_override_header

HOP_BY_HOP = frozenset(n.encode() for n in HOP_BY_HOP_NAMES)

RawHeaders = Sequence[tuple[bytes, bytes]]


def connection_listed(headers: RawHeaders) -> frozenset[bytes]:
    """Header names a Connection header declares hop-by-hop."""
    listed: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            listed.update(v.strip().lower() for v in value.split(b","))
    return frozenset(listed)


def outbound_headers(headers: RawHeaders, allowed: HeaderAllowlist) -> list[tuple[str, str]]:
    """The agent's headers that may go on to the provider, in order, as text; or an
    ``InvalidRequest`` for a name another server would read as one that changes the call."""
    listed = connection_listed(headers)
    out: list[tuple[str, str]] = []
    for name, value in headers:
        lower = name.lower()
        if lower in allowed.forward:
            if lower not in listed:
                out.append((name.decode("latin-1"), value.decode("latin-1")))
            continue
        if is_override_header(name.decode("latin-1")):  # any case, '_' or '.' for '-'
            raise e.bad_request(e.METHOD_OVERRIDE, f"the {_show(name)} header is refused")
        dashed = lower.replace(b"_", b"-")
        if dashed != lower and dashed in allowed.guarded:
            raise e.bad_request(
                e.AMBIGUOUS_HEADER, f"{_show(name)} reads as another header where '_' is '-'"
            )
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
