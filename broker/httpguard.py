"""Both servers' HTTP protocol: uvicorn's httptools one with a header timeout, a body
timeout, an idle timeout and a cap on open connections per client address.

uvicorn has a keep-alive timeout but nothing for a client that sends its request slowly:
any byte restarts its keep-alive timer, so a slowloris client (a header byte every few
seconds) or one that declares a longer body than it sends holds a connection, and the
request's task, forever. Here:

- ``header_timeout``: a request's head must be complete this long after its first byte
  (the first request's, after the connection opened), however it trickles in;
- ``body_timeout``: a request's body must be complete this long after its head; time the
  server itself stopped reading (back-pressure: the app has not taken what came) does
  not count;
- ``idle_timeout``: uvicorn's keep-alive timeout, between requests;
- ``max_connections_per_client``: one address's open connections at most (0: no cap).

A request cut off gets a 408 problem+json (``request_timeout``) when no answer has begun,
then the connection closes; the app sees the client gone. A connection over the cap gets
a 429 problem+json (``too_many_connections``) and is closed before anything is read.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections import Counter
from dataclasses import dataclass
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from broker.errors import BrokerError, InvalidRequest, Reason
from broker.problems import problem_body
from broker.settings import Settings, load_settings


@dataclass(frozen=True, slots=True)
class ServerLimits:
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    idle_timeout: float = 20.0
    max_connections_per_client: int = 64

    @classmethod
    def of(cls, settings: Settings) -> ServerLimits:
        return cls(
            settings.header_timeout,
            settings.body_timeout,
            settings.idle_timeout,
            settings.max_connections_per_client,
        )


def _answer(status: int, title: str, error: BrokerError) -> bytes:
    body = json.dumps(problem_body(error, status=status, title=title)).encode()
    return (
        f"HTTP/1.1 {status} {title}\r\n"
        "content-type: application/problem+json\r\n"
        "cache-control: no-store\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    ).encode() + body


TIMED_OUT = _answer(
    408,
    "Request Timeout",
    InvalidRequest("the request did not arrive in time", reason=Reason.REQUEST_TIMEOUT),
)
TOO_MANY = _answer(
    429,
    "Too Many Requests",
    InvalidRequest(
        "too many open connections from this address", reason=Reason.TOO_MANY_CONNECTIONS
    ),
)
# Open connections per client address, per server (each uvicorn server has its own state).
_OPEN: weakref.WeakKeyDictionary[ServerState, Counter[str]] = weakref.WeakKeyDictionary()


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    # Set on a subclass (``guarded``); None: read from the settings (a ``--workers`` worker,
    # which imports this class by name).
    limits: ClassVar[ServerLimits | None] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limits = type(self).limits
        if limits is None:
            limits = type(self).limits = ServerLimits.of(load_settings())
        self.guard = limits
        self.timeout_keep_alive = int(max(1, limits.idle_timeout))
        self._address: str | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._head_pending = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self.client is not None:
            self._address = self.client[0]
            counts = _OPEN.setdefault(self.server_state, Counter())
            counts[self._address] += 1
            cap = self.guard.max_connections_per_client
            if cap and counts[self._address] > cap:
                transport.write(TOO_MANY)
                transport.close()
                return
        self._head_pending = True
        self._arm(self.guard.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._address is not None:
            counts = _OPEN.get(self.server_state)
            if counts is not None:
                counts[self._address] -= 1
                if counts[self._address] <= 0:
                    del counts[self._address]
            self._address = None
        super().connection_lost(exc)

    # --- the timers -----------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._head_pending:  # the first request's head is timed from the connection
            self._head_pending = True
            self._arm(self.guard.header_timeout)

    def on_headers_complete(self) -> None:
        self._head_pending = False
        self._disarm()
        super().on_headers_complete()
        if self.cycle is not None and self.cycle.more_body:
            self._arm(self.guard.body_timeout)

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, self._timed_out)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timed_out(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        if not self._head_pending and self.flow.read_paused:
            # The server stopped reading the body, not the client sending it.
            self._arm(self.guard.body_timeout)
            return
        cycle = self.cycle
        if self._head_pending:  # a pipelined answer may still be on its way
            answered = cycle is not None and not cycle.response_complete
        else:
            answered = cycle is not None and cycle.response_started
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # what the app sends now goes nowhere
            cycle.message_event.set()
        if not answered:
            self.transport.write(TIMED_OUT)
        self.transport.close()


def guarded(base: type[GuardedHttpToolsProtocol], limits: ServerLimits) -> type[Any]:
    """``base`` with ``limits`` fixed (what a one-process server hands uvicorn)."""
    return type(base.__name__, (base,), {"limits": limits, "__module__": base.__module__})
