"""Fail closed: with the provider, the database or the revocation feed gone, the agent gets
a 503 problem, nothing reaches the provider, and what happened is in the audit chain."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from broker.audit.reader import verify_all
from tests.gateway.gateway_support import assert_problem, gateway_trail
from tests.support.stack import Stack, build_stack

SERVICES = '{ services(projectId: "proj-acme") { id } }'


@pytest.fixture
def sqlite_stack(tmp_path: Path) -> Iterator[Stack]:
    yield from build_stack(tmp_path, f"sqlite:///{tmp_path}/capbroker.db")


@pytest.fixture
def pg_stack(tmp_path: Path, pg_url: str) -> Iterator[Stack]:
    yield from build_stack(tmp_path, pg_url)


def problem(r: httpx.Response, status: int, *codes: str) -> None:
    headers = list(r.headers.items())
    code = r.json().get("code") if r.headers.get("content-type", "").endswith("json") else None
    expected = code if code in codes else codes[0]
    assert_problem(r.status_code, headers, r.content, expect_status=status, code=expected)


def test_provider_down_is_a_503_and_an_audited_failure(sqlite_stack: Stack) -> None:
    stack = sqlite_stack
    token = stack.token()
    assert stack.call(token, SERVICES).status_code == 200
    assert stack.provider is not None
    stack.provider.stop()
    r = stack.call(token, SERVICES)
    problem(r, 503, "upstream_unavailable")
    verified = stack.gateway.pipeline.authenticator.tokens.verify(token)
    trail = gateway_trail(stack, verified.jti)
    kinds = [(e["type"], e["outcome"], e["reason"]) for e in trail]
    # the good call: allowed and completed; the second: allowed, then failed upstream
    assert kinds[:2] == [("gateway.decision", "ok", ""), ("gateway.completed", "ok", "")], kinds
    assert kinds[2:] == [
        ("gateway.decision", "ok", ""),
        ("gateway.decision", "error", "upstream_unavailable"),
    ], kinds


def test_database_down_means_nothing_is_forwarded(pg_stack: Stack, pg_url: str) -> None:
    stack = pg_stack
    token = stack.token()
    assert stack.call(token, SERVICES).status_code == 200
    stack.reset_provider()
    dbname = make_url(pg_url).database
    admin = create_engine(
        str(make_url(pg_url).set(database="postgres")), isolation_level="AUTOCOMMIT"
    )
    try:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{dbname}" WITH ALLOW_CONNECTIONS false'))
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    f"WHERE datname = '{dbname}' AND pid <> pg_backend_pid()"
                )
            )
        r = stack.call(token, SERVICES)
        problem(r, 503, "audit_unavailable", "database_unavailable")
        assert stack.upstream_log() == []
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{dbname}" WITH ALLOW_CONNECTIONS true'))
        admin.dispose()
    # back up: calls go through again and the chain still verifies
    deadline = time.monotonic() + 5
    while (r := stack.call(token, SERVICES)).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert r.status_code == 200, r.text
    stack.services.db.engine.dispose()  # the broker's pooled connections were terminated
    with stack.services.db.read() as conn:
        reports = verify_all(conn)
    assert all(v.ok for v in reports), [(v.writer, v.first_bad_seq, v.problem) for v in reports]


def test_stale_revocations_mean_nothing_is_forwarded(
    sqlite_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = sqlite_stack
    token = stack.token()
    assert stack.call(token, SERVICES).status_code == 200
    stack.reset_provider()

    def failing_poll() -> tuple[float, object]:
        raise OSError("the revocation feed is unreachable")

    monkeypatch.setattr(stack.gateway.feed, "stale_after", 0.6)
    monkeypatch.setattr(stack.gateway.feed, "_fetch", failing_poll)
    time.sleep(1.0)  # longer than stale_after since the last good poll
    r = stack.call(token, SERVICES)
    problem(r, 503, "database_unavailable")
    assert stack.upstream_log() == []
    ready = httpx.get(f"{stack.url}/readyz", timeout=5)
    assert ready.status_code == 503
    assert ready.json()["checks"]["revocations"] == "stale"
    monkeypatch.undo()  # the poller recovers; so does the gateway
    deadline = time.monotonic() + 3
    while (r := stack.call(token, SERVICES)).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert r.status_code == 200, r.text
    assert [e["root_fields"] for e in stack.upstream_log()[0]["operations"]] == [["services"]]
