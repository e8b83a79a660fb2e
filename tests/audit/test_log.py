"""The audit log on real databases: written with the change, rolled back with it, verified."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from broker.audit.reader import AuditQuery, query_events, verify_all
from broker.audit.writer import AuditWriter
from broker.clock import FrozenClock
from broker.store.database import Database


def write(db: Database, writer: AuditWriter, n: int, prefix: str = "e") -> None:
    for i in range(n):
        with db.transaction() as tx:
            writer.append(tx, type=f"{prefix}.{i}", actor="tester", data={"i": i})


def test_events_verify_across_several_writers(db: Database) -> None:
    clock = FrozenClock(100.0)
    a, b = AuditWriter(writer="a", clock=clock), AuditWriter(writer="b", clock=clock)
    write(db, a, 3)
    write(db, b, 2)
    write(db, a, 2)
    with db.read() as conn:
        reports = verify_all(conn)
    assert [r.ok for r in reports] == [True, True]
    assert sorted(r.events for r in reports) == [3, 6]  # each chain opens with one event


def test_rolled_back_event_leaves_no_gap(db: Database) -> None:
    writer = AuditWriter(writer="a", clock=FrozenClock(1.0))
    write(db, writer, 2)

    def failing_change() -> None:
        with db.transaction() as tx:
            writer.append(tx, type="doomed", actor="t")
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        failing_change()
    write(db, writer, 1, prefix="after")
    with db.read() as conn:
        assert all(r.ok for r in verify_all(conn))
        types = [e["type"] for e in query_events(conn, AuditQuery(limit=10))]
    assert "doomed" not in types
    assert "after.0" in types


@pytest.mark.parametrize(
    ("sql", "problem"),
    [
        ("UPDATE audit_events SET actor = 'mallory' WHERE seq = 3", "altered"),
        ("DELETE FROM audit_events WHERE seq = 3", "missing"),
        ("DELETE FROM audit_events WHERE seq = 5", "missing"),
    ],
)
def test_tampering_is_pinpointed(db: Database, sql: str, problem: str) -> None:
    writer = AuditWriter(writer="a", clock=FrozenClock(1.0))
    write(db, writer, 4)
    with db.engine.begin() as conn:
        conn.execute(text(sql))
    with db.read() as conn:
        (report,) = verify_all(conn)
    assert not report.ok
    assert problem in report.problem
    assert report.first_bad_seq in (3, 5)


def test_rewritten_older_chain_is_caught_by_a_later_chains_anchor(db: Database) -> None:
    clock = FrozenClock(1.0)
    first = AuditWriter(writer="first", clock=clock)
    write(db, first, 3)
    clock.advance(1)
    write(db, AuditWriter(writer="second", clock=clock), 1)
    # Truncate the first chain and rewrite its head consistently: only the anchor knows.
    with db.engine.begin() as conn:
        conn.execute(
            text(f"DELETE FROM audit_events WHERE chain_id = '{first.chain_id}' AND seq = 4")
        )
        row = conn.execute(
            text(f"SELECT hash FROM audit_events WHERE chain_id = '{first.chain_id}' AND seq = 3")
        ).one()
        conn.execute(
            text(
                f"UPDATE audit_chains SET head_seq = 3, head_hash = '{row.hash}' "
                f"WHERE id = '{first.chain_id}'"
            )
        )
    with db.read() as conn:
        reports = {r.writer: r for r in verify_all(conn)}
    assert not reports["first"].ok
    assert reports["first"].first_bad_seq == 4
    assert reports["second"].ok


def test_secrets_are_redacted_from_events(db: Database) -> None:
    writer = AuditWriter(writer="a", clock=FrozenClock(1.0))
    secret = "capb_agt_" + "0" * 24 + "_" + "x" * 43
    with db.transaction() as tx:
        writer.append(
            tx,
            type="t",
            actor="a",
            data={"oops": f"token={secret}", "jwt": "eyJhbGc.eyJzdWIi.c2ln"},
        )
    with db.read() as conn:
        raw = conn.execute(text("SELECT data FROM audit_events WHERE type = 't'")).scalar_one()
    assert secret not in raw
    assert "eyJhbGc" not in raw
    assert "[redacted]" in raw
