"""Header hygiene at the gateway: what the provider receives is the gateway's, not the agent's.

The echo provider (echo-map.yaml) reports every header exactly as it arrived. Its master
key goes in ``X-Api-Key: Token {key}``, so any ``Authorization`` upstream could only be
the agent's capability token.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from tests.gateway.gateway_support import raw_request
from tests.support.stack import ECHO, Stack

# What an agent (or anything between it and the gateway) might send, and must not pass on.
FORWARDING = [
    ("X-Forwarded-For", "203.0.113.66"),
    ("Forwarded", "for=203.0.113.66;host=admin.internal;proto=https"),
    ("X-Real-IP", "203.0.113.66"),
    ("X-Forwarded-Host", "admin.internal"),
    ("X-Forwarded-Proto", "https"),
    ("X-Forwarded-Port", "443"),
    ("X-Forwarded-Prefix", "/admin"),
    ("X-Original-URL", "/admin/delete"),
    ("X-Rewrite-URL", "/admin/delete"),
]
# (Upgrade is hop-by-hop too, but a request carrying it is refused: test_upgrades.py)
HOP_BY_HOP = [
    ("Keep-Alive", "timeout=5, max=100"),
    ("TE", "trailers"),
    ("Trailer", "X-Checksum"),
    ("Proxy-Authorization", "Basic cHJveHk6c2VjcmV0"),
    ("Proxy-Connection", "keep-alive"),
    ("X-Secret", "listed-in-connection"),
    ("X-Other-Secret", "also-listed"),
]
CONTROL = [("X-Capbroker-Approval", "apr-123"), ("X-CAPBROKER-Debug", "1")]
# Listing X-Secret makes it hop-by-hop; the second Connection header lists another.
CONNECTION = "close, X-Secret"
EXTRA_CONNECTION = ("Connection", "X-Other-Secret")
MUST_NOT_ARRIVE = {
    name.lower() for name, _ in (*FORWARDING, *HOP_BY_HOP, *CONTROL, EXTRA_CONNECTION)
} | {"authorization", "connection"}


def received(body: bytes) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(body)
    return report


def names(report: dict[str, Any]) -> list[str]:
    return [k.lower() for k, _ in report["headers"]]


def values(report: dict[str, Any], name: str) -> list[str]:
    return [v for k, v in report["headers"] if k.lower() == name]


def assert_clean(stack: Stack, report: dict[str, Any], token: str) -> None:
    leaked = MUST_NOT_ARRIVE & set(names(report))
    assert not leaked, f"the provider saw {sorted(leaked)}"
    text = json.dumps(report)
    assert token not in text, "the capability token reached the provider"
    assert "203.0.113.66" not in text
    assert "admin.internal" not in text
    # the master key, in the configured header and format, exactly once (the gateway
    # redacts it in the echo coming back, so compare digests)
    expected = hashlib.sha256(f"Token {stack.echo_key}".encode()).hexdigest()
    assert report["key_sha256"] == [expected]
    assert values(report, "x-api-key") == ["Token " + "*" * len(stack.echo_key)]
    # an ordinary header passes, so the absences above are not a blanket drop
    assert values(report, "x-request-id") == ["req-42"]


def hostile_headers(token: str) -> list[tuple[str, str]]:
    return [
        ("Authorization", f"Bearer {token}"),
        *FORWARDING,
        *HOP_BY_HOP,
        *CONTROL,
        EXTRA_CONNECTION,
        ("X-Request-Id", "req-42"),
    ]


def test_get_drops_token_forwarding_hop_by_hop_and_control_headers(shared_stack: Stack) -> None:
    token = shared_stack.echo_token()
    r = raw_request(
        shared_stack.url, "GET", f"/{ECHO}/echo", hostile_headers(token), connection=CONNECTION
    )
    assert r.status == 200, r.body[:300]
    report = received(r.body)
    assert report["method"] == "GET"
    assert report["path"] == "/echo"
    assert_clean(shared_stack, report, token)


def test_post_with_a_read_body_is_forwarded_clean_and_intact(shared_stack: Stack) -> None:
    token = shared_stack.echo_token()
    body = json.dumps({"name": "widget", "environment": "staging", "pad": "x" * 5000}).encode()
    headers = [
        *hostile_headers(token),
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
    ]
    r = raw_request(shared_stack.url, "POST", f"/{ECHO}/echo", headers, body, connection=CONNECTION)
    assert r.status == 200, r.body[:300]
    report = received(r.body)
    assert_clean(shared_stack, report, token)
    assert report["body_length"] == len(body)
    assert report["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert values(report, "content-type") == ["application/json"]
    assert values(report, "content-length") == [str(len(body))]


def test_the_body_decides_the_environment_of_a_post(shared_stack: Stack) -> None:
    """The POST rule reads the body: a production body is refused and never forwarded."""
    token = shared_stack.echo_token()
    body = json.dumps({"name": "widget", "environment": "production"}).encode()
    headers = [
        ("Authorization", f"Bearer {token}"),
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
    ]
    r = raw_request(shared_stack.url, "POST", f"/{ECHO}/echo", headers, body)
    assert r.status == 403, r.body[:300]
    assert r.json()["code"] == "environment_not_granted"


def test_the_agent_cannot_supply_the_credential_header(shared_stack: Stack) -> None:
    """An agent-sent X-Api-Key (the provider's credential header) must not reach the
    provider next to the master key: the gateway owns that header."""
    token = shared_stack.echo_token()
    headers = [
        ("Authorization", f"Bearer {token}"),
        ("X-Api-Key", "Token agent-chosen-credential"),
        ("X-Request-Id", "req-42"),
    ]
    r = raw_request(shared_stack.url, "GET", f"/{ECHO}/echo", headers)
    assert r.status == 200, r.body[:300]
    report = received(r.body)
    assert "agent-chosen-credential" not in json.dumps(report)
    assert_clean(shared_stack, report, token)


def test_the_demo_provider_sees_the_master_key_not_the_token(shared_stack: Stack) -> None:
    token = shared_stack.token()
    r = shared_stack.call(
        token,
        '{ services(projectId: "proj-acme") { id } }',
        headers={"X-Forwarded-For": "203.0.113.66", "X-Capbroker-Debug": "1"},
    )
    assert r.status_code == 200, r.text
    assert [e["auth"] for e in shared_stack.upstream_log()] == ["ok"]
