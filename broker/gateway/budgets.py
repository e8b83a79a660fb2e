"""Per-token budgets, counted in the store so every gateway replica shares one count.

A request spends one call per classified call (``decide.cost_of``): a GraphQL batch of
five mutations spends five calls, and five destructive calls where they are destructive.

A delegated token's calls count against it and against every ancestor (its ``delegation``
claim carries their jtis and budgets, ``tokens/delegation.py``): a parent and all its
descendants together never spend more than the parent's budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy import Connection

from broker.domain.grants import Grant
from broker.domain.templates import Budgets
from broker.gateway.decide import Cost, over_budget
from broker.store.database import Tx
from broker.store.raw import RawStatement
from broker.tokens.delegation import Ancestor

_USAGE = RawStatement("SELECT calls, destructive_calls FROM token_usage WHERE jti = :jti")
_COUNT = RawStatement(
    "INSERT INTO token_usage (jti, calls, destructive_calls) VALUES (:jti, :c, :d)"
    " ON CONFLICT (jti) DO UPDATE SET calls = token_usage.calls + :c,"
    " destructive_calls = token_usage.destructive_calls + :d"
)


def limited(grant: Grant) -> bool:
    return _limited(grant.budgets)


def _limited(budgets: Budgets) -> bool:
    return budgets.calls is not None or budgets.destructive_calls is not None


def _counted(jti: str, grant: Grant, ancestors: Sequence[Ancestor]) -> list[tuple[str, Grant]]:
    """Each token whose budgets ``cost`` counts against: this one and its ancestors."""
    chain = [(jti, grant)]
    chain += [(a.jti, replace(grant, budgets=a.budgets)) for a in ancestors]
    return [(j, g) for j, g in chain if limited(g)]


def would_exceed(
    conn: Connection, jti: str, grant: Grant, cost: Cost, ancestors: Sequence[Ancestor] = ()
) -> bool:
    """Whether ``cost`` would take the token (or an ancestor) over a budget; counts nothing."""
    for key, g in _counted(jti, grant, ancestors):
        row = _USAGE.fetch_one(conn, {"jti": key})
        calls, destructive_made = (int(row[0]), int(row[1])) if row is not None else (0, 0)
        if over_budget(g, calls, destructive_made, cost):
            return True
    return False


def count_calls(
    tx: Tx, jti: str, grant: Grant, cost: Cost, ancestors: Sequence[Ancestor] = ()
) -> bool:
    """Count ``cost`` against the token's budgets and its ancestors'; False (and nothing
    counted) if any would be over."""
    chain = _counted(jti, grant, ancestors)
    if not chain:
        return True
    if would_exceed(tx.conn, jti, grant, cost, ancestors):
        return False
    for key, _ in chain:
        _COUNT.execute(tx.conn, {"jti": key, "c": cost.calls, "d": cost.destructive})
    return True
