"""The forward proxy's listener: CONNECT, checked, then TLS with the host's leaf certificate,
then the tunnel (``tunnel.py``) runs each request through the pipeline.

A CONNECT (or an absolute-form ``http://`` request) is answered in this order: one without
proxy credentials 407 (with ``Proxy-Authenticate``); a malformed one 400; a passthrough
host (``passthrough.py``) is tunnelled untouched once the token is checked; a host no
provider names 403 (the proxy is an egress allowlist); a token the gateway's
authenticator refuses 407 (or 403 when it is valid but not for this provider, revoked or
stopped). A plain-HTTP request to a provider's host runs through the pipeline like a
tunnel's (``Tunnel(plain=True)``). Every decision is audited through the pipeline's
recorder.
"""

from __future__ import annotations

import asyncio
import logging

import h11

from broker.errors import BrokerError, Denied, Reason, Unavailable
from broker.gateway.outcome import Attempt
from broker.gateway.pipeline import Pipeline
from broker.gateway.proxy import passthrough
from broker.gateway.proxy.ca import LeafCache
from broker.gateway.proxy.checks import (
    HTTP_PORT,
    Authority,
    host_index,
    named_route,
    parse_absolute,
    parse_authority,
    proxy_token,
)
from broker.gateway.proxy.tunnel import Connection, Tunnel
from broker.gateway.route import ProviderRoute
from broker.httpguard import TOO_MANY, ServerLimits
from broker.tokens.grant import grant_from_token

log = logging.getLogger(__name__)
HEAD_TIMEOUT_S = 10.0
HANDSHAKE_TIMEOUT_S = 10.0


class ProxyListener:
    def __init__(
        self,
        pipeline: Pipeline,
        leaves: LeafCache,
        passthrough: frozenset[Authority] = frozenset(),
        *,
        max_connections_per_client: int = ServerLimits().max_connections_per_client,
    ) -> None:
        self.pipeline, self.leaves, self.passthrough = pipeline, leaves, passthrough
        self.hosts = host_index(pipeline.providers)
        self._server: asyncio.Server | None = None
        # Open connections per client address, capped as on the path-mode server (0: no cap).
        self.max_per_client = max_connections_per_client
        self._per_client: dict[str, int] = {}

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
        peer = str((writer.get_extra_info("peername") or ("?",))[0])
        if self.max_per_client and self._per_client.get(peer, 0) >= self.max_per_client:
            writer.write(TOO_MANY)  # answered before anything is read, as httpguard does
            writer.close()
            return
        self._per_client[peer] = self._per_client.get(peer, 0) + 1
        try:
            await self._connect(Connection(reader, writer))
        except (TimeoutError, ConnectionError, h11.ProtocolError):
            pass  # a client that went away or cannot speak HTTP: nothing to answer
        except Exception as exc:  # the type only: a message may quote what went upstream
            log.error("proxy connection failed: %s", type(exc).__name__)
        finally:
            writer.close()
            left = self._per_client.pop(peer, 1) - 1
            if left:
                self._per_client[peer] = left

    async def _connect(self, conn: Connection) -> None:
        event = await conn.next_event(HEAD_TIMEOUT_S)
        if not isinstance(event, h11.Request):
            return
        attempt = Attempt(event.method.decode("ascii"), event.target.decode("latin-1")[:300])
        try:
            token = proxy_token(event.headers)
            if event.method != b"CONNECT":
                authority = parse_absolute(event.target)[0]
                route = named_route(self.hosts, authority, HTTP_PORT)
                await self._authenticate(token, route, attempt)
            else:
                authority = parse_authority(event.target)
                if authority in self.passthrough:
                    await self._authenticate(token, None, attempt)
                    await passthrough.record_passage(self.pipeline.recorder, attempt, authority)
                    return await self._pass(conn, authority)
                route = named_route(self.hosts, authority)
                await self._authenticate(token, route, attempt)
        except BrokerError as error:
            refusal = await self.pipeline.refuse(attempt, error)
            await conn.answer_problem(refusal.error, close=True, proxy=True)
            return
        if event.method != b"CONNECT":
            plain = Tunnel(self.pipeline, route, token, authority.host, conn, plain=True)
            await plain.run(event)
            return
        if not isinstance(await conn.next_event(HEAD_TIMEOUT_S), h11.EndOfMessage):
            return  # a CONNECT with a body: h11 would not switch; nothing sane to serve
        await self._open(conn, route, authority, token)

    async def _authenticate(
        self, token: str, route: ProviderRoute | None, attempt: Attempt
    ) -> None:
        """The token as the gateway's authenticator takes it, for ``route`` (for a
        passthrough host: for the provider its own grant names, which must be one here)."""
        authenticator = self.pipeline.authenticator
        if route is None:
            grant = grant_from_token(await authenticator.tokens.verify_async(token))
            route = self.pipeline.providers.get(grant.provider)
            if route is None:
                raise Denied(
                    "the token is for a provider this gateway does not front",
                    reason=Reason.AUDIENCE_MISMATCH,
                )
        attempt.provider = route.name
        bearer = [(b"authorization", b"Bearer " + token.encode("latin-1"))]
        # No request yet, so no proof: a bound token's proofs are checked per request in
        # the tunnel (``Tunnel.handle``), where the pipeline sees each request's URL.
        await authenticator.authenticate(bearer, route, attempt, call=None)

    async def _pass(self, conn: Connection, authority: Authority) -> None:
        """A passthrough host: connect, say 200, then copy bytes both ways, untouched."""
        if not isinstance(await conn.next_event(HEAD_TIMEOUT_S), h11.EndOfMessage):
            return
        try:
            upstream = await passthrough.open_upstream(authority)
        except (OSError, TimeoutError):
            error = Unavailable(
                f"{authority} cannot be reached", reason=Reason.UPSTREAM_UNAVAILABLE
            )
            await conn.answer_problem(error, close=True, proxy=True)
            return
        await conn.send(h11.Response(status_code=200, headers=[], reason=b"Connection Established"))
        leftover, _ = conn.h11.trailing_data
        if leftover:
            upstream[1].write(leftover)  # a client that did not wait for our answer
        await passthrough.splice((conn.reader, conn.writer), upstream)

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
