"""Commands that only read write nothing; the first signing key comes from serve and migrate."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from broker.store import migrate
from broker.store.engine import make_engine
from tests.cli.cli_support import EXAMPLES, Run, hold_approval

# Each with the exit codes it may end with on a populated store (explain says no with 1,
# secrets check with 1 for a provider whose key is not there).
READ_ONLY: list[tuple[list[str], set[int]]] = [
    (["audit", "tail"], {0}),
    (["audit", "tail", "--json", "--type", "agent.created"], {0}),
    (["audit", "verify"], {0}),
    (["keys", "list"], {0}),
    (["kill", "list", "--all"], {0}),
    (["approvals", "list"], {0}),
    (["agents", "list", "--json"], {0}),
    (["admins", "list"], {0}),
    (["templates", "list"], {0}),
    (["templates", "show", "staging-agent"], {0}),
    (["policy", "show"], {0}),
    (
        ["explain", "--template", "staging-agent", "--action", "volume:read", "--env", "staging"],
        {0},
    ),
    (["secrets", "check", "railway-demo", "github"], {1}),
]


def _snapshot(data: Path) -> tuple[bytes, list[str], dict[str, bytes]]:
    """The database file's bytes (WAL checkpointed into it), its rows, the secret files."""
    db = sqlite3.connect(data / "capbroker.db")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    rows = list(db.iterdump())
    db.close()
    secrets = {
        str(p.relative_to(data)): p.read_bytes()
        for p in sorted((data / "secrets").rglob("*"))
        if p.is_file() and p.name != ".lock"
    }
    return (data / "capbroker.db").read_bytes(), rows, secrets


def test_read_only_commands_write_nothing(run: Run, data_dir: Path, tmp_path: Path) -> None:
    assert run("migrate").exit_code == 0
    assert run("apply", "-f", str(EXAMPLES)).exit_code == 0
    assert run("admins", "create", "ops").exit_code == 0
    assert run("secrets", "put", "railway-demo", input="a-master-key").exit_code == 0
    assert run("kill", "engage", "--template", "nothing-yet").exit_code == 0
    approval, access_token = hold_approval(data_dir)
    token_file = tmp_path / "token"
    token_file.write_text(access_token)
    commands = [
        *READ_ONLY,
        (["approvals", "show", approval], {0}),
        (["explain", "--token-file", str(token_file), "--action", "x:y", "--env", "staging"], {1}),
    ]
    before = _snapshot(data_dir)
    for args, codes in commands:
        result = run(*args)
        assert result.exit_code in codes, (args, result.output)
    after = _snapshot(data_dir)
    assert after[1] == before[1]  # no row added, changed or removed
    assert after[0] == before[0]  # nor a byte of the file
    assert after[2] == before[2]  # nor a secret


@pytest.mark.parametrize("args", [args for args, _ in READ_ONLY], ids=" ".join)
def test_read_only_commands_on_a_fresh_data_dir_create_nothing(
    run: Run, data_dir: Path, args: list[str]
) -> None:
    result = run(*args)
    assert result.exit_code == 3, result.output
    assert "no database at" in result.output
    assert "run `capbroker migrate` first [database_unavailable]" in result.output
    assert not data_dir.exists()


def test_a_schema_that_is_not_current_is_refused_not_migrated(run: Run, data_dir: Path) -> None:
    assert run("migrate").exit_code == 0
    engine = make_engine(f"sqlite:///{data_dir / 'capbroker.db'}")
    migrate.downgrade(engine, "0003")
    result = run("agents", "list")
    assert result.exit_code == 3
    assert "the database schema is not current: run `capbroker migrate` first" in result.output
    assert migrate.pending(engine)
    assert run("migrate").exit_code == 0
    assert not migrate.pending(engine)
    assert run("agents", "list").output.strip() == "no agents"
    engine.dispose()


def _signing_keys(data: Path) -> int:
    db = sqlite3.connect(data / "capbroker.db")
    count = int(db.execute("SELECT count(*) FROM signing_keys").fetchone()[0])
    db.close()
    return count


def test_commands_that_write_make_no_key_and_migrate_makes_the_first_once(
    run: Run, data_dir: Path
) -> None:
    assert run("apply", "-f", str(EXAMPLES)).exit_code == 0
    assert run("agents", "create", "claude-1").exit_code == 0
    assert _signing_keys(data_dir) == 0
    assert "no signing keys yet" in run("keys", "list").output
    for _ in range(2):
        migrated = run("migrate")
        assert migrated.exit_code == 0
        assert migrated.output.strip() == "database schema is current (sqlite)"
    assert _signing_keys(data_dir) == 1
    assert run("keys", "list").output.count("signing") == 1


def test_keys_rotate_on_a_store_without_keys_keeps_one_signing(run: Run, data_dir: Path) -> None:
    assert run("agents", "create", "claude-1").exit_code == 0
    assert "signs in 300s" in run("keys", "rotate").output
    listing = run("keys", "list").output
    assert listing.count("signing") == 1
    assert listing.count("pending") == 1
