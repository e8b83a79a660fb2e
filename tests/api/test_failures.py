"""Fail closed: with the database gone, no token leaves the broker and the caller gets a 503."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from broker.clock import FrozenClock
from tests.api.api_support import assert_problem
from tests.support.broker_app import NOW, make_broker


def test_database_down_means_no_token(tmp_path: Path, pg_url: str) -> None:
    broker = make_broker(tmp_path, pg_url, FrozenClock(NOW))
    with broker.client:
        assert broker.issue().status_code == 201
        dbname = make_url(pg_url).database
        admin = create_engine(
            str(make_url(pg_url).set(database="postgres")), isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{dbname}" WITH ALLOW_CONNECTIONS false'))
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    f"WHERE datname = '{dbname}' AND pid <> pg_backend_pid()"
                )
            )
        r = broker.issue()
        assert_problem(r, 503, "database_unavailable")
        assert "access_token" not in r.text
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{dbname}" WITH ALLOW_CONNECTIONS true'))
        admin.dispose()
        assert broker.issue().status_code == 201
    broker.services.close()
