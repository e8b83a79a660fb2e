"""Group commit on real databases: shared commits, units failing alone, the chain intact."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from broker.audit.reader import verify_all
from broker.audit.writer import AuditWriter
from broker.clock import FrozenClock
from broker.errors import Denied, Reason, Unavailable
from broker.store import migrate
from broker.store.database import Database, Tx
from broker.store.engine import make_engine
from broker.store.group_commit import GroupCommit


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    yield Database(engine)
    engine.dispose()


def event_types(db: Database) -> list[str]:
    with db.read() as conn:
        return [r[0] for r in conn.execute(text("SELECT type FROM audit_events ORDER BY id"))]


def test_concurrent_units_share_commits_and_refusals_are_returned(db: Database) -> None:
    writer = AuditWriter(writer="w", clock=FrozenClock(1.0))
    committer = GroupCommit(db)

    def unit(i: int):  # type: ignore[no-untyped-def]
        def run(tx: Tx) -> int | Denied:
            writer.append(tx, type=f"e.{i}", actor="t")
            if i % 5 == 0:  # refusals are recorded and returned, not raised
                return Denied("refused", reason=Reason.VERB_NOT_GRANTED)
            return i

        return run

    async def main() -> list[object]:
        return await asyncio.gather(
            *(committer.run(unit(i)) for i in range(1, 41)), return_exceptions=True
        )

    results = asyncio.run(main())
    assert [r for r in results if isinstance(r, int)] == [i for i in range(1, 41) if i % 5]
    assert all(isinstance(r, Denied) for r in results if not isinstance(r, int))
    assert committer.batches < 40  # commits were shared
    types = event_types(db)
    assert len(types) == 41  # 40 events and the chain's opening event, in one chain
    assert "e.4" in types
    assert "e.6" in types
    with db.read() as conn:
        assert all(r.ok for r in verify_all(conn))


def test_a_failed_commit_releases_nothing(db: Database) -> None:
    writer = AuditWriter(writer="w", clock=FrozenClock(1.0))
    committer = GroupCommit(db)

    def good(tx: Tx) -> str:
        writer.append(tx, type="good", actor="t")
        return "secret-result"

    def broken(tx: Tx) -> str:
        tx.conn.execute(text("SELECT * FROM no_such_table"))  # a fault, not a refusal
        return "never"

    async def main() -> list[object]:
        return await asyncio.gather(
            committer.run(good), committer.run(broken), return_exceptions=True
        )

    results = asyncio.run(main())
    assert "secret-result" not in results
    assert all(isinstance(r, Exception) for r in results)
    assert event_types(db) == []
    # the writer's head went back: later events chain correctly
    with db.transaction() as tx:
        writer.append(tx, type="after", actor="t")
    with db.read() as conn:
        assert all(r.ok for r in verify_all(conn))


def test_database_unavailable_is_reported_as_such(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path}/gone/x.db")
    (tmp_path / "gone").rmdir()  # the database cannot even be opened now
    committer = GroupCommit(Database(engine))

    def unit(tx: Tx) -> str:
        return "never released"

    async def main() -> list[object]:
        return await asyncio.gather(committer.run(unit), return_exceptions=True)

    (result,) = asyncio.run(main())
    assert isinstance(result, Unavailable)
    assert result.reason is Reason.DATABASE_UNAVAILABLE


def test_the_threaded_flush_gives_the_same_guarantees(db: Database) -> None:
    writer = AuditWriter(writer="w", clock=FrozenClock(1.0))
    committer = GroupCommit(db, threaded=True)

    def unit(i: int):  # type: ignore[no-untyped-def]
        def run(tx: Tx) -> int:
            writer.append(tx, type=f"t.{i}", actor="t")
            return i

        return run

    async def main() -> list[object]:
        return await asyncio.gather(*(committer.run(unit(i)) for i in range(30)))

    assert asyncio.run(main()) == list(range(30))
    assert committer.batches < 30
    with db.read() as conn:
        assert all(r.ok for r in verify_all(conn))
