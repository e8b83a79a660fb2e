"""A seeded deployment: the world ``capbroker demo`` replays its incident in, and the one
the tests build theirs on (tests/support/ wraps it for gateway stacks, API brokers and
Vault worlds).

Seeding follows an operator's first steps, in this order: the first signing key, the
templates and the floor, each provider's master key into the secret store, then the
principals with their credentials. ``provider_route`` and ``serve_gateway`` put a gateway
in front of providers the same way everywhere. ``demo_seed`` is the teaching demo's world: its
template and floor, the demo provider's master key, an approver and an agent;
``railway_demo_seed`` the same on the Railway replica, whose environments are
qualified by their project (``<project id>/staging``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from broker.auth.credentials import Kind
from broker.clock import Clock, system_clock
from broker.demo.provider.server import ServerThread
from broker.demo.railway.seed import IDS
from broker.gateway.app import Gateway
from broker.gateway.factory import build_gateway, master_key_secret_for
from broker.gateway.route import ProviderRoute
from broker.gateway.server import ProblemHttpToolsProtocol
from broker.manifests import Manifest, parse_manifest
from broker.routemap import RouteMap, shipped_map
from broker.secrets.location import KeyLocation
from broker.services.container import Services, build_services
from broker.settings import Settings

PROVIDER = "railway-demo"
TEMPLATE = {
    "apiVersion": "capbroker.dev/v1",
    "kind": "CapabilityTemplate",
    "metadata": {"name": "staging-agent"},
    "spec": {
        "provider": PROVIDER,
        "description": "Coding agents on staging tasks.",
        "environments": ["staging"],
        "actions": [
            "project:read",
            "environment:read",
            "service:read",
            "deployment:*",
            "variable:read",
            "variable:write",
            "volume:read",
            "volume:delete",
            "backup:*",
        ],
        "ttl": {"default": "15m", "max": "1h"},
        "agents": ["claude-*"],
        "budgets": {"calls": 100, "destructive_calls": 3},
        "approval": {"actions": ["volume:delete"], "approvers": 1},
    },
}
FLOOR = {
    "apiVersion": "capbroker.dev/v1",
    "kind": "PolicyFloor",
    "metadata": {"name": "default"},
    "spec": {
        "forbidden_actions": [
            # backup:delete, and privilege on the real Railway API (the `railway` route map)
            "backup:delete",
            "deployment:approve",
            "environment:rename",
            "member:add",
            "member:invite",
            "member:update",
            "project:delete-force",
            "project:publish",
            "project:transfer",
            "shell:token",
            "ssh-key:create",
            "token:create",
            "workspace:policy",
        ],
        "protected_environments": ["production"],
    },
}


RAILWAY = "railway"
RAILWAY_STAGING = f"{IDS.shop}/staging"  # project shop's staging, never blog's
RAILWAY_TEMPLATE = {
    "apiVersion": "capbroker.dev/v1",
    "kind": "CapabilityTemplate",
    "metadata": {"name": "shop-staging-agent"},
    "spec": {
        "provider": RAILWAY,
        "description": "Coding agents on staging tasks in project shop (Railway).",
        "environments": [RAILWAY_STAGING],
        "actions": [
            "project:read",
            "environment:read",
            "environment:config-read",
            "service:read",
            "deployment:*",
            "variable:read",
            "variable:write",
            "variable:delete",
            "volume:read",
            "volume:delete",
            "backup:*",
        ],
        "ttl": {"default": "15m", "max": "1h"},
        "agents": ["claude-*"],
        "budgets": {"calls": 100, "destructive_calls": 3},
        "approval": {"actions": ["variable:delete", "volume:delete"], "approvers": 1},
    },
}


@dataclass(frozen=True)
class Principal:
    kind: Kind
    name: str
    description: str = ""


@dataclass(frozen=True)
class Seed:
    """What a fresh deployment holds before anyone calls it."""

    manifests: Sequence[Manifest] = ()
    provider_keys: Mapping[str, str] = field(default_factory=dict, repr=False)
    principals: Sequence[Principal] = ()
    actor: str = "test"
    key_actor: str | None = None  # who made the first signing key (default: actor)


@dataclass
class World:
    """A broker's services over a seeded store, and the credentials made for it."""

    services: Services
    credentials: dict[str, str] = field(repr=False)  # principal name -> credential
    principal_ids: dict[str, str]

    def credential(self, name: str) -> str:
        return self.credentials[name]

    def close(self) -> None:
        self.services.close()


def seed_world(services: Services, seed: Seed) -> World:
    """Seed ``services``' store with ``seed``; the credentials exist only in the result."""
    services.keys.ensure_key(actor=seed.key_actor or seed.actor)
    if seed.manifests:
        services.apply_manifests(list(seed.manifests), actor=seed.actor, dry_run=False)
    for provider, master_key in seed.provider_keys.items():
        services.secrets.put(master_key_secret_for(provider), master_key.encode())
    credentials: dict[str, str] = {}
    ids: dict[str, str] = {}
    for p in seed.principals:
        created = services.principals.create(
            p.kind, p.name, actor=seed.actor, description=p.description
        )
        credentials[p.name], ids[p.name] = created.credential, created.principal.id
    return World(services, credentials, ids)


def build_world(
    settings: Settings,
    seed: Seed,
    *,
    clock: Clock = system_clock,
    environ: Mapping[str, str] | None = None,
    writer: str,
) -> World:
    """The broker's services for ``settings`` (migrated), seeded with ``seed``."""
    services = build_services(settings, clock=clock, environ=environ, writer=writer)
    try:
        return seed_world(services, seed)
    except BaseException:
        services.close()
        raise


def provider_route(name: str, upstream: str, route_map: RouteMap | None = None) -> ProviderRoute:
    """The gateway's route to provider ``name`` at ``upstream`` (its shipped map by default),
    with its master key read from where ``seed_world`` put it."""
    return ProviderRoute(name, route_map or shipped_map(name), upstream, KeyLocation.default(name))


def serve_gateway(
    settings: Settings,
    routes: dict[str, ProviderRoute],
    *,
    jwks: Callable[[], Mapping[str, object]] | None = None,
    poll_interval: float,
) -> tuple[Gateway, ServerThread]:
    """A gateway over ``routes``, started on a free loopback port."""
    gateway = build_gateway(settings, routes, jwks=jwks, poll_interval=poll_interval)
    return gateway, ServerThread(gateway, http=ProblemHttpToolsProtocol).start()


def demo_seed(master_key: str) -> Seed:
    """What ``capbroker demo --provider railway-demo`` seeds: its template and floor, the
    demo provider's master key, the human approver alice and the simulated agent."""
    return _seed(TEMPLATE, PROVIDER, master_key)


def railway_demo_seed(master_key: str) -> Seed:
    """What ``capbroker demo`` seeds on the Railway replica: its template, the same floor,
    the replica's account token as the master key, alice and the simulated agent."""
    return _seed(RAILWAY_TEMPLATE, RAILWAY, master_key)


def _seed(template: Mapping[str, object], provider: str, master_key: str) -> Seed:
    return Seed(
        manifests=[parse_manifest(FLOOR, "demo#floor"), parse_manifest(template, "demo#template")],
        provider_keys={provider: master_key},
        principals=[
            Principal("admin", "alice", "the human approver"),
            Principal("agent", "claude-code", "the simulated agent"),
        ],
        actor="admin:demo",
        key_actor="system:bootstrap",
    )
