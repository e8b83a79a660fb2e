"""A gateway over real sockets in front of two faulty upstreams (faulty_upstream.py): the
``echo`` provider and the ``slow`` one, each with its own pool and deadline, both behind
copies of echo-map.yaml. The fault tests make ``slow`` misbehave and watch ``echo``.
With ``proxy=True`` the same gateway also serves the forward proxy, answering for
``<provider>.example`` (``proxy_port``, ``ca_file``)."""

from __future__ import annotations

import secrets
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from broker.audit.reader import AuditQuery, query_events, verify_all
from broker.clock import system_clock
from broker.demo.provider.server import ServerThread
from broker.demo.world import Principal, Seed, serve_gateway
from broker.domain.grants import GrantRequest
from broker.gateway.factory import build_gateway
from broker.gateway.proxy.ca import LeafCache, load_or_create_ca
from broker.gateway.proxy.serve import FrontEndsThread
from broker.gateway.route import ProviderRoute
from broker.gateway.upstream import UpstreamLimits
from broker.manifests import parse_manifest
from broker.routemap import load_route_map
from broker.secrets.location import KeyLocation
from broker.services.container import Services
from tests.support.factories import template_doc
from tests.support.faulty_upstream import FaultyUpstream
from tests.support.world import broker_settings, seeded_world

ECHO_MAP = Path(__file__).with_name("echo-map.yaml")
PROVIDERS = ("echo", "slow")
# ``slow``: a small pool and short deadlines, so its faults show within seconds.
SLOW_LIMITS = UpstreamLimits(connections=4, connect=1.0, read=1.5, deadline=3.0)


@dataclass
class FaultStack:
    services: Services
    url: str
    upstreams: dict[str, FaultyUpstream]
    credential: str = field(repr=False)
    server: ServerThread | FrontEndsThread = field(repr=False)
    proxy_port: int = 0  # with proxy=True: the forward proxy's port
    ca_file: Path | None = None  # and the CA its leaf certificates chain to

    def token(self, provider: str) -> str:
        grant = GrantRequest(f"{provider}-staging", "staging")
        return self.services.issuance.issue(self.credential, grant).access_token

    def events(self, kind: str) -> list[dict[str, Any]]:
        with self.services.db.read() as conn:
            assert all(r.ok for r in verify_all(conn))
            return [e for e in query_events(conn, AuditQuery(limit=5000)) if e["type"] == kind]

    def completions(self, *, at_least: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """The calls of every ``gateway.completed`` event, once ``at_least`` have landed."""
        deadline = time.monotonic() + timeout
        while True:
            calls = [c for e in self.events("gateway.completed") for c in e["data"]["calls"]]
            if len(calls) >= at_least or time.monotonic() > deadline:
                return calls
            time.sleep(0.05)


def _map_for(provider: str, tmp: Path) -> Path:
    text = ECHO_MAP.read_text(encoding="utf-8")
    copy = tmp / f"{provider}-map.yaml"
    copy.write_text(
        text.replace("{name: echo}", f"{{name: {provider}}}").replace(
            "provider: echo", f"provider: {provider}"
        )
    )
    return copy


def build_fault_stack(tmp: Path, *, proxy: bool = False) -> Iterator[FaultStack]:
    keys = {p: secrets.token_urlsafe(24) for p in PROVIDERS}
    templates = [
        parse_manifest(
            template_doc(
                f"{p}-staging",
                provider=p,
                environments=["staging"],
                actions=["echo:read", "echo:write"],
                ttl={"default": "10m", "max": "30m"},
                agents=["claude-*"],
            ),
            f"t#{p}",
        )
        for p in PROVIDERS
    ]
    seed = Seed(
        manifests=templates, provider_keys=keys, principals=[Principal("agent", "claude-code")]
    )
    world = seeded_world(broker_settings(tmp, f"sqlite:///{tmp}/capbroker.db"), seed)
    upstreams = {p: FaultyUpstream().start() for p in PROVIDERS}
    routes = {
        p: ProviderRoute(
            p,
            load_route_map(_map_for(p, tmp)),
            upstreams[p].url,
            KeyLocation.default(p),
            limits=SLOW_LIMITS if p == "slow" else UpstreamLimits(),
            hosts=(f"{p}.example",),
        )
        for p in PROVIDERS
    }
    settings, jwks = world.services.settings, world.services.keys.jwks
    server: ServerThread | FrontEndsThread
    ca_file = None
    if proxy:
        gateway = build_gateway(settings, routes, jwks=jwks, poll_interval=0.2)
        ca = load_or_create_ca(world.services.secrets, system_clock)
        ca_file = tmp / "ca.pem"
        ca_file.write_text(ca.pem())
        server = FrontEndsThread(gateway, LeafCache(ca, system_clock)).start()
    else:
        gateway, server = serve_gateway(settings, routes, jwks=jwks, poll_interval=0.2)
    try:
        yield FaultStack(
            world.services,
            server.url,
            upstreams,
            world.credential("claude-code"),
            server,
            server.proxy_port if isinstance(server, FrontEndsThread) else 0,
            ca_file,
        )
    finally:
        server.stop()
        for upstream in upstreams.values():
            upstream.stop()
        gateway.store.db.engine.dispose()
        world.services.close()


def read_head(sock: socket.socket) -> bytes:
    """Read from ``sock`` until the end of an answer's head (the tests' raw clients)."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        assert piece, data
        data += piece
    return data


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``condition`` (bounded); the caller asserts what it needs afterwards."""
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
