"""Schema changes go through alembic migrations, run programmatically (no alembic.ini needed).

Expand, then contract (docs/operations.md, "Upgrades and rollback"): a step only adds what
the previous release's code can ignore (tables, nullable or defaulted columns, indexes), and
what a release stops using is dropped one release later. So a release's code runs against
its own schema and the next one's. A step that cannot keep that promise says so in its
module: ``oldest_compatible_code = "<its own revision>"``; the default is the revision it
revises.

Older code cannot know a newer revision's id, so the database tells it: after every upgrade
or downgrade the table ``capbroker_schema`` (outside alembic, so code that predates it is not
disturbed) records the revision and the oldest code revision that runs on it. Code that
finds a revision it does not know, and its own head at or after that oldest one, runs on it
instead of failing (alembic's ``Can't locate revision``) and never migrates it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Connection, Engine, Integer, MetaData, String, Table, inspect, select

from broker.errors import Unavailable

MIGRATIONS = Path(__file__).with_name("migrations")

_meta = MetaData()
COMPAT = Table(
    "capbroker_schema",
    _meta,
    Column("id", Integer, primary_key=True),
    Column("revision", String(64), nullable=False),
    Column("oldest_code", String(64), nullable=False),
)


@dataclass(frozen=True)
class SchemaState:
    """What the database says: its revision (None: empty) and, as it recorded, the oldest
    code revision that runs on it (None: not recorded)."""

    revision: str | None
    oldest_code: str | None


def schema_compatible(code_revisions: Sequence[str], state: SchemaState) -> bool:
    """Can code whose revisions are ``code_revisions`` (oldest first, its head last) run on
    a database in ``state``? At its own head, yes; behind it, no (migrations pending);
    ahead of it, only if the database names a revision this code has as its oldest."""
    if not code_revisions or state.revision is None:
        return False
    if state.revision == code_revisions[-1]:
        return True
    if state.revision in code_revisions:
        return False
    return state.oldest_code is not None and state.oldest_code in code_revisions


def _config(engine: Engine, scripts: Path) -> Config:
    config = Config()
    config.set_main_option("script_location", str(scripts))
    config.attributes["engine"] = engine
    return config


@functools.cache
def code_revisions(scripts: Path = MIGRATIONS) -> tuple[str, ...]:
    """This code's revisions, oldest first (the chain is linear). Read once: readiness asks."""
    directory = ScriptDirectory(str(scripts))
    return tuple(s.revision for s in reversed(list(directory.walk_revisions())))


def oldest_compatible_code(scripts: Path, revision: str) -> str:
    script = ScriptDirectory(str(scripts)).get_revision(revision)
    if script is None:  # pragma: no cover - only called with a revision of this code
        raise ValueError(revision)
    declared = getattr(script.module, "oldest_compatible_code", None)
    down = script.down_revision
    return str(declared or (down if isinstance(down, str) else revision))


def schema_state(conn: Connection) -> SchemaState:
    revision = MigrationContext.configure(conn).get_current_revision()
    if not inspect(conn).has_table(COMPAT.name):
        return SchemaState(revision, None)
    row = conn.execute(select(COMPAT.c.revision, COMPAT.c.oldest_code)).first()
    # A record left by another revision (say, written by hand) vouches for nothing.
    oldest = row.oldest_code if row is not None and row.revision == revision else None
    return SchemaState(revision, oldest)


def read_state(engine: Engine) -> SchemaState:
    with engine.connect() as conn:
        return schema_state(conn)


def _record(engine: Engine, scripts: Path) -> None:
    with engine.begin() as conn:
        _meta.create_all(conn)
        conn.execute(COMPAT.delete())
        revision = MigrationContext.configure(conn).get_current_revision()
        if revision is not None:
            oldest = oldest_compatible_code(scripts, revision)
            conn.execute(COMPAT.insert().values(id=1, revision=revision, oldest_code=oldest))


def _too_new(state: SchemaState) -> Unavailable:
    return Unavailable(
        f"the database schema (revision {state.revision}) is newer than this capbroker"
        " supports: run the release that migrated it, or roll the schema back with that"
        " release first (docs/operations.md, 'Upgrades and rollback')"
    )


def upgrade(engine: Engine, revision: str = "head", *, scripts: Path = MIGRATIONS) -> None:
    """Bring the schema to ``revision``; on a newer schema this code runs on, do nothing."""
    revisions = code_revisions(scripts)
    state = read_state(engine)
    if state.revision is not None and state.revision not in revisions:
        if schema_compatible(revisions, state):
            return
        raise _too_new(state)
    command.upgrade(_config(engine, scripts), revision)
    _record(engine, scripts)


def pending(engine: Engine, *, scripts: Path = MIGRATIONS) -> bool:
    """True when this code cannot run on the database as it is: migrations to apply, or a
    schema newer than it supports. One compatible step ahead is not pending."""
    return not schema_compatible(code_revisions(scripts), read_state(engine))


def readiness(engine: Engine, *, scripts: Path = MIGRATIONS) -> str:
    """The readiness check's word on the schema: ok, migrations pending, or too new."""
    revisions, state = code_revisions(scripts), read_state(engine)
    if schema_compatible(revisions, state):
        return "ok"
    if state.revision is not None and state.revision not in revisions:
        return f"schema too new (revision {state.revision})"
    return "migrations pending"


def downgrade(engine: Engine, revision: str, *, scripts: Path = MIGRATIONS) -> None:
    command.downgrade(_config(engine, scripts), revision)
    _record(engine, scripts)
