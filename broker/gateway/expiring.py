"""A cache whose entries leave when they expire, and before that when it is full.

The gateway keeps a few things per token (the verified token, its parsed grant, what its
template's newer version made of it). Each entry carries its token's expiry: a sweep
forgets every expired entry, touching only those (a heap ordered by expiry), so memory
goes back to where it was once the tokens have expired. At ``max_entries`` the oldest
entry leaves first; it is only work lost (the token is verified again on its next call).

Freed is not returned: glibc's malloc keeps freed blocks (a token string is one) for
reuse, so after a sweep the gateway asks it to hand free pages back
(``release_free_memory``); without that, RSS stayed at its peak after every token expired.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import heapq
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ExpiringCache(Generic[K, V]):
    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: dict[K, tuple[float, V]] = {}
        self._due: list[tuple[float, int, K]] = []  # (expiry, order, key); order breaks ties
        self._order = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K, now: float) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if now < entry[0]:
            return entry[1]
        del self._entries[key]
        return None

    def put(self, key: K, value: V, expires: float) -> None:
        entries = self._entries
        if key not in entries and len(entries) >= self.max_entries:
            del entries[next(iter(entries))]  # the oldest put
        entries[key] = (expires, value)
        self._order += 1
        heapq.heappush(self._due, (expires, self._order, key))
        if len(self._due) > 2 * self.max_entries:  # keys evicted for size, still filed
            self._refile()

    def sweep(self, now: float) -> int:
        """Forget every entry expired by ``now``; returns how many."""
        due, entries = self._due, self._entries
        forgotten = 0
        while due and due[0][0] <= now:
            _, _, key = heapq.heappop(due)
            entry = entries.get(key)
            if entry is not None and entry[0] <= now:
                del entries[key]
                forgotten += 1
        return forgotten

    def _refile(self) -> None:
        self._due = [(e[0], i, k) for i, (k, e) in enumerate(self._entries.items())]
        heapq.heapify(self._due)
        self._order = len(self._due)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError, TypeError):  # not glibc: nothing to ask
        return None
    return trim


def release_free_memory() -> None:
    """Hand the allocator's free pages back to the system (glibc ``malloc_trim``)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
