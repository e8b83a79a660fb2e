"""What a database fault means for the caller: a full disk, or the database unavailable.

Both fail closed with a 503; ``disk_full`` tells the operator what to fix. A full disk is
logged once when it is first seen and once when a write succeeds again, not per request
(every request fails the same way while it lasts).

SQLite reports a full disk as ``SQLITE_FULL`` (its unix VFS maps ``ENOSPC`` to it);
PostgreSQL as SQLSTATE 53100 ``disk_full`` ("could not extend file").
"""

from __future__ import annotations

import errno
import logging
import sqlite3
import threading

from broker.errors import Reason, Unavailable

log = logging.getLogger("capbroker.store")
PG_DISK_FULL = "53100"


def _causes(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    item: BaseException | None = exc
    while item is not None and item not in seen and len(seen) < 8:
        seen.append(item)
        orig = getattr(item, "orig", None)  # SQLAlchemy's DBAPIError wraps the driver's
        item = orig if isinstance(orig, BaseException) else (item.__cause__ or item.__context__)
    return seen


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it wraps) says the disk or file system is full."""
    for cause in _causes(exc):
        if isinstance(cause, sqlite3.Error) and cause.sqlite_errorcode == sqlite3.SQLITE_FULL:
            return True
        if getattr(cause, "sqlstate", None) == PG_DISK_FULL:  # psycopg 3
            return True
        if isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
    return False


class _DiskState:
    """Whether the last write found the disk full, so each change is logged once."""

    def __init__(self) -> None:
        self.full = False
        self._lock = threading.Lock()

    def saw(self, full: bool) -> None:
        with self._lock:
            changed, self.full = self.full != full, full
        if changed and full:
            log.error(
                "the database's disk is full: writes are refused (disk_full) until space"
                " is freed; see docs/operations.md"
            )
        elif changed:
            log.warning("the database's disk has space again: writes resumed")


DISK = _DiskState()


def store_unavailable(exc: BaseException) -> Unavailable:
    """The refusal for a database fault: ``disk_full`` or ``database_unavailable``."""
    if is_disk_full(exc):
        DISK.saw(True)
        return Unavailable(
            "the database's disk is full; no change can be stored", reason=Reason.DISK_FULL
        )
    return Unavailable("the database is unavailable", reason=Reason.DATABASE_UNAVAILABLE)


def wrote() -> None:
    """A write committed: if the disk was full, it is not any more."""
    if DISK.full:
        DISK.saw(False)
