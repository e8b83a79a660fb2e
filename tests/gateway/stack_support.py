"""A real broker store, the demo provider and the gateway, all on loopback sockets.

``stack`` is a fresh stack per test (on SQLite and on PostgreSQL); ``shared_stack`` is one
SQLite stack per module, its provider reset before each test, which also serves the echo
provider (echo-map.yaml in front of echo_upstream.py) for header and streaming tests.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from broker.clock import system_clock
from broker.demo.provider import create_provider_app
from broker.demo.provider.server import ServerThread
from broker.domain.grants import GrantRequest
from broker.gateway.app import Gateway
from broker.gateway.factory import build_gateway, master_key_secret_for
from broker.gateway.route import ProviderRoute
from broker.gateway.server import ProblemHttpToolsProtocol
from broker.manifests import load_manifests
from broker.routemap import load_route_map, shipped_map
from broker.services.container import Services, build_services
from broker.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
PROVIDER = "railway-demo"
STAGING = {
    "apiVersion": "capbroker.dev/v1",
    "kind": "CapabilityTemplate",
    "metadata": {"name": "demo-staging"},
    "spec": {
        "provider": PROVIDER,
        "environments": ["staging", "production"],
        "actions": [
            "project:read",
            "environment:read",
            "service:read",
            "deployment:*",
            "variable:*",
            "volume:*",
            "backup:*",
        ],
        "ttl": {"default": "10m", "max": "30m"},
        "agents": ["claude-*"],
        "budgets": {"calls": 25},
        "approval": {"actions": ["variable:delete"], "approvers": 1},
    },
}
ECHO = "echo"
ECHO_STAGING = {
    "apiVersion": "capbroker.dev/v1",
    "kind": "CapabilityTemplate",
    "metadata": {"name": "echo-staging"},
    "spec": {
        "provider": ECHO,
        "environments": ["staging"],
        "actions": ["echo:read", "echo:write"],
        "ttl": {"default": "10m", "max": "30m"},
        "agents": ["claude-*"],
        "budgets": {"calls": 1000},
    },
}


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
    tmp_path: Path, database_url: str, *, echo: bool = False, with_echo: bool = False
) -> Iterator[Stack]:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        issuer="http://broker.test",
        audience="capbroker-gateway",
    )
    services = build_services(settings, writer="test-broker")
    services.keys.ensure_key(actor="test")
    from broker.manifests import parse_manifest

    services.templates.apply(
        [
            *load_manifests(ROOT / "examples" / "templates" / "policy-floor.yaml"),
            parse_manifest(STAGING, "t#1"),
            *([parse_manifest(ECHO_STAGING, "t#2")] if with_echo else []),
        ],
        actor="test",
        dry_run=False,
    )
    agent = services.principals.create("agent", "claude-code", actor="test").credential
    master_key, admin_token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    services.secrets.put(master_key_secret_for(PROVIDER), master_key.encode())
    provider = ServerThread(
        create_provider_app(
            master_key if not echo else "a-different-key-than-the-gateway-holds",
            admin_token,
            clock=system_clock,
            echo_auth_header_in_errors=echo,
        )
    )
    provider.start()
    route = ProviderRoute(
        PROVIDER, shipped_map(PROVIDER), provider.url, master_key_secret_for(PROVIDER)
    )
    routes = {PROVIDER: route}
    echo_server, echo_key = None, ""
    if with_echo:
        from echo_upstream import echo_app

        echo_server = ServerThread(echo_app).start()
        echo_key = secrets.token_urlsafe(24)
        services.secrets.put(master_key_secret_for(ECHO), echo_key.encode())
        echo_map = load_route_map(Path(__file__).with_name("echo-map.yaml"))
        routes[ECHO] = ProviderRoute(ECHO, echo_map, echo_server.url, master_key_secret_for(ECHO))
    gateway = build_gateway(settings, routes, jwks=services.keys.jwks, poll_interval=0.2)
    server = ServerThread(gateway, http=ProblemHttpToolsProtocol)
    server.start()
    try:
        yield Stack(
            services,
            gateway,
            server.url,
            provider.url,
            master_key,
            admin_token,
            agent,
            provider=provider,
            echo_url=echo_server.url if echo_server else "",
            echo_key=echo_key,
        )
    finally:
        server.stop()
        provider.stop()
        if echo_server is not None:
            echo_server.stop()
        gateway.store.db.engine.dispose()
        services.close()
