"""The database fixtures hand out real, fresh, isolated databases."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.support.postgres import PostgresServer, PostgresUnavailableError


def _engine(url: str) -> sa.Engine:
    return sa.create_engine(url, poolclass=sa.pool.NullPool)


def test_pg_url_is_a_live_postgresql_15(pg_url: str) -> None:
    url = make_url(pg_url)
    assert url.drivername == "postgresql+psycopg"
    assert url.host == "127.0.0.1"
    engine = _engine(pg_url)
    with engine.connect() as conn:
        version = conn.execute(sa.text("select version()")).scalar_one()
        current = conn.execute(sa.text("select current_database()")).scalar_one()
        user = conn.execute(sa.text("select current_user")).scalar_one()
    engine.dispose()
    assert version.startswith("PostgreSQL 15.")
    assert current == url.database
    assert user == "test"


@pytest.mark.parametrize("round_", [1, 2])
def test_database_url_starts_empty_and_is_writable(database_url: str, round_: int) -> None:
    """Run twice per backend: if two tests shared a database, round 2 would see round 1's table."""
    engine = _engine(database_url)
    assert sa.inspect(engine).get_table_names() == []
    with engine.begin() as conn:
        conn.execute(sa.text("create table probe (id integer primary key, note text)"))
        conn.execute(sa.text("insert into probe values (:id, :note)"), {"id": 1, "note": "é✓"})
    with engine.connect() as conn:
        assert conn.execute(sa.text("select note from probe")).scalar_one() == "é✓"
    engine.dispose()


def test_database_url_backend_matches_param(
    database_url: str, request: pytest.FixtureRequest
) -> None:
    backend = request.node.callspec.params["database_url"]
    expected = {"sqlite": "sqlite", "postgresql": "postgresql"}[backend]
    assert make_url(database_url).get_backend_name() == expected
    if backend == "postgresql":
        assert request.node.get_closest_marker("postgres") is not None


def test_create_and_drop_database(postgres_server: PostgresServer) -> None:
    postgres_server.create_database("fixture_a")
    postgres_server.create_database("fixture_b")
    try:
        assert {"fixture_a", "fixture_b"} <= set(postgres_server.list_databases())
        engine_a = _engine(postgres_server.url("fixture_a"))
        engine_b = _engine(postgres_server.url("fixture_b"))
        with engine_a.begin() as conn:
            conn.execute(sa.text("create table only_in_a (id integer)"))
        assert sa.inspect(engine_b).get_table_names() == []
        # An open connection must not stop the drop (WITH (FORCE)).
        held = engine_a.connect()
        postgres_server.drop_database("fixture_a")
        held.invalidate()
        engine_a.dispose()
        engine_b.dispose()
        assert "fixture_a" not in postgres_server.list_databases()
    finally:
        postgres_server.drop_database("fixture_a")
        postgres_server.drop_database("fixture_b")
    assert "fixture_b" not in postgres_server.list_databases()


@pytest.mark.postgres
@pytest.mark.slow
def test_server_lifecycle_removes_its_directory() -> None:
    with PostgresServer.start() as server:
        base = server.base
        assert (server.datadir / "postmaster.pid").exists()
        server.create_database("lifecycle")
        assert "lifecycle" in server.list_databases()
    assert not base.exists()


def test_missing_binaries_say_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(PostgresUnavailableError, match=r"apt-get install -y postgresql-15"):
        PostgresServer.start(bindir=tmp_path / "no-such-bin")
