"""A real broker on a loopback socket for the interop suite: independent OAuth and JOSE
libraries talk to it as a user's code would (nothing here uses capbroker's own client)."""

from __future__ import annotations

import dataclasses
import json
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
from tests.support.servers import free_port
from tests.support.world import AUDIENCE, broker_settings, seeded_world

# authlib's RFC 8414 validator insists on an https issuer; the issuer is a name, the
# endpoints the tests call are the socket's.
ISSUER = "https://broker.test"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
AGENT_CREDENTIAL = "urn:capbroker:params:oauth:token-type:agent-credential"
RESOURCE_SERVER = "billing-api"

# Each refusal at the token endpoint: the parameters that cause it and the OAuth error a
# client must raise (shared by every client library the suite drives).
REFUSALS = [
    ({"environment": "production"}, "invalid_authorization_details"),
    ({"scope": "backup:delete"}, "invalid_scope"),
    ({"scope": "cluster:nuke"}, "invalid_scope"),
    ({"expires_in": "86400"}, "invalid_request"),
    ({"template": "no-such-template"}, "invalid_authorization_details"),
    ({"subject_token": "capb_agt_" + "0" * 24 + "_" + "A" * 43}, "invalid_grant"),
    ({"audience": "https://elsewhere.example"}, "invalid_target"),
    ({"resource": "https://elsewhere.example/"}, "invalid_target"),
    ({"actor_token": "x"}, "invalid_request"),
    ({"requested_token_type": "urn:ietf:params:oauth:token-type:jwt"}, "invalid_request"),
    ({"subject_token_type": "urn:ietf:params:oauth:token-type:saml2"}, "invalid_request"),
    (
        {
            "authorization_details": json.dumps(
                [{"type": "capbroker_capability", "locations": ["https://x.example"]}]
            )
        },
        "invalid_authorization_details",
    ),
]


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


def live_broker(
    tmp: Path, *, signing_algorithm: str = "Ed25519", issuer: str | None = ISSUER
) -> Iterator[LiveBroker]:
    """A broker on a loopback socket, signing with ``signing_algorithm``. ``issuer=None``:
    the socket's own http URL is the issuer, so a client that follows the metadata's
    endpoints (oauth4webapi) reaches this broker."""
    port = 0
    if issuer is None:
        port = free_port()
        issuer = f"http://127.0.0.1:{port}"
    settings = dataclasses.replace(
        broker_settings(tmp, f"sqlite:///{tmp}/capbroker.db"),
        issuer=issuer,
        signing_algorithm=signing_algorithm,
    )
    seed = Seed(
        manifests=[parse_manifest(STAGING_TEMPLATE, "t#1"), parse_manifest(FLOOR, "t#2")],
        principals=[Principal("admin", "root"), Principal("agent", "claude-code")],
    )
    world = seeded_world(settings, seed)
    rs = world.services.principals.create("resource_server", RESOURCE_SERVER, actor="test")
    server = ServerThread(create_app(world.services), port=port).start()
    try:
        yield LiveBroker(
            server.url,
            world.services,
            world.credential("claude-code"),
            world.credential("root"),
            rs.credential,
            issuer=issuer,
        )
    finally:
        server.stop()
        world.services.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveBroker]:
    yield from live_broker(tmp_path_factory.mktemp("interop"))
