"""The upstream side: one pooled aiohttp client per provider, for forwarding and look-ups.

aiohttp, not httpx: as a forwarding client it measured about 4x faster here
(docs/decisions/0010-aiohttp-forwarding.md). Bodies stream in both directions.

Each provider has its own connection pool and timeouts (``UpstreamLimits``, from the
providers file), so a provider that hangs fills only its own pool: calls to another
provider never wait for a connection behind it. Every call has a total deadline, which
covers its answer's body too.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import aiohttp

from broker.errors import Reason, Unavailable
from broker.routemap.lookups import LookupRequest


@dataclass(frozen=True, slots=True)
class UpstreamLimits:
    """One provider's pool and timeouts (seconds)."""

    connections: int = 64  # open connections at most; more calls wait for one
    connect: float = 5.0  # to get a connection: waiting for the pool, then connecting
    read: float = 30.0  # the longest silence while waiting for any byte of the answer
    deadline: float = 120.0  # the whole call, from sending to the answer's last byte
    keepalive: float = 30.0  # an idle pooled connection is closed after this

    def timeout(self) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(total=self.deadline, connect=self.connect, sock_read=self.read)


DEFAULT_LIMITS = UpstreamLimits()


class Upstream:
    def __init__(self, limits: Mapping[str, UpstreamLimits] | None = None) -> None:
        self._limits = dict(limits or {})
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        self._started = False

    async def start(self) -> None:
        self._started = True

    async def close(self) -> None:
        self._started = False
        sessions, self._sessions = self._sessions, {}
        for session in sessions.values():
            await session.close()

    def limits(self, provider: str) -> UpstreamLimits:
        return self._limits.get(provider, DEFAULT_LIMITS)

    def session(self, provider: str = "") -> aiohttp.ClientSession:
        """The provider's own pool, made on its first call (on the running loop)."""
        session = self._sessions.get(provider)
        if session is None:
            if not self._started:
                raise Unavailable("the gateway is not started", reason=Reason.UPSTREAM_UNAVAILABLE)
            limits = self.limits(provider)
            session = self._sessions[provider] = aiohttp.ClientSession(
                timeout=limits.timeout(),
                auto_decompress=False,
                connector=aiohttp.TCPConnector(
                    limit=limits.connections, keepalive_timeout=limits.keepalive
                ),
                skip_auto_headers=("User-Agent", "Accept-Encoding"),
            )
        return session

    async def request(
        self,
        method: str,
        url: str,
        headers: list[tuple[str, str]],
        body: bytes | AsyncIterator[bytes] | None,
        *,
        provider: str = "",
    ) -> aiohttp.ClientResponse:
        try:
            return await self.session(provider).request(
                method, url, headers=headers, data=body, allow_redirects=False
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Unavailable(
                f"the provider did not answer ({type(exc).__name__})",
                reason=Reason.UPSTREAM_UNAVAILABLE,
            ) from None

    async def lookup(
        self, base: str, request: LookupRequest, auth: tuple[str, str], *, provider: str = ""
    ) -> tuple[int, object]:
        """Send a route map's look-up with the master key; (status, JSON or None)."""
        headers = [auth, ("Accept", "application/json")]
        body = None
        if request.json is not None:
            headers.append(("Content-Type", "application/json"))
            body = json.dumps(request.json).encode()
        response = await self.request(
            request.method, base + request.path, headers, body, provider=provider
        )
        async with response:
            try:
                raw = await response.content.read(1 << 20)
                return response.status, json.loads(raw) if raw else None
            except (ValueError, aiohttp.ClientError, TimeoutError):
                return response.status, None
