"""Faults of a real PostgreSQL cluster (``tests.support.postgres``) for the fault tests.

- ``frozen(server)``: every process of the cluster stopped with SIGSTOP (the server then
  accepts TCP connections in the kernel and answers nothing, not even the cancel
  requests that enforce ``statement_timeout``); always SIGCONT again on the way out.
- ``stopped(server)``: the cluster shut down (connections refused), started again on the
  same port on the way out, tracked by the server object as before.
- ``terminate_backends(server, dbname)``: ``pg_terminate_backend`` on every session of
  the database (the pooled connections of broker and gateway die).
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg import sql

import tests.support.postgres as postgres_support
from tests.support.postgres import PostgresServer
from tests.support.servers import HOST


def cluster_pids(server: PostgresServer) -> list[int]:
    """The postmaster and its children."""
    postmaster = int((server.datadir / "postmaster.pid").read_text().split()[0])
    pids = [postmaster]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # the command may hold spaces and parentheses: the parent pid follows the last ')'
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == postmaster:
                pids.append(int(stat.parent.name))
    return pids


@contextlib.contextmanager
def frozen(server: PostgresServer) -> Iterator[list[int]]:
    pids = cluster_pids(server)
    try:
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        yield pids
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


@contextlib.contextmanager
def stopped(server: PostgresServer) -> Iterator[None]:
    port = server.port
    assert server._process is not None
    server._before_stop()
    server._process.stop(timeout_s=30)
    try:
        yield
    finally:
        same_port = postgres_support.free_port
        postgres_support.free_port = lambda host=HOST: port
        try:
            server._start_on_free_port()
        finally:
            postgres_support.free_port = same_port


def terminate_backends(server: PostgresServer, dbname: str) -> int:
    with psycopg.connect(
        host=HOST,
        port=server.port,
        user=postgres_support.SUPERUSER,
        dbname="postgres",
        autocommit=True,
        connect_timeout=5,
    ) as conn:
        rows = conn.execute(
            sql.SQL(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = {} AND pid <> pg_backend_pid()"
            ).format(sql.Literal(dbname))
        ).fetchall()
    return len(rows)
