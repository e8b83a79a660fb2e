"""The API tests' broker: real parts (SQLite or PostgreSQL, the local encrypted secret
store) seeded by the world builder, behind Litestar's TestClient."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from litestar.testing import TestClient

from broker.api.app import create_app
from broker.clock import FrozenClock
from broker.demo.world import Principal, Seed
from broker.manifests import parse_manifest
from broker.services.container import Services
from tests.support.factories import floor_doc, template_doc
from tests.support.world import broker_settings, seeded_world

NOW = 1_900_000_000.0

STAGING_TEMPLATE = template_doc(
    "staging-agent",
    environments=["staging", "preview"],
    actions=["project:read", "deployment:*", "variable:write", "volume:delete", "backup:*"],
    ttl={"default": "10m", "max": "30m"},
    agents=["claude-*", "ci-bot"],
    budgets={"calls": 100, "destructive_calls": 2},
    approval={"actions": ["volume:delete"], "approvers": 1},
)
FLOOR = floor_doc(forbidden_actions=["backup:delete"], protected_environments=["production"])


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
    seed = Seed(
        manifests=[parse_manifest(STAGING_TEMPLATE, "t#1"), parse_manifest(FLOOR, "t#2")],
        principals=[Principal("admin", "root"), Principal("agent", "claude-code")],
    )
    world = seeded_world(broker_settings(tmp_path, database_url), seed, clock=clock)
    admin, agent = world.credential("root"), world.credential("claude-code")
    client = TestClient(create_app(world.services))
    return Broker(world.services, client, clock, admin, agent, [admin, agent])
