"""Per-token budgets, counted in the store so every gateway replica shares one count."""

from __future__ import annotations

from broker.domain.grants import Grant
from broker.gateway.decide import over_budget
from broker.store.database import Tx
from broker.store.raw import RawStatement

_USAGE = RawStatement("SELECT calls, destructive_calls FROM token_usage WHERE jti = :jti")
_COUNT = RawStatement(
    "INSERT INTO token_usage (jti, calls, destructive_calls) VALUES (:jti, 1, :d)"
    " ON CONFLICT (jti) DO UPDATE SET calls = token_usage.calls + 1,"
    " destructive_calls = token_usage.destructive_calls + :d"
)


def count_call(tx: Tx, jti: str, grant: Grant, *, destructive: bool) -> bool:
    """Count one call against the token's budgets; False (and nothing counted) if over."""
    if grant.budgets.calls is None and grant.budgets.destructive_calls is None:
        return True
    row = _USAGE.fetch_one(tx.conn, {"jti": jti})
    calls, destructive_made = (int(row[0]), int(row[1])) if row is not None else (0, 0)
    if over_budget(grant, calls, destructive_made, destructive):
        return False
    _COUNT.execute(tx.conn, {"jti": jti, "d": 1 if destructive else 0})
    return True
