"""A real broker store, the demo provider and the gateway, all on loopback sockets."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from broker.clock import system_clock
from broker.demo.provider import create_provider_app
from broker.demo.provider.server import ServerThread
from broker.domain.grants import GrantRequest
from broker.gateway.app import Gateway, ProviderRoute
from broker.gateway.factory import build_gateway, master_key_secret_for
from broker.manifests import load_manifests
from broker.routemap import shipped_map
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


@dataclass
class Stack:
    services: Services
    gateway: Gateway
    url: str
    provider_url: str
    master_key: str = field(repr=False)
    admin_token: str = field(repr=False)
    agent: str = field(repr=False)

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


def build_stack(tmp_path: Path, database_url: str, *, echo: bool = False) -> Iterator[Stack]:
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
    gateway = build_gateway(settings, {PROVIDER: route}, jwks=services.keys.jwks, poll_interval=0.2)
    server = ServerThread(gateway)
    server.start()
    try:
        yield Stack(services, gateway, server.url, provider.url, master_key, admin_token, agent)
    finally:
        server.stop()
        provider.stop()
        gateway.db.engine.dispose()
        services.close()


@pytest.fixture
def stack(tmp_path: Path, database_url: str) -> Iterator[Stack]:
    yield from build_stack(tmp_path, database_url)
