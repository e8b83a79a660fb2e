"""A delegated token's calls count against it and every ancestor, in the store that every
gateway replica shares: a parent and its descendants never spend more than the parent's
budget. On SQLite and PostgreSQL."""

from __future__ import annotations

from broker.domain.grants import Grant
from broker.domain.templates import Budgets
from broker.gateway.budgets import count_calls, would_exceed
from broker.gateway.decide import Cost
from broker.store.database import Database
from broker.tokens.delegation import Ancestor

ONE = Cost(1, 0)
DESTRUCTIVE = Cost(1, 1)


def _grant(budgets: Budgets) -> Grant:
    return Grant("t", 1, "p", "staging", ("item:*",), ("*",), 60, budgets, (), 1)


def _used(db: Database, jti: str) -> tuple[int, int]:
    from sqlalchemy import text

    with db.read() as conn:
        row = conn.execute(
            text("SELECT calls, destructive_calls FROM token_usage WHERE jti = :j"), {"j": jti}
        ).first()
    return (int(row[0]), int(row[1])) if row is not None else (0, 0)


def test_the_tightest_of_the_chain_stops_the_child_and_nothing_is_counted_then(
    db: Database,
) -> None:
    child = _grant(Budgets(calls=5))
    chain = (Ancestor("root", Budgets(calls=3)), Ancestor("parent", Budgets(calls=4)))
    for _ in range(3):
        with db.transaction() as tx:
            assert count_calls(tx, "child", child, ONE, chain)
    with db.transaction() as tx:
        assert would_exceed(tx.conn, "child", child, ONE, chain)
        assert not count_calls(tx, "child", child, ONE, chain)
    assert [_used(db, j) for j in ("root", "parent", "child")] == [(3, 0)] * 3


def test_the_parents_own_calls_leave_less_for_its_children(db: Database) -> None:
    parent = _grant(Budgets(calls=4, destructive_calls=1))
    with db.transaction() as tx:
        assert count_calls(tx, "parent", parent, DESTRUCTIVE)
    child = _grant(Budgets(calls=4, destructive_calls=1))
    chain = (Ancestor("parent", parent.budgets),)
    with db.transaction() as tx:
        assert not count_calls(tx, "child", child, DESTRUCTIVE, chain)  # the one is spent
        assert count_calls(tx, "child", child, ONE, chain)
    assert _used(db, "parent") == (2, 1)
    assert _used(db, "child") == (1, 0)


def test_an_unlimited_chain_counts_nothing(db: Database) -> None:
    chain = (Ancestor("root", Budgets()),)
    with db.transaction() as tx:
        assert count_calls(tx, "child", _grant(Budgets()), ONE, chain)
    assert _used(db, "root") == (0, 0)
    assert _used(db, "child") == (0, 0)
