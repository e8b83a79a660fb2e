"""What the pipeline sees of a request: plain values, no transport.

Any front end (the ASGI app, a forward proxy) builds a ``GatewayRequest`` and hands it to
``Pipeline.run``; nothing in the pipeline knows how the request arrived.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

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
    waiting: ClientWaiting | None = None  # whether the client still waits (None: not known)
    # The absolute URL without the query as the agent addressed it, which a DPoP proof's
    # htu names (None: the front end cannot tell, and DPoP-bound tokens are refused)
    url: str | None = None


class ClientWaiting(Protocol):
    """How a front end tells the pipeline whether the client still waits for its answer."""

    def watch(self) -> None:
        """The body has been read (or there is none): watch for the client leaving."""

    def gone(self) -> bool:
        """The client closed its side: nothing may be forwarded for it any more."""
        ...


class StreamWaiting:
    """``ClientWaiting`` over an asyncio stream (the proxy's tunnel): the client is gone
    once the peer closed the connection (the reader saw its end, or the writer is closing)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    def watch(self) -> None:
        """Nothing to start: the stream notices the peer's close by itself."""

    def gone(self) -> bool:
        return self.reader.at_eof() or self.writer.is_closing()
