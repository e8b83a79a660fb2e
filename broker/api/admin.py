"""Admin surface: templates and policy floor, agents, admins, audit, explain, keys.

The synchronous handlers read and write the database and check credentials (a slow
hash): they run in worker threads (``sync_to_thread=True``), never on the event loop,
so a slow database stalls only the admin calls waiting on it (issue 15)."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from litestar import Controller, Request, get, post
from litestar.params import Parameter

from broker.api import answers
from broker.api.schemas import ExplainRequest, KillEngage, ManifestApply, PrincipalCreate
from broker.api.wire import bearer, decode_json
from broker.audit.reader import AuditQuery, query_events, verify_all
from broker.auth.authenticator import Caller
from broker.auth.credentials import Kind
from broker.errors import InvalidRequest
from broker.manifests import parse_manifest
from broker.services.container import Services
from broker.services.explain import ExplainQuery
from broker.services.kills import KillRecord
from broker.services.principals import PrincipalView
from broker.services.templates import TemplateRecord
from broker.tokens.jwks import client_keys

PrincipalKind = Literal["agents", "admins", "resource-servers"]
# Bounds every store can hold (a 64-bit column; SQLite overflows at 2^63).
MAX_VERSION = 2**31 - 1
MAX_TIME = 1e11  # epoch seconds, year ~5138


def _admin(request: Request[Any, Any, Any], services: Services) -> Caller:
    return services.authenticate(bearer(request), kind="admin")


def _template(record: TemplateRecord) -> dict[str, Any]:
    return {
        "name": record.template.name,
        "version": record.version,
        "digest": record.digest,
        "created_at": record.created_at,
        "created_by": record.created_by,
        "spec": record.spec,
    }


def _kill(r: KillRecord) -> dict[str, Any]:
    return {
        "id": r.switch.id,
        "scope": r.switch.scope,
        "name": r.switch.label,
        "reason": r.reason,
        "created_at": r.created_at,
        "created_by": r.created_by,
        "lifted_at": r.lifted_at,
        "lifted_by": r.lifted_by,
    }


def _principal(p: PrincipalView) -> dict[str, Any]:
    return dataclasses.asdict(p)


_KINDS: dict[str, Kind] = {
    "agents": "agent",
    "admins": "admin",
    "resource-servers": "resource_server",
}


def _kind(kind: PrincipalKind) -> Kind:
    return _KINDS[kind]


class AdminController(Controller):
    path = "/v1/admin"
    tags = ["admin"]

    @get("/templates", sync_to_thread=True)
    def list_templates(
        self, request: Request[Any, Any, Any], services: Services
    ) -> list[dict[str, Any]]:
        _admin(request, services)
        with services.db.read() as conn:
            return [_template(r) for r in services.templates.list_latest(conn)]

    @get("/templates/{name:str}", sync_to_thread=True)
    def get_template(
        self, request: Request[Any, Any, Any], name: str, services: Services
    ) -> dict[str, Any]:
        """The newest version, plus the list of every version."""
        _admin(request, services)
        with services.db.read() as conn:
            history = services.templates.history(conn, name)
        return {**_template(history[-1]), "versions": [r.version for r in history]}

    @get("/templates/{name:str}/versions/{version:int}", sync_to_thread=True)
    def get_template_version(
        self,
        request: Request[Any, Any, Any],
        name: str,
        services: Services,
        version: int = Parameter(ge=1, le=MAX_VERSION),
    ) -> dict[str, Any]:
        _admin(request, services)
        with services.db.read() as conn:
            return _template(services.templates.version(conn, name, version))

    @post("/manifests", status_code=200)
    async def apply_manifests(
        self, request: Request[Any, Any, Any], services: Services
    ) -> dict[str, Any]:
        """Apply CapabilityTemplate / PolicyFloor / ResourceServer documents (idempotent; dry_run
        shows a diff)."""
        data = decode_json(request, await request.body(), ManifestApply)
        admin = _admin(request, services)
        manifests = [
            parse_manifest(doc, f"request#{i + 1}") for i, doc in enumerate(data.manifests)
        ]
        changes = services.apply_manifests(manifests, actor=admin.label, dry_run=data.dry_run)
        return {"dry_run": data.dry_run, "changes": [dataclasses.asdict(c) for c in changes]}

    @get("/policy-floor", sync_to_thread=True)
    def get_floor(self, request: Request[Any, Any, Any], services: Services) -> dict[str, Any]:
        from broker.domain.policy import floor_to_spec

        _admin(request, services)
        with services.db.read() as conn:
            floor, version = services.templates.floor(conn)
        return {"version": version, "spec": floor_to_spec(floor)}

    @get("/{kind:str}", sync_to_thread=True)
    def list_principals(
        self, request: Request[Any, Any, Any], kind: PrincipalKind, services: Services
    ) -> list[dict[str, Any]]:
        _admin(request, services)
        return [_principal(p) for p in services.principals.list(_kind(kind))]

    @post("/{kind:str}", status_code=201)
    async def create_principal(
        self, request: Request[Any, Any, Any], kind: PrincipalKind, services: Services
    ) -> dict[str, Any]:
        """Create an agent, admin or resource server. The credential is in this answer and
        nowhere else, ever. A resource server may instead (``with_secret: false``) or also
        have public keys (``jwks``) for private_key_jwt."""
        data = decode_json(request, await request.body(), PrincipalCreate)
        admin = _admin(request, services)
        if kind == "resource-servers" and (data.jwks is not None or not data.with_secret):
            server = services.principals.create_resource_server(
                data.name,
                actor=admin.label,
                description=data.description,
                keys=client_keys(data.jwks) if data.jwks is not None else {},
                with_secret=data.with_secret,
            )
            return {
                **_principal(server.principal),
                "credential": server.credential,
                "kids": list(server.kids),
            }
        if data.jwks is not None or not data.with_secret:
            raise InvalidRequest("jwks and with_secret are for resource servers only")
        created = services.principals.create(
            _kind(kind), data.name, actor=admin.label, description=data.description
        )
        return {**_principal(created.principal), "credential": created.credential}

    @post("/{kind:str}/{name:str}/{action:str}", status_code=200, sync_to_thread=True)
    def set_disabled(
        self,
        request: Request[Any, Any, Any],
        kind: PrincipalKind,
        name: str,
        action: Literal["disable", "enable"],
        services: Services,
    ) -> dict[str, Any]:
        admin = _admin(request, services)
        view = services.principals.set_disabled(
            _kind(kind), name, disabled=action == "disable", actor=admin.label
        )
        return _principal(view)

    @get("/audit", sync_to_thread=True)
    def audit(
        self,
        request: Request[Any, Any, Any],
        services: Services,
        type: str | None = None,
        actor: str | None = None,
        subject: str | None = None,
        outcome: str | None = None,
        since: float | None = Parameter(default=None, ge=0, le=MAX_TIME),
        until: float | None = Parameter(default=None, ge=0, le=MAX_TIME),
        limit: int = Parameter(default=100, ge=1, le=1000),
    ) -> list[dict[str, Any]]:
        """Audit events, newest first."""
        _admin(request, services)
        with services.db.read() as conn:
            return query_events(
                conn, AuditQuery(type, actor, subject, outcome, since, until, limit)
            )

    @get("/audit/verify", sync_to_thread=True)
    def audit_verify(self, request: Request[Any, Any, Any], services: Services) -> dict[str, Any]:
        _admin(request, services)
        with services.db.read() as conn:
            reports = verify_all(conn)
        return {
            "ok": all(r.ok for r in reports),
            "chains": [
                {
                    "chain": r.chain_id,
                    "writer": r.writer,
                    "events": r.events,
                    "ok": r.ok,
                    "first_bad_seq": r.first_bad_seq,
                    "problem": r.problem,
                }
                for r in reports
            ],
        }

    @post("/explain", status_code=200)
    async def explain(self, request: Request[Any, Any, Any], services: Services) -> dict[str, Any]:
        """Would this template (or token) allow this action in this environment, and why not?"""
        data = decode_json(request, await request.body(), ExplainRequest)
        _admin(request, services)
        query = ExplainQuery(
            **{f.name: getattr(data, f.name) for f in dataclasses.fields(ExplainQuery)}
        )
        return answers.explain(services, query)

    @get("/approvals", sync_to_thread=True)
    def list_approvals(
        self, request: Request[Any, Any, Any], services: Services, status: str | None = None
    ) -> list[dict[str, Any]]:
        """Held calls, newest first (``?status=pending`` for the ones waiting on a human)."""
        _admin(request, services)
        return [a.as_dict() for a in services.approvals.list(status=status)]

    @get("/approvals/{approval_id:str}", sync_to_thread=True)
    def get_approval(
        self, request: Request[Any, Any, Any], approval_id: str, services: Services
    ) -> dict[str, Any]:
        """The blast radius: what the call does, where, on what, and who asked."""
        _admin(request, services)
        return services.approvals.get(approval_id).as_dict()

    @post("/approvals/{approval_id:str}/{verdict:str}", status_code=200, sync_to_thread=True)
    def decide_approval(
        self,
        request: Request[Any, Any, Any],
        approval_id: str,
        verdict: Literal["approve", "deny"],
        services: Services,
    ) -> dict[str, Any]:
        """Approve or deny. Only admins vote; an agent's credential is refused here."""
        admin = _admin(request, services)
        view = services.approvals.vote(
            approval_id, approver=admin.label, approver_id=admin.principal_id, decision=verdict
        )
        return view.as_dict()

    @post("/kills", status_code=201)
    async def engage_kill(
        self, request: Request[Any, Any, Any], services: Services
    ) -> dict[str, Any]:
        """Revoke every token of an agent, a template, a provider or everything, and block
        issuance for it until lifted. Gateways refuse those tokens within about a second."""
        data = decode_json(request, await request.body(), KillEngage)
        admin = _admin(request, services)
        record, revoked = services.kills.engage(
            data.scope, data.name, actor=admin.label, reason=data.reason
        )
        return {**_kill(record), "tokens_revoked": revoked}

    @get("/kills", sync_to_thread=True)
    def list_kills(
        self, request: Request[Any, Any, Any], services: Services, all: bool = False
    ) -> list[dict[str, Any]]:
        _admin(request, services)
        return [_kill(r) for r in services.kills.list(include_lifted=all)]

    @post("/kills/{kill_id:str}/lift", status_code=200, sync_to_thread=True)
    def lift_kill(
        self, request: Request[Any, Any, Any], kill_id: str, services: Services
    ) -> dict[str, str]:
        admin = _admin(request, services)
        services.kills.lift(kill_id, actor=admin.label)
        return {"kill": kill_id, "status": "lifted"}

    @get("/keys", sync_to_thread=True)
    def keys(self, request: Request[Any, Any, Any], services: Services) -> dict[str, Any]:
        _admin(request, services)
        return answers.key_listing(services.keys, services.clock())

    @post("/keys/rotate", status_code=201, sync_to_thread=True)
    def rotate(self, request: Request[Any, Any, Any], services: Services) -> dict[str, Any]:
        admin = _admin(request, services)
        key = services.keys.rotate(actor=admin.label)
        return {"kid": key.kid, "activates_at": key.activates_at}
