"""A broker that trusts two local issuers (a "cluster" and a "CI"), behind TestClient."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from litestar.testing import TestClient

from broker.api.app import create_app
from broker.clock import FrozenClock
from broker.demo.world import Seed
from broker.manifests import parse_manifest
from broker.services.container import Services, build_services
from tests.support.factories import template_doc
from tests.support.oidc_issuer import LocalIssuer
from tests.support.world import broker_settings, seeded_world

NOW = 1_900_000_000.0
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"
TEMPLATE = template_doc(
    "staging-agent",
    actions=["project:read", "deployment:*"],
    ttl={"default": "10m", "max": "30m"},
    agents=["k8s.agents.*", "gha.octo-org.deployer.staging"],
)


def cluster_issuer(issuer: LocalIssuer, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "capbroker.dev/v1",
        "kind": "TrustedIssuer",
        "metadata": {"name": "cluster"},
        "spec": {
            "issuer": issuer.url,
            "jwksUri": issuer.jwks_uri,
            "audiences": ["capbroker"],
            "algorithms": ["RS256"],
            "singleUse": False,  # the kubelet hands a pod the same token for most of its life
            "agents": [
                {
                    "name": "k8s.{namespace}.{name}",
                    "match": {
                        "kubernetes.io/namespace": "{namespace}",
                        "kubernetes.io/serviceaccount/name": "{name}",
                        "sub": "system:serviceaccount:agents:{name}",
                    },
                }
            ],
            **spec,
        },
    }


def ci_issuer(issuer: LocalIssuer, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "capbroker.dev/v1",
        "kind": "TrustedIssuer",
        "metadata": {"name": "github-actions"},
        "spec": {
            "issuer": issuer.url,
            "jwksUri": issuer.jwks_uri,
            "audiences": ["https://github.com/octo-org"],
            "algorithms": ["RS256"],
            "leewaySeconds": 10,
            "maxLifetimeSeconds": 3600,
            "agents": [
                {
                    "name": "gha.{owner}.{repo}.{env}",
                    "match": {
                        "repository": "{owner}/{repo}",
                        "repository_owner": "octo-org",
                        "ref": "refs/heads/main",
                        "environment": "{env}",
                    },
                }
            ],
            **spec,
        },
    }


@dataclass
class IdentityBroker:
    services: Services
    client: TestClient[Any]
    clock: FrozenClock
    cluster: LocalIssuer
    ci: LocalIssuer

    def exchange(self, subject_token: str, **form: str) -> Any:
        body = {
            "grant_type": TOKEN_EXCHANGE,
            "subject_token": subject_token,
            "subject_token_type": JWT_TYPE,
            "template": "staging-agent",
            "environment": "staging",
            **form,
        }
        return self.client.post("/oauth/token", data=body)

    def count(self, sql: str) -> int:
        from sqlalchemy import text

        with self.services.db.read() as conn:
            return int(conn.execute(text(sql)).scalar_one())


def make_identity_broker(
    tmp_path: Path,
    cluster: LocalIssuer,
    ci: LocalIssuer,
    docs: list[dict[str, Any]],
    *,
    database_url: str | None = None,
    seed: bool = True,
) -> IdentityBroker:
    """``docs`` empty: no trusted_issuers_file at all (workload identity off)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "trusted-issuers.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    settings = dataclasses.replace(
        broker_settings(tmp_path, database_url or f"sqlite:///{tmp_path / 'broker.db'}"),
        trusted_issuers_file=str(path) if docs else "",
    )
    clock = FrozenClock(NOW)
    if seed:
        seeded = Seed(manifests=[parse_manifest(TEMPLATE, "t#1")])
        services = seeded_world(settings, seeded, clock=clock).services
    else:  # another replica on a store seeded already
        services = build_services(settings, clock=clock, writer=f"replica-{id(settings)}")
    return IdentityBroker(services, TestClient(create_app(services)), clock, cluster, ci)


@pytest.fixture
def issuers() -> Iterator[tuple[LocalIssuer, LocalIssuer]]:
    cluster, ci = LocalIssuer(), LocalIssuer()
    try:
        yield cluster, ci
    finally:
        cluster.stop()
        ci.stop()


@pytest.fixture
def broker(tmp_path: Path, issuers: tuple[LocalIssuer, LocalIssuer]) -> Iterator[IdentityBroker]:
    cluster, ci = issuers
    made = make_identity_broker(tmp_path, cluster, ci, [cluster_issuer(cluster), ci_issuer(ci)])
    try:
        with made.client:
            yield made
    finally:
        made.services.close()
