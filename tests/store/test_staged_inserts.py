"""Rows queued with ``Tx.insert_later`` land at commit, parents first, or not at all."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from sqlalchemy import text

from broker.store.database import Database
from broker.store.raw import RawStatement

PRINCIPAL = RawStatement(
    "INSERT INTO principals (id, kind, name, description, created_at)"
    " VALUES (:id, 'agent', :name, '', 1.0)"
)
SESSION = RawStatement(
    "INSERT INTO sessions (id, agent_id, created_at) VALUES (:id, :agent_id, 1.0)"
)


def _count(db: Database, table: str) -> int:
    with db.read() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_queued_rows_are_written_at_commit_parents_first(db: Database) -> None:
    with db.transaction() as tx:
        for n in range(5):
            # A session row (child) queued right after its agent (parent), each time.
            tx.insert_later(PRINCIPAL, {"id": f"p{n}", "name": f"agent-{n}"})
            tx.insert_later(SESSION, {"id": f"s{n}", "agent_id": f"p{n}"})
        # Nothing is written before the commit.
        assert tx.conn.execute(text("SELECT count(*) FROM sessions")).scalar_one() == 0
    assert _count(db, "principals") == 5
    assert _count(db, "sessions") == 5


def _failing_unit(db: Database) -> None:
    with db.transaction() as tx:
        tx.insert_later(PRINCIPAL, {"id": "p1", "name": "agent-1"})
        raise RuntimeError("the unit failed")


def _orphan(db: Database) -> None:
    with db.transaction() as tx:
        tx.insert_later(PRINCIPAL, {"id": "p1", "name": "agent-1"})
        tx.insert_later(SESSION, {"id": "s1", "agent_id": "no-such-agent"})


def test_a_transaction_that_fails_writes_none_of_its_queued_rows(db: Database) -> None:
    with pytest.raises(RuntimeError):
        _failing_unit(db)
    assert _count(db, "principals") == 0


def test_a_queued_row_that_violates_a_constraint_fails_the_commit(db: Database) -> None:
    # Raw statements run on the driver's cursor: its own IntegrityError, whichever driver.
    with pytest.raises((sqlite3.IntegrityError, psycopg.IntegrityError)):
        _orphan(db)
    assert _count(db, "principals") == 0
    assert _count(db, "sessions") == 0
