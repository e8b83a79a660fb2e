"""Stage 7: the token swapped for the master key, and the provider's answer made safe to
pass back (no compressed body the redactor could not read; echoed keys redacted)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp

from broker.errors import Reason, Unavailable
from broker.gateway.headers import HOP_BY_HOP
from broker.gateway.masterkeys import MasterKeys
from broker.gateway.outcome import Attempt, Forward
from broker.gateway.redact import StreamRedactor, redaction_for
from broker.gateway.route import ProviderRoute
from broker.gateway.upstream import Upstream
from broker.routemap.canonical import CanonicalRequest

# A compressed answer would hide an echoed master key from the redactor.
IDENTITY = ("Accept-Encoding", "identity")


class Forwarder:
    def __init__(self, upstream: Upstream, master_keys: MasterKeys) -> None:
        self.upstream, self.master_keys = upstream, master_keys

    def auth_header(self, route: ProviderRoute) -> tuple[str, str]:
        key = self.master_keys.get(route.master_key)
        auth = route.key_auth
        return auth.header, auth.format.replace("{key}", key)

    def lookup_fetcher(
        self, route: ProviderRoute
    ) -> Callable[[Any], Awaitable[tuple[int, object]]]:
        """How the environment resolver asks the provider, with the master key."""

        async def fetch(request: Any) -> tuple[int, object]:
            try:
                return await self.upstream.lookup(route.upstream, request, self.auth_header(route))
            except Unavailable:
                return 503, None  # unresolvable: the look-up's extract turns it into a denial

        return fetch

    def prepare(
        self,
        route: ProviderRoute,
        canonical: CanonicalRequest,
        outbound: list[tuple[str, str]],
        body: bytes,
        stream: AsyncIterator[bytes] | None,
        attempt: Attempt,
    ) -> Forward:
        """The upstream call: the canonical path, the agent's cleaned headers (``outbound``,
        extended in place; a header a key may travel in is never among them, since no map
        may declare one) and the master key in the route map's header."""
        outbound.append(self.auth_header(route))
        outbound.append(IDENTITY)
        url = route.upstream + canonical.wire_path
        if canonical.query:
            url += "?" + canonical.wire_query
        data = stream if stream is not None else (body or None)
        return Forward(canonical.method, url, outbound, data, attempt)

    def send(self, forward: Forward) -> Awaitable[aiohttp.ClientResponse]:
        # Not a coroutine of its own: one frame fewer per forwarded call.
        return self.upstream.request(forward.method, forward.url, forward.headers, forward.body)

    def answer(
        self, response: aiohttp.ClientResponse
    ) -> tuple[list[tuple[bytes, bytes]], StreamRedactor]:
        """The answer's headers to pass back, and the redactor its body goes through."""
        if response.headers.get("Content-Encoding", "identity").lower() != "identity":
            raise Unavailable(
                "the provider sent an encoded body the gateway cannot inspect",
                reason=Reason.UPSTREAM_UNAVAILABLE,
            )
        redaction = redaction_for(self.master_keys.all_cached())
        kept = [(k.lower(), v) for k, v in response.raw_headers if k.lower() not in HOP_BY_HOP]
        values = redaction.scrub_all([v for _, v in kept])
        return [(k, v) for (k, _), v in zip(kept, values, strict=True)], StreamRedactor(redaction)
