"""Engines for the embedded default (SQLite, WAL) and PostgreSQL, built by a factory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL: readers never block the writer. synchronous=NORMAL: a commit survives a
    # process crash; only a power loss can drop the last transactions (docs/operations.md).
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.close()


WRITE = "capbroker_write"
# A connection whose owner takes SQLite's write lock itself before each transaction
# (Database.try_write_lock): BEGIN is then already done.
LOCKS_ITSELF = "capbroker_locks_itself"
BUSY_TIMEOUT_MS = 5000


def _sqlite_begin(conn: Any) -> None:
    options = conn.get_execution_options()
    driver = conn.connection.driver_connection
    if options.get(LOCKS_ITSELF, False) and driver.in_transaction:
        return
    # A write transaction takes the write lock at BEGIN, so two writers never deadlock
    # upgrading read locks; reads begin deferred and never block anyone (WAL).
    # Straight to the driver: through exec_driver_sql this one statement cost a third of
    # an empty transaction.
    driver.execute("BEGIN IMMEDIATE" if options.get(WRITE, False) else "BEGIN")


@dataclass(frozen=True)
class Timeouts:
    """How long a networked database may take. ``connect``: opening a connection (libpq's
    connect_timeout, whole seconds, at least 2); ``statement``: one statement, enforced by
    the server (statement_timeout); ``pool``: waiting for a pooled connection. A server
    that is frozen enforces nothing, so callers also bound their wait (``Database.wait``)."""

    connect: float = 5.0
    statement: float = 10.0
    pool: float = 5.0

    @classmethod
    def of(cls, settings: Any) -> Timeouts:
        """From ``Settings`` (typed loosely: the store does not import the settings)."""
        return cls(
            connect=settings.database_connect_timeout,
            statement=settings.database_statement_timeout,
            pool=settings.database_wait,
        )

    def postgres_connect_args(self) -> dict[str, Any]:
        return {
            "connect_timeout": max(2, round(self.connect)),
            "options": f"-c statement_timeout={round(self.statement * 1000)}"
            f" -c idle_in_transaction_session_timeout={round(self.statement * 3000)}",
        }


def make_engine(
    url: str, timeouts: Timeouts = Timeouts(), *, pool_size: int = 10, max_overflow: int = 20
) -> Engine:
    """SQLite keeps its own small pool (one writer at a time); PostgreSQL's is sized by
    the ``database_pool_size`` and ``database_max_overflow`` settings."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "isolation_level": None},
            pool_size=8,
            max_overflow=8,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    # No pre-ping: it costs a round trip per checkout on the hot path. A dead connection
    # fails its statement, is invalidated, and the next checkout reconnects.
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_recycle=1800,
        pool_timeout=timeouts.pool,
        connect_args=timeouts.postgres_connect_args(),
    )


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"
