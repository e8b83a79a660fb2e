"""Transactions over the engine, with commit hooks, and database faults mapped to one error."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from broker.errors import Reason, Unavailable
from broker.store.engine import BUSY_TIMEOUT_MS, LOCKS_ITSELF, WRITE
from broker.store.raw import RawStatement


@contextmanager
def _faults_mapped() -> Iterator[None]:
    try:
        yield
    except OperationalError as exc:
        # Connection refused, database locked past busy_timeout, server gone: fail closed.
        raise Unavailable(
            "the database is unavailable", reason=Reason.DATABASE_UNAVAILABLE
        ) from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise Unavailable(
                "the database is unavailable", reason=Reason.DATABASE_UNAVAILABLE
            ) from exc
        raise


def connection_lost(fault: BaseException) -> bool:
    """A fault of the connection itself (terminated, reset), not of a statement."""
    cause = fault.__cause__ if isinstance(fault, Unavailable) else fault
    return isinstance(cause, DBAPIError) and bool(cause.connection_invalidated)


def _driver(conn: Connection) -> sqlite3.Connection:
    driver = conn.connection.driver_connection
    assert isinstance(driver, sqlite3.Connection)
    return driver


class Tx:
    """One database transaction plus callbacks to run once it has committed or ended."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.committing = False  # the commit was sent: a fault from now on leaves it unknown
        self.committed = False
        self._after_commit: list[Callable[[], None]] = []
        self._on_end: list[Callable[[], None]] = []
        self._before_commit: list[Callable[[], None]] = []
        self._staged: dict[RawStatement, list[Mapping[str, Any]]] = {}

    def after_commit(self, fn: Callable[[], None]) -> None:
        self._after_commit.append(fn)

    def on_end(self, fn: Callable[[], None]) -> None:
        """Run when the transaction ends either way (releases locks taken for it)."""
        self._on_end.append(fn)

    def before_commit(self, fn: Callable[[], None]) -> None:
        """Run inside the transaction just before it commits (batched writes flush here)."""
        self._before_commit.append(fn)

    def insert_later(self, statement: RawStatement, row: Mapping[str, Any]) -> None:
        """Queue an INSERT nothing in this transaction reads back: each statement's rows go
        in one ``executemany`` just before commit, in the order statements were first
        queued (so a parent's rows precede its children's). On PostgreSQL that is one
        round trip for a whole group-commit batch instead of one per row."""
        if not self._staged:
            self.before_commit(self._insert_staged)
        self._staged.setdefault(statement, []).append(row)

    def _insert_staged(self) -> None:
        staged, self._staged = self._staged, {}
        for statement, rows in staged.items():
            statement.execute_many(self.conn, rows)


class Database:
    def __init__(self, engine: Engine, *, wait_seconds: float = 5.0) -> None:
        self.engine = engine
        # The most a request waits for its write or read before it is answered 503
        # (group commit, the gateway's reads); a frozen server answers never.
        self.wait_seconds = wait_seconds

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        with (
            _faults_mapped(),
            self.engine.connect() as raw,
            self.transaction_on(raw.execution_options(**{WRITE: True})) as tx,
        ):
            yield tx

    def write_connection(self) -> Connection:
        """A connection for ``transaction_on``, held by a caller that writes often (group
        commit): checking one out of the pool per transaction cost more than the rest of
        an empty transaction. The caller gives it back with ``release_write_connection``.

        On SQLite it never waits for the write lock: the caller takes it with
        ``try_write_lock`` and, when another process holds it, tries again later instead
        of sleeping in SQLite's busy handler (on an event loop, every request waits)."""
        with _faults_mapped():
            conn = self.engine.connect().execution_options(**{WRITE: True})
            if conn.dialect.name == "sqlite":
                _driver(conn).execute("PRAGMA busy_timeout=0")
                conn = conn.execution_options(**{LOCKS_ITSELF: True})
            return conn

    @staticmethod
    def try_write_lock(conn: Connection) -> bool:
        """Begin the next transaction on a ``write_connection`` holding SQLite's write lock,
        or False at once when another connection holds it (nothing begun). Elsewhere the
        transaction itself takes what it needs: True."""
        if not conn.get_execution_options().get(LOCKS_ITSELF, False):
            return True
        driver = _driver(conn)
        try:
            driver.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode == sqlite3.SQLITE_BUSY:
                return False
            raise Unavailable(
                "the database is unavailable", reason=Reason.DATABASE_UNAVAILABLE
            ) from exc
        return True

    @staticmethod
    def release_write_connection(conn: Connection) -> None:
        """Give a ``write_connection`` back with the pool's usual busy timeout."""
        try:
            if conn.get_execution_options().get(LOCKS_ITSELF, False):
                driver = _driver(conn)
                if driver.in_transaction:
                    driver.execute("ROLLBACK")
                driver.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        finally:
            conn.close()

    @contextmanager
    def transaction_on(self, conn: Connection) -> Iterator[Tx]:
        """One transaction on ``conn`` (from ``write_connection``); hooks as ``Tx`` says."""
        tx: Tx | None = None
        try:
            with _faults_mapped(), conn.begin():
                tx = Tx(conn)
                yield tx
                for fn in tx._before_commit:
                    fn()
                tx.committing = True
            tx.committed = True
            for fn in tx._after_commit:
                fn()
        finally:
            if tx is not None:
                for fn in tx._on_end:
                    fn()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only view that is one snapshot for all its statements (verifying a chain
        must not see a head from before a commit and events from after it). SQLite's
        deferred BEGIN gives that already; PostgreSQL needs REPEATABLE READ, which for a
        read-only transaction never fails."""
        with _faults_mapped(), self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            yield conn
