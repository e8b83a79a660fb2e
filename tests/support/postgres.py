"""A throwaway PostgreSQL server for the test suite.

The server is a real ``postgres`` process started from the Debian
``postgresql-15`` binaries in a temporary directory, listening on a free port
on 127.0.0.1 with trust authentication for the user ``test``. It runs in the
foreground under ``tests.support.servers.ServerProcess`` (SIGINT is PostgreSQL's
fast shutdown). PostgreSQL refuses to run as root, so as root every server
command runs as the ``postgres`` user (no supplementary groups) in a directory
that user owns; as any other user the commands run as that user.

Usage::

    server = PostgresServer.start()
    try:
        server.create_database("t1")
        url = server.url("t1")  # postgresql+psycopg://test@127.0.0.1:PORT/t1
        ...
        server.drop_database("t1")
    finally:
        server.stop()
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg import sql
from sqlalchemy.engine import make_url

from tests.support.servers import (
    HOST,
    ServerInDirectory,
    ServerNotReady,
    ServerProcess,
    free_port,
    log_tail,
)

DEFAULT_BINDIR = Path("/usr/lib/postgresql/15/bin")
SUPERUSER = "test"
START_TIMEOUT_S = 30.0
START_ATTEMPTS = 3


class PostgresUnavailableError(RuntimeError):
    """The PostgreSQL binaries are missing or the server did not come up."""


# Server options for speed: a throwaway cluster needs no durability.
FAST_OPTIONS = (
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "max_connections=200",
)


def _run_as() -> dict[str, Any]:
    """Popen arguments that drop root to the ``postgres`` user (nothing when not root)."""
    if os.geteuid() != 0:
        return {}
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise PostgresUnavailableError(
            "running as root but there is no 'postgres' user; "
            "run `apt-get install -y postgresql-15`"
        ) from exc
    return {"user": "postgres", "group": "postgres", "extra_groups": []}


def _parent_dir() -> str:
    """Where clusters live: ``$CAPBROKER_TEST_PG_DIR``, else tmpfs, else /tmp.

    On these machines a cluster on tmpfs creates a database in ~15 ms against
    ~350 ms on the ext4 root; both /dev/shm and /tmp are reachable by the
    ``postgres`` user even when ``$TMPDIR`` is not.
    """
    chosen = os.environ.get("CAPBROKER_TEST_PG_DIR")
    if chosen:
        return chosen
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK):
        return str(shm)
    return "/tmp"


class PostgresServer(ServerInDirectory):
    """One running PostgreSQL cluster in a temporary directory."""

    stop_timeout_s = 30.0

    def __init__(
        self, base: Path, bindir: Path, run_as: dict[str, Any], options: Sequence[str] = ()
    ) -> None:
        super().__init__(base)
        self.bindir = bindir
        self.port = 0
        self._run_as = run_as
        self._options = [*FAST_OPTIONS, *options]  # the last setting of a name wins
        self._admin: psycopg.Connection[tuple[object, ...]] | None = None

    # -- lifecycle -------------------------------------------------------

    @classmethod
    def start(cls, bindir: Path = DEFAULT_BINDIR, *, options: Sequence[str] = ()) -> PostgresServer:
        """Create a cluster, start it on a free port and wait until it accepts queries.

        ``options`` are extra ``name=value`` server settings, applied after the fast ones."""
        if not (bindir / "initdb").is_file():
            raise PostgresUnavailableError(
                f"{bindir / 'initdb'} not found: PostgreSQL 15 is not installed. "
                "Install it with `apt-get install -y postgresql-15` "
                "(the CI script does this)."
            )
        run_as = _run_as()
        base = Path(tempfile.mkdtemp(prefix="capbroker-pg-", dir=_parent_dir()))
        server = cls(base, bindir, run_as, options)
        return server.started(server._initdb_and_start)

    def _before_stop(self) -> None:
        if self._admin is not None:
            with contextlib.suppress(psycopg.Error):
                self._admin.close()
            self._admin = None

    # -- databases -------------------------------------------------------

    def url(self, dbname: str) -> str:
        """SQLAlchemy URL of ``dbname`` on this server (psycopg 3 driver)."""
        return f"postgresql+psycopg://{SUPERUSER}@{HOST}:{self.port}/{dbname}"

    def create_database(self, name: str) -> None:
        """Create an empty database (a copy of template1; FILE_COPY is the faster strategy)."""
        self._execute(sql.SQL("CREATE DATABASE {} STRATEGY FILE_COPY").format(sql.Identifier(name)))

    def drop_database(self, name: str) -> None:
        """Drop ``name``, disconnecting any sessions a test left open.

        Sessions a test already closed may still be exiting; DROP DATABASE
        would then poll for them in 100 ms steps, so terminate them first and
        wait (bounded) for each to be gone.
        """
        self._admin_connection().execute(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        self._execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )

    def list_databases(self) -> list[str]:
        with self._admin_connection().cursor() as cur:
            cur.execute("SELECT datname FROM pg_database WHERE NOT datistemplate ORDER BY 1")
            return [str(row[0]) for row in cur.fetchall()]

    # -- internals -------------------------------------------------------

    @property
    def datadir(self) -> Path:
        return self.base / "data"

    @property
    def logfile(self) -> Path:
        return self.base / "server.log"

    def _run(
        self, argv: list[str], *, timeout: float, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            argv,
            cwd=self.base,
            **self._run_as,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise PostgresUnavailableError(
                f"{argv[0]} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}\n"
                f"{log_tail(self.logfile)}"
            )
        return proc

    def _initdb_and_start(self) -> None:
        if self._run_as:
            shutil.chown(self.base, user="postgres", group="postgres")
        self._initdb()
        self._start_on_free_port()

    def _initdb(self) -> None:
        self._run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.datadir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
            timeout=120,
        )

    def _start_on_free_port(self) -> None:
        # Another process may grab the port between free_port() and bind; retry.
        last: ServerNotReady | None = None
        for _ in range(START_ATTEMPTS):
            self.port = free_port()
            settings = [f"listen_addresses={HOST}", *self._options]
            argv = [
                str(self.bindir / "postgres"),
                "-D",
                str(self.datadir),
                "-p",
                str(self.port),
                "-k",
                str(self.base),
                *[arg for setting in settings for arg in ("-c", setting)],
            ]
            try:
                self._process = ServerProcess.start(
                    argv,
                    ready=self._accepts_queries,
                    log=self.logfile,
                    cwd=self.base,
                    timeout_s=START_TIMEOUT_S,
                    stop_signal=signal.SIGINT,  # PostgreSQL's fast shutdown
                    **self._run_as,
                )
                return
            except ServerNotReady as exc:
                last = exc
        assert last is not None
        raise PostgresUnavailableError(f"PostgreSQL did not start: {last}") from last

    def _accepts_queries(self) -> bool:
        try:
            self._admin_connection().execute("SELECT 1")
            return True
        except psycopg.OperationalError:
            self._admin = None
            return False

    def _admin_connection(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._admin is None or self._admin.closed:
            self._admin = psycopg.connect(
                host=HOST,
                port=self.port,
                user=SUPERUSER,
                dbname="postgres",
                autocommit=True,
                connect_timeout=5,
            )
        return self._admin

    def _execute(self, statement: sql.Composed) -> None:
        self._admin_connection().execute(statement)


@contextlib.contextmanager
def database_refusing_connections(url: str) -> Iterator[None]:
    """The database at ``url`` is down for the block: new connections are refused and open
    sessions are terminated; afterwards it accepts connections again."""
    dbname = make_url(url).database
    admin = sa.create_engine(
        str(make_url(url).set(database="postgres")), isolation_level="AUTOCOMMIT"
    )
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{dbname}" WITH ALLOW_CONNECTIONS false'))
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    f"WHERE datname = '{dbname}' AND pid <> pg_backend_pid()"
                )
            )
        yield
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{dbname}" WITH ALLOW_CONNECTIONS true'))
        admin.dispose()
