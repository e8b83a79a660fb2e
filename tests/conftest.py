"""Shared fixtures: a real PostgreSQL server per test process, and fresh databases.

- ``postgres_server`` (session): one server per pytest-xdist worker (or one for
  a plain run), started on first use and stopped at the end of the session,
  also when tests fail.
- ``database_url`` (function): a fresh empty database, once for SQLite and once
  for PostgreSQL (ids ``sqlite`` / ``postgresql``; the latter carries the
  ``postgres`` marker so ``-m "not postgres"`` skips it).
- ``pg_url`` (function): a fresh empty PostgreSQL database only.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.store import migrate
from broker.store.database import Database
from broker.store.engine import make_engine
from tests.support.leakcheck import find_secrets
from tests.support.postgres import PostgresServer

POSTGRES_FIXTURES = frozenset({"postgres_server", "pg_url"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that ask for PostgreSQL directly get the ``postgres`` marker."""
    for item in items:
        if POSTGRES_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with PostgresServer.start() as server:
        yield server


def _unique_dbname() -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"t_{worker}_{uuid.uuid4().hex[:16]}".lower()


def _fresh_pg_database(server: PostgresServer) -> Iterator[str]:
    name = _unique_dbname()
    server.create_database(name)
    try:
        yield server.url(name)
    finally:
        server.drop_database(name)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """SQLAlchemy URL of a fresh, empty database on each supported backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/capbroker.db"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    yield from _fresh_pg_database(server)


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> Iterator[str]:
    """SQLAlchemy URL of a fresh, empty PostgreSQL database."""
    yield from _fresh_pg_database(postgres_server)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """A migrated, empty store on each supported backend."""
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    yield Database(engine)
    engine.dispose()


# --- no secret in any captured output ------------------------------------------------------

_LEAKS: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    texts = [content for _, content in report.sections]
    if report.longrepr is not None:
        texts.append(str(report.longrepr))
    for text in texts:
        for hit in find_secrets(text):
            _LEAKS.append(f"{report.nodeid} ({report.when}): {hit}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _LEAKS and not hasattr(session.config, "workerinput"):
        print("\nSECRETS FOUND IN CAPTURED TEST OUTPUT:\n  " + "\n  ".join(_LEAKS[:20]))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
