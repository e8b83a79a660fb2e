"""Single use by ``jti``: each (namespace, jti) is accepted once until ``until`` (the model is
Vault's TOTP used-code cache). Bounded; when full of live entries it refuses rather than
forget one (fail closed).

``ReplayStore`` is the interface. Two implementations: ``ReplayCache`` here, in memory and
per process (the gateway's DPoP proofs: a proof names one gateway's URL, so one
gateway's memory is the right scope), and ``broker.store.replay.DatabaseReplay``, a table
every broker replica shares (client assertions, single-use workload tokens at exchange).
"""

from __future__ import annotations

import threading
from typing import Protocol

from broker.tokens.errors import InvalidToken

MAX_ENTRIES = 100_000


class ReplayStore(Protocol):
    def claim(self, namespace: str, jti: str, *, until: float, now: float) -> None:
        """Accept ``(namespace, jti)`` once until ``until``; ``InvalidToken`` if it was
        already accepted and is still live. Fails closed: a store that cannot answer
        raises (``Unavailable`` for the database), never accepts."""
        ...


class ReplayCache:
    def __init__(self, *, max_entries: int = MAX_ENTRIES) -> None:
        self._seen: dict[tuple[str, str], float] = {}
        self._max = max_entries
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._seen)

    def claim(self, namespace: str, jti: str, *, until: float, now: float) -> None:
        """Accept ``jti`` once; ``InvalidToken`` if it was already seen and is still live."""
        key = (namespace, jti)
        with self._lock:
            seen = self._seen.get(key)
            if seen is not None and seen > now:
                raise InvalidToken("jti replayed")
            if len(self._seen) >= self._max:
                self._seen = {k: t for k, t in self._seen.items() if t > now}
                if len(self._seen) >= self._max:
                    raise InvalidToken("replay memory full of live tokens")
            self._seen[key] = until
