"""Revocations as the gateway knows them: an in-memory set, kept fresh by polling the store.

The broker records a revocation (a token, a session, or everything of a disabled agent)
by time. Each gateway reads what changed since its cursor every ``interval`` seconds, so a
revocation reaches every replica within about that interval, and a request costs two set
look-ups instead of a database read. Entries leave the set once the token has expired.
``RevocationFeed`` does the polling and says whether the set is current enough to trust.
The same poll reads each template's current version (``templatefeed``): live tokens
follow their template's narrowings within the same interval, and go stale with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from broker.clock import Clock
from broker.domain.kills import KillSwitch, first_covering
from broker.errors import Reason, Unavailable
from broker.gateway.templatefeed import CurrentTemplates, TemplateChanges
from broker.services.kills import active_kills
from broker.store.database import Database
from broker.store.raw import RawStatement

log = logging.getLogger("capbroker.gateway")

# Overlap the cursor a little: writers commit slightly out of time order.
CURSOR_OVERLAP = 5.0

_REVOKED_TOKENS = RawStatement(
    "SELECT jti, revoked_at, expires_at FROM tokens"
    " WHERE revoked_at IS NOT NULL AND revoked_at >= :since AND expires_at > :now"
)
# A per-session subquery rather than JOIN ... GROUP BY: grouping made SQLite walk every
# session in key order (a full scan each second: +30% gateway CPU at 1M revocations)
# instead of the ended_at range.
_ENDED_SESSIONS = RawStatement(
    "SELECT id, ended_at, last_expiry FROM (SELECT s.id, s.ended_at,"
    " (SELECT max(t.expires_at) FROM tokens t WHERE t.session_id = s.id) AS last_expiry"
    " FROM sessions s WHERE s.ended_at IS NOT NULL AND s.ended_at >= :since) AS ended"
    " WHERE last_expiry > :now"
)


@dataclass(frozen=True)
class Changes:
    tokens: list[tuple[Any, ...]]
    sessions: list[tuple[Any, ...]]
    kills: tuple[KillSwitch, ...]
    templates: TemplateChanges | None = None


@dataclass
class Revocations:
    """jti -> expiry and session id -> expiry of its last token.

    Entries are also filed by the second they expire in, so forgetting the expired ones
    touches only those: a sweep over a million entries held the event loop for a fifth
    of a second.
    """

    tokens: dict[str, float] = field(default_factory=dict)
    sessions: dict[str, float] = field(default_factory=dict)
    kills: tuple[KillSwitch, ...] = ()
    templates: CurrentTemplates = field(default_factory=CurrentTemplates)
    cursor: float = float("-inf")
    # expiry second -> keys (tokens, sessions), and a min-heap of the seconds filed
    _due: dict[int, tuple[list[str], list[str]]] = field(default_factory=dict, repr=False)
    _seconds: list[int] = field(default_factory=list, repr=False)

    def revoked(self, jti: str, sid: str) -> bool:
        return jti in self.tokens or sid in self.sessions

    def poll(self, conn: Connection, *, now: float) -> int:
        """Read what changed since the cursor and apply it; returns how many entries were new."""
        return self.apply(self.fetch(conn, now=now))

    def fetch(self, conn: Connection, *, now: float) -> Changes:
        """The database half (safe to run in a worker thread: it only reads ``cursor``)."""
        params = {"since": self.cursor - CURSOR_OVERLAP, "now": now}
        return Changes(
            _REVOKED_TOKENS.fetch_all(conn, params),
            _ENDED_SESSIONS.fetch_all(conn, params),
            active_kills(conn),
            self.templates.fetch(conn),
        )

    def apply(self, changes: Changes) -> int:
        """The in-memory half (on the event loop, where requests read the sets)."""
        newest = self.cursor
        added = 0
        for jti, revoked_at, expires_at in changes.tokens:
            added += self._file(self.tokens, False, jti, expires_at)
            newest = max(newest, revoked_at)
        for sid, ended_at, expires_at in changes.sessions:
            added += self._file(self.sessions, True, sid, expires_at)
            newest = max(newest, ended_at)
        self.cursor = newest
        self.kills = changes.kills
        if changes.templates is not None:
            self.templates.apply(changes.templates)
        return added

    def _file(self, entries: dict[str, float], session: bool, key: str, expires_at: float) -> bool:
        known = entries.get(key)
        if known == expires_at:  # read again through the cursor overlap
            return False
        entries[key] = expires_at
        second = int(expires_at)
        bucket = self._due.get(second)
        if bucket is None:
            bucket = self._due[second] = ([], [])
            heapq.heappush(self._seconds, second)
        bucket[session].append(key)  # plain key lists: a tuple per entry cost 70 MB at 1M
        return known is None

    def killed(self, *, agent_id: str, template: str, provider: str) -> KillSwitch | None:
        return first_covering(self.kills, agent_id=agent_id, template=template, provider=provider)

    def any_revoked(self, jtis: tuple[str, ...]) -> bool:
        """Whether one of ``jtis`` (a delegated token's ancestors) is revoked."""
        return any(jti in self.tokens for jti in jtis)

    def killed_any(
        self, agent_ids: tuple[str, ...], *, template: str, provider: str
    ) -> KillSwitch | None:
        """The first switch covering any of ``agent_ids`` (a delegated token's root agent
        and every actor of its chain), its template or its provider."""
        for agent_id in agent_ids:
            kill = self.killed(agent_id=agent_id, template=template, provider=provider)
            if kill is not None:
                return kill
        return None

    def prune(self, *, now: float) -> int:
        """Forget entries whose tokens can no longer verify anyway; returns how many."""
        forgotten = 0
        while self._seconds and self._seconds[0] + 1 <= now:
            due = self._due.pop(heapq.heappop(self._seconds))
            for entries, keys in ((self.tokens, due[0]), (self.sessions, due[1])):
                for key in keys:
                    # A later poll may have filed it again with a later expiry.
                    if entries.get(key, float("inf")) <= now:
                        del entries[key]
                        forgotten += 1
        return forgotten


class RevocationFeed:
    """``Revocations`` kept current: read at start, then every ``interval`` seconds.

    Requests fail closed once the last good read is older than ``stale_after``.
    """

    def __init__(
        self, db: Database, *, clock: Clock, interval: float = 1.0, stale_after: float = 10.0
    ) -> None:
        self.revocations = Revocations()
        self.db, self.clock = db, clock
        self.interval, self.stale_after = interval, stale_after
        self._fresh_at = float("-inf")
        self._poller: asyncio.Task[None] | None = None

    def fresh(self) -> bool:
        """Current enough to report ready."""
        return self.clock() - self._fresh_at < self.stale_after

    def stale(self) -> bool:
        """Too old to decide on: refuse until the next good read."""
        return self.clock() - self._fresh_at > self.stale_after

    def read_after(self, moment: float) -> bool:
        """Whether the last good read began clearly after ``moment`` (another process's
        clock: by more than the cursor's overlap), so it saw what was committed by then."""
        return self._fresh_at > moment + CURSOR_OVERLAP

    def poll(self) -> None:
        now = self.clock()
        with self.db.read() as conn:
            self.revocations.poll(conn, now=now)
        self._fresh_at = now

    async def start(self) -> None:
        """The first read (in a worker thread, within the database's wait: a gateway that
        cannot read revocations does not start), then the polling task."""
        try:
            read_at, changes = await asyncio.wait_for(
                asyncio.to_thread(self._fetch), self.db.wait_seconds
            )
        except TimeoutError:
            raise Unavailable(
                "the database did not answer in time", reason=Reason.DATABASE_UNAVAILABLE
            ) from None
        self.revocations.apply(changes)
        self._fresh_at = read_at
        self._poller = asyncio.get_running_loop().create_task(self._poll_forever())

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller

    def _fetch(self) -> tuple[float, Changes]:
        now = self.clock()
        with self.db.read() as conn:
            return now, self.revocations.fetch(conn, now=now)

    async def _poll_forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                # The read runs in a thread so a large change set never stalls requests.
                read_at, changes = await asyncio.to_thread(self._fetch)
                self.revocations.apply(changes)
                self._fresh_at = read_at
            except Exception as exc:  # keep polling; requests fail closed once stale
                log.warning("revocation poll failed: %s", type(exc).__name__)
            # Cheap (it touches only what expired), so every round.
            self.revocations.prune(now=self.clock())
