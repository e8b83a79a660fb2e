"""Requests to switch protocols are refused as problem+json, never forwarded, never a 500.

Over raw sockets: a real WebSocket handshake (uvicorn hands it to the gateway as a
``websocket`` scope), an HTTP/2 cleartext upgrade (h2c), and other ``Upgrade`` spellings,
each with a valid token, to the GraphQL and the REST provider. The permissive upstreams
behind the gateway must receive nothing, and the refusal is in the audit log."""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import MutableMapping
from typing import Any

import pytest

from broker.audit.reader import AuditQuery, query_events
from broker.demo.provider.server import ServerThread
from broker.gateway.app import Gateway, Receive, Scope, Send
from tests.gateway.gateway_support import RawResponse, assert_problem, exchange
from tests.support.stack import PERMISSIVE, PROVIDER, Stack

WEBSOCKET = [
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Version", "13"),
]
H2C = [
    ("Upgrade", "h2c"),
    ("Connection", "Upgrade, HTTP2-Settings"),
    ("HTTP2-Settings", "AAMAAABkAAQAoAAAAAIAAAAA"),
]
UPGRADES = {
    "websocket-handshake": WEBSOCKET,
    "websocket-lower-case": [("upgrade", "WebSocket"), ("connection", "keep-alive, upgrade")],
    "h2c": H2C,
    "h2c-settings-only": [("HTTP2-Settings", "AAMAAABkAAQAoAAAAAIAAAAA")],
    "tls-upgrade": [("Upgrade", "TLS/1.2"), ("Connection", "Upgrade")],
    "upgrade-without-connection": [("Upgrade", "websocket")],
    "connection-upgrade-only": [("Connection", "Upgrade")],
}
TARGETS = {
    PROVIDER: ("GET", "/graphql?query=%7Bprojects%7Bid%7D%7D"),
    PERMISSIVE: ("GET", "/items"),
}


def _handshake(
    stack: Stack, provider: str, headers: list[tuple[str, str]], *, url: str = ""
) -> RawResponse:
    token = stack.permissive_token() if provider == PERMISSIVE else stack.token()
    method, path = TARGETS[provider]
    key = base64.b64encode(secrets.token_bytes(16)).decode()
    lines = [f"{method} /{provider}{path} HTTP/1.1", "Host: gateway"]
    lines += [f"Authorization: Bearer {token}", f"Sec-WebSocket-Key: {key}"]
    lines += [f"{k}: {v}" for k, v in headers]
    return exchange(url or stack.url, ("\r\n".join(lines) + "\r\n\r\n").encode())


@pytest.mark.parametrize("provider", [PROVIDER, PERMISSIVE])
@pytest.mark.parametrize("kind", list(UPGRADES))
def test_an_upgrade_is_refused_and_reaches_nobody(
    permissive_stack: Stack, kind: str, provider: str
) -> None:
    stack = permissive_stack
    r = _handshake(stack, provider, UPGRADES[kind])
    problem = assert_problem(r.status, r.headers, r.body, expect_status=400, code="invalid_request")
    assert problem["refusal"] == "upgrade_not_supported", problem
    assert r.header("connection") == "close"
    assert stack.permissive is not None
    assert stack.demo_front is not None
    assert stack.permissive.received() == []
    assert stack.demo_front.received() == []
    assert stack.upstream_log() == []
    with stack.services.db.read() as conn:
        [event] = query_events(conn, AuditQuery(type="gateway.decision", limit=1))
    assert (event["outcome"], event["data"]["refusal"]) == ("denied", "upgrade_not_supported")
    assert event["data"]["path"].startswith(f"/{provider}/")


def test_the_same_request_without_the_upgrade_goes_through(permissive_stack: Stack) -> None:
    """The handshake's other headers are harmless: the refusal is the upgrade's doing."""
    r = _handshake(permissive_stack, PERMISSIVE, [("Connection", "close")])
    assert r.status == 200, r.body[:300]
    assert permissive_stack.permissive is not None
    assert len(permissive_stack.permissive.received()) == 1


def test_an_http2_preface_is_refused_as_a_problem(permissive_stack: Stack) -> None:
    """h2c with prior knowledge: not HTTP/1.1 at all, refused by the HTTP layer."""
    r = exchange(permissive_stack.url, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
    problem = assert_problem(r.status, r.headers, r.body, expect_status=400, code="invalid_request")
    assert problem["refusal"] == "malformed_http"
    assert permissive_stack.upstream_log() == []


class _NoLifespan:
    """The stack's gateway as another ASGI server sees it, without running its lifespan a
    second time (the stack's own server owns its start and stop)."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await self.gateway(scope, receive, send)


def test_a_websocket_scope_is_refused_at_the_handshake(permissive_stack: Stack) -> None:
    """Under a server that does speak WebSocket (uvicorn's default protocols), the
    handshake reaches the gateway as a ``websocket`` scope: it answers the same problem."""
    stack = permissive_stack
    with ServerThread(_NoLifespan(stack.gateway)) as server:
        r = _handshake(stack, PERMISSIVE, WEBSOCKET, url=server.url)
    problem = assert_problem(r.status, r.headers, r.body, expect_status=400, code="invalid_request")
    assert problem["refusal"] == "upgrade_not_supported"
    assert stack.permissive is not None
    assert stack.permissive.received() == []


def test_without_the_response_extension_a_websocket_is_closed_before_accept(
    permissive_stack: Stack,
) -> None:
    """A server without ``websocket.http.response`` gets a close before accept (which it
    answers with a 403); nothing else is sent, nothing forwarded."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    scope = {"type": "websocket", "path": f"/{PERMISSIVE}/items", "headers": [], "extensions": {}}
    asyncio.run(permissive_stack.gateway(scope, receive, send))
    assert sent == [{"type": "websocket.close", "code": 1008}]
    assert permissive_stack.permissive is not None
    assert permissive_stack.permissive.received() == []
