"""WAL checkpoints leave the request path: commits never checkpoint, a thread does."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from broker.store.checkpoint import WAL_SIZE_LIMIT, WalCheckpointer
from broker.store.engine import make_engine

ROW = "x" * 3000  # about one page per row


def _write(engine, rows: int) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS t (v TEXT)"))
    for _ in range(rows):
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (:v)"), {"v": ROW})


def _wal_frames(engine) -> int:  # type: ignore[no-untyped-def]
    conn = engine.raw_connection()
    try:
        return int(conn.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])
    finally:
        conn.close()


def test_commits_leave_checkpoints_to_the_thread(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/x.db")
    checkpointer = WalCheckpointer.for_engine(engine, interval=0.05, restart_above_frames=256)
    assert checkpointer is not None
    wal = Path(f"{tmp_path}/x.db-wal")
    # Past SQLite's own 1,000-page trigger, and no commit checkpointed: the WAL kept growing.
    _write(engine, 1500)
    assert wal.stat().st_size > 1000 * 4096
    checkpointer.start()
    try:
        for _ in range(200):  # bounded: 10 s
            if checkpointer.restarts:
                break
            time.sleep(0.05)
        assert checkpointer.restarts > 0  # over the limit: copied back, the WAL starts over
        _write(engine, 10)  # writers carry on, from the start of the WAL
    finally:
        checkpointer.stop()
    assert _wal_frames(engine) < 100
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == 1510
    engine.dispose()


def test_a_passive_checkpoint_keeps_the_wal_bounded_under_writes(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/x.db")
    checkpointer = WalCheckpointer.for_engine(engine, interval=0.02)
    assert checkpointer is not None
    checkpointer.start()
    try:
        for _ in range(6):
            _write(engine, 300)
            time.sleep(0.1)  # a pause lets a passive checkpoint finish; the WAL is reused
    finally:
        checkpointer.stop()
    # 1,800 one-page rows went through a WAL that never held them all at once.
    assert os.path.getsize(f"{tmp_path}/x.db-wal") < 1200 * 4096
    assert checkpointer.restarts == 0  # pauses let passive rounds finish: nothing blocked
    engine.dispose()


def test_only_sqlite_files_get_a_checkpointer(tmp_path: Path, pg_url: str) -> None:
    assert WalCheckpointer.for_engine(create_engine("sqlite://")) is None
    assert WalCheckpointer.for_engine(make_engine(pg_url)) is None
    # Stopping one that never started, or twice, is harmless.
    checkpointer = WalCheckpointer.for_engine(make_engine(f"sqlite:///{tmp_path}/y.db"))
    assert checkpointer is not None
    checkpointer.stop()
    checkpointer.stop()


def test_a_long_reader_never_holds_writers_for_the_busy_timeout(tmp_path: Path) -> None:
    """A restart waits for readers on older snapshots while holding new writers. With the
    connections' 5 s busy timeout one long reader (an audit verify, a backup) froze every
    writer for 5 s a round; the restart now gives up after ``restart_wait_ms``."""
    engine = make_engine(f"sqlite:///{tmp_path}/x.db")
    checkpointer = WalCheckpointer.for_engine(engine, restart_above_frames=64)
    assert checkpointer is not None
    _write(engine, 1)
    reader = engine.connect()
    reader.execute(text("SELECT count(*) FROM t")).scalar_one()  # holds its snapshot
    _write(engine, 100)  # past the restart limit, and the reader is behind
    waits: dict[str, float] = {}

    def checkpoint() -> None:
        started = time.perf_counter()
        checkpointer.checkpoint()
        waits["checkpoint"] = time.perf_counter() - started

    thread = threading.Thread(target=checkpoint)
    thread.start()
    time.sleep(0.1)  # before: the restart was still waiting then, holding writers
    started = time.perf_counter()
    _write(engine, 1)
    waits["writer"] = time.perf_counter() - started
    thread.join(timeout=10)
    # Bounds far below the 5 s a writer waited before, far above the 20 ms allowed.
    assert waits["writer"] < 2.0
    assert waits["checkpoint"] < 2.0
    assert (checkpointer.restarts, checkpointer.restarts_given_up) == (0, 1)
    reader.close()
    checkpointer.checkpoint()  # the reader is gone: the WAL starts over
    assert checkpointer.restarts == 1
    _write(engine, 1)  # from the start of the WAL
    assert _wal_frames(engine) < 10
    with engine.connect() as conn:  # the pooled connection got its own busy timeout back
        assert conn.execute(text("PRAGMA busy_timeout")).scalar_one() == 5000
    engine.dispose()


def test_the_wal_file_shrinks_back_to_its_limit_after_a_restart(tmp_path: Path) -> None:
    """Without journal_size_limit the WAL file keeps its largest size for good; a burst
    that grew it to 6 MB would hold that space on a small volume until a restart."""
    engine = make_engine(f"sqlite:///{tmp_path}/x.db")
    checkpointer = WalCheckpointer.for_engine(engine, restart_above_frames=64)
    assert checkpointer is not None
    wal = Path(f"{tmp_path}/x.db-wal")
    _write(engine, 1500)  # about 6 MB of WAL, no checkpoint yet
    assert wal.stat().st_size > WAL_SIZE_LIMIT
    checkpointer.checkpoint()  # copied back and started over
    assert checkpointer.restarts == 1
    _write(engine, 1)  # the first write after the restart truncates the file
    assert wal.stat().st_size <= WAL_SIZE_LIMIT
    checkpointer.stop()
    engine.dispose()


def test_a_failing_checkpoint_is_logged_once_and_its_end_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/x.db")
    checkpointer = WalCheckpointer.for_engine(engine)
    assert checkpointer is not None
    _write(engine, 1)
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = sqlite3.SQLITE_FULL
    with caplog.at_level(logging.WARNING, "capbroker.store"):
        for _ in range(5):
            checkpointer._failed(full)
        checkpointer.checkpoint()  # succeeds: said once
        checkpointer.checkpoint()
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "WAL checkpoint failed (the disk is full); retrying every 0.25 s",
        "WAL checkpoints succeed again",
    ]
    engine.dispose()
