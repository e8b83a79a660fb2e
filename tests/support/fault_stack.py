"""A broker store and a gateway for fault tests, with two providers whose calls are traced.

The providers are ``echo`` (echo_upstream.py) and ``permissive`` (permissive_upstream.py),
each with a staging template. Every call a test makes carries a unique name in its body
(``{"name": ..., "environment": "staging"}``): the gateway's decision events list it as a
resource, and what reached each upstream is read back from the upstream itself, so a test
checks both sides: every call an upstream saw has an ``allow`` decision, and a call the
gateway answered otherwise reached nothing.

The gateway's master keys come from ``secrets`` (for example a Vault store behind a
delaying proxy) or, by default, from the store the world was seeded into. Settings can
be overridden (deadlines, waits) with ``overrides``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from broker.audit.reader import AuditQuery, query_events
from broker.demo.provider.server import ServerThread
from broker.demo.world import Principal, Seed, provider_route
from broker.domain.grants import GrantRequest
from broker.gateway.app import Gateway
from broker.gateway.factory import build_gateway
from broker.gateway.server import ProblemHttpToolsProtocol
from broker.manifests import parse_manifest
from broker.routemap import load_route_map
from broker.secrets.base import SecretStore
from broker.services.container import Services
from tests.support import echo_upstream
from tests.support.permissive_upstream import PermissiveUpstream
from tests.support.stack import ECHO, ECHO_STAGING, PERMISSIVE, PERMISSIVE_STAGING
from tests.support.world import broker_settings, seeded_world

SUPPORT = Path(__file__).parent
PATHS = {ECHO: "/echo", PERMISSIVE: "/items"}
TEMPLATES = {ECHO: "echo-staging", PERMISSIVE: "permissive-staging"}


def body_of(name: str) -> bytes:
    return json.dumps({"name": name, "environment": "staging"}).encode()


@dataclass
class FaultStack:
    services: Services
    gateway: Gateway
    url: str
    agent: str = dataclasses.field(repr=False)
    permissive: PermissiveUpstream
    keys: dict[str, str] = dataclasses.field(repr=False)

    def token(self, provider: str) -> str:
        grant = GrantRequest(TEMPLATES[provider], "staging")
        return self.services.issuance.issue(self.agent, grant).access_token

    def call(
        self, provider: str, token: str, name: str, *, timeout: float = 10.0
    ) -> tuple[httpx.Response, float]:
        """POST one traced call; the answer and how long it took (seconds)."""
        started = time.perf_counter()
        answer = httpx.post(
            f"{self.url}/{provider}{PATHS[provider]}",
            content=body_of(name),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            timeout=timeout,
        )
        return answer, time.perf_counter() - started

    def health(self, path: str) -> tuple[int, float]:
        started = time.perf_counter()
        answer = httpx.get(f"{self.url}{path}", timeout=5)
        return answer.status_code, time.perf_counter() - started

    def reached(self, provider: str) -> set[str]:
        """The names of the traced calls that reached ``provider``'s upstream."""
        if provider == PERMISSIVE:
            bodies = [r.body for r in self.permissive.received()]
            return {json.loads(b)["name"] for b in bodies if b.startswith(b"{")}
        digests = {r["body_sha256"] for r in echo_upstream.RECEIVED if "body_sha256" in r}
        return {n for n in self._sent if hashlib.sha256(body_of(n)).hexdigest() in digests}

    _sent: set[str] = dataclasses.field(default_factory=set, repr=False)

    def name(self, prefix: str) -> str:
        name = f"{prefix}-{len(self._sent)}-{time.monotonic_ns() % 10**9}"
        self._sent.add(name)
        return name

    def decisions(self) -> list[dict[str, Any]]:
        with self.gateway.store.db.read() as conn:
            return query_events(conn, AuditQuery(type="gateway.decision", limit=10_000))

    def outcomes_of(self, name: str) -> list[tuple[str, str]]:
        """(decision, reason) of every decision event naming the traced call ``name``."""
        resource = {f"thing:{name}", f"item:{name}"}
        return [
            (e["data"]["decision"], e["reason"])
            for e in self.decisions()
            if resource & set(e["data"].get("resources", ()))
        ]


@contextmanager
def fault_stack(
    tmp_path: Path,
    database_url: str,
    *,
    secrets: SecretStore | None = None,
    overrides: dict[str, Any] | None = None,
    keys: dict[str, str] | None = None,
) -> Iterator[FaultStack]:
    keys = keys or {ECHO: "echo-key-" + "e" * 20, PERMISSIVE: "permissive-key-" + "p" * 20}
    settings = dataclasses.replace(broker_settings(tmp_path, database_url), **(overrides or {}))
    seed = Seed(
        manifests=[parse_manifest(ECHO_STAGING, "t#1"), parse_manifest(PERMISSIVE_STAGING, "t#2")],
        provider_keys=keys,
        principals=[Principal("agent", "claude-code")],
    )
    world = seeded_world(settings, seed)
    echo = ServerThread(echo_upstream.echo_app).start()
    permissive = PermissiveUpstream().start()
    routes = {
        ECHO: provider_route(ECHO, echo.url, load_route_map(SUPPORT / "echo-map.yaml")),
        PERMISSIVE: provider_route(
            PERMISSIVE, permissive.url, load_route_map(SUPPORT / "permissive-map.yaml")
        ),
    }
    gateway = build_gateway(
        settings, routes, jwks=world.services.keys.jwks, secrets=secrets, poll_interval=0.2
    )
    server = ServerThread(gateway, http=ProblemHttpToolsProtocol).start()
    try:
        yield FaultStack(
            world.services,
            gateway,
            server.url,
            world.credential("claude-code"),
            permissive,
            keys,
        )
    finally:
        server.stop()
        permissive.stop()
        echo.stop()
        gateway.pipeline.forwarder.master_keys.close()
        gateway.store.db.engine.dispose()
        world.services.close()
