"""Revoking a token revokes every token delegated from it, however deep (RFC 8693 chains);
disabling or killing an agent revokes the delegated tokens it is the actor of, and theirs.

One recursive statement over ``tokens.parent_jti`` (migration 0005), run inside the
caller's transaction, on SQLite and PostgreSQL alike. ``UNION`` (not ``UNION ALL``) keeps
the walk finite even over a malformed cycle.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

_REVOKE_DESCENDANTS = text(
    "UPDATE tokens SET revoked_at = :now WHERE revoked_at IS NULL AND jti IN ("
    " WITH RECURSIVE descendants(jti) AS ("
    "  SELECT jti FROM tokens WHERE parent_jti = :jti"
    "  UNION SELECT t.jti FROM tokens t JOIN descendants d ON t.parent_jti = d.jti"
    " ) SELECT jti FROM descendants)"
)


def revoke_descendants(conn: Connection, jti: str, now: float) -> int:
    """Revoke the tokens delegated from ``jti`` (not ``jti`` itself); how many were live."""
    return int(conn.execute(_REVOKE_DESCENDANTS, {"jti": jti, "now": now}).rowcount)


_REVOKE_ACTED_BY = text(
    "UPDATE tokens SET revoked_at = :now WHERE revoked_at IS NULL AND jti IN ("
    " WITH RECURSIVE acted(jti) AS ("
    "  SELECT jti FROM tokens WHERE actor_id = :agent"
    "  UNION SELECT t.jti FROM tokens t JOIN acted a ON t.parent_jti = a.jti"
    " ) SELECT jti FROM acted)"
)


def revoke_acted_by(conn: Connection, agent_id: str, now: float) -> int:
    """Revoke the delegated tokens ``agent_id`` acts in and their descendants (its own
    tokens, by ``agent_id``, are the caller's to revoke); how many were live."""
    return int(conn.execute(_REVOKE_ACTED_BY, {"agent": agent_id, "now": now}).rowcount)
