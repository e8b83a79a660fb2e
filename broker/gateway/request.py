"""What the pipeline sees of a request: plain values, no transport.

Any front end (the ASGI app, a forward proxy) builds a ``GatewayRequest`` and hands it to
``Pipeline.run``; nothing in the pipeline knows how the request arrived.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Each call returns the next piece of the body: ``{"body": bytes, "more_body": bool}``
# (the shape of ASGI's receive, so the ASGI front end passes its own without a wrapper).
BodySource = Callable[[], Awaitable[Mapping[str, Any]]]


@dataclass(slots=True)  # not frozen: built once per request, on the hot path
class GatewayRequest:
    method: str
    target: str  # the raw path as sent, ``/{provider}/...``, percent-escapes intact
    query: str  # the raw query string, without the ``?``
    headers: Sequence[tuple[bytes, bytes]]  # as received: any case, repeats kept, in order
    body: BodySource
    peer: tuple[str, int] | None = None  # the client's address, when the transport knows it
