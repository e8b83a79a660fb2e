"""store/faults.py: which database faults are a full disk, and the one log line each way."""

from __future__ import annotations

import errno
import logging
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from broker.errors import Reason, Unavailable
from broker.store.database import Database
from broker.store.engine import make_engine
from broker.store.faults import DISK, is_disk_full, store_unavailable, wrote


def sqlite_error(code: int) -> sqlite3.OperationalError:
    error = sqlite3.OperationalError("database or disk is full")
    error.sqlite_errorcode = code
    return error


class PgError(Exception):
    sqlstate = "53100"


@pytest.mark.parametrize(
    ("fault", "full"),
    [
        (sqlite_error(sqlite3.SQLITE_FULL), True),
        (OperationalError("INSERT", {}, sqlite_error(sqlite3.SQLITE_FULL)), True),
        (OperationalError("INSERT", {}, PgError("could not extend file")), True),
        (OSError(errno.ENOSPC, "No space left on device"), True),
        (sqlite_error(sqlite3.SQLITE_BUSY), False),
        (OperationalError("SELECT 1", {}, sqlite_error(sqlite3.SQLITE_IOERR)), False),
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), False),
    ],
)
def test_a_full_disk_is_told_apart(fault: Exception, full: bool) -> None:
    assert is_disk_full(fault) is full
    try:
        refusal = store_unavailable(fault)
    finally:
        wrote()  # leave the process-wide state as it was
    assert isinstance(refusal, Unavailable)
    assert refusal.reason is (Reason.DISK_FULL if full else Reason.DATABASE_UNAVAILABLE)


def test_one_log_line_when_full_and_one_when_it_is_over(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = Database(make_engine(f"sqlite:///{tmp_path}/x.db"))
    with caplog.at_level(logging.INFO, "capbroker.store"):
        for _ in range(10):
            store_unavailable(sqlite_error(sqlite3.SQLITE_FULL))
        assert DISK.full
        for _ in range(3):
            with db.transaction() as tx:  # a write that commits: space again
                tx.conn.execute(text("CREATE TABLE IF NOT EXISTS t (v TEXT)"))
    assert not DISK.full
    messages = [r.getMessage() for r in caplog.records if r.name == "capbroker.store"]
    assert len(messages) == 2
    assert messages[0].startswith("the database's disk is full")
    assert messages[1] == "the database's disk has space again: writes resumed"
    db.engine.dispose()
