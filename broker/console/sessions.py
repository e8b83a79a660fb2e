"""Console login sessions, in memory (per broker process).

The cookie holds only an opaque random id; the admin it stands for, its CSRF token and its
expiry live here. Being in memory, sessions end when the process restarts, and with several
workers (``capbroker serve --workers N``) a session is valid only on the worker that made
it: run the console on a single worker, or pin clients to one.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field

from broker.auth.authenticator import Caller
from broker.clock import Clock

SESSION_TTL = 30 * 60.0
MAX_SESSIONS = 10_000


@dataclass
class ConsoleSession:
    id: str = field(repr=False)
    csrf: str = field(repr=False)
    caller: Caller
    expires_at: float
    flash: list[str] = field(default_factory=list)

    def take_flash(self) -> list[str]:
        messages, self.flash = self.flash, []
        return messages


class ConsoleSessions:
    def __init__(self, clock: Clock, *, ttl: float = SESSION_TTL) -> None:
        self.clock, self.ttl = clock, ttl
        self._sessions: dict[str, ConsoleSession] = {}
        self._lock = threading.Lock()

    def create(self, caller: Caller) -> ConsoleSession:
        now = self.clock()
        session = ConsoleSession(
            id=secrets.token_urlsafe(32),
            csrf=secrets.token_urlsafe(32),
            caller=caller,
            expires_at=now + self.ttl,
        )
        with self._lock:
            if len(self._sessions) >= MAX_SESSIONS:
                self._expire(now)
            self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None) -> ConsoleSession | None:
        if not session_id:
            return None
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if session.expires_at <= self.clock():
                del self._sessions[session_id]
                return None
            return session

    def end(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

    def _expire(self, now: float) -> None:
        for sid in [s.id for s in self._sessions.values() if s.expires_at <= now]:
            del self._sessions[sid]
