"""A trusted issuer's verification keys: inline, or its JWKS fetched and cached.

The fetch is blocking I/O with a timeout and a size cap; callers run it off the event
loop (``WorkloadExchange.authenticate`` runs in a worker thread). The cache honours
rotation at the issuer: keys are re-read every ``jwks_cache_seconds`` (so removed keys
go), and an unknown ``kid`` re-reads at once, at most every ``min_refresh`` seconds (so
an attacker's made-up kids cannot turn into a flood of fetches). When the issuer cannot
be reached, the last keys read serve for ``stale_limit`` seconds at most; then
exchanges fail closed with 503 ``issuer_unavailable``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from broker.clock import Clock
from broker.errors import Reason, Unavailable
from broker.identity.issuers import TrustedIssuer, inline_keys
from broker.tokens import InvalidKey, PublicKey
from broker.tokens.jwks import fetch_jwks

log = logging.getLogger(__name__)

JwksFetch = Callable[[str], Mapping[str, Any]]
MAX_JWKS_BYTES = 512 * 1024


def http_fetch(url: str, *, timeout: float = 3.0) -> Mapping[str, Any]:
    """GET an issuer's JWKS (blocking); any failure is 503 ``issuer_unavailable``."""
    return fetch_jwks(
        url,
        timeout=timeout,
        what="a trusted issuer's JWKS",
        reason=Reason.ISSUER_UNAVAILABLE,
        max_bytes=MAX_JWKS_BYTES,
    )


class IssuerKeys:
    """kid -> key for one issuer; ``resolve`` may fetch (call it off the event loop)."""

    def __init__(
        self,
        issuer: TrustedIssuer,
        *,
        clock: Clock,
        fetch: JwksFetch = http_fetch,
        min_refresh: float = 10.0,
        stale_limit: float = 3600.0,
    ) -> None:
        self.issuer = issuer
        self._clock, self._fetch = clock, fetch
        self._min_refresh, self._stale_limit = min_refresh, stale_limit
        self._keys: dict[str, PublicKey] | None = (
            dict(issuer.inline_keys) if issuer.inline_keys is not None else None
        )
        self._read_at = float("-inf")  # last successful read
        self._tried_at = float("-inf")  # last attempt
        self._lock = threading.Lock()

    def resolve(self, kid: str) -> PublicKey | None:
        if self.issuer.jwks_uri is None:
            return (self._keys or {}).get(kid)
        now = self._clock()
        if now - self._read_at >= self.issuer.jwks_cache_seconds:
            self._refresh(now, required=True)
        elif kid not in (self._keys or {}) and now - self._tried_at >= self._min_refresh:
            self._refresh(now, required=False)
        return (self._keys or {}).get(kid)

    def _refresh(self, now: float, *, required: bool) -> None:
        assert self.issuer.jwks_uri is not None
        with self._lock:
            if self._tried_at == now:
                return  # another thread just did
            self._tried_at = now
            try:
                keys = inline_keys(self._fetch(self.issuer.jwks_uri), what="JWKS", strict=False)
            except (Unavailable, InvalidKey) as exc:
                log.warning("trusted issuer %s: JWKS not read (%s)", self.issuer.name, exc)
                if required and (self._keys is None or now - self._read_at > self._stale_limit):
                    self._keys = None
                    raise Unavailable(
                        f"trusted issuer {self.issuer.name}: its JWKS cannot be read",
                        reason=Reason.ISSUER_UNAVAILABLE,
                    ) from None
                return
            self._keys, self._read_at = keys, now
