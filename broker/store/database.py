"""Transactions over the engine, with commit hooks, and database faults mapped to one error."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from broker.errors import Reason, Unavailable
from broker.store.engine import WRITE


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


class Tx:
    """One database transaction plus callbacks to run once it has committed or ended."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.committed = False
        self._after_commit: list[Callable[[], None]] = []
        self._on_end: list[Callable[[], None]] = []
        self._before_commit: list[Callable[[], None]] = []

    def after_commit(self, fn: Callable[[], None]) -> None:
        self._after_commit.append(fn)

    def on_end(self, fn: Callable[[], None]) -> None:
        """Run when the transaction ends either way (releases locks taken for it)."""
        self._on_end.append(fn)

    def before_commit(self, fn: Callable[[], None]) -> None:
        """Run inside the transaction just before it commits (batched writes flush here)."""
        self._before_commit.append(fn)


class Database:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

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
        an empty transaction. The caller closes it, and drops it after any fault."""
        with _faults_mapped():
            return self.engine.connect().execution_options(**{WRITE: True})

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
