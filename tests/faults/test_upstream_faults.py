"""Upstreams that hang, drip, reset and send huge bodies, against a gateway on real sockets
(tests/support/fault_stack.py). Each test checks what the client saw, what the upstream
saw (its own connections), and what the audit log kept.

Stated bounds: with ``slow`` hanging and its pool full, calls to ``echo`` stay under
``ECHO_BOUND_S`` each (well under ``slow``'s deadline: never queued behind it) and
their median within three times the baseline's; a dripping answer's headers reach the client within
``HEADERS_BOUND_S``; an abandoned call's upstream connection closes within
``FREED_BOUND_S`` of the client leaving.
"""

from __future__ import annotations

import logging
import socket
import statistics
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.support.faulty_upstream import HUGE_BYTES, RESET_SENT
from tests.support.upstream_fault_stack import (
    SLOW_LIMITS,
    FaultStack,
    build_fault_stack,
    read_head,
    wait_until,
)

pytestmark = pytest.mark.faults

ECHO_BOUND_S = 2.0  # under slow's 3 s deadline: what a call queued behind it would take
HEADERS_BOUND_S = 1.0
FREED_BOUND_S = 1.0


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    yield from build_fault_stack(tmp_path_factory.mktemp("faults"))


def _get(
    stack: FaultStack, provider: str, q: str, token: str, timeout: float = 10
) -> httpx.Response:
    return httpx.get(
        f"{stack.url}/{provider}/echo",
        params={"q": q},
        headers={"Authorization": f"Bearer {token}"},
        timeout=timeout,
    )


def _open(stack: FaultStack, provider: str, q: str, token: str) -> socket.socket:
    """A raw request whose answer the test reads (or abandons) itself."""
    sock = socket.create_connection(("127.0.0.1", int(stack.url.rsplit(":", 1)[1])), timeout=10)
    sock.sendall(
        f"GET /{provider}/echo?q={q} HTTP/1.1\r\nHost: gw\r\n"
        f"Authorization: Bearer {token}\r\n\r\n".encode()
    )
    return sock


def test_a_hanging_provider_leaves_another_providers_latency_alone(faults: FaultStack) -> None:
    echo, slow = faults.token("echo"), faults.token("slow")
    baseline = [_timed(lambda: _get(faults, "echo", "ok", echo)) for _ in range(10)]
    hung = 3 * SLOW_LIMITS.connections  # its pool full, and more waiting for it
    with ThreadPoolExecutor(hung) as pool:
        started = time.monotonic()
        stuck = [pool.submit(_get, faults, "slow", "hang", slow) for _ in range(hung)]
        wait_until(lambda: len(faults.upstreams["slow"].serving("hang")) >= SLOW_LIMITS.connections)
        during = [_timed(lambda: _get(faults, "echo", "ok", echo)) for _ in range(20)]
        answers = [f.result() for f in stuck]
        took = time.monotonic() - started
    assert max(during) < ECHO_BOUND_S, (baseline, during)
    assert statistics.median(during) < max(0.3, 3 * statistics.median(baseline)), (
        baseline,
        during,
    )
    # the hung calls fail closed within their deadline (or the wait for a connection)
    assert {r.status_code for r in answers} == {503}
    assert {r.json()["code"] for r in answers} == {"upstream_unavailable"}
    assert took < SLOW_LIMITS.deadline + SLOW_LIMITS.connect + 2
    # safety: each hung call the upstream saw was decided and then refused, on the record
    seen = len(faults.upstreams["slow"].serving("hang"))
    assert 0 < seen <= SLOW_LIMITS.connections * 2
    refused = [
        e
        for e in faults.events("gateway.decision")
        if e["data"].get("provider") == "slow" and e["reason"] == "upstream_unavailable"
    ]
    assert len(refused) >= hung, refused[:2]


def test_a_dripping_answers_headers_arrive_at_once(faults: FaultStack) -> None:
    token = faults.token("slow")
    started = time.monotonic()
    with _open(faults, "slow", "drip", token) as sock:
        head = read_head(sock)
        took = time.monotonic() - started
    assert head.startswith(b"HTTP/1.1 200"), head
    assert took < HEADERS_BOUND_S


@pytest.mark.parametrize("mode", ["drip", "hang"])
def test_an_abandoned_call_frees_its_upstream_connection(faults: FaultStack, mode: str) -> None:
    token = faults.token("slow")
    upstream = faults.upstreams["slow"]
    before = len(upstream.serving(mode))
    with _open(faults, "slow", mode, token) as sock:
        if mode == "drip":
            read_head(sock)  # mid-answer
        else:
            wait_until(lambda: len(upstream.serving(mode)) > before)  # the call is upstream
    left = time.monotonic()
    conn = upstream.serving(mode)[-1]
    wait_until(lambda: conn.closed_at is not None, timeout=FREED_BOUND_S + 1)
    assert conn.closed_at is not None
    assert conn.closed_at - left < FREED_BOUND_S
    calls = _completed(faults, "client_gone", at_least=1)
    assert calls, "the abandoned call has no completion event"


def test_a_reset_mid_body_logs_one_line_and_keeps_its_completion(
    faults: FaultStack, caplog: pytest.LogCaptureFixture
) -> None:
    token = faults.token("slow")
    with caplog.at_level(logging.WARNING), _open(faults, "slow", "reset", token) as sock:
        data = read_head(sock)
        while piece := _recv(sock):
            data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert len(body) < 100_000  # broken off, never looking whole
    assert len(body) <= RESET_SENT
    calls = _completed(faults, "upstream_broke_off", at_least=1)
    assert calls
    assert calls[-1]["upstream_status"] == 200
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in lines if "upstream_broke_off" in r.getMessage()]
    assert not [r for r in lines if r.exc_info], "a traceback was logged"
    assert not [r for r in lines if "without completing" in r.getMessage()]


def test_a_huge_answer_streams_through_and_a_slow_one_meets_its_deadline(
    faults: FaultStack,
) -> None:
    with httpx.stream(
        "GET",
        f"{faults.url}/echo/echo",
        params={"q": "huge"},
        headers={"Authorization": f"Bearer {faults.token('echo')}"},
        timeout=30,
    ) as answer:
        received = sum(len(c) for c in answer.iter_raw())
    assert received == HUGE_BYTES
    started = time.monotonic()
    with _open(faults, "slow", "drip", faults.token("slow")) as sock:
        read_head(sock)
        while _recv(sock):
            pass
    assert time.monotonic() - started < SLOW_LIMITS.deadline + 1.5
    assert _completed(faults, "upstream_deadline", at_least=1)


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except ConnectionResetError:
        return b""


def _completed(faults: FaultStack, ended: str, *, at_least: int) -> list[dict[str, object]]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        calls = [c for c in faults.completions(at_least=0) if c.get("ended") == ended]
        if len(calls) >= at_least:
            return calls
        time.sleep(0.05)
    return []


def _timed(call: object) -> float:
    assert callable(call)
    started = time.perf_counter()
    response = call()
    assert response.status_code == 200, response.text
    return time.perf_counter() - started
