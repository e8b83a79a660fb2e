"""A real broker store, the Railway replica and the gateway with the shipped ``railway``
map, all on loopback sockets: the incident on the real API's shapes.

Seeded like ``capbroker demo`` (``broker.demo.world.railway_demo_seed``): the template
grants project shop's staging (``<shop id>/staging``) only.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from broker.demo.railway import IDS, ReplicaServer, serve_replica
from broker.demo.railway.service import GRAPHQL_PATH
from broker.demo.world import (
    RAILWAY,
    RAILWAY_STAGING,
    provider_route,
    railway_demo_seed,
    serve_gateway,
)
from broker.domain.grants import GrantRequest
from broker.gateway.app import Gateway
from broker.services.container import Services
from tests.support.world import broker_settings, seeded_world

TEMPLATE = "shop-staging-agent"


class ReplicaSession:
    """Tokens of the demo's template, and what reached the replica: for every stack that
    puts the gateway (path mode or the forward proxy) in front of the Railway replica."""

    services: Services
    replica: ReplicaServer
    agent: str

    def token(self, environment: str = RAILWAY_STAGING) -> str:
        issued = self.services.issuance.issue(self.agent, GrantRequest(TEMPLATE, environment))
        return issued.access_token

    def reset(self) -> None:
        self.replica.state.reset()
        self.replica.log.clear()

    def seen(self) -> list[dict[str, Any]]:
        """What reached the replica (requests as its log records them)."""
        return [e.to_json() for e in self.replica.log.entries()]


@dataclass
class RailwayStack(ReplicaSession):
    services: Services
    gateway: Gateway
    url: str
    replica: ReplicaServer
    master_key: str = field(repr=False)
    agent: str = field(repr=False)

    def call(
        self, token: str, query: str, variables: dict[str, Any] | None = None, **headers: str
    ) -> httpx.Response:
        return httpx.post(
            f"{self.url}/{RAILWAY}{GRAPHQL_PATH}",
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {token}", **headers},
            timeout=15,
        )

    def executed(self) -> list[str]:
        return [
            f
            for e in self.seen()
            for op in e["operations"]
            if op["executed"]
            for f in op["root_fields"]
        ]


def build_railway_stack(
    tmp_path: Path, database_url: str, *, delay_s: float = 0.0
) -> Iterator[RailwayStack]:
    master_key = secrets.token_urlsafe(24)
    world = seeded_world(broker_settings(tmp_path, database_url), railway_demo_seed(master_key))
    services = world.services
    with serve_replica(master_key, secrets.token_urlsafe(24), delay_s=delay_s) as replica:
        routes = {RAILWAY: provider_route(RAILWAY, replica.url)}
        gateway, server = serve_gateway(
            services.settings, routes, jwks=services.keys.jwks, poll_interval=0.2
        )
        try:
            yield RailwayStack(
                services, gateway, server.url, replica, master_key, world.credential("claude-code")
            )
        finally:
            server.stop()
            gateway.store.db.engine.dispose()
            services.close()


__all__ = ["IDS", "RailwayStack", "build_railway_stack"]
