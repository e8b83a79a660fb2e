"""PostgreSQL frozen (SIGSTOP), stopped and its backends terminated, under a gateway and a
broker on it (a cluster of this module's own, so no other test sees the faults).

Safety: what reached the upstream has its allow decision; a call whose client stopped
waiting, or whose decision came later than the gateway waits, reaches nothing, and the
audit says so once the database is back (``database_unavailable``, ``decision_timeout``,
``client_gone`` after the decision). Availability: a refused call is answered within its
bound (``database_wait``, ``decision_deadline``), probes answer in milliseconds, and
work recovers once the database does.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from broker.api.app import create_app
from tests.support.fault_stack import FaultStack, fault_stack
from tests.support.pg_faults import frozen, stopped, terminate_backends
from tests.support.postgres import PostgresServer
from tests.support.stack import ECHO

pytestmark = [pytest.mark.faults, pytest.mark.postgres]

PROBE_S = 0.2
MARGIN_S = 1.0  # scheduling slack on a shared 2-core machine
RECOVERY_S = 5.0


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresServer]:
    with PostgresServer.start() as server:
        yield server


@pytest.fixture
def pg_stack_of(cluster: PostgresServer, tmp_path: Path) -> Iterator[Callable[..., FaultStack]]:
    """Open a stack on a fresh database of the module's cluster with these overrides."""
    with_stack: list[Any] = []

    def open_stack(**overrides: Any) -> FaultStack:
        name = f"f_{uuid.uuid4().hex[:12]}"
        cluster.create_database(name)
        manager = fault_stack(
            tmp_path, cluster.url(name), overrides={"database_connect_timeout": 2, **overrides}
        )
        with_stack.append(manager)
        stack = manager.__enter__()
        stack.dbname = name  # type: ignore[attr-defined]
        return stack

    try:
        yield open_stack
    finally:
        for manager in with_stack:
            manager.__exit__(None, None, None)


def in_threads(calls: list[Callable[[], Any]]) -> list[Any]:
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            results[i] = calls[i]()
        except Exception as exc:  # a client that gave up: its timeout is the result
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


def settled(stack: FaultStack, names: list[str], want: Callable[[list[Any]], bool]) -> None:
    """Wait (bounded) until the audit log shows what ``want`` asks of every name."""
    deadline = time.monotonic() + RECOVERY_S
    while not all(want(stack.outcomes_of(n)) for n in names):
        assert time.monotonic() < deadline, {n: stack.outcomes_of(n) for n in names}
        time.sleep(0.1)


def assert_traced(stack: FaultStack) -> None:
    """Every call the upstream saw has its allow decision."""
    for name in stack.reached(ECHO):
        assert ("allow", "") in stack.outcomes_of(name), name


def test_frozen_postgres_refuses_in_time_and_forwards_nothing_late(
    cluster: PostgresServer, pg_stack_of: Callable[..., FaultStack]
) -> None:
    stack = pg_stack_of(database_wait=1.0, decision_deadline=5.0)
    token = stack.token(ECHO)
    assert stack.call(ECHO, token, stack.name("warm"))[0].status_code == 200
    waiting = [stack.name("waits") for _ in range(3)]
    leaving = [stack.name("leaves") for _ in range(2)]
    with TestClient(create_app(stack.services)) as broker:
        auth = {"Authorization": f"Bearer {stack.agent}"}
        body = {"template": "echo-staging", "environment": "staging"}
        with frozen(cluster):
            frozen_at = time.monotonic()
            calls: list[Callable[[], Any]] = [
                (lambda n=n: stack.call(ECHO, token, n)) for n in waiting
            ]
            calls += [(lambda n=n: stack.call(ECHO, token, n, timeout=0.3)) for n in leaving]
            results = in_threads(calls)
            probes = [stack.health(p) for p in ("/healthz", "/readyz")]
            t0 = time.perf_counter()
            issued = broker.post("/v1/tokens", json=body, headers=auth)
            issue_took = time.perf_counter() - t0
            broker_probes = []
            for path in ("/healthz", "/readyz"):
                t0 = time.perf_counter()
                broker.get(path)
                broker_probes.append(time.perf_counter() - t0)
            held = time.monotonic() - frozen_at
        thawed = time.monotonic()
        answer, _ = stack.call(ECHO, token, stack.name("after"), timeout=10)
        recovered = time.monotonic() - thawed
    for (answer_, took), name in zip(results[:3], waiting, strict=True):
        assert answer_.status_code == 503, answer_.text
        assert answer_.json()["code"] == "database_unavailable"
        assert took < 1.0 + MARGIN_S, (name, took)
    assert all(isinstance(r, httpx.TimeoutException) for r in results[3:]), results[3:]
    assert all(status == 200 and took < PROBE_S for status, took in probes), probes
    assert issued.status_code == 503, issued.text
    assert issued.json()["code"] == "database_unavailable"
    assert issue_took < 1.0 + MARGIN_S, issue_took
    assert max(broker_probes) < PROBE_S, broker_probes
    assert answer.status_code == 200, answer.text
    assert recovered < RECOVERY_S, recovered
    print(
        f"\nPG frozen {held:.1f}s: refused in <= {max(t for _, t in results[:3]):.2f}s;"
        f" issuance refused in {issue_took:.2f}s; first call after thaw {recovered:.2f}s"
    )
    # Safety: nothing of the frozen calls ran, later or ever; the audit says why.
    frozen_names = waiting + leaving
    assert not stack.reached(ECHO) & set(frozen_names)
    settled(stack, frozen_names, lambda o: ("deny", "database_unavailable") in o)
    assert_traced(stack)


def test_clients_that_left_during_a_freeze_get_nothing_forwarded(
    cluster: PostgresServer, pg_stack_of: Callable[..., FaultStack]
) -> None:
    # The database comes back within the wait: the decisions are made, but for clients
    # that have gone (client_gone), except the one that still waits.
    stack = pg_stack_of(database_wait=8.0, decision_deadline=8.0)
    token = stack.token(ECHO)
    assert stack.call(ECHO, token, stack.name("warm"))[0].status_code == 200
    gone = [stack.name("gone") for _ in range(3)]
    stays = stack.name("stays")
    results: list[Any] = []
    with frozen(cluster):
        patient = threading.Thread(
            target=lambda: results.append(stack.call(ECHO, token, stays, timeout=15))
        )
        patient.start()
        leavers = in_threads([(lambda n=n: stack.call(ECHO, token, n, timeout=0.5)) for n in gone])
        time.sleep(1.0)
    patient.join(timeout=15)
    assert all(isinstance(r, httpx.TimeoutException) for r in leavers), leavers
    [(answer, _)] = results
    assert answer.status_code == 200, answer.text
    settled(stack, gone, lambda o: ("deny", "client_gone") in o)
    assert not stack.reached(ECHO) & set(gone)
    assert stays in stack.reached(ECHO)
    for name in gone:  # the decision was made and written; then nothing was forwarded
        assert ("allow", "") in stack.outcomes_of(name)
    assert_traced(stack)


def test_a_decision_later_than_the_deadline_forwards_nothing(
    cluster: PostgresServer, pg_stack_of: Callable[..., FaultStack]
) -> None:
    stack = pg_stack_of(database_wait=8.0, decision_deadline=1.0)
    token = stack.token(ECHO)
    assert stack.call(ECHO, token, stack.name("warm"))[0].status_code == 200
    late = stack.name("late")
    with frozen(cluster):
        answer, took = stack.call(ECHO, token, late)
        time.sleep(0.5)
    assert answer.status_code == 503, answer.text
    assert answer.json()["code"] == "decision_timeout"
    assert took < 1.0 + MARGIN_S, took
    settled(stack, [late], lambda o: ("deny", "decision_timeout") in o)
    assert late not in stack.reached(ECHO)
    assert_traced(stack)


def test_terminated_backends_are_reconnected_without_failing_calls(
    cluster: PostgresServer, pg_stack_of: Callable[..., FaultStack]
) -> None:
    # Group commit runs a batch whose held connection was dropped once more on a fresh
    # one (nothing of it was committed), so neither gateway nor broker fails a request.
    stack = pg_stack_of(database_wait=2.0)
    token = stack.token(ECHO)
    body = {"template": "echo-staging", "environment": "staging"}
    with TestClient(create_app(stack.services)) as broker:
        auth = {"Authorization": f"Bearer {stack.agent}"}
        assert broker.post("/v1/tokens", json=body, headers=auth).status_code == 201
        assert stack.call(ECHO, token, stack.name("warm"))[0].status_code == 200
        assert terminate_backends(cluster, stack.dbname) > 0  # type: ignore[attr-defined]
        answers = [stack.call(ECHO, token, stack.name("after")) for _ in range(5)]
        issued = broker.post("/v1/tokens", json=body, headers=auth)
    assert [a.status_code for a, _ in answers] == [200] * 5, [a.text for a, _ in answers]
    assert max(t for _, t in answers) < 2.0 + MARGIN_S
    assert issued.status_code == 201, issued.text
    assert stack.gateway.store.committer.reconnects >= 1
    assert stack.services.committer.reconnects >= 1
    assert_traced(stack)


def test_stopped_postgres_refuses_at_once_and_recovers(
    cluster: PostgresServer, pg_stack_of: Callable[..., FaultStack]
) -> None:
    stack = pg_stack_of(database_wait=2.0)
    token = stack.token(ECHO)
    assert stack.call(ECHO, token, stack.name("warm"))[0].status_code == 200
    down = stack.name("down")
    with stopped(cluster):
        answer, took = stack.call(ECHO, token, down)
        probes = [stack.health(p) for p in ("/healthz", "/readyz")]
    restarted = time.monotonic()
    while (after := stack.call(ECHO, token, stack.name("after"))[0]).status_code != 200:
        assert time.monotonic() - restarted < RECOVERY_S, after.text
        time.sleep(0.2)
    recovered = time.monotonic() - restarted
    assert answer.status_code == 503, answer.text
    assert answer.json()["code"] == "database_unavailable"
    assert took < 2.0 + MARGIN_S, took
    assert all(status == 200 and t < PROBE_S for status, t in probes), probes
    print(f"\nPG stopped: refused in {took:.2f}s; recovered {recovered:.2f}s after restart")
    assert down not in stack.reached(ECHO)
    settled(stack, [down], lambda o: ("deny", "database_unavailable") in o)
    assert_traced(stack)
