"""Offline token checks for the gateway: JWKS from the broker, verified tokens cached.

A token's signature and claims are checked once; the result is kept until its ``exp``
(about 90 µs saved per request), in an ``ExpiringCache``: swept once expired, and at most
``max_entries`` tokens (the oldest leave first), so memory returns to its baseline once
tokens expire. Revocation is *not* cached: it is checked on every
request against ``Revocations``. An unknown ``kid`` refreshes the JWKS, at most once
per ``min_refresh`` seconds, so a rotated key is picked up without a restart.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping

from broker.clock import Clock
from broker.errors import Reason
from broker.gateway.expiring import ExpiringCache
from broker.tokens import InvalidToken, PublicKey, TokenVerifier, VerifiedToken
from broker.tokens.jwks import fetch_jwks, keys_from_jwks

# ~5 KB a token with its grant: about 100 MB at most per cache set.
MAX_CACHED = 20_000
JwksFetcher = Callable[[], Mapping[str, object]]


def http_jwks(url: str, *, timeout: float = 5.0) -> JwksFetcher:
    """Fetch the broker's JWKS over HTTP (blocking; called rarely, off the hot path)."""

    def fetch() -> Mapping[str, object]:
        return fetch_jwks(
            url, timeout=timeout, what="the broker's JWKS", reason=Reason.BROKER_UNAVAILABLE
        )

    return fetch


class GatewayKeys:
    def __init__(self, fetch: JwksFetcher, *, clock: Clock, min_refresh: float = 5.0) -> None:
        self._fetch = fetch
        self._clock = clock
        self._min_refresh = min_refresh
        self._keys: dict[str, PublicKey] = {}
        self._fetched_at = float("-inf")
        self._lock = threading.Lock()

    def refresh(self, *, force: bool = False) -> bool:
        """Re-read the JWKS unless that happened moments ago (or ``force``: the start-up
        wait, broker.gateway.startup, keeps its own pace); True if it was re-read."""
        with self._lock:
            if not force and self._clock() - self._fetched_at < self._min_refresh:
                return False
            self._fetched_at = self._clock()
            self._keys = keys_from_jwks(self._fetch())
            return True

    def resolve(self, kid: str) -> PublicKey | None:
        return self._keys.get(kid)

    def known_any(self) -> bool:
        return bool(self._keys)


class VerifiedTokens:
    """Verification with a cache keyed by the token string, valid until the token's exp."""

    def __init__(
        self,
        verifier: TokenVerifier,
        keys: GatewayKeys,
        *,
        clock: Clock,
        leeway: float,
        max_entries: int = MAX_CACHED,
    ):
        self._verifier = verifier
        self._keys = keys
        self.clock = clock
        self.leeway = leeway
        self._cache: ExpiringCache[str, VerifiedToken] = ExpiringCache(max_entries)

    def expiry(self, token: VerifiedToken) -> float:
        """When what was worked out from ``token`` may be forgotten: it no longer verifies."""
        return token.exp + self.leeway

    def sweep(self, now: float) -> int:
        return self._cache.sweep(now)

    def verify(self, token: str) -> VerifiedToken:
        """Verify, re-reading the JWKS once on an unknown kid (blocking: tests and tools;
        the gateway's requests use ``verify_async``)."""
        try:
            return self._verify_known(token)
        except InvalidToken as exc:
            if not (_unknown_kid(exc) and self._keys.refresh()):
                raise
        return self._verify_known(token)

    async def verify_async(self, token: str) -> VerifiedToken:
        """``verify`` for the event loop: a key rotated in after our last JWKS read is
        fetched in a worker thread (the fetch has its own timeout), never on the loop."""
        try:
            return self._verify_known(token)
        except InvalidToken as exc:
            if not (_unknown_kid(exc) and await asyncio.to_thread(self._keys.refresh)):
                raise
        return self._verify_known(token)

    def _verify_known(self, token: str) -> VerifiedToken:
        now = self.clock()
        hit = self._cache.get(token, now)
        if hit is not None:
            return hit
        verified = self._verifier.verify(token, now=now)
        self._cache.put(token, verified, self.expiry(verified))
        return verified


def _unknown_kid(exc: InvalidToken) -> bool:
    return exc.audit_detail.startswith("unknown kid")
