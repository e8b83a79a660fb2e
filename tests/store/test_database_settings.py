"""database_url_file and the pool settings: the URL comes from a file and reaches a real
database; the pool is sized by the settings; mistakes are named without the URL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from broker.errors import InvalidRequest
from broker.services.container import open_engine
from broker.settings import load_settings
from broker.store.engine import make_engine


def test_the_url_file_is_read_and_reaches_the_database(database_url: str, tmp_path: Path) -> None:
    url_file = tmp_path / "database-url"
    url_file.write_text(database_url + "\n")  # as `kubectl create secret --from-file` keeps it
    settings = load_settings(environ={"CAPBROKER_DATABASE_URL_FILE": str(url_file)})
    assert settings.database_url == ""
    assert settings.effective_database_url == database_url
    engine = open_engine(settings, "upgrade")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("select count(*) from alembic_version")).scalar() == 1
    finally:
        engine.dispose()


def test_url_and_url_file_together_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest, match="database_url and database_url_file"):
        load_settings(
            environ={
                "CAPBROKER_DATABASE_URL": "sqlite:///x.db",
                "CAPBROKER_DATABASE_URL_FILE": str(tmp_path / "u"),
            }
        )


@pytest.mark.parametrize(("content", "why"), [(None, "No such file"), ("  \n", "is empty")])
def test_an_unusable_url_file_is_named_not_shown(
    tmp_path: Path, content: str | None, why: str
) -> None:
    url_file = tmp_path / "database-url"
    if content is not None:
        url_file.write_text(content)
    settings = load_settings(environ={"CAPBROKER_DATABASE_URL_FILE": str(url_file)})
    with pytest.raises(InvalidRequest, match=why) as raised:
        _ = settings.effective_database_url
    assert str(url_file) in str(raised.value)


def test_the_pool_is_sized_by_the_settings(pg_url: str) -> None:
    settings = load_settings(
        environ={
            "CAPBROKER_DATABASE_URL": pg_url,
            "CAPBROKER_DATABASE_POOL_SIZE": "3",
            "CAPBROKER_DATABASE_MAX_OVERFLOW": "0",
        }
    )
    engine = open_engine(settings, "upgrade")
    try:
        assert engine.pool.size() == 3  # type: ignore[attr-defined]
        held = [engine.connect() for _ in range(3)]
        engine.pool._timeout = 0.2  # type: ignore[attr-defined]
        with pytest.raises(Exception, match="QueuePool limit of size 3 overflow 0"):
            engine.connect()
        for conn in held:
            conn.close()
    finally:
        engine.dispose()
    default = make_engine(pg_url)
    assert default.pool.size() == 10  # type: ignore[attr-defined]
    default.dispose()


@pytest.mark.parametrize(
    ("name", "value"), [("DATABASE_POOL_SIZE", "0"), ("DATABASE_MAX_OVERFLOW", "-1")]
)
def test_pool_limits(name: str, value: str) -> None:
    with pytest.raises(InvalidRequest, match=name.lower()):
        load_settings(environ={f"CAPBROKER_{name}": value})
