"""WAL checkpoints leave the request path: commits never checkpoint, a thread does."""

from __future__ import annotations

import os
import time
from pathlib import Path

from sqlalchemy import create_engine, text

from broker.store.checkpoint import WalCheckpointer
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
