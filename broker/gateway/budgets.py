"""Per-token budgets, counted in the store so every gateway replica shares one count.

A request spends one call per classified call (``decide.cost_of``): a GraphQL batch of
five mutations spends five calls, and five destructive calls where they are destructive.
"""

from __future__ import annotations

from sqlalchemy import Connection

from broker.domain.grants import Grant
from broker.gateway.decide import Cost, over_budget
from broker.store.database import Tx
from broker.store.raw import RawStatement

_USAGE = RawStatement("SELECT calls, destructive_calls FROM token_usage WHERE jti = :jti")
_COUNT = RawStatement(
    "INSERT INTO token_usage (jti, calls, destructive_calls) VALUES (:jti, :c, :d)"
    " ON CONFLICT (jti) DO UPDATE SET calls = token_usage.calls + :c,"
    " destructive_calls = token_usage.destructive_calls + :d"
)


def limited(grant: Grant) -> bool:
    return grant.budgets.calls is not None or grant.budgets.destructive_calls is not None


def would_exceed(conn: Connection, jti: str, grant: Grant, cost: Cost) -> bool:
    """Whether ``cost`` would take the token over a budget (reads, counts nothing)."""
    if not limited(grant):
        return False
    row = _USAGE.fetch_one(conn, {"jti": jti})
    calls, destructive_made = (int(row[0]), int(row[1])) if row is not None else (0, 0)
    return over_budget(grant, calls, destructive_made, cost)


def count_calls(tx: Tx, jti: str, grant: Grant, cost: Cost) -> bool:
    """Count ``cost`` against the token's budgets; False (and nothing counted) if over."""
    if not limited(grant):
        return True
    if would_exceed(tx.conn, jti, grant, cost):
        return False
    _COUNT.execute(tx.conn, {"jti": jti, "c": cost.calls, "d": cost.destructive})
    return True
