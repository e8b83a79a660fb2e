"""A throwaway PostgreSQL server for the test suite.

The server is a real ``postgres`` process started from the Debian
``postgresql-15`` binaries in a temporary directory, listening on a free port
on 127.0.0.1 with trust authentication for the user ``test``. PostgreSQL
refuses to run as root, so as root every server command runs through
``runuser -u postgres --`` in a directory that user owns; as any other user
the commands run directly.

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
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import psycopg
from psycopg import sql

DEFAULT_BINDIR = Path("/usr/lib/postgresql/15/bin")
SUPERUSER = "test"
HOST = "127.0.0.1"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0
START_ATTEMPTS = 3


class PostgresUnavailableError(RuntimeError):
    """The PostgreSQL binaries are missing or the server did not come up."""


def free_port(host: str = HOST) -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _run_as_prefix() -> list[str]:
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise PostgresUnavailableError(
            "running as root but there is no 'postgres' user; "
            "run `apt-get install -y postgresql-15`"
        ) from exc
    return ["runuser", "-u", "postgres", "--"]


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


class PostgresServer:
    """One running PostgreSQL cluster in a temporary directory."""

    def __init__(self, base: Path, bindir: Path, port: int, prefix: Sequence[str]) -> None:
        self.base = base
        self.bindir = bindir
        self.port = port
        self._prefix = list(prefix)
        self._admin: psycopg.Connection[tuple[object, ...]] | None = None
        self._stopped = False

    # -- lifecycle -------------------------------------------------------

    @classmethod
    def start(cls, bindir: Path = DEFAULT_BINDIR) -> PostgresServer:
        """Create a cluster, start it on a free port and wait until it accepts queries."""
        if not (bindir / "initdb").is_file():
            raise PostgresUnavailableError(
                f"{bindir / 'initdb'} not found: PostgreSQL 15 is not installed. "
                "Install it with `apt-get install -y postgresql-15` "
                "(the CI script does this)."
            )
        prefix = _run_as_prefix()
        base = Path(tempfile.mkdtemp(prefix="capbroker-pg-", dir=_parent_dir()))
        server = cls(base, bindir, port=0, prefix=prefix)
        try:
            if prefix:
                shutil.chown(base, user="postgres", group="postgres")
            server._initdb()
            server._start_on_free_port()
            server._wait_ready()
        except BaseException:
            server.stop()
            raise
        return server

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its directory. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        if self._admin is not None:
            with contextlib.suppress(psycopg.Error):
                self._admin.close()
            self._admin = None
        try:
            if (self.datadir / "postmaster.pid").exists():
                self._run(
                    [
                        str(self.bindir / "pg_ctl"),
                        "-D",
                        str(self.datadir),
                        "-m",
                        "fast",
                        "-w",
                        "-t",
                        str(int(STOP_TIMEOUT_S)),
                        "stop",
                    ],
                    timeout=STOP_TIMEOUT_S + 5,
                    check=False,
                )
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

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
            [*self._prefix, *argv],
            cwd=self.base,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise PostgresUnavailableError(
                f"{argv[0]} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}\n"
                f"{self._log_tail()}"
            )
        return proc

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
        last: PostgresUnavailableError | None = None
        for _ in range(START_ATTEMPTS):
            self.port = free_port()
            options = " ".join(
                [
                    f"-p {self.port}",
                    f"-k {self.base}",
                    f"-c listen_addresses={HOST}",
                    "-c fsync=off",
                    "-c synchronous_commit=off",
                    "-c full_page_writes=off",
                    "-c max_connections=200",
                ]
            )
            try:
                self._run(
                    [
                        str(self.bindir / "pg_ctl"),
                        "-D",
                        str(self.datadir),
                        "-l",
                        str(self.logfile),
                        "-w",
                        "-t",
                        str(int(START_TIMEOUT_S)),
                        "-o",
                        options,
                        "start",
                    ],
                    timeout=START_TIMEOUT_S + 5,
                )
                return
            except PostgresUnavailableError as exc:
                last = exc
        assert last is not None
        raise last

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                self._admin_connection().execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                self._admin = None
                if time.monotonic() > deadline:
                    raise PostgresUnavailableError(
                        f"PostgreSQL on port {self.port} not ready after "
                        f"{START_TIMEOUT_S:.0f}s: {exc}\n{self._log_tail()}"
                    ) from exc
                time.sleep(0.05)

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

    def _log_tail(self, lines: int = 30) -> str:
        try:
            text = self.logfile.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "server log:\n" + "\n".join(text.splitlines()[-lines:])
