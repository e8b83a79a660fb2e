"""The KV store's read cache: values by ``(name, version)``, each served for ``ttl`` seconds.

``version`` ``None`` is "the latest". A stale entry is never served and is dropped when
found; ``ttl`` 0 disables the cache. Values never appear in ``repr``.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass

from broker.clock import Clock

__all__ = ["CachedValue", "ValueCache"]


@dataclass
class CachedValue:
    version: int
    value: bytes = dataclasses.field(repr=False)
    fetched_at: float


class ValueCache:
    """Thread-safe; times come from ``clock``."""

    def __init__(self, ttl: float, clock: Clock) -> None:
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, int | None], CachedValue] = {}

    def get(self, name: str, version: int | None) -> CachedValue | None:
        if self._ttl <= 0:
            return None
        now = self._clock()
        with self._lock:
            entry = self._entries.get((name, version))
            if entry is None:
                return None
            if 0 <= now - entry.fetched_at < self._ttl:
                return entry
            del self._entries[(name, version)]  # stale: never served, not kept
            return None

    def remember(self, name: str, entry: CachedValue, *, latest: bool = True) -> None:
        if self._ttl <= 0:
            return
        with self._lock:
            self._entries[(name, entry.version)] = entry
            if latest:
                self._entries[(name, None)] = entry

    def evict(self, name: str) -> None:
        with self._lock:
            for key in [key for key in self._entries if key[0] == name]:
                del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
