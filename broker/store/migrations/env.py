"""Alembic environment; the engine arrives in ``config.attributes`` (broker.store.migrate)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from broker.store.tables import metadata

engine = context.config.attributes.get("engine")
if not isinstance(engine, Engine):
    raise RuntimeError("run migrations through broker.store.migrate, which supplies the engine")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
