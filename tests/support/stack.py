"""A real broker store, the demo provider and the gateway, all on loopback sockets.

The store is seeded by the demo's world builder (``broker.demo.world``). The gateway
tests' ``stack`` is a fresh stack per test (on SQLite and on PostgreSQL); ``shared_stack``
is one SQLite stack per module, its provider reset before each test, which also serves the
echo provider (echo-map.yaml in front of echo_upstream.py) for header and streaming tests.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from broker.clock import system_clock
from broker.demo.provider import create_provider_app
from broker.demo.provider.server import ServerThread
from broker.demo.world import Principal, Seed, World, provider_route, serve_gateway
from broker.domain.grants import GrantRequest
from broker.gateway.app import Gateway
from broker.manifests import load_manifests, parse_manifest
from broker.routemap import load_route_map
from broker.services.container import Services
from tests.support.echo_upstream import echo_app
from tests.support.factories import template_doc
from tests.support.permissive_upstream import PermissiveUpstream
from tests.support.world import broker_settings, seeded_world

ROOT = Path(__file__).resolve().parents[2]
PROVIDER = "railway-demo"
STAGING = template_doc(
    "demo-staging",
    provider=PROVIDER,
    environments=["staging", "production"],
    actions=[
        "project:read",
        "environment:read",
        "service:read",
        "deployment:*",
        "variable:*",
        "volume:*",
        "backup:*",
    ],
    ttl={"default": "10m", "max": "30m"},
    agents=["claude-*"],
    budgets={"calls": 25},
    approval={"actions": ["variable:delete"], "approvers": 1},
)
ECHO = "echo"
ECHO_STAGING = template_doc(
    "echo-staging",
    provider=ECHO,
    environments=["staging"],
    actions=["echo:read", "echo:write"],
    ttl={"default": "10m", "max": "30m"},
    agents=["claude-*"],
    budgets={"calls": 1000},
)
PERMISSIVE = "permissive"
PERMISSIVE_STAGING = template_doc(
    "permissive-staging",
    provider=PERMISSIVE,
    environments=["staging"],
    actions=["item:read", "item:write"],  # never item:delete
    ttl={"default": "10m", "max": "30m"},
    agents=["claude-*"],
    budgets={"calls": 1000},
)


@dataclass
class Stack:
    services: Services
    gateway: Gateway
    url: str
    provider_url: str
    master_key: str = field(repr=False)
    admin_token: str = field(repr=False)
    agent: str = field(repr=False)
    provider: ServerThread | None = field(default=None, repr=False)
    echo_url: str = ""
    echo_key: str = field(default="", repr=False)
    # with ``permissive``: the lenient upstream of the permissive provider, and the one in
    # front of the demo provider (it relays what it understood)
    permissive: PermissiveUpstream | None = field(default=None, repr=False)
    demo_front: PermissiveUpstream | None = field(default=None, repr=False)
    permissive_key: str = field(default="", repr=False)

    def permissive_token(self) -> str:
        """A staging token of the permissive-staging template (needs ``permissive``)."""
        grant = GrantRequest("permissive-staging", "staging")
        return self.services.issuance.issue(self.agent, grant).access_token

    def echo_token(self) -> str:
        """A staging token of the echo-staging template (needs ``with_echo``)."""
        issued = self.services.issuance.issue(self.agent, GrantRequest("echo-staging", "staging"))
        return issued.access_token

    def reset_provider(self) -> None:
        """Reseed the demo provider and clear its request log."""
        r = httpx.post(
            f"{self.provider_url}/_demo/reset",
            headers={"Authorization": f"Bearer {self.admin_token}"},
            timeout=5,
        )
        assert r.status_code == 200, r.text
        for front in (self.permissive, self.demo_front):
            if front is not None:
                front.clear()

    def token(self, environment: str = "staging", **kw: Any) -> str:
        issued = self.services.issuance.issue(
            self.agent, GrantRequest("demo-staging", environment, kw.get("actions"), kw.get("ttl"))
        )
        return issued.access_token

    def call(
        self, token: str, query: str, variables: dict[str, Any] | None = None, **kw: Any
    ) -> httpx.Response:
        body: Any = {"query": query, "variables": variables or {}}
        return httpx.post(
            f"{self.url}/{PROVIDER}/graphql",
            json=body,
            headers={"Authorization": f"Bearer {token}", **kw.get("headers", {})},
            timeout=10,
        )

    def upstream_log(self) -> list[dict[str, Any]]:
        r = httpx.get(
            f"{self.provider_url}/_demo/requests",
            headers={"Authorization": f"Bearer {self.admin_token}"},
            timeout=5,
        )
        entries: list[dict[str, Any]] = r.json()["requests"]
        return entries

    def executed_fields(self) -> list[str]:
        return [
            f
            for e in self.upstream_log()
            for op in e["operations"]
            if op["executed"]
            for f in op["root_fields"]
        ]


def build_stack(
    tmp_path: Path,
    database_url: str,
    *,
    echo: bool = False,
    with_echo: bool = False,
    permissive: bool = False,
    signing_algorithm: str = "Ed25519",
) -> Iterator[Stack]:
    """``permissive`` also serves the permissive provider and puts a permissive upstream
    in front of the demo provider (permissive_upstream.py)."""
    master_key, admin_token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    echo_key = secrets.token_urlsafe(24) if with_echo else ""
    # '/', '+', '=' and ':' give the encodings something to change
    permissive_key = secrets.token_urlsafe(18) + "/+=:" if permissive else ""
    world = _seeded(tmp_path, database_url, master_key, echo_key, permissive_key, signing_algorithm)
    services = world.services
    provider = ServerThread(
        create_provider_app(
            master_key if not echo else "a-different-key-than-the-gateway-holds",
            admin_token,
            clock=system_clock,
            echo_auth_header_in_errors=echo,
        )
    )
    provider.start()
    fronts = [PermissiveUpstream(relay=provider.url), PermissiveUpstream()] if permissive else []
    for front in fronts:
        front.start()
    routes = {PROVIDER: provider_route(PROVIDER, fronts[0].url if fronts else provider.url)}
    if fronts:
        permissive_map = load_route_map(Path(__file__).with_name("permissive-map.yaml"))
        routes[PERMISSIVE] = provider_route(PERMISSIVE, fronts[1].url, permissive_map)
    echo_server = None
    if with_echo:
        echo_server = ServerThread(echo_app).start()
        echo_map = load_route_map(Path(__file__).with_name("echo-map.yaml"))
        routes[ECHO] = provider_route(ECHO, echo_server.url, echo_map)
    gateway, server = serve_gateway(
        services.settings, routes, jwks=services.keys.jwks, poll_interval=0.2
    )
    try:
        yield Stack(
            services,
            gateway,
            server.url,
            provider.url,
            master_key,
            admin_token,
            world.credential("claude-code"),
            provider=provider,
            echo_url=echo_server.url if echo_server else "",
            echo_key=echo_key,
            permissive=fronts[1] if fronts else None,
            demo_front=fronts[0] if fronts else None,
            permissive_key=permissive_key,
        )
    finally:
        server.stop()
        for front in fronts:
            front.stop()
        provider.stop()
        if echo_server is not None:
            echo_server.stop()
        gateway.store.db.engine.dispose()
        services.close()


def _seeded(
    tmp_path: Path,
    database_url: str,
    master_key: str,
    echo_key: str,
    permissive_key: str,
    signing_algorithm: str = "Ed25519",
) -> World:
    floor = load_manifests(ROOT / "examples" / "templates" / "policy-floor.yaml")
    templates = [parse_manifest(STAGING, "t#1")]
    keys = {PROVIDER: master_key}
    if echo_key:
        templates.append(parse_manifest(ECHO_STAGING, "t#2"))
        keys[ECHO] = echo_key
    if permissive_key:
        templates.append(parse_manifest(PERMISSIVE_STAGING, "t#3"))
        keys[PERMISSIVE] = permissive_key
    seed = Seed(
        manifests=[*floor, *templates],
        provider_keys=keys,
        principals=[Principal("agent", "claude-code")],
    )
    settings = dataclasses.replace(
        broker_settings(tmp_path, database_url), signing_algorithm=signing_algorithm
    )
    return seeded_world(settings, seed)
