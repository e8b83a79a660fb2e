"""Provider master keys, read from the secret backend and cached for a short, configured time.

If the backend cannot be read, a key cached less than ``ttl`` seconds ago is still used;
after that the gateway refuses (fail closed). A master key is never logged or repr'd.
"""

from __future__ import annotations

import threading

from broker.clock import Clock
from broker.errors import BrokerError, Reason, Unavailable
from broker.secrets.base import SecretStore
from broker.secrets.location import KeyLocation, read_key


class MasterKeys:
    def __init__(self, secrets: SecretStore, *, clock: Clock, ttl: float) -> None:
        self._secrets = secrets
        self._clock = clock
        self._ttl = ttl
        self._cache: dict[KeyLocation, tuple[float, str]] = {}
        self._encoded: tuple[bytes, ...] = ()  # the cached values as bytes, kept in step
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MasterKeys(keys={len(self._cache)}, ttl={self._ttl})"

    def get(self, location: KeyLocation) -> str:
        now = self._clock()
        cached = self._cache.get(location)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        with self._lock:
            try:
                value = read_key(self._secrets, location).decode("utf-8")
            except BrokerError:
                raise Unavailable(
                    "the provider's master key cannot be read",
                    reason=Reason.SECRET_BACKEND_UNAVAILABLE,
                ) from None
            except UnicodeDecodeError:
                raise Unavailable(
                    "the provider's master key is not text",
                    reason=Reason.SECRET_BACKEND_UNAVAILABLE,
                ) from None
            self._cache[location] = (now, value)
            self._encoded = tuple(v.encode() for _, v in self._cache.values())
            return value

    def all_cached(self) -> tuple[bytes, ...]:
        """Every key value held now, encoded (for redacting upstream answers, on every
        forwarded call: built when the cache changes, not per call); never log these."""
        return self._encoded
