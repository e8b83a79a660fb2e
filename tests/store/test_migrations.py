"""Migrations produce exactly the tables the code declares, on both databases, and go back down."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from broker.store import migrate
from broker.store.engine import make_engine
from broker.store.tables import metadata


def test_migrations_match_the_models_and_downgrade(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate.upgrade(engine)
        assert not migrate.pending(engine)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        # capbroker_schema is migrate.py's own record, kept outside alembic and the models.
        assert [d for d in diff if d[0] != "remove_table" or d[1].name != "capbroker_schema"] == []
        migrate.downgrade(engine, "base")
        assert migrate.pending(engine)
        migrate.upgrade(engine)
        assert not migrate.pending(engine)
    finally:
        engine.dispose()
