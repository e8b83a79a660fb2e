"""Revoking a token revokes every token delegated from it, however deep (RFC 8693 chains).

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
