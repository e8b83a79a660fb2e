"""Expand-then-contract, on real SQLite and real PostgreSQL: this code runs on the next
release's schema (one expand step ahead) without migrating it or failing, the previous
release's code runs on this release's schema, a step that breaks compatibility is refused
by name (never alembic's `Can't locate revision`), and a rollback step brings it back.

The previous and next releases are their migration folders: this one's without its newest
step, and this one's plus an expand step (a table, and a nullable column on credentials,
which this code writes)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text

from broker.demo.world import FLOOR, TEMPLATE, Principal, Seed, build_world
from broker.errors import Unavailable
from broker.manifests import parse_manifest
from broker.settings import Settings
from broker.store import migrate
from broker.store.engine import make_engine
from broker.store.migrate import SchemaState, schema_compatible

CODE = migrate.code_revisions()
HEAD = CODE[-1]
NEXT_STEP = '''"""next release: an expand step"""
import sqlalchemy as sa
from alembic import op

revision = "{rev}"
down_revision = "{down}"
branch_labels = None
depends_on = None
{extra}

def upgrade() -> None:
    op.create_table("next_{rev}", sa.Column("id", sa.Integer(), primary_key=True))
    with op.batch_alter_table("credentials") as batch:
        batch.add_column(sa.Column("note_{rev}", sa.String(40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("credentials") as batch:
        batch.drop_column("note_{rev}")
    op.drop_table("next_{rev}")
'''


def release(tmp: Path, name: str, steps: list[tuple[str, str]]) -> Path:
    """This release's migration folder, without its newest step if ``name`` is
    "previous", plus ``steps`` ((revision, extra module text), in order)."""
    folder = tmp / name
    shutil.copytree(migrate.MIGRATIONS, folder, ignore=shutil.ignore_patterns("__pycache__"))
    if name == "previous":
        (newest,) = (folder / "versions").glob(f"{HEAD}_*.py")
        newest.unlink()
    down = HEAD
    for rev, extra in steps:
        (folder / "versions" / f"{rev}_next.py").write_text(
            NEXT_STEP.format(rev=rev, down=down, extra=extra)
        )
        down = rev
    return folder


@pytest.fixture
def engine(database_url: str) -> Engine:
    engine = make_engine(database_url)
    yield engine  # type: ignore[misc]
    engine.dispose()


def seed_and_use(database_url: str, data: Path) -> None:
    """This code's services on the database: keys, manifests, an agent, audit, all written."""
    seed = Seed(
        manifests=[parse_manifest(FLOOR, "compat#floor"), parse_manifest(TEMPLATE, "compat#t")],
        provider_keys={},
        principals=[Principal("agent", "claude-compat")],
    )
    world = build_world(Settings(data_dir=data, database_url=database_url), seed, writer="t")
    try:
        assert world.credential("claude-compat").startswith("capb_")
    finally:
        world.close()


def test_this_code_runs_on_the_next_releases_schema(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    next_release = release(tmp_path, "next", [("9001", "")])
    migrate.upgrade(engine, scripts=next_release)
    assert migrate.read_state(engine) == SchemaState("9001", HEAD)

    migrate.upgrade(engine)  # what `serve` and `capbroker migrate` do: nothing here
    assert not migrate.pending(engine)
    assert migrate.readiness(engine) == "ok"
    seed_and_use(database_url, tmp_path / "data")
    assert migrate.read_state(engine).revision == "9001"  # never migrated back
    with engine.connect() as conn:
        assert "next_9001" in inspect(conn).get_table_names()

    # The real command, as an old pod restarting mid-rollout runs it.
    done = subprocess.run(
        [sys.executable, "-m", "broker.cli.main", "--data-dir", str(tmp_path / "data"),
         "--database-url", database_url, "migrate"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Can't locate revision" not in done.stderr

    # Rollback of the schema, with the next release's code: back to this code's head.
    migrate.downgrade(engine, HEAD, scripts=next_release)
    assert migrate.read_state(engine) == SchemaState(HEAD, CODE[-2])
    assert not migrate.pending(engine)


def test_the_previous_releases_code_runs_on_this_schema(engine: Engine, tmp_path: Path) -> None:
    previous = release(tmp_path, "previous", [])
    migrate.upgrade(engine, scripts=previous)
    assert migrate.read_state(engine) == SchemaState(CODE[-2], CODE[-3])
    assert migrate.readiness(engine) == "migrations pending"  # this code needs its step

    migrate.upgrade(engine)  # the upgrade's migrate job
    assert migrate.readiness(engine) == "ok"
    # Old pods still serving during the rollout, and after a `helm rollback`:
    assert migrate.readiness(engine, scripts=previous) == "ok"
    migrate.upgrade(engine, scripts=previous)
    assert migrate.read_state(engine).revision == HEAD


def test_two_steps_ahead_or_a_breaking_step_is_refused_by_name(
    engine: Engine, tmp_path: Path
) -> None:
    two_ahead = release(tmp_path, "two", [("9001", ""), ("9002", "")])
    migrate.upgrade(engine, scripts=two_ahead)
    assert migrate.read_state(engine) == SchemaState("9002", "9001")
    assert migrate.pending(engine)
    assert migrate.readiness(engine) == "schema too new (revision 9002)"
    with pytest.raises(Unavailable, match=r"revision 9002.*is newer than this capbroker"):
        migrate.upgrade(engine)

    migrate.downgrade(engine, HEAD, scripts=two_ahead)
    breaking = release(tmp_path, "breaking", [("9003", 'oldest_compatible_code = "9003"')])
    migrate.upgrade(engine, scripts=breaking)
    assert migrate.readiness(engine) == "schema too new (revision 9003)"


def test_a_record_of_another_revision_vouches_for_nothing(engine: Engine, tmp_path: Path) -> None:
    migrate.upgrade(engine, scripts=release(tmp_path, "next", [("9001", "")]))
    with engine.begin() as conn:
        conn.execute(text("update capbroker_schema set revision = 'other'"))
    assert migrate.read_state(engine) == SchemaState("9001", None)
    assert migrate.readiness(engine) == "schema too new (revision 9001)"


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (SchemaState("c", None), True),  # its own head
        (SchemaState("b", "a"), False),  # behind: migrations pending
        (SchemaState(None, None), False),  # empty
        (SchemaState("d", "c"), True),  # one expand step ahead
        (SchemaState("d", "b"), True),  # ahead, and older code still fits
        (SchemaState("e", "d"), False),  # two steps ahead
        (SchemaState("d", None), False),  # ahead, nothing recorded
    ],
)
def test_schema_compatible(state: SchemaState, expected: bool) -> None:
    assert schema_compatible(("a", "b", "c"), state) is expected
    assert schema_compatible((), state) is False
