"""The Railway replica behind a gateway serving both front ends in one event loop: path
mode on one loopback port, the forward proxy on another, answering for Railway's real host
(``backboard.railway.com``) from a providers file whose upstream is the replica's local
URL, so nothing leaves the machine. Seeded like ``capbroker demo``."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

import tests.support.stack as stack_module
from broker.api.app import create_app
from broker.clock import system_clock
from broker.demo.provider.server import ServerThread
from broker.demo.railway import ReplicaServer, serve_replica
from broker.demo.world import RAILWAY, railway_demo_seed
from broker.gateway.app import Gateway
from broker.gateway.factory import build_gateway, load_providers
from broker.gateway.proxy.ca import LeafCache, load_or_create_ca
from broker.gateway.proxy.passthrough import load_passthrough
from broker.gateway.proxy.serve import FrontEndsThread
from broker.gateway.route import ProviderRoute
from broker.services.container import Services, build_secret_store
from broker.settings import Settings
from tests.gateway.proxy.tls_standin import STANDIN_HOST, TlsStandIn
from tests.support.railway_stack import ReplicaSession
from tests.support.servers import HOST
from tests.support.stack import Stack
from tests.support.world import broker_settings, seeded_world

RAILWAY_HOST = "backboard.railway.com"
TOKEN_ENV = ("RAILWAY_API_TOKEN", "RAILWAY_TOKEN")  # what the Railway CLI reads


@dataclass
class ProxyStack(ReplicaSession):
    services: Services
    url: str  # path mode
    proxy_port: int
    ca_file: Path
    providers_file: Path
    broker_url: str  # the broker's API, for capbroker exec
    replica: ReplicaServer
    standin: TlsStandIn  # a passthrough host's own server (its own CA)
    master_key: str = field(repr=False)
    agent: str = field(repr=False)

    def proxy_url(self, token: str | None) -> str:
        credentials = f"capbroker:{token}@" if token is not None else ""
        return f"http://{credentials}{HOST}:{self.proxy_port}"


def _providers(upstream: str, passthrough: str) -> dict[str, Any]:
    entry = {
        "name": RAILWAY,
        "route_map": RAILWAY,
        "upstream": upstream,
        "hosts": [RAILWAY_HOST],
        "token_env": list(TOKEN_ENV),
    }
    return {"providers": [entry], "proxy": {"passthrough": [passthrough]}}


def build_proxy_stack(tmp_path: Path, database_url: str) -> Iterator[ProxyStack]:
    master_key = secrets.token_urlsafe(24)
    world = seeded_world(broker_settings(tmp_path, database_url), railway_demo_seed(master_key))
    services = world.services
    with (
        serve_replica(master_key, secrets.token_urlsafe(24)) as replica,
        ServerThread(create_app(services)) as broker,
        TlsStandIn(tmp_path / "standin-ca.pem") as standin,
    ):
        providers_file = tmp_path / "providers.yaml"
        passthrough = f"{STANDIN_HOST}:{standin.port}"
        providers_file.write_text(yaml.safe_dump(_providers(replica.url, passthrough)))
        routes = load_providers(providers_file)
        gateway = build_gateway(
            services.settings, routes, jwks=services.keys.jwks, poll_interval=0.2
        )
        ca = load_or_create_ca(services.secrets, system_clock)
        ca_file = tmp_path / "ca.pem"
        ca_file.write_text(ca.pem())
        front = FrontEndsThread(
            gateway,
            LeafCache(ca, system_clock),
            passthrough=load_passthrough(providers_file, routes),
        ).start()
        try:
            yield ProxyStack(
                services,
                front.url,
                front.proxy_port,
                ca_file,
                providers_file,
                broker.url,
                replica,
                standin,
                master_key,
                world.credential("claude-code"),
            )
        finally:
            front.stop()
            gateway.store.db.engine.dispose()
            services.close()


@dataclass
class ProxyFront:
    """Where the forward proxy of ``permissive_stack_with_proxy`` listens, and its CA."""

    port: int = 0
    ca_file: str = ""


def permissive_stack_with_proxy(tmp_path: Path, suffix: str, front: ProxyFront) -> Iterator[Stack]:
    """``tests.support.stack``'s permissive stack with its gateway serving both front ends,
    each provider answering for ``<name><suffix>`` in the proxy; ``front`` is filled in."""

    def serve_both(
        settings: Settings, routes: dict[str, ProviderRoute], **options: Any
    ) -> tuple[Gateway, FrontEndsThread]:
        for name, route in routes.items():
            route.hosts = (f"{name}{suffix}",)
        gateway = build_gateway(settings, routes, **options)
        ca = load_or_create_ca(build_secret_store(settings), system_clock)
        thread = FrontEndsThread(gateway, LeafCache(ca, system_clock)).start()
        ca_file = settings.data_dir / "proxy-ca.pem"
        ca_file.write_text(ca.pem())
        front.port, front.ca_file = thread.proxy_port, str(ca_file)
        return gateway, thread

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(stack_module, "serve_gateway", serve_both)
        yield from stack_module.build_stack(tmp_path, f"sqlite:///{tmp_path}/c.db", permissive=True)
