"""A PostgreSQL server for benchmarks: the test suite's server, made durable and put on disk.

``tests/support/postgres.py`` tunes its throwaway clusters for speed: the data directory on
tmpfs and ``fsync``, ``synchronous_commit`` and ``full_page_writes`` off. A
benchmark that compares durable token stores must not do that, so this module
reuses its ``PostgresServer`` (initdb, start, readiness, databases, stop) with
two changes: the cluster lives in a directory on disk (the same class of disk
as OpenBao's raft storage) and the server runs with PostgreSQL's durable
defaults. ``check_durable`` reads the settings back from the running server.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.harness import BenchmarkError
from tests.support.postgres import PostgresServer, PostgresUnavailableError

PG_DIR_ENV = "CAPBROKER_TEST_PG_DIR"

# The last setting wins; these restore the defaults tests/support/postgres.py turns off.
DURABLE_OPTIONS = ("fsync=on", "synchronous_commit=on", "full_page_writes=on")
DURABLE_SETTINGS = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}


def filesystem_type(path: Path) -> str:
    """The type of the filesystem ``path`` is on (longest mount point in /proc/mounts)."""
    resolved = str(path.resolve())
    best, kind = "", "unknown"
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return kind
    for line in mounts:
        parts = line.split()
        if len(parts) < 3:
            continue
        mount = parts[1]
        inside = resolved == mount or resolved.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) >= len(best):
            best, kind = mount, parts[2]
    return kind


def disk_parent() -> Path:
    """An on-disk directory for temp data: the temp dir unless it is tmpfs, else /var/tmp."""
    for parent in (Path(tempfile.gettempdir()), Path("/var/tmp")):
        if filesystem_type(parent) not in ("tmpfs", "ramfs"):
            return parent
    raise BenchmarkError("no on-disk temp directory found (both $TMPDIR and /var/tmp are RAM)")


def disk_tempdir(prefix: str) -> Path:
    """A new temp directory on disk (see ``disk_parent``)."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir=disk_parent()))


def start_durable_postgres() -> Any:
    """A started ``PostgresServer`` on disk with fsync and synchronous commit on."""
    # tests/support/postgres.py's own knob for where clusters live (it defaults to tmpfs).
    previous = os.environ.get(PG_DIR_ENV)
    os.environ[PG_DIR_ENV] = str(disk_parent())
    try:
        return PostgresServer.start(options=DURABLE_OPTIONS)
    except PostgresUnavailableError as exc:
        raise BenchmarkError(str(exc)) from exc
    finally:
        if previous is None:
            os.environ.pop(PG_DIR_ENV, None)
        else:
            os.environ[PG_DIR_ENV] = previous


def check_durable(server: Any) -> dict[str, str]:
    """Read the durability settings and the data dir back; fail unless durable and on disk."""
    import psycopg

    with psycopg.connect(server.url("postgres").replace("+psycopg", ""), connect_timeout=5) as conn:
        found = {
            name: str(conn.execute(f"SHOW {name}").fetchone()[0])  # type: ignore[index]
            for name in DURABLE_SETTINGS
        }
        data_directory = str(conn.execute("SHOW data_directory").fetchone()[0])  # type: ignore[index]
    wrong = {k: v for k, v in found.items() if v != DURABLE_SETTINGS[k]}
    if wrong:
        raise BenchmarkError(f"PostgreSQL is not durable for this benchmark: {wrong}")
    fs = filesystem_type(Path(data_directory))
    if fs in ("tmpfs", "ramfs"):
        raise BenchmarkError(f"PostgreSQL data directory {data_directory} is on {fs}")
    return {**found, "data_directory": data_directory, "filesystem": fs}
