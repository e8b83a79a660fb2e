"""SQLite WAL checkpoints in a background thread, so no request pays for one.

By default SQLite checkpoints inside whichever commit pushes the WAL past 1,000 pages:
that commit then copies pages and fsyncs, and with group commit on the event loop every
request waiting on the loop waits too (measured: the gateway's p99 at one connection,
12 ms against a p50 under 1 ms). A server process instead turns automatic checkpoints
off on its connections and runs passive checkpoints from one thread, which never block
writers. Under steady writes a passive checkpoint never catches up completely, so the
WAL is never reused and grows; past ``restart_above_frames`` a restarting checkpoint
(which briefly holds writers) lets it start over.

A restarting checkpoint holds new writers while it waits for readers on older snapshots.
With the connections' 5 s busy timeout, one long reader (``audit verify``, a backup) held
every writer, and so the event loop of every process committing there, for 5 s a round
(measured). It waits ``restart_wait_ms`` instead, then gives up until the next round;
the WAL just grows while such a reader lasts.

The WAL *file* stays at its largest size after a restart unless told otherwise, so the
server's connections also set ``journal_size_limit``: the first write after a restart
truncates the file to ``WAL_SIZE_LIMIT`` bytes. Bounded either way: at most about
``restart_above_frames`` pages between restarts, then back to the limit.

A full disk: a write that cannot grow the WAL fails with ``disk_full``
(``store/faults.py``), and a checkpoint cannot grow the database file. The checkpoint
failure is logged once, not every round, and once again when a checkpoint succeeds;
each round keeps trying, so space freed is used at the next round (``interval``).

A crash changes nothing: committed transactions are in the WAL and are checkpointed
when the database is next opened.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy import Engine, event

from broker.store.faults import is_disk_full

log = logging.getLogger("capbroker.store")
WAL_SIZE_LIMIT = 4 << 20  # bytes the WAL file is truncated to when it starts over


def _no_autocheckpoint(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
    cursor.close()


class WalCheckpointer:
    def __init__(
        self,
        engine: Engine,
        *,
        interval: float = 0.25,
        restart_above_frames: int = 4096,
        restart_wait_ms: int = 20,
    ) -> None:
        self.engine = engine
        self.interval = interval
        self.restart_above_frames = restart_above_frames
        self.restart_wait_ms = restart_wait_ms
        self.checkpoints = 0  # for tests and metrics
        self.restarts = 0
        self.restarts_given_up = 0  # a reader on an older snapshot outlasted restart_wait_ms
        self.failing = ""  # why the last round failed ("" when it did not), logged once
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def for_engine(cls, engine: Engine, **kwargs: Any) -> WalCheckpointer | None:
        """A checkpointer for a SQLite file database (None for anything else); from now on
        the engine's new connections leave checkpoints to it."""
        if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
            return None
        event.listen(engine, "connect", _no_autocheckpoint)
        engine.dispose()  # pooled connections opened earlier would still checkpoint themselves
        return cls(engine, **kwargs)

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name="capbroker-wal-checkpoint", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join(timeout=10)
            self.checkpoint()  # leave a short WAL behind

    def checkpoint(self) -> None:
        try:
            conn = self.engine.raw_connection()
            try:
                cursor = conn.cursor()
                # (busy, frames in the WAL, frames copied back): never waits for anyone.
                _, frames, _ = cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if frames >= self.restart_above_frames:
                    self._restart(cursor)
                cursor.close()
            finally:
                conn.close()
            self.checkpoints += 1
        except Exception as exc:  # busy, gone or a full disk: the next round tries again
            self._failed(exc)
        else:
            if self.failing:
                log.warning("WAL checkpoints succeed again")
            self.failing = ""

    def _failed(self, exc: Exception) -> None:
        why = "the disk is full" if is_disk_full(exc) else type(exc).__name__
        if why != self.failing:
            log.warning("WAL checkpoint failed (%s); retrying every %.2f s", why, self.interval)
        self.failing = why

    def _restart(self, cursor: Any) -> None:
        """Writers kept the WAL from ever being fully copied, so it is never reused and only
        grows. Right after a passive round little is left to copy; then the WAL starts over.
        Writers wait meanwhile, so the wait for readers is short (module docstring)."""
        (previous,) = cursor.execute("PRAGMA busy_timeout").fetchone()
        cursor.execute(f"PRAGMA busy_timeout={int(self.restart_wait_ms)}")
        try:
            busy, _, _ = cursor.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
        finally:  # the connection goes back to the pool with its own timeout
            cursor.execute(f"PRAGMA busy_timeout={int(previous)}")
        if busy:
            self.restarts_given_up += 1
        else:
            self.restarts += 1

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.checkpoint()
