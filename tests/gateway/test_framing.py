"""A body that ends short is never forwarded as if complete, over real sockets.

A raw client lies about its Content-Length or hangs up mid-body (chunked or not). Behind
the gateway sits the permissive upstream, which would take a truncated body as complete:
what it received must never be a whole request. A body the gateway reads whole is refused
before anything is forwarded; a streamed one is cut off upstream with no end (no last
chunk). Either way the call's audit trail says the body was incomplete."""

from __future__ import annotations

import socket
import time
from typing import Any
from urllib.parse import urlsplit

import pytest

from broker.manifests import parse_manifest
from tests.gateway.gateway_support import chunked, gateway_trail
from tests.support.permissive_upstream import PermissiveUpstream, Received
from tests.support.stack import PERMISSIVE, PROVIDER, Stack

# No protected environments: nothing can need approval, so the gateway need not read a
# body that classification does not read (an approval would bind it) and streams it.
FLOOR = {
    "apiVersion": "capbroker.dev/v1",
    "kind": "PolicyFloor",
    "metadata": {"name": "default"},
    "spec": {"forbidden_actions": ["backup:delete"]},
}
ITEM = b'{"name": "a", "environment": "staging"}'
GRAPHQL = b'{"query": "{ services(projectId: \\"proj-acme\\") { id } }"}'


def hang_up_mid_body(url: str, target: str, head: list[tuple[str, str]], sent: bytes) -> bytes:
    """Send ``target``'s head and ``sent``, give the gateway time to start forwarding, then
    hang up (half-close); what came back (usually nothing)."""
    parts = urlsplit(url)
    lines = [f"{k}: {v}" for k, v in [("Host", "gateway"), *head]]
    request = f"{target}\r\n" + "\r\n".join(lines) + "\r\n\r\n"
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        sock.sendall(request.encode("latin-1") + sent)
        time.sleep(0.3)
        sock.shutdown(socket.SHUT_WR)
        try:
            return sock.recv(65536)
        except OSError:
            return b""


def _wait_for_refusal(stack: Stack, token: str) -> list[dict[str, Any]]:
    jti = stack.gateway.pipeline.authenticator.tokens.verify(token).jti
    deadline = time.monotonic() + 5
    while True:
        trail = gateway_trail(stack, jti)
        if any(e["outcome"] != "ok" for e in trail) or time.monotonic() > deadline:
            return trail
        time.sleep(0.05)


def _upstream(stack: Stack, provider: str) -> PermissiveUpstream:
    upstream = stack.permissive if provider == PERMISSIVE else stack.demo_front
    assert upstream is not None
    return upstream


def _token(stack: Stack, provider: str) -> str:
    return stack.permissive_token() if provider == PERMISSIVE else stack.token()


def _refused_as_incomplete(trail: list[dict[str, Any]]) -> dict[str, Any]:
    refusals = [e for e in trail if e["outcome"] != "ok"]
    assert len(refusals) == 1, trail
    [refusal] = refusals
    assert refusal["type"] == "gateway.decision"
    assert (refusal["reason"], refusal["data"]["refusal"]) == ("invalid_request", "incomplete_body")
    assert refusal["data"]["decision"] == "deny"
    assert not any(e["type"] == "gateway.completed" for e in trail), trail
    return refusal


# Bodies the gateway reads whole: classification needs them, or their length is unknown.
READ_WHOLE = [
    (PERMISSIVE, "POST /items", "length", ITEM),
    (PERMISSIVE, "POST /items", "chunked", ITEM),
    (PERMISSIVE, "PUT /upload/blob", "chunked", b"x" * 5000),
    (PROVIDER, "POST /graphql", "length", GRAPHQL),
    (PROVIDER, "POST /graphql", "chunked", GRAPHQL),
]


@pytest.mark.parametrize(
    ("provider", "call", "framing", "body"),
    READ_WHOLE,
    ids=[f"{p}-{c.split()[1]}-{f}" for p, c, f, _ in READ_WHOLE],
)
def test_a_body_read_whole_that_ends_short_is_refused_before_forwarding(
    permissive_stack: Stack, provider: str, call: str, framing: str, body: bytes
) -> None:
    stack = permissive_stack
    token = _token(stack, provider)
    method, path = call.split()
    head = [("Authorization", f"Bearer {token}"), ("Content-Type", "application/json")]
    if framing == "length":  # declares all of it, sends all but the last bytes
        head.append(("Content-Length", str(len(body))))
        sent = body[:-3]
    else:  # every chunk but the last one
        head.append(("Transfer-Encoding", "chunked"))
        sent = b"".join(chunked(body[:-3], body[-3:])[:-1])
    hang_up_mid_body(stack.url, f"{method} /{provider}{path} HTTP/1.1", head, sent)
    _refused_as_incomplete(_wait_for_refusal(stack, token))
    assert _upstream(stack, provider).received() == [], "a short body was forwarded"
    assert stack.upstream_log() == []


@pytest.fixture
def streaming_stack(permissive_stack: Stack) -> Stack:
    permissive_stack.services.templates.apply(
        [parse_manifest(FLOOR, "floor#2")], actor="test", dry_run=False
    )
    permissive_stack.gateway.pipeline.recorder.templates.forget_cached()
    return permissive_stack


@pytest.mark.parametrize("cut", [0, 3000], ids=["nothing-sent", "part-sent"])
def test_a_streamed_body_cut_off_aborts_the_upstream_request(
    streaming_stack: Stack, cut: int
) -> None:
    """PUT /upload/{name} streams its body: the upstream request has begun when the client
    hangs up, so the gateway must break it off rather than end it."""
    stack = streaming_stack
    token = stack.permissive_token()
    head = [
        ("Authorization", f"Bearer {token}"),
        ("Content-Type", "application/octet-stream"),
        ("Content-Length", "10000"),
    ]
    hang_up_mid_body(stack.url, f"PUT /{PERMISSIVE}/upload/blob HTTP/1.1", head, b"y" * cut)
    trail = _wait_for_refusal(stack, token)
    refusal = _refused_as_incomplete(trail)
    allowed = [e for e in trail if e["outcome"] == "ok"]
    assert [e["type"] for e in allowed] == ["gateway.decision"]  # allowed, then refused
    assert refusal["data"]["decision_seq"] == allowed[0]["seq"]
    received = _settled(_upstream(stack, PERMISSIVE))
    assert all(not r.complete for r in received), "a cut-off body reached the upstream whole"
    assert all(len(r.body) <= cut for r in received)
    if cut:  # it had begun: the upstream saw a broken request, not a short complete one
        assert [r.body for r in received] == [b"y" * cut]


def _settled(upstream: PermissiveUpstream) -> list[Received]:
    """The upstream's log once it stopped changing (its reader ends at the hang-up)."""
    time.sleep(0.3)
    return upstream.received()
