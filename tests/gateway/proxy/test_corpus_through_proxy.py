"""The path-mode smuggling corpus (tests/gateway/corpus.yaml) sent through the forward
proxy instead: the same bytes inside a TLS tunnel to the provider's public host, the same
verdicts, and nothing reaching the permissive upstreams.

Left out, on purpose: cases that play with the ``/{provider}`` segment (there is none in
a tunnel: the host names the provider) and cases about the ``Authorization`` header (in a
tunnel the token comes with the CONNECT; a missing, repeated or Basic one means something
else there, tested in test_tunnel.py)."""

from __future__ import annotations

import base64
import socket
import ssl
from collections.abc import Iterator
from typing import Any

import pytest

from tests.gateway.gateway_support import _read_response, assert_problem, chunked
from tests.gateway.proxy.proxy_stack import ProxyFront, permissive_stack_with_proxy
from tests.gateway.test_smuggling import (
    APP_CASES,
    HTTP_CASES,
    _headers,
    _payload,
    _provider,
    assert_nothing_executed,
)
from tests.support.servers import HOST
from tests.support.stack import PERMISSIVE, Stack

SUFFIX = ".proxy.test"
CASES = [
    c
    for c in APP_CASES + HTTP_CASES
    if "provider_path" not in c and c.get("auth", "token") == "token"
]
FRONT = ProxyFront()  # the module's proxy port and CA file


@pytest.fixture(scope="module")
def _proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("proxied-corpus")
    yield from permissive_stack_with_proxy(tmp, SUFFIX, FRONT)


@pytest.fixture
def proxied(_proxied: Stack) -> Stack:
    _proxied.reset_provider()
    return _proxied


def through_tunnel(stack: Stack, case: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    body, is_json = _payload(case)
    provider = _provider(case)
    token = stack.permissive_token() if provider == PERMISSIVE else stack.token()
    headers = [h for h in _headers(case, token, body, is_json) if h[0] != "Authorization"]
    repeat = case.get("path_repeat")
    target = repeat["text"] * repeat["times"] if repeat else case["path"]
    target += f"?{case['query']}" if case.get("query") else ""
    host = f"{provider}{SUFFIX}"
    port, ca_file = FRONT.port, FRONT.ca_file
    raw = socket.create_connection((HOST, port), timeout=10)
    basic = base64.b64encode(f"capbroker:{token}".encode()).decode()
    raw.sendall(
        f"CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n"
        f"Proxy-Authorization: Basic {basic}\r\n\r\n".encode()
    )
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += raw.recv(4096)
    assert answer.startswith(b"HTTP/1.1 200"), answer
    with ssl.create_default_context(cafile=ca_file).wrap_socket(raw, server_hostname=host) as tls:
        head = f"{case['method']} {target} HTTP/1.1\r\nHost: {host}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers) + "Connection: close\r\n\r\n"
        tls.sendall(head.encode("latin-1"))
        framed = [body]
        if case.get("framing") == "chunked":
            framed = chunked(*(body[i : i + 65536] for i in range(0, len(body), 65536)))
        try:
            for piece in framed:
                tls.sendall(piece)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass
        r = _read_response(tls)
    return r.status, r.headers, r.body


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_the_corpus_gets_the_same_verdicts_through_the_proxy(
    proxied: Stack, case: dict[str, Any]
) -> None:
    status, headers, body = through_tunnel(proxied, case)
    expect = case["expect"]
    problem = assert_problem(
        status, headers, body, expect_status=expect["status"], code=expect["code"]
    )
    if "refusal" in expect:
        assert problem.get("refusal") == expect["refusal"], problem
    assert_nothing_executed(proxied, case)
