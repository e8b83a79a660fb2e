"""Single use by ``jti``: each (namespace, jti) is accepted once until ``until`` (the model is
Vault's TOTP used-code cache). Bounded; when full of live entries it refuses rather than
forget one (fail closed).

Used for workload tokens at exchange (namespace: the issuer, ``broker/identity``) and for
DPoP proofs (namespace: the proof key's thumbprint, ``dpop.py``). One cache per broker
process: with several replicas a jti can be used at most once per replica
(docs/identity.md says so, and what would close it).
"""

from __future__ import annotations

import threading

from broker.tokens.errors import InvalidToken

MAX_ENTRIES = 100_000


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
