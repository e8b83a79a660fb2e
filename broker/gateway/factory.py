"""Builds a gateway from settings and a providers file (no globals)."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from broker.audit.writer import AuditWriter
from broker.clock import Clock, system_clock
from broker.errors import InvalidRequest
from broker.gateway.app import Gateway
from broker.gateway.authenticate import Authenticator
from broker.gateway.forward import Forwarder
from broker.gateway.masterkeys import MasterKeys, secret_calls
from broker.gateway.notify import ApprovalWebhook
from broker.gateway.pipeline import Pipeline
from broker.gateway.recording import Approvals, AuditStore, Recorder
from broker.gateway.revocations import RevocationFeed
from broker.gateway.route import ProviderRoute
from broker.gateway.tokens import GatewayKeys, JwksFetcher, VerifiedTokens, http_jwks
from broker.gateway.upstream import Upstream, UpstreamLimits
from broker.manifests.schemas import schema_problems
from broker.metrics.gateway import instrument_gateway
from broker.routemap import load_route_map, shipped_map
from broker.routemap.compile import SHIPPED_MAPS
from broker.routemap.routemap import RouteMap
from broker.secrets.base import SecretStore
from broker.secrets.location import KeyLocation, default_key_name
from broker.services.approvals import ApprovalService
from broker.services.container import build_secret_store
from broker.services.templates import TemplateService
from broker.settings import Settings
from broker.store import migrate
from broker.store.checkpoint import WalCheckpointer
from broker.store.database import Database
from broker.store.engine import Timeouts, make_engine
from broker.store.group_commit import GroupCommit
from broker.tokens import TokenVerifier
from broker.tokens.dpop import DPoPVerifier


def master_key_secret_for(provider: str) -> str:
    return default_key_name(provider)


def _route_map(ref: str, base: Path) -> RouteMap:
    if ref in SHIPPED_MAPS:
        return shipped_map(ref)
    path = Path(ref) if Path(ref).is_absolute() else base / ref
    return load_route_map(path)


def parse_providers(doc: object, *, source: str, base: Path) -> dict[str, ProviderRoute]:
    """``{providers: [{name, route_map, upstream?, master_key_secret? or master_key?, auth?,
    inventory?, hosts?, token_env?, upstream_limits?}]}``, checked against
    ``providers.schema.json``; then each route map is loaded and matched, and no public
    host may be named by two providers."""
    problems = schema_problems("Providers", doc)
    if problems:
        raise InvalidRequest(
            "; ".join(
                f"{source}: {path}: {message}" if path else f"{source}: {message}"
                for path, message in problems
            )
        )
    assert isinstance(doc, Mapping)
    routes: dict[str, ProviderRoute] = {}
    hosts: dict[str, str] = {}  # host -> the provider that named it first
    for i, entry in enumerate(doc["providers"]):
        where = f"{source}: providers[{i}]"
        route_map = _route_map(entry["route_map"], base)
        name = entry["name"]
        if name != route_map.provider:
            raise InvalidRequest(f"{where}: route map is for provider {route_map.provider!r}")
        if name in routes:
            raise InvalidRequest(f"{where}: provider {name!r} listed twice")
        auth = entry.get("auth")
        if auth is not None and auth not in route_map.auth_alternatives:
            known = ", ".join(sorted(route_map.auth_alternatives)) or "none"
            raise InvalidRequest(f"{where}: auth {auth!r} is no alternative of the map ({known})")
        for host in entry.get("hosts", ()):
            if hosts.setdefault(host, name) != name:
                raise InvalidRequest(f"{where}: host {host!r} is named by {hosts[host]!r} too")
        routes[name] = ProviderRoute(
            name=name,
            route_map=route_map,
            upstream=entry.get("upstream", route_map.upstream).rstrip("/"),
            master_key=_key_location(entry, name, where),
            inventory={k: tuple(v) for k, v in entry.get("inventory", {}).items()},
            auth=route_map.auth_for(auth),
            hosts=tuple(entry.get("hosts", ())),
            token_env=tuple(entry.get("token_env", ())),
            limits=UpstreamLimits(**entry.get("upstream_limits", {})),
        )
    return routes


def _key_location(entry: Mapping[str, Any], name: str, where: str) -> KeyLocation:
    try:
        return KeyLocation.from_entry(entry, name)
    except InvalidRequest as exc:
        raise InvalidRequest(f"{where}: {exc.detail}") from None


def load_providers(path: Path) -> dict[str, ProviderRoute]:
    try:
        doc: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidRequest(f"{path}: cannot be read ({exc.strerror})") from None
    except yaml.YAMLError:
        raise InvalidRequest(f"{path}: not valid YAML") from None
    return parse_providers(doc, source=str(path), base=path.parent)


def build_gateway(
    settings: Settings,
    providers: dict[str, ProviderRoute],
    *,
    clock: Clock = system_clock,
    secrets: SecretStore | None = None,
    jwks: JwksFetcher | None = None,
    master_key_ttl: float | None = None,
    poll_interval: float = 1.0,
) -> Gateway:
    engine = make_engine(
        settings.effective_database_url,
        Timeouts.of(settings),
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
    )
    migrate.upgrade(engine)
    db = Database(engine, wait_seconds=settings.database_wait)
    audit = AuditWriter(writer=f"gateway@{socket.gethostname()}:{os.getpid()}", clock=clock)
    keys = GatewayKeys(
        jwks or http_jwks(f"{settings.effective_issuer}/.well-known/jwks.json"), clock=clock
    )
    verifier = TokenVerifier(
        keys.resolve,
        issuer=settings.effective_issuer,
        audience=settings.audience,
        leeway=settings.leeway,
        max_lifetime=settings.max_token_ttl,
        algorithms=settings.accepted_algorithms,
    )
    webhook = _approval_webhook(settings, clock)
    master_keys = MasterKeys(
        secrets if secrets is not None else build_secret_store(settings),
        clock=clock,
        ttl=settings.master_key_ttl if master_key_ttl is None else master_key_ttl,
        calls=secret_calls(settings),
    )
    store = AuditStore(db, audit, GroupCommit(db), WalCheckpointer.for_engine(engine))
    approvals = Approvals(
        ApprovalService(db, audit, clock, ttl=settings.approval_ttl),
        base_url=settings.effective_issuer,
        webhook=webhook,
    )
    feed = RevocationFeed(db, clock=clock, interval=poll_interval)
    upstream = Upstream({name: route.limits for name, route in providers.items()})
    pipeline = Pipeline(
        providers,
        Authenticator(
            VerifiedTokens(verifier, keys, clock=clock, leeway=settings.leeway),
            feed,
            dpop=DPoPVerifier(max_age=settings.dpop_max_age),
        ),
        Recorder(
            store, TemplateService(db, audit, clock, ttl_ceiling=settings.max_token_ttl), approvals
        ),
        Forwarder(upstream, master_keys),
        decision_deadline=settings.decision_deadline,
    )
    gateway = Gateway(
        pipeline,
        feed=feed,
        keys=keys,
        store=store,
        upstream=upstream,
        public_url=settings.gateway_public_url,
    )
    instrument_gateway(gateway, settings)
    return gateway


def _approval_webhook(settings: Settings, clock: Clock) -> ApprovalWebhook | None:
    if not settings.approval_webhook_url:
        return None
    try:
        key = Path(settings.approval_webhook_secret_file).read_bytes().strip()
    except OSError as exc:
        raise InvalidRequest(
            f"approval_webhook_secret_file: cannot be read ({exc.strerror})"
        ) from None
    if len(key) < 16:
        raise InvalidRequest("approval_webhook_secret_file: use a key of 16 bytes or more")
    return ApprovalWebhook(settings.approval_webhook_url, key, clock=clock)
