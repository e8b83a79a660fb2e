"""Inside one TLS tunnel: HTTP/1.1 requests (keep-alive, many per tunnel), each run through
the same ``Pipeline.run`` as path mode, and each outcome rendered back in the tunnel.

The tunnel is bound to the token its CONNECT carried: each request is given that token
as its ``Authorization`` (so the pipeline verifies it again, revocations and kill switches
included, per request); a request that brings a credential of its own must bring that
same token, which is dropped before the master key goes in.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Mapping, MutableMapping
from http import HTTPStatus
from typing import Any

import h11

from broker.errors import BrokerError, InvalidRequest
from broker.gateway.app import _encoded
from broker.gateway.forward import CLIENT_GONE
from broker.gateway.framing import BodyStream, upgrade_refusal, upgrade_requested
from broker.gateway.headers import RawHeaders
from broker.gateway.outcome import Attempt, DryRun, Forward, Refusal
from broker.gateway.pipeline import Pipeline
from broker.gateway.proxy.checks import (
    HTTP_PORT,
    Authority,
    credential_headers,
    foreign_credential,
    host_mismatch,
    parse_absolute,
    proxy_token,
    repeated_length,
    tunnel_headers,
)
from broker.gateway.relay import relay
from broker.gateway.request import GatewayRequest, StreamWaiting
from broker.gateway.route import ProviderRoute
from broker.gateway.sender import challenge
from broker.problems import problem_body

READ_BYTES = 65536
MAX_HEAD_BYTES = 65536
IDLE_TIMEOUT_S = 60.0
DRAIN_LIMIT = 1 << 20  # an unread body beyond this closes the tunnel instead
# The redactor may change an answer's length: the tunnel frames it itself.
REFRAMED = frozenset({b"content-length", b"transfer-encoding"})
PROXY_AUTHENTICATE = (b"proxy-authenticate", b'Basic realm="capbroker"')


class Connection:
    """h11 over an asyncio stream: events in, events out."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        self._pending: list[bytes] = []  # queued bytes, written with the next send

    async def next_event(self, timeout: float = IDLE_TIMEOUT_S) -> Any:
        while True:
            # A request head is checked as sent, before h11 folds repeated lengths.
            head = self.h11.trailing_data[0] if self.h11.their_state is h11.IDLE else b""
            event = self.h11.next_event()
            if isinstance(event, h11.Request) and repeated_length(head):
                raise h11.RemoteProtocolError("Content-Length named more than once")
            if event is not h11.NEED_DATA:
                return event
            async with asyncio.timeout(timeout):
                data = await self.reader.read(READ_BYTES)
            self.h11.receive_data(data)

    def queue(self, *events: Any) -> None:
        """Frame events now, write them with the next ``send``: each write through TLS is
        a record and a system call, so an answer goes out in as few as it can."""
        for event in events:
            data = self.h11.send(event)
            if data:
                self._pending.append(data)

    async def send(self, *events: Any) -> None:
        self.queue(*events)
        self.writer.write(b"".join(self._pending))
        self._pending.clear()
        await self.writer.drain()

    async def answer_json(
        self,
        status: int,
        body: Mapping[str, Any],
        *,
        problem: bool,
        close: bool = False,
        extra: tuple[tuple[bytes, bytes], ...] = (),
    ) -> None:
        headers, payload = _encoded(dict(body), problem=problem, close=close)  # as path mode
        await self.send(
            h11.Response(status_code=status, headers=[*headers, *extra], reason=phrase(status)),
            h11.Data(data=payload),
            h11.EndOfMessage(),
        )

    async def answer_problem(
        self, error: BrokerError, *, close: bool = False, proxy: bool = False
    ) -> None:
        """``proxy``: answered as the proxy itself (not inside a tunnel), which asks for its
        own credentials with 407 and ``Proxy-Authenticate`` where path mode says 401."""
        if proxy and error.status == 401:
            body = problem_body(error, status=407, title="Proxy authentication required")
            await self.answer_json(
                407, body, problem=True, close=close, extra=(PROXY_AUTHENTICATE,)
            )
            return
        asked = challenge(error)  # RFC 9449 7.1, for a DPoP refusal
        extra = ((b"www-authenticate", asked),) if asked is not None else ()
        await self.answer_json(
            error.status, problem_body(error), problem=True, close=close, extra=extra
        )


class Tunnel:
    """The requests of one client connection for one provider host: inside a CONNECT's
    TLS tunnel (origin-form targets), or ``plain``: absolute-form ``http://host/...``
    requests to the proxy itself, each carrying the connection's token as its proxy
    credentials."""

    def __init__(
        self,
        pipeline: Pipeline,
        route: ProviderRoute,
        token: str,
        host: str,
        conn: Connection,
        *,
        plain: bool = False,
    ) -> None:
        self.pipeline, self.route, self.token, self.host = pipeline, route, token, host
        self.conn, self.plain = conn, plain
        self.credentials = credential_headers(route)

    async def run(self, first: h11.Request | None = None) -> None:
        """Serve requests (``first`` already read) until the client closes, goes idle or
        breaks the framing."""
        h = self.conn.h11
        try:
            while True:
                event = first if first is not None else await self.conn.next_event()
                first = None
                if not isinstance(event, h11.Request):
                    return  # ConnectionClosed, or the peer's EOF
                await self.handle(event)
                if not await self._drained() or h.our_state is not h11.DONE:
                    return
                h.start_next_cycle()
        except h11.RemoteProtocolError:
            if h.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                attempt = _attempt("?", f"/{self.route.name}", self)
                refusal = await self.pipeline.refuse(attempt, _malformed())
                await self.conn.answer_problem(refusal.error, close=True)
        except (TimeoutError, ConnectionError, BrokerError):
            return  # a broken answer or a dead peer: the tunnel just ends

    async def handle(self, event: h11.Request) -> None:
        method = event.method.decode("ascii")
        target = event.target.decode("latin-1")
        gateway_path = f"/{self.route.name}{target.partition('?')[0]}"
        try:
            path, query = self._target(event, target)
            gateway_path = f"/{self.route.name}{path}"
            if upgrade_requested(event.headers):
                raise upgrade_refusal()
            headers = tunnel_headers(self._own(event.headers), self.token, self.credentials)
        except BrokerError as error:
            refusal = await self.pipeline.refuse(_attempt(method, gateway_path, self), error)
            await self.conn.answer_problem(refusal.error, close=True, proxy=self.plain)
            return
        waiting = StreamWaiting(self.conn.reader, self.conn.writer)
        # What the tool addressed, for a DPoP proof's htu: the provider's own URL.
        url = f"{'http' if self.plain else 'https'}://{self.host}{path}"
        request = GatewayRequest(
            method, gateway_path, query, headers, self._receive, None, waiting, url
        )
        match await self.pipeline.run(request):
            case Forward() as forward:
                await self._forward(forward)
            case DryRun() as dry_run:
                await self.conn.answer_json(200, dry_run.body(), problem=False)
            case Refusal() as refusal:
                await self.conn.answer_problem(refusal.error)

    def _target(self, event: h11.Request, target: str) -> tuple[str, str]:
        """The path and query, after checking the request names this connection's host."""
        hosts = [v for k, v in event.headers if k == b"host"]
        named = hosts[0].decode("latin-1").lower() if hosts else ""
        if self.plain:
            authority, target = parse_absolute(event.target)
            if authority != Authority(self.host, HTTP_PORT):
                raise host_mismatch()
            named = named.removesuffix(":80") if hosts else self.host  # Host may be left out
        elif not target.startswith("/"):
            raise InvalidRequest(
                "send origin-form requests in the tunnel (a path, not a URL)",
                extra={"refusal": "malformed_http"},
            )
        if named.removesuffix(":443") != self.host:
            raise host_mismatch()
        path, _, query = target.partition("?")
        return path, query

    def _own(self, headers: RawHeaders) -> RawHeaders:
        """A plain request's headers without its proxy credentials, which must be the
        connection's token (a tunnel's requests carry none: they went with the CONNECT)."""
        if not self.plain:
            return headers
        if not hmac.compare_digest(proxy_token(headers).encode(), self.token.encode()):
            raise foreign_credential()
        return [(k, v) for k, v in headers if k.lower() != b"proxy-authorization"]

    async def _receive(self) -> Mapping[str, Any]:
        """The body, shaped like ASGI receive (what the pipeline reads)."""
        if self.conn.h11.their_state is not h11.SEND_BODY:
            return {"body": b"", "more_body": False}
        event = await self.conn.next_event()
        if isinstance(event, h11.Data):
            return {"body": bytes(event.data), "more_body": True}
        return {"body": b"", "more_body": False}

    async def _drained(self) -> bool:
        """Read what is left of the request body, so the next request can follow; a large
        remainder closes the tunnel instead."""
        left = DRAIN_LIMIT
        while self.conn.h11.their_state is h11.SEND_BODY:
            event = await self.conn.next_event()
            if isinstance(event, h11.Data):
                left -= len(event.data)
                if left < 0:
                    return False
        return True

    async def _forward(self, forward: Forward) -> None:
        """Send the call and stream the answer back through the redactor; a failure before
        the answer starts is a refusal like any other (audited, problem+json). As in path
        mode (``relay.py``): the answer's headers go out as soon as the provider sends them,
        and an answer that breaks off mid-body breaks the tunnel off, its completion saying
        how it ended."""
        forwarder = self.pipeline.forwarder
        status, ended = 0, None
        try:
            response = await forwarder.send(forward)
            async with response:
                headers, redactor = forwarder.answer(response)
                kept = [(k, v) for k, v in headers if k not in REFRAMED]
                status = response.status
                await self.conn.send(
                    h11.Response(status_code=status, headers=kept, reason=phrase(status))
                )
                ended = await relay(response, redactor, self._send_body, forward.attempt)
        except BrokerError as error:
            if self.conn.h11.our_state is not h11.SEND_RESPONSE:
                raise  # the answer has begun: all the tunnel can do is break off
            stream = forward.body
            cause = (stream.failure if isinstance(stream, BodyStream) else None) or error
            refusal = await self.pipeline.refuse(forward.attempt, cause)
            await self.conn.answer_problem(refusal.error)
            return
        except ConnectionError:
            self.pipeline.completed(forward, status, ended=CLIENT_GONE)
            raise  # the client went away: the tunnel ends (``run``)
        self.pipeline.completed(forward, status, ended=ended)

    async def _send_body(self, message: MutableMapping[str, Any]) -> None:
        """``relay``'s ASGI body messages as h11 events on the tunnel."""
        body = message.get("body", b"")
        events: list[Any] = [h11.Data(data=body)] if body else []
        if not message.get("more_body", False):
            events.append(h11.EndOfMessage())
        await self.conn.send(*events)


def phrase(status: int) -> bytes:
    """The reason phrase: some clients show only it for a refused CONNECT (Go's gh)."""
    try:
        return HTTPStatus(status).phrase.encode("ascii")
    except ValueError:
        return b""


def _attempt(method: str, path: str, tunnel: Tunnel) -> Attempt:
    attempt = Attempt(method, path)
    attempt.provider = tunnel.route.name
    return attempt


def _malformed() -> InvalidRequest:
    return InvalidRequest("the request is not valid HTTP/1.1", extra={"refusal": "malformed_http"})
