"""Provider master keys, read from the secret backend off the event loop and cached.

A key read less than ``refresh_after`` seconds ago is used as it is. Older, but younger
than ``ttl``, it is still used while one background read refreshes it, so a slow backend
delays no call whose key is cached. Past ``ttl`` (or never read) the call waits for the
read, at most the backend's deadline, and a failed read refuses it with 503
``secret_backend_unavailable`` (fail closed). Reads run in the backend's own worker
threads (``broker.blocking``), one at a time per key: many calls waiting for one key
share one read. A master key is never logged or repr'd.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from broker.blocking import BlockingCalls
from broker.clock import Clock
from broker.errors import BrokerError, Reason, Unavailable
from broker.secrets.base import SecretStore
from broker.secrets.location import KeyLocation, read_key

log = logging.getLogger("capbroker.gateway")
DEFAULT_DEADLINE_S = 3.0


def secret_calls(settings: Any) -> BlockingCalls:
    """The secret backend's worker threads and deadline, from ``Settings``."""
    return BlockingCalls(
        "secret backend", Reason.SECRET_BACKEND_UNAVAILABLE, deadline=settings.secret_deadline
    )


def _unreadable(detail: str) -> Unavailable:
    return Unavailable(detail, reason=Reason.SECRET_BACKEND_UNAVAILABLE)


class MasterKeys:
    def __init__(
        self,
        secrets: SecretStore,
        *,
        clock: Clock,
        ttl: float,
        refresh_after: float | None = None,
        calls: BlockingCalls | None = None,
    ) -> None:
        self._secrets = secrets
        self._clock = clock
        self._ttl = ttl
        self._refresh_after = ttl / 2 if refresh_after is None else refresh_after
        self.calls = calls or BlockingCalls(
            "secret backend", Reason.SECRET_BACKEND_UNAVAILABLE, deadline=DEFAULT_DEADLINE_S
        )
        self._cache: dict[KeyLocation, tuple[float, str]] = {}
        self._encoded: tuple[bytes, ...] = ()  # the cached values as bytes, kept in step
        self._reads: dict[KeyLocation, asyncio.Task[str]] = {}

    def __repr__(self) -> str:
        return f"MasterKeys(keys={len(self._cache)}, ttl={self._ttl})"

    async def load(self, location: KeyLocation) -> None:
        """Make sure ``get`` can answer for ``location`` (see the module docstring)."""
        cached = self._cache.get(location)
        age = self._clock() - cached[0] if cached is not None else float("inf")
        if age < self._refresh_after:
            return
        read = self._reads.get(location) or self._start_read(location)
        if age < self._ttl:
            return  # the cached key serves while the read runs
        await asyncio.shield(read)

    def get(self, location: KeyLocation) -> str:
        """The cached key (``load`` first); past ``ttl`` it is refused, never read here."""
        cached = self._cache.get(location)
        if cached is None or self._clock() - cached[0] >= self._ttl:
            raise _unreadable("the provider's master key cannot be read")
        return cached[1]

    def _start_read(self, location: KeyLocation) -> asyncio.Task[str]:
        task = asyncio.get_running_loop().create_task(self._read(location))
        self._reads[location] = task
        task.add_done_callback(lambda t: self._read_done(location, t))
        return task

    async def _read(self, location: KeyLocation) -> str:
        started = self._clock()
        try:
            raw = await self.calls.call(read_key, self._secrets, location)
        except BrokerError:
            raise _unreadable("the provider's master key cannot be read") from None
        try:
            value = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _unreadable("the provider's master key is not text") from None
        self._cache[location] = (started, value)
        self._encoded = tuple(v.encode() for _, v in self._cache.values())
        return value

    def _read_done(self, location: KeyLocation, task: asyncio.Task[str]) -> None:
        self._reads.pop(location, None)
        if not task.cancelled() and task.exception() is not None:
            # Retrieved here, so a background refresh nobody awaited is not an asyncio
            # warning; the calls that waited got the 503 themselves.
            log.warning("master key %s could not be read", location.describe(self._secrets))

    def all_cached(self) -> tuple[bytes, ...]:
        """Every key value held now, encoded (for redacting upstream answers, on every
        forwarded call: built when the cache changes, not per call); never log these."""
        return self._encoded

    def close(self) -> None:
        self.calls.close()
