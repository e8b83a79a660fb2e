"""Fail closed: with the database gone, no token leaves the broker and the caller gets a 503."""

from __future__ import annotations

from pathlib import Path

from broker.clock import FrozenClock
from tests.api.api_support import assert_problem
from tests.support.broker_app import NOW, make_broker
from tests.support.postgres import database_refusing_connections


def test_database_down_means_no_token(tmp_path: Path, pg_url: str) -> None:
    broker = make_broker(tmp_path, pg_url, FrozenClock(NOW))
    with broker.client:
        assert broker.issue().status_code == 201
        with database_refusing_connections(pg_url):
            r = broker.issue()
            assert_problem(r, 503, "database_unavailable")
            assert "access_token" not in r.text
        assert broker.issue().status_code == 201
    broker.services.close()
