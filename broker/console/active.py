"""Active agent sessions: not ended, with at least one unexpired, unrevoked token."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlalchemy import Connection, select

from broker.store.tables import AgentSession, IssuedToken, Principal

_sessions = AgentSession.__table__  # type: ignore[attr-defined]
_tokens = IssuedToken.__table__  # type: ignore[attr-defined]
_principals = Principal.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class LiveToken:
    jti: str
    template: str
    template_version: int
    provider: str
    environment: str
    actions: list[str]
    issued_at: float
    expires_at: float


@dataclass
class ActiveSession:
    id: str
    agent: str
    created_at: float
    tokens: list[LiveToken] = field(default_factory=list)


def active_sessions(conn: Connection, now: float, *, limit: int = 500) -> list[ActiveSession]:
    """Newest session first; tokens in each session newest first."""
    rows = conn.execute(
        select(
            _sessions.c.id,
            _sessions.c.created_at,
            _principals.c.name,
            _tokens.c.jti,
            _tokens.c.template_name,
            _tokens.c.template_version,
            _tokens.c.provider,
            _tokens.c.environment,
            _tokens.c.actions,
            _tokens.c.issued_at,
            _tokens.c.expires_at,
        )
        .join(_tokens, _tokens.c.session_id == _sessions.c.id)
        .join(_principals, _principals.c.id == _sessions.c.agent_id)
        .where(
            _sessions.c.ended_at.is_(None),
            _tokens.c.revoked_at.is_(None),
            _tokens.c.expires_at > now,
        )
        .order_by(_sessions.c.created_at.desc(), _tokens.c.issued_at.desc())
        .limit(limit)
    ).all()
    found: dict[str, ActiveSession] = {}
    for r in rows:
        session = found.setdefault(r.id, ActiveSession(r.id, r.name, r.created_at))
        session.tokens.append(
            LiveToken(
                r.jti,
                r.template_name,
                r.template_version,
                r.provider,
                r.environment,
                list(json.loads(r.actions)),
                r.issued_at,
                r.expires_at,
            )
        )
    return list(found.values())
