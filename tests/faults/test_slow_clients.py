"""Slow and greedy clients against both real server processes (``capbroker serve`` and
``capbroker gateway serve``), with short timeouts set through ``CAPBROKER_*`` variables.

Stated bounds: a slowloris head, a silent connection and a body shorter than its
Content-Length are cut off within their timeout plus ``GRACE_S`` (408 problem+json,
``request_timeout``); meanwhile an ordinary request to the same server answers within
``ORDINARY_BOUND_S``; the connection over the per-address cap gets a 429 problem+json
(``too_many_connections``) at once, and a connection is accepted again once one closes.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.process_stack import ProcessStack, process_stack

pytestmark = pytest.mark.faults

HEADER_S, BODY_S, IDLE_S, CAP = 1.0, 1.0, 2.0, 6
GRACE_S = 1.5
ORDINARY_BOUND_S = 1.0
SETTINGS = {
    "CAPBROKER_HEADER_TIMEOUT": str(HEADER_S),
    "CAPBROKER_BODY_TIMEOUT": str(BODY_S),
    "CAPBROKER_IDLE_TIMEOUT": str(IDLE_S),
    "CAPBROKER_MAX_CONNECTIONS_PER_CLIENT": str(CAP),
}


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessStack]:
    with process_stack(tmp_path_factory.mktemp("slow"), ttl="10m", settings=SETTINGS) as stack:
        yield stack


@pytest.fixture(params=["broker", "gateway"])
def base(request: pytest.FixtureRequest, servers: ProcessStack) -> str:
    url: str = servers.broker_url if request.param == "broker" else servers.gateway_url
    return url


def _connect(base: str) -> socket.socket:
    return socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])), timeout=10)


def _answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes."""
    data = b""
    while piece := sock.recv(65536):
        data += piece
    return data


def _problem(data: bytes) -> tuple[int, str]:
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), json.loads(body)["code"]


def _ordinary(base: str) -> float:
    started = time.monotonic()
    assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
    return time.monotonic() - started


def test_a_slowloris_head_is_cut_off(base: str) -> None:
    with _connect(base) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        try:
            for _ in range(20):  # a header byte every 0.3 s: would take 6 s
                sock.sendall(b"X")
                time.sleep(0.3)
                if time.monotonic() - started > HEADER_S:
                    assert _ordinary(base) < ORDINARY_BOUND_S
        except (BrokenPipeError, ConnectionResetError):
            pass
        data = _answer(sock)
        took = time.monotonic() - started
    assert _problem(data) == (408, "request_timeout")
    assert took < HEADER_S + GRACE_S + 0.3


def test_a_silent_connection_is_closed(base: str) -> None:
    with _connect(base) as sock:
        started = time.monotonic()
        data = _answer(sock)
        took = time.monotonic() - started
    assert _problem(data) == (408, "request_timeout")
    assert took < HEADER_S + GRACE_S


def test_a_body_shorter_than_declared_is_cut_off(base: str, servers: ProcessStack) -> None:
    gateway = base == servers.gateway_url
    target = "/echo/echo" if gateway else "/v1/tokens"
    token = servers.token() if gateway else servers.world.credential("claude-code")
    with _connect(base) as sock:
        sock.sendall(
            f"POST {target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n".encode()
            + b'{"name": "'
        )
        started = time.monotonic()
        assert _ordinary(base) < ORDINARY_BOUND_S
        data = _answer(sock)
        took = time.monotonic() - started
    assert _problem(data) == (408, "request_timeout")
    assert took < BODY_S + GRACE_S


def test_an_idle_keep_alive_connection_is_closed(base: str) -> None:
    with _connect(base) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        started = time.monotonic()
        data = _answer(sock)  # the answer, then the close once idle
        took = time.monotonic() - started
    assert data.startswith(b"HTTP/1.1 200")
    assert IDLE_S - 0.5 < took < IDLE_S + GRACE_S


def test_connections_per_address_are_capped(base: str) -> None:
    held = [_connect(base) for _ in range(CAP)]
    try:
        for sock in held:  # each makes a request, so each is surely open at the server
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        with _connect(base) as extra:
            data = _answer(extra)
        assert _problem(data) == (429, "too_many_connections")
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.2)
    assert _ordinary(base) < ORDINARY_BOUND_S  # freed again


def test_gateway_workers_read_the_timeouts_from_their_settings(tmp_path: Path) -> None:
    """``--workers`` workers import the protocol by name: it reads the same settings."""
    with (
        process_stack(
            tmp_path, ttl="10m", settings=SETTINGS, gateway_args=("--workers", "2")
        ) as stack,
        _connect(stack.gateway_url) as sock,
    ):
        started = time.monotonic()
        data = _answer(sock)
        took = time.monotonic() - started
    assert _problem(data) == (408, "request_timeout")
    assert took < HEADER_S + GRACE_S


def test_the_server_still_answers_at_the_end(servers: ProcessStack) -> None:
    assert servers.broker.running()
    assert servers.gateway.running()
    assert httpx.get(f"{servers.gateway_url}/readyz", timeout=5).status_code == 200
