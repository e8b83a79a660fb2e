"""The one-time ``jti`` table every broker replica shares (``ReplayStore`` over ``used_jtis``).

One statement claims a ``(namespace, jti)``: an insert that, on a conflict, takes over the
row only if it has expired. One row affected: accepted; none: a live entry holds it, a
replay. PostgreSQL and SQLite (3.24+) both run ``INSERT ... ON CONFLICT DO UPDATE ...
WHERE``; the primary key makes two replicas racing for one jti meet in the database, and
exactly one of them wins. A database that cannot be reached raises ``Unavailable`` (503):
nothing is accepted that was not recorded.

Expired rows are deleted by the replica that claims, at most once per ``prune_every``
seconds, in a transaction of its own (a failed prune is logged, never a refusal).
"""

from __future__ import annotations

import logging
import threading

from broker.clock import Clock
from broker.errors import Unavailable
from broker.store.database import Database
from broker.store.raw import RawStatement
from broker.tokens.errors import InvalidToken

log = logging.getLogger(__name__)
MAX_PART = 200  # the columns' width; longer namespaces or jtis are refused, not cut
_CLAIM = RawStatement(
    "INSERT INTO used_jtis (namespace, jti, expires_at) VALUES (:namespace, :jti, :until)"
    " ON CONFLICT (namespace, jti) DO UPDATE SET expires_at = excluded.expires_at"
    " WHERE used_jtis.expires_at <= :now"
)
_PRUNE = RawStatement("DELETE FROM used_jtis WHERE expires_at <= :now")


class DatabaseReplay:
    def __init__(self, db: Database, clock: Clock, *, prune_every: float = 60.0) -> None:
        self.db, self.clock = db, clock
        self.prune_every = prune_every
        self._pruned_at = float("-inf")
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "DatabaseReplay(table=used_jtis)"

    def claim(self, namespace: str, jti: str, *, until: float, now: float) -> None:
        if not (0 < len(namespace) <= MAX_PART and 0 < len(jti) <= MAX_PART):
            raise InvalidToken("jti or its namespace too long for the replay table")
        params = {"namespace": namespace, "jti": jti, "until": until, "now": now}
        with self.db.transaction() as tx:
            accepted = _CLAIM.execute(tx.conn, params) == 1
        if not accepted:
            raise InvalidToken("jti replayed")
        self._maybe_prune(now)

    def prune(self, now: float) -> int:
        """Delete every entry that expired by ``now``; the number deleted."""
        with self.db.transaction() as tx:
            return _PRUNE.execute(tx.conn, {"now": now})

    def _maybe_prune(self, now: float) -> None:
        with self._lock:
            if now - self._pruned_at < self.prune_every:
                return
            self._pruned_at = now
        try:
            self.prune(now)
        except Unavailable as exc:
            log.warning("used_jtis: expired entries not pruned (%s)", exc.reason.value)
