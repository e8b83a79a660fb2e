"""Group commit on real databases: shared commits, units failing alone, the chain intact."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable

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
    assert_unavailable(GroupCommit(Database(engine)), lambda tx: "never released")


def assert_unavailable(committer: GroupCommit, unit: Callable[[Tx], object]) -> None:
    """``unit`` is not released: its caller gets ``database_unavailable``."""

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


@pytest.mark.parametrize("threaded", [False, True], ids=["loop", "thread"])
def test_a_deferred_unit_rides_along_with_the_next_batch(db: Database, threaded: bool) -> None:
    writer = AuditWriter(writer="w", clock=FrozenClock(1.0))
    committer = GroupCommit(db, threaded=threaded, defer_seconds=60)

    async def main() -> None:
        committer.defer(lambda tx: writer.append(tx, type="deferred", actor="t"))
        await asyncio.sleep(0.05)
        assert committer.batches == 0  # nobody waits for it, so it has not been written
        await committer.run(lambda tx: writer.append(tx, type="awaited", actor="t"))

    asyncio.run(main())
    assert committer.batches == 1  # one commit carried both
    assert event_types(db)[1:] == ["deferred", "awaited"]


@pytest.mark.parametrize("threaded", [False, True], ids=["loop", "thread"])
def test_a_deferred_unit_alone_is_written_after_its_delay(db: Database, threaded: bool) -> None:
    writer = AuditWriter(writer="w", clock=FrozenClock(1.0))
    committer = GroupCommit(db, threaded=threaded, defer_seconds=0.05)

    async def main() -> None:
        committer.defer(lambda tx: writer.append(tx, type="deferred", actor="t"))
        for _ in range(200):  # bounded: 2 s
            if committer.batches:
                break
            await asyncio.sleep(0.01)
        # A later deferral starts its own timer again.
        committer.defer(lambda tx: writer.append(tx, type="again", actor="t"))
        await asyncio.sleep(0.3)

    asyncio.run(main())
    assert event_types(db)[1:] == ["deferred", "again"]
    assert committer.batches == 2


def test_drain_writes_what_is_deferred(db: Database) -> None:
    writer = AuditWriter(writer="w", clock=FrozenClock(1.0))
    committer = GroupCommit(db, defer_seconds=3600)

    async def main() -> None:
        committer.defer(lambda tx: writer.append(tx, type="deferred", actor="t"))
        await committer.drain()
        await committer.drain()  # nothing queued: no empty transaction either

    asyncio.run(main())
    assert event_types(db)[1:] == ["deferred"]
    assert committer.batches == 1
    committer.close()


def test_a_deferred_unit_lost_to_a_fault_is_logged(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    committer = GroupCommit(db, defer_seconds=3600)

    def broken(tx: Tx) -> None:
        tx.conn.execute(text("SELECT * FROM no_such_table"))

    async def main() -> object:
        committer.defer(broken)
        return (await asyncio.gather(committer.run(lambda tx: 1), return_exceptions=True))[0]

    with caplog.at_level("WARNING", logger="capbroker.store"):
        result = asyncio.run(main())
    assert isinstance(result, Exception)  # the awaited unit shared the failed batch
    assert "1 deferred record(s) lost" in caplog.text

    # The held connection was dropped with the fault; the next batch gets a fresh one.
    async def after() -> int:
        return await committer.run(lambda tx: 2)

    assert asyncio.run(after()) == 2
    committer.close()


@pytest.mark.parametrize(("gather_rounds", "batches"), [(0, 2), (4, 1)])
def test_units_still_arriving_are_gathered_into_one_commit(
    db: Database, gather_rounds: int, batches: int
) -> None:
    committer = GroupCommit(db, gather_rounds=gather_rounds, threaded=False)

    async def arrive(after_yields: int) -> int:
        for _ in range(after_yields):
            await asyncio.sleep(0)  # one loop iteration each
        return await committer.run(lambda tx: after_yields)

    async def main() -> list[int]:
        # Four units in the first loop iteration, four more in the next one.
        return await asyncio.gather(*(arrive(i // 4) for i in range(8)))

    assert asyncio.run(main()) == [0, 0, 0, 0, 1, 1, 1, 1]
    assert committer.batches == batches


def test_a_lone_unit_is_not_kept_waiting_for_company(db: Database) -> None:
    committer = GroupCommit(db, gather_rounds=1000, threaded=False)
    rounds = 0

    async def tick() -> None:
        nonlocal rounds
        while True:
            rounds += 1
            await asyncio.sleep(0)

    async def main() -> int:
        ticker = asyncio.create_task(tick())
        await asyncio.sleep(0)
        result = await committer.run(lambda tx: 7)
        ticker.cancel()
        return result

    assert asyncio.run(main()) == 7
    assert rounds <= 3  # flushed in the next loop iteration, not after 1000 of them
    assert committer.batches == 1


def _record(audit: AuditWriter, tx: Tx, name: str) -> str:
    audit.append(tx, type="test.unit", actor="t", subject=name)
    return name


def _sqlite_store(tmp_path) -> Database:  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path}/x.db")
    migrate.upgrade(engine)
    return Database(engine)


def _hold_write_lock(path: str) -> sqlite3.Connection:
    """Another process's writer, as SQLite sees it: a connection holding the write lock."""
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    return other


@pytest.mark.parametrize("threaded", [False, True])
def test_a_held_write_lock_is_waited_for_without_blocking_the_loop(
    tmp_path,
    threaded: bool,  # type: ignore[no-untyped-def]
) -> None:
    """Sleeping in SQLite's busy handler on the event loop stalled every request while
    another process (the broker, another worker) committed; the batch waits off the loop."""
    db = _sqlite_store(tmp_path)
    committer = GroupCommit(db, threaded=threaded)
    audit = AuditWriter(writer="test", clock=FrozenClock(1000.0))
    other = _hold_write_lock(f"{tmp_path}/x.db")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    async def main() -> list[str]:
        ticking = asyncio.create_task(ticker())
        # The other writer lets go after 0.3 s, from a thread: a loop stuck in SQLite's busy
        # handler could not run a timer.
        threading.Timer(0.3, other.commit).start()
        try:
            return await asyncio.gather(
                *(committer.run(lambda tx, i=i: _record(audit, tx, f"u{i}")) for i in range(5))
            )
        finally:
            ticking.cancel()

    assert asyncio.run(main()) == [f"u{i}" for i in range(5)]
    assert ticks >= 20  # the loop ran throughout (a blocked loop ticks about once)
    assert committer.lock_waits > 0
    assert event_types(db).count("test.unit") == 5
    committer.close()
    other.close()
    # The held connection went back to the pool with the pool's busy timeout.
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA busy_timeout")).scalar_one() == 5000
    db.engine.dispose()


def test_a_write_lock_held_too_long_fails_the_batch_closed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db = _sqlite_store(tmp_path)
    committer = GroupCommit(db, lock_wait_seconds=0.2)
    other = _hold_write_lock(f"{tmp_path}/x.db")
    ran: list[str] = []
    assert_unavailable(committer, lambda tx: ran.append("ran"))
    assert ran == []  # nothing ran without the lock
    other.rollback()
    # Once the lock is free the committer works again, on its same connection.
    assert asyncio.run(committer.run(lambda tx: "ok")) == "ok"
    committer.close()
    other.close()
    db.engine.dispose()
