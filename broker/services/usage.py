"""What a token has spent of its budgets, as the gateways counted it (``token_usage``,
broker/gateway/budgets.py), for introspection and ``capbroker session status``."""

from __future__ import annotations

from sqlalchemy import select

from broker.store.database import Database
from broker.store.tables import TokenUsage

_usage = TokenUsage.__table__  # type: ignore[attr-defined]
BUDGETS_USED = "capbroker_budgets_used"  # the introspection member that carries them


def budgets_used(db: Database, jti: str) -> dict[str, int]:
    """Calls and destructive calls counted against the token (zero before its first)."""
    with db.read() as conn:
        row = conn.execute(
            select(_usage.c.calls, _usage.c.destructive_calls).where(_usage.c.jti == jti)
        ).first()
    calls, destructive = (int(row.calls), int(row.destructive_calls)) if row else (0, 0)
    return {"calls": calls, "destructive_calls": destructive}
