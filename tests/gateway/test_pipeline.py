"""The pipeline called directly: a ``GatewayRequest`` in, ``Forward``/``DryRun``/``Refusal``
out, with no server, no socket and no provider (nothing is forwarded here)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from broker.audit.reader import AuditQuery, query_events
from broker.auth.authenticator import Caller
from broker.demo.world import Principal, Seed, provider_route
from broker.domain.grants import GrantRequest
from broker.gateway.app import Gateway
from broker.gateway.factory import build_gateway
from broker.gateway.outcome import DryRun, Forward, Outcome, Refusal
from broker.gateway.request import GatewayRequest
from broker.manifests import load_manifests, parse_manifest
from broker.routemap import load_route_map
from broker.services.container import Services
from broker.tokens import OPAQUE_DETAIL
from tests.support.stack import ECHO, ECHO_STAGING, ROOT
from tests.support.world import broker_settings, seeded_world

UPSTREAM = "http://echo.invalid:8080"
ADMIN = Caller("admin-1", "admin", "root", "key-1")


@dataclass
class World:
    services: Services
    gateway: Gateway
    agent: str = field(repr=False)
    master_key: str = field(repr=False)

    def token(self, environment: str = "staging") -> str:
        issued = self.services.issuance.issue(self.agent, GrantRequest("echo-staging", environment))
        return issued.access_token

    def run(
        self,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: dict[str, Any] | None = None,
    ) -> Outcome:
        raw = json.dumps(body).encode() if body is not None else b""
        encoded = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        if body is not None:
            encoded += [(b"content-type", b"application/json")]

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": raw, "more_body": False}

        request = GatewayRequest(method, target, "", encoded, receive, ("127.0.0.1", 5000))
        return asyncio.run(self.gateway.pipeline.run(request))

    def decisions(self) -> list[dict[str, Any]]:
        """The gateway's decision events, newest first."""
        with self.gateway.store.db.read() as conn:
            return query_events(conn, AuditQuery(type="gateway.decision"))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    master_key = secrets.token_urlsafe(24)
    seed = Seed(
        manifests=[
            *load_manifests(ROOT / "examples" / "templates" / "policy-floor.yaml"),
            parse_manifest(ECHO_STAGING, "t#1"),
        ],
        provider_keys={ECHO: master_key},
        principals=[Principal("agent", "claude-code")],
    )
    seeded = seeded_world(broker_settings(tmp_path, f"sqlite:///{tmp_path}/capbroker.db"), seed)
    services = seeded.services
    echo_map = load_route_map(Path(__file__).parents[1] / "support" / "echo-map.yaml")
    route = provider_route(ECHO, UPSTREAM, echo_map)
    gateway = build_gateway(services.settings, {ECHO: route}, jwks=services.keys.jwks)
    gateway.keys.refresh()
    gateway.feed.poll()
    try:
        yield World(services, gateway, seeded.credential("claude-code"), master_key)
    finally:
        gateway.store.committer.close()
        gateway.store.db.engine.dispose()
        services.close()


def refusal(outcome: Outcome) -> Refusal:
    assert isinstance(outcome, Refusal), outcome
    return outcome


def test_an_unknown_provider_is_refused_and_recorded(world: World) -> None:
    answer = refusal(world.run("GET", "/nope/echo", [("Authorization", "Bearer x")]))
    assert (answer.error.status, answer.error.reason.value) == (403, "unknown_route")
    [event] = world.decisions()
    assert (event["outcome"], event["reason"], event["actor"]) == (
        "denied",
        "unknown_route",
        "unauthenticated",
    )


def test_a_bad_token_is_refused_opaquely(world: World) -> None:
    answer = refusal(world.run("GET", f"/{ECHO}/echo", [("Authorization", "Bearer not.a.jwt")]))
    assert (answer.error.status, answer.error.reason.value) == (401, "token_invalid")
    assert answer.error.detail == OPAQUE_DETAIL
    missing = refusal(world.run("GET", f"/{ECHO}/echo", []))
    assert missing.error.reason.value == "token_invalid"
    assert [e["data"]["refusal"] for e in world.decisions()] == ["token_invalid"] * 2


def test_a_revoked_token_is_refused(world: World) -> None:
    issued = world.services.issuance.issue(world.agent, GrantRequest("echo-staging", "staging"))
    auth = [("Authorization", f"Bearer {issued.access_token}")]
    assert isinstance(world.run("GET", f"/{ECHO}/echo", auth), Forward)
    world.services.issuance.end_session(ADMIN, issued.session_id)
    world.gateway.feed.poll()
    answer = refusal(world.run("GET", f"/{ECHO}/echo", auth))
    assert (answer.error.status, answer.error.reason.value) == (403, "token_revoked")
    assert world.decisions()[0]["data"]["jti"] == issued.jti


def test_a_call_the_map_does_not_know_is_refused_by_classification(world: World) -> None:
    auth = [("Authorization", f"Bearer {world.token()}")]
    answer = refusal(world.run("DELETE", f"/{ECHO}/echo", auth))
    assert answer.error.reason.value == "unknown_route"
    assert answer.error.extra == {"refusal": "unknown_route"}
    override = refusal(
        world.run("GET", f"/{ECHO}/echo", [*auth, ("X-HTTP-Method-Override", "PUT")])
    )
    assert (override.error.status, override.error.extra) == (400, {"refusal": "method_override"})


def test_a_denied_decision_is_a_refusal_recorded_once(world: World) -> None:
    auth = [("Authorization", f"Bearer {world.token()}")]
    body = {"name": "a", "environment": "production"}
    answer = refusal(world.run("POST", f"/{ECHO}/echo", auth, body))
    assert (answer.error.status, answer.error.reason.value) == (403, "environment_not_granted")
    [event] = world.decisions()
    assert (event["outcome"], event["data"]["environments"]) == ("denied", ["production"])


def test_an_allowed_call_is_a_forward_with_exactly_the_outbound_headers(world: World) -> None:
    token = world.token()
    headers = [
        ("Host", "gateway.test"),
        ("Authorization", f"Bearer {token}"),
        ("X-Request-Id", "req-42"),
        ("X-Forwarded-For", "203.0.113.66"),
        ("Accept-Encoding", "gzip"),
        ("Connection", "X-Secret"),
        ("X-Secret", "hop"),
        ("X-Capbroker-Debug", "1"),
        ("Accept", "application/json"),
    ]
    forward = world.run("GET", f"/{ECHO}/echo", headers)
    assert isinstance(forward, Forward), forward
    assert (forward.method, forward.url, forward.body) == ("GET", f"{UPSTREAM}/echo", None)
    assert forward.headers == [
        ("X-Request-Id", "req-42"),
        ("Accept", "application/json"),
        ("X-Api-Key", f"Token {world.master_key}"),
        ("Accept-Encoding", "identity"),
    ]
    assert world.master_key not in repr(forward)
    [event] = world.decisions()
    assert (event["outcome"], event["data"]["dry_run"]) == ("ok", False)
    assert forward.attempt.decision_seq == event["seq"]


def test_a_read_body_is_forwarded_whole(world: World) -> None:
    auth = [("Authorization", f"Bearer {world.token()}")]
    body = {"name": "a", "environment": "staging"}
    forward = world.run("POST", f"/{ECHO}/echo", auth, body)
    assert isinstance(forward, Forward), forward
    assert forward.body == json.dumps(body).encode()
    assert ("content-type", "application/json") in forward.headers


def test_a_dry_run_is_a_dry_run_value(world: World) -> None:
    headers = [("Authorization", f"Bearer {world.token()}"), ("X-Capbroker-Dry-Run", "1")]
    dry_run = world.run("GET", f"/{ECHO}/echo", headers)
    assert isinstance(dry_run, DryRun), dry_run
    assert dry_run.body() == {
        "dry_run": True,
        "decision": "allow",
        "reason": None,
        "detail": dry_run.decision.detail,
        "provider": ECHO,
        "method": "GET",
        "path": "/echo",
        "actions": ["echo:read"],
        "resources": [],
        "environments": [],
        "calls": [{"action": "echo:read", "effect": "read", "resources": [], "environments": []}],
    }
    [event] = world.decisions()
    assert event["data"]["dry_run"] is True


def test_a_body_the_map_does_not_read_is_read_whole_when_an_approval_could_bind_it(
    world: World,
) -> None:
    """The policy floor protects environments, so any call could be held: the approval
    binds the exact body, which is therefore read (within the cap) and hashed."""
    headers = [(b"authorization", f"Bearer {world.token()}".encode()), (b"content-length", b"11")]
    pieces = [b"hello ", b"world"]

    async def receive() -> dict[str, Any]:
        return {"body": pieces.pop(0), "more_body": bool(pieces)}

    request = GatewayRequest("PUT", f"/{ECHO}/upload/x", "", headers, receive)
    forward = asyncio.run(world.gateway.pipeline.run(request))
    assert isinstance(forward, Forward), forward
    assert forward.body == b"hello world"
    assert forward.attempt.body_sha256 == hashlib.sha256(b"hello world").hexdigest()
    assert all(k.lower() != "content-length" for k, _ in forward.headers)


@pytest.mark.parametrize(
    "control",
    [
        [("X-Capbroker-Dry-Run", "1"), ("X-Capbroker-Dry-Run", "1")],
        [("X_Capbroker_Dry_Run", "1")],
        [("X-Capbroker-DryRun", "1")],
        [("X-Capbroker-Dry-Run", "yes")],
    ],
)
def test_a_dry_run_asked_for_wrongly_is_refused_not_made_real(
    world: World, control: list[tuple[str, str]]
) -> None:
    headers = [("Authorization", f"Bearer {world.token()}"), *control]
    refused = refusal(world.run("POST", f"/{ECHO}/echo", headers, {"name": "a"}))
    assert (refused.error.status, refused.error.extra) == (400, {"refusal": "control_header"})
    [event] = world.decisions()
    assert (event["outcome"], event["data"]["refusal"]) == ("denied", "control_header")
