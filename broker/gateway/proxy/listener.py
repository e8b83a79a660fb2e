"""The forward proxy's listener: CONNECT, checked, then TLS with the host's leaf certificate,
then the tunnel (``tunnel.py``) runs each request through the pipeline.

A CONNECT is answered in this order: a malformed one 400; one without proxy credentials
407 (with ``Proxy-Authenticate``); a host no provider names 403 (the proxy is an egress
allowlist); a token the gateway's authenticator refuses 407 (or 403 when it is valid but
not for this provider, revoked or stopped). Every refusal is audited through the
pipeline's recorder. Requests that are not CONNECT (absolute-form plain HTTP) are refused
for now.
"""

from __future__ import annotations

import asyncio
import json
import logging

import h11

from broker.errors import BrokerError, InvalidRequest
from broker.gateway.outcome import Attempt
from broker.gateway.pipeline import Pipeline
from broker.gateway.proxy.ca import LeafCache
from broker.gateway.proxy.checks import (
    Authority,
    host_index,
    named_route,
    parse_authority,
    proxy_token,
)
from broker.gateway.proxy.tunnel import Connection, Tunnel
from broker.gateway.route import ProviderRoute
from broker.problems import problem_body

log = logging.getLogger(__name__)
HEAD_TIMEOUT_S = 10.0
HANDSHAKE_TIMEOUT_S = 10.0
PROXY_AUTHENTICATE = (b"proxy-authenticate", b'Basic realm="capbroker"')


class ProxyListener:
    def __init__(self, pipeline: Pipeline, leaves: LeafCache) -> None:
        self.pipeline, self.leaves = pipeline, leaves
        self.hosts = host_index(pipeline.providers)
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` (0: any free port); the port bound."""
        self._server = await asyncio.start_server(self._serve, host, port)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._connect(Connection(reader, writer))
        except (TimeoutError, ConnectionError, h11.ProtocolError):
            pass  # a client that went away or cannot speak HTTP: nothing to answer
        except Exception as exc:  # the type only: a message may quote what went upstream
            log.error("proxy connection failed: %s", type(exc).__name__)
        finally:
            writer.close()

    async def _connect(self, conn: Connection) -> None:
        event = await conn.next_event(HEAD_TIMEOUT_S)
        if not isinstance(event, h11.Request):
            return
        method = event.method.decode("ascii")
        target = event.target.decode("latin-1")[:300]
        if method != "CONNECT":
            error = InvalidRequest(
                "this proxy tunnels HTTPS only: use CONNECT (plain-HTTP proxying is not offered)",
                extra={"refusal": "proxy_method_not_supported"},
            )
            await self._refuse(conn, Attempt(method, target), error)
            return
        try:
            token = proxy_token(event.headers)
        except BrokerError as error:
            await self._refuse(conn, Attempt(method, target), error)
            return
        tunnel = await self._authorised(conn, event, token)
        if tunnel is None:
            return
        if not isinstance(await conn.next_event(HEAD_TIMEOUT_S), h11.EndOfMessage):
            return  # a CONNECT with a body: h11 would not switch; nothing sane to serve
        await self._open(conn, *tunnel, token)

    async def _authorised(
        self, conn: Connection, event: h11.Request, token: str
    ) -> tuple[ProviderRoute, Authority] | None:
        """The provider and host for an authenticated CONNECT to a named host, or None
        once the refusal is answered."""
        attempt = Attempt("CONNECT", event.target.decode("latin-1")[:300])
        try:
            authority = parse_authority(event.target)
            route = named_route(self.hosts, authority)
            attempt.provider = route.name
            bearer = [(b"authorization", b"Bearer " + token.encode("latin-1"))]
            self.pipeline.authenticator.authenticate(bearer, route, attempt)
        except BrokerError as error:
            await self._refuse(conn, attempt, error)
            return None
        return route, authority

    async def _open(
        self, conn: Connection, route: ProviderRoute, authority: Authority, token: str
    ) -> None:
        await conn.send(h11.Response(status_code=200, headers=[], reason=b"Connection Established"))
        leftover, _ = conn.h11.trailing_data
        if leftover:
            return  # bytes before our answer: not a client that waits, so not ours to serve
        context = self.leaves.context_for(authority.host)
        await conn.writer.start_tls(context, ssl_handshake_timeout=HANDSHAKE_TIMEOUT_S)
        inner = Connection(conn.reader, conn.writer)
        await Tunnel(self.pipeline, route, token, authority.host, inner).run()

    async def _refuse(self, conn: Connection, attempt: Attempt, error: BrokerError) -> None:
        refusal = await self.pipeline.refuse(attempt, error)
        answered = refusal.error
        headers: list[tuple[bytes, bytes]] = [
            (b"content-type", b"application/problem+json"),
            (b"cache-control", b"no-store"),
            (b"connection", b"close"),
        ]
        status, body = answered.status, problem_body(answered)
        if status == 401:  # a proxy asks for its own credentials with 407
            status = 407
            body = problem_body(answered, status=407, title="Proxy authentication required")
            headers.append(PROXY_AUTHENTICATE)
        payload = json.dumps(body).encode()
        headers.append((b"content-length", str(len(payload)).encode()))
        response = h11.Response(status_code=status, headers=headers)
        await conn.send(response, h11.Data(data=payload), h11.EndOfMessage())
