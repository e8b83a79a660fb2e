"""Offline token checks for the gateway: JWKS from the broker, verified tokens cached.

A token's signature and claims are checked once; the result is kept until its ``exp``
(about 90 µs saved per request). Revocation is *not* cached: it is checked on every
request against ``Revocations``. An unknown ``kid`` refreshes the JWKS, at most once
per ``min_refresh`` seconds, so a rotated key is picked up without a restart.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from broker.clock import Clock
from broker.errors import Reason
from broker.tokens import InvalidToken, PublicKey, TokenVerifier, VerifiedToken
from broker.tokens.jwks import fetch_jwks, keys_from_jwks

MAX_CACHED = 100_000
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

    def __init__(self, verifier: TokenVerifier, keys: GatewayKeys, *, clock: Clock, leeway: float):
        self._verifier = verifier
        self._keys = keys
        self._clock = clock
        self._leeway = leeway
        self._cache: dict[str, VerifiedToken] = {}

    def verify(self, token: str) -> VerifiedToken:
        now = self._clock()
        hit = self._cache.get(token)
        if hit is not None:
            if now < hit.exp + self._leeway:
                return hit
            del self._cache[token]
        try:
            verified = self._verifier.verify(token, now=now)
        except InvalidToken as exc:
            # A key rotated in after our last JWKS read: read it again, once, and retry.
            if exc.audit_detail.startswith("unknown kid") and self._keys.refresh():
                verified = self._verifier.verify(token, now=now)
            else:
                raise
        if len(self._cache) >= MAX_CACHED:
            self._cache.clear()  # crude but bounded; the hot set refills within seconds
        self._cache[token] = verified
        return verified
