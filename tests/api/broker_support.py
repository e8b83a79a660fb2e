"""A broker built from real parts (SQLite or PostgreSQL, the local encrypted secret store)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from litestar.testing import TestClient

from broker.api.app import create_app
from broker.clock import FrozenClock
from broker.manifests import parse_manifest
from broker.services.container import Services, build_services
from broker.settings import Settings

NOW = 1_900_000_000.0

STAGING_TEMPLATE: dict[str, Any] = {
    "apiVersion": "capbroker.dev/v1",
    "kind": "CapabilityTemplate",
    "metadata": {"name": "staging-agent"},
    "spec": {
        "provider": "railway",
        "environments": ["staging", "preview"],
        "actions": ["project:read", "deployment:*", "variable:write", "volume:delete", "backup:*"],
        "ttl": {"default": "10m", "max": "30m"},
        "agents": ["claude-*", "ci-bot"],
        "budgets": {"calls": 100, "destructive_calls": 2},
        "approval": {"actions": ["volume:delete"], "approvers": 1},
    },
}
FLOOR: dict[str, Any] = {
    "apiVersion": "capbroker.dev/v1",
    "kind": "PolicyFloor",
    "metadata": {"name": "default"},
    "spec": {"forbidden_actions": ["backup:delete"], "protected_environments": ["production"]},
}


@dataclass
class Broker:
    services: Services
    client: TestClient[Any]
    clock: FrozenClock
    admin: str = field(repr=False)
    agent: str = field(repr=False)
    secrets: list[str] = field(repr=False)

    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin}"}

    def agent_headers(self, credential: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {credential or self.agent}"}

    def issue(self, **body: Any) -> Any:
        body.setdefault("template", "staging-agent")
        body.setdefault("environment", "staging")
        return self.client.post("/v1/tokens", json=body, headers=self.agent_headers())


def make_broker(tmp_path: Path, database_url: str, clock: FrozenClock) -> Broker:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        issuer="http://broker.test",
        audience="capbroker-gateway",
    )
    services = build_services(settings, clock=clock, writer="test-broker")
    services.keys.ensure_key(actor="test")
    admin = services.principals.create("admin", "root", actor="test").credential
    agent = services.principals.create("agent", "claude-code", actor="test").credential
    services.templates.apply(
        [parse_manifest(STAGING_TEMPLATE, "t#1"), parse_manifest(FLOOR, "t#2")],
        actor="test",
        dry_run=False,
    )
    client = TestClient(create_app(services))
    return Broker(services, client, clock, admin, agent, [admin, agent])
