"""A real broker on a loopback socket for the interop suite: independent OAuth and JOSE
libraries talk to it as a user's code would (nothing here uses capbroker's own client)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from broker.api.app import create_app
from broker.demo.provider.server import ServerThread
from broker.demo.world import Principal, Seed
from broker.manifests import parse_manifest
from broker.services.container import Services
from tests.support.broker_app import FLOOR, STAGING_TEMPLATE
from tests.support.world import AUDIENCE, broker_settings, seeded_world

# authlib's RFC 8414 validator insists on an https issuer; the issuer is a name, the
# endpoints the tests call are the socket's.
ISSUER = "https://broker.test"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
AGENT_CREDENTIAL = "urn:capbroker:params:oauth:token-type:agent-credential"
RESOURCE_SERVER = "billing-api"


@dataclass
class LiveBroker:
    url: str
    services: Services
    agent: str = field(repr=False)
    admin: str = field(repr=False)
    rs_secret: str = field(repr=False)
    audience: str = AUDIENCE
    issuer: str = ISSUER

    def exchange_form(self, **extra: str) -> dict[str, str]:
        return {
            "subject_token": self.agent,
            "subject_token_type": AGENT_CREDENTIAL,
            "template": "staging-agent",
            "environment": "staging",
            **extra,
        }


@contextlib.contextmanager
def serve_live(tmp: Path, algorithm: str = "Ed25519") -> Iterator[LiveBroker]:
    """A seeded broker on a loopback socket, signing with ``algorithm``."""
    settings = dataclasses.replace(
        broker_settings(tmp, f"sqlite:///{tmp}/capbroker.db"),
        issuer=ISSUER,
        signing_algorithm=algorithm,
    )
    seed = Seed(
        manifests=[parse_manifest(STAGING_TEMPLATE, "t#1"), parse_manifest(FLOOR, "t#2")],
        principals=[Principal("admin", "root"), Principal("agent", "claude-code")],
    )
    world = seeded_world(settings, seed)
    rs = world.services.principals.create("resource_server", RESOURCE_SERVER, actor="test")
    server = ServerThread(create_app(world.services)).start()
    try:
        yield LiveBroker(
            server.url,
            world.services,
            world.credential("claude-code"),
            world.credential("root"),
            rs.credential,
        )
    finally:
        server.stop()
        world.services.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveBroker]:
    with serve_live(tmp_path_factory.mktemp("interop")) as broker:
        yield broker
