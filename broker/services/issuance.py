"""Issuing capability tokens at session start, ending sessions, revocation and introspection.

A token is signed inside the transaction that records it: if the record (or its audit
event) cannot be committed, the signed bytes are dropped and never reach the caller.
"""

from __future__ import annotations

import asyncio
import functools
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select, update

from broker.audit.writer import AuditWriter
from broker.auth.authenticator import Authenticator, Caller, CredentialRefused
from broker.blocking import BlockingCalls
from broker.clock import Clock
from broker.domain.delegation import DelegationRequest
from broker.domain.grants import Grant, GrantRequest, Refusal, decide_grant
from broker.domain.kills import first_covering
from broker.domain.policy import PolicyFloor
from broker.domain.templates import Template
from broker.errors import BrokerError, Denied, NotFound, Reason, Unavailable
from broker.services.descendants import revoke_descendants
from broker.services.kills import KillService
from broker.services.presign import Presigned, presign
from broker.services.signing import SigningKeys
from broker.services.templates import TemplateService
from broker.services.usage import BUDGETS_USED, budgets_used
from broker.store.database import Database, Tx
from broker.store.group_commit import GroupCommit
from broker.store.raw import RawStatement
from broker.store.tables import AgentSession, IssuedToken
from broker.tokens import InvalidToken, SigningKey, TokenVerifier, VerifiedToken, mint
from broker.tokens.delegation import Delegated, actors
from broker.tokens.grant import authorization_details

if TYPE_CHECKING:
    from broker.metrics.broker import BrokerMetrics

_sessions = AgentSession.__table__  # type: ignore[attr-defined]
_tokens = IssuedToken.__table__  # type: ignore[attr-defined]
# The two writes every token makes, straight to the driver (broker/store/raw.py).
_INSERT_TOKEN = RawStatement(
    "INSERT INTO tokens (jti, session_id, agent_id, template_name, template_version, provider,"
    " environment, actions, kid, issued_at, expires_at) VALUES (:jti, :session_id, :agent_id,"
    " :template_name, :template_version, :provider, :environment, :actions, :kid, :issued_at,"
    " :expires_at)"
)
# A delegated token also names its parent and actor (migration 0005): only these write them.
_INSERT_DELEGATED = RawStatement(
    "INSERT INTO tokens (jti, session_id, agent_id, template_name, template_version, provider,"
    " environment, actions, kid, issued_at, expires_at, parent_jti, actor_id) VALUES (:jti,"
    " :session_id, :agent_id, :template_name, :template_version, :provider, :environment,"
    " :actions, :kid, :issued_at, :expires_at, :parent_jti, :actor_id)"
)
_INSERT_SESSION = RawStatement(
    "INSERT INTO sessions (id, agent_id, created_at) VALUES (:id, :agent_id, :created_at)"
)


@dataclass(frozen=True)
class IssuedCapability:
    access_token: str
    expires_in: int
    session_id: str
    jti: str
    grant: Grant
    authorization_details: list[dict[str, Any]]

    def __repr__(self) -> str:
        return (
            f"IssuedCapability(jti={self.jti!r}, session_id={self.session_id!r}, access_token=***)"
        )


@functools.lru_cache(maxsize=4096)
def _decide(
    template: Template,
    version: int,
    floor: PolicyFloor,
    agent_name: str,
    request: GrantRequest,
    ttl_ceiling: int,
) -> Grant | Refusal:
    # Pure and keyed on immutable values, so a cached answer (refusals too) is the answer.
    return decide_grant(
        template, version, floor, agent_name=agent_name, request=request, ttl_ceiling=ttl_ceiling
    )


def _holds(caller: Caller, claims: Any) -> bool:
    """An agent's own tokens: its subject, or a delegated token it is an actor of."""
    return bool(claims["sub"] == caller.principal_id) or caller.principal_id in (
        a["sub"] for a in actors(claims)
    )


def _raise_refusal(outcome: IssuedCapability | BrokerError) -> IssuedCapability:
    if isinstance(outcome, BrokerError):
        raise outcome
    return outcome


class IssuanceService:
    def __init__(
        self,
        db: Database,
        audit: AuditWriter,
        clock: Clock,
        templates: TemplateService,
        keys: SigningKeys,
        verifier: TokenVerifier,
        authenticator: Authenticator,
        kills: KillService,
        *,
        issuer: str,
        audience: str,
        ttl_ceiling: int,
        signing_calls: BlockingCalls | None = None,
    ) -> None:
        self.db, self.audit, self.clock = db, audit, clock
        # Transit sign calls: their own threads and deadline (broker.blocking).
        self.signing_calls = signing_calls or BlockingCalls(
            "signer", Reason.SECRET_BACKEND_UNAVAILABLE, deadline=3.0
        )
        self.templates, self.keys, self.verifier = templates, keys, verifier
        self.authenticator = authenticator
        self.kills = kills
        self.issuer, self.audience, self.ttl_ceiling = issuer, audience, ttl_ceiling
        self.metrics: BrokerMetrics | None = None  # counts what leaves (broker.metrics)

    def issue(
        self,
        credential: str,
        request: GrantRequest,
        *,
        session_id: str | None = None,
        via: str = "tokens",
        dry_run: bool = False,
    ) -> IssuedCapability:
        """Authenticate the agent and issue, in one transaction of its own."""
        unit = self.issue_unit(credential, request, session_id=session_id, via=via, dry_run=dry_run)
        with self.db.transaction() as tx:
            outcome = unit(tx)
        return self._counted(outcome, via)

    async def issue_grouped(
        self,
        committer: GroupCommit,
        credential: str | Caller,
        request: GrantRequest,
        *,
        session_id: str | None = None,
        via: str = "tokens",
        dry_run: bool = False,
    ) -> IssuedCapability:
        """The same, sharing a commit with concurrent requests (the HTTP path). ``credential``
        may be a ``Caller`` that broker.identity already authenticated."""
        if isinstance(credential, str) and not self.authenticator.recently_verified(credential):
            # The slow hash runs in a worker thread, outside the shared transaction: an
            # unknown or wrong credential must not stall everyone else's tokens.
            checked = asyncio.to_thread(self.authenticator.check, credential, kind="agent")
            try:
                await asyncio.wait_for(checked, self.db.wait_seconds)
            except TimeoutError:
                late = Unavailable(
                    "the database did not answer in time", reason=Reason.DATABASE_UNAVAILABLE
                )
                self._counted(late, via)  # counts it and raises it
            except BrokerError as refused:
                self._counted(refused, via)  # counts it and raises it
                raise
        signer = self.keys.signer()
        presigned = None
        if signer.private is None:  # Transit: sign before the write lock, not under it
            presigned = await presign(self, credential, request, session_id, signer, dry_run)
        unit = self.issue_unit(
            credential,
            request,
            session_id=session_id,
            via=via,
            dry_run=dry_run,
            signer=signer,
            presigned=presigned,
        )
        return self._counted(await committer.run(unit), via)

    def _counted(self, outcome: IssuedCapability | BrokerError, via: str) -> IssuedCapability:
        """Count what the caller gets (a token whose record committed, or a refusal)."""
        if self.metrics is not None:
            if isinstance(outcome, BrokerError):
                self.metrics.refused(via, outcome.reason.value)
            else:
                self.metrics.issued(via)
        return _raise_refusal(outcome)

    def issue_unit(
        self,
        credential: str | Caller,
        request: GrantRequest,
        *,
        session_id: str | None,
        via: str,
        dry_run: bool = False,
        signer: SigningKey | None = None,
        presigned: Presigned | None = None,
    ) -> Callable[[Tx], IssuedCapability | BrokerError]:
        """One issuance as a unit of work. Checks come before any write, so a refusal is
        recorded (as its audit event) and returned instead of raised; the token is signed
        inside the transaction (or ahead of it, ``presigned``, when its decision is the
        same) and leaves only once that transaction has committed."""
        signer = signer or self.keys.signer()

        def unit(tx: Tx) -> IssuedCapability | BrokerError:
            try:
                agent = (
                    credential
                    if isinstance(credential, Caller)
                    else self.authenticator.authenticate(tx.conn, credential, kind="agent")
                )
            except CredentialRefused as refused:
                self.authenticator.record_refusal_in(tx, refused)
                return refused
            try:
                grant, floor_version = self.grant(tx.conn, agent, request)
                plan = presigned.plan if presigned is not None else None
                now = plan.now if plan is not None else self.clock()
                sid = self._session(tx, agent, session_id, now, plan.sid if plan else None)
            except BrokerError as refusal:
                if refusal.status >= 500:
                    raise
                self._record_refusal(tx, agent, request, refusal, via)
                return refusal
            if presigned is not None and not presigned.plan.matches(agent, grant, floor_version):
                presigned_now = None  # decided otherwise meanwhile: sign this decision here
            else:
                presigned_now = presigned
            return self._write_token(
                tx, agent, grant, sid, now, signer, floor_version, via, dry_run, presigned_now
            )

        return unit

    def grant(self, conn: Connection, agent: Caller, request: GrantRequest) -> tuple[Grant, int]:
        """The grant for ``request`` (raises its refusal), and the floor version decided on."""
        record = self.templates.latest(conn, request.template)
        floor, floor_version = self.templates.floor(conn)
        grant = _decide(
            record.template, record.version, floor, agent.name, request, self.ttl_ceiling
        )
        if isinstance(grant, Refusal):
            raise grant.error()  # recorded and returned by the unit
        kill = first_covering(
            self.kills.active(conn),
            agent_id=agent.principal_id,
            template=grant.template_name,
            provider=grant.provider,
        )
        if kill is not None:
            raise Denied(
                f"issuance for {kill.scope} {kill.label} is stopped by a kill switch",
                reason=Reason.KILL_SWITCH,
            )
        return grant, floor_version

    def claims(
        self,
        agent: Caller,
        grant: Grant,
        sid: str,
        now: float,
        jti: str,
        dry_run: bool,
        delegated: Delegated | None = None,
    ) -> dict[str, Any]:
        iat = int(now)
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": agent.principal_id,
            "aud": self.audience,
            "iat": iat,
            "nbf": iat,
            "exp": iat + grant.ttl,
            "jti": jti,
            "sid": sid,
            "client_id": agent.name,
            "template": grant.template_name,
            "template_version": grant.template_version,
            "authorization_details": authorization_details(grant, self.audience, dry_run=dry_run),
            "scope": " ".join(grant.actions),  # RFC 9068 2.2.3: the verbs, for scope checkers
        }
        if delegated is not None:  # RFC 8693 act, and the ancestors (tokens/delegation.py)
            claims.update(delegated.claims())
        if grant.dpop_jkt is not None:  # RFC 9449 6.1: bound to the proof's key
            claims["cnf"] = {"jkt": grant.dpop_jkt}
        return claims

    def _write_token(
        self,
        tx: Tx,
        agent: Caller,
        grant: Grant,
        sid: str,
        now: float,
        signer: SigningKey,
        floor_version: int,
        via: str,
        dry_run: bool,
        presigned: Presigned | None = None,
        delegated: Delegated | None = None,
    ) -> IssuedCapability:
        jti = presigned.plan.jti if presigned is not None else uuid.uuid4().hex
        claims = self.claims(agent, grant, sid, now, jti, dry_run, delegated)
        tx.insert_later(
            _INSERT_TOKEN if delegated is None else _INSERT_DELEGATED,
            {
                "jti": jti,
                "session_id": sid,
                "agent_id": agent.principal_id,
                "template_name": grant.template_name,
                "template_version": grant.template_version,
                "provider": grant.provider,
                "environment": grant.environment,
                "actions": json.dumps(grant.actions),
                "kid": signer.kid,
                "issued_at": now,
                "expires_at": float(claims["exp"]),
                **({} if delegated is None else delegated.record()),
            },
        )
        self.audit.append(
            tx,
            type="token.issued",
            actor=agent.label,
            subject=f"jti:{jti}",
            data={
                "via": via,
                "session": sid,
                "template": grant.template_name,
                "template_version": grant.template_version,
                "environment": grant.environment,
                "actions": list(grant.actions),
                "ttl": grant.ttl,
                "kid": signer.kid,
                "policy_floor_version": floor_version,
                **({} if delegated is None else {"delegation": delegated.audit_data()}),
                **({"dpop_jkt": grant.dpop_jkt} if grant.dpop_jkt is not None else {}),
            },
        )
        token = presigned.token if presigned is not None else mint(claims, signer)
        details = claims["authorization_details"]
        return IssuedCapability(token, grant.ttl, sid, jti, grant, details)

    def _session(
        self, tx: Tx, agent: Caller, session_id: str | None, now: float, new_sid: str | None
    ) -> str:
        if session_id is None:
            sid = new_sid or uuid.uuid4().hex
            tx.insert_later(
                _INSERT_SESSION, {"id": sid, "agent_id": agent.principal_id, "created_at": now}
            )
            return sid
        return self.open_session(tx.conn, agent, session_id)

    @staticmethod
    def open_session(conn: Connection, agent: Caller, session_id: str) -> str:
        row = conn.execute(select(_sessions).where(_sessions.c.id == session_id)).first()
        # Another agent's session looks exactly like a missing one.
        if row is None or row.agent_id != agent.principal_id:
            raise NotFound("no such session", reason=Reason.SESSION_NOT_FOUND)
        if row.ended_at is not None:
            raise Denied("the session has ended", reason=Reason.SESSION_ENDED)
        return session_id

    def _record_refusal(
        self,
        tx: Tx,
        agent: Caller,
        request: GrantRequest | DelegationRequest,
        refusal: BrokerError,
        via: str,
        *,
        template: str | None = None,
        **context: Any,
    ) -> None:
        """``template``: when the request does not name it (a delegation names its parent's);
        ``context``: more members for the event's data (a delegation's chain)."""
        self.audit.append(
            tx,
            type="token.refused",
            actor=agent.label,
            subject=f"template:{template or request.template}",
            outcome="denied",
            reason=refusal.reason.value,
            data={
                "via": via,
                **context,
                "environment": request.environment,
                "actions": list(request.actions) if request.actions is not None else None,
                "ttl": request.ttl,
                "detail": refusal.detail,
            },
        )

    # --- sessions and revocation ---------------------------------------------------------

    def end_session(self, caller: Caller, session_id: str) -> int:
        """Ends the session and revokes every token in it; returns how many were revoked."""
        now = self.clock()
        with self.db.transaction() as tx:
            row = tx.conn.execute(select(_sessions).where(_sessions.c.id == session_id)).first()
            if row is None or (caller.kind == "agent" and row.agent_id != caller.principal_id):
                raise NotFound("no such session", reason=Reason.SESSION_NOT_FOUND)
            if row.ended_at is not None:
                return 0
            tx.conn.execute(
                update(_sessions).where(_sessions.c.id == session_id).values(ended_at=now)
            )
            revoked = tx.conn.execute(
                update(_tokens)
                .where(_tokens.c.session_id == session_id, _tokens.c.revoked_at.is_(None))
                .values(revoked_at=now)
            ).rowcount
            self.audit.append(
                tx,
                type="session.ended",
                actor=caller.label,
                subject=f"session:{session_id}",
                data={"tokens_revoked": revoked},
            )
        return int(revoked)

    def revoke(self, caller: Caller, token: str) -> bool:
        """RFC 7009: revoke a token the caller owns (admins: any). Unknown tokens are a no-op."""
        claims = self._claims_even_if_expired(caller, token)
        if claims is None:
            return False
        if caller.kind == "agent" and not _holds(caller, claims):
            return False
        now = self.clock()
        with self.db.transaction() as tx:
            changed = tx.conn.execute(
                update(_tokens)
                .where(_tokens.c.jti == claims["jti"], _tokens.c.revoked_at.is_(None))
                .values(revoked_at=now)
            ).rowcount
            # Every token delegated from it, however deep, in the same transaction.
            descendants = revoke_descendants(tx.conn, claims["jti"], now)
            if changed or descendants:
                data: dict[str, Any] = {"session": claims["sid"]}
                if descendants:
                    data["descendants_revoked"] = descendants
                self.audit.append(
                    tx,
                    type="token.revoked",
                    actor=caller.label,
                    subject=f"jti:{claims['jti']}",
                    data=data,
                )
        return bool(changed)

    def _claims_even_if_expired(self, caller: Caller, token: str) -> Any:
        try:
            return self.verifier.verify(token, now=self.clock()).claims
        except InvalidToken as exc:
            if exc.reason == Reason.TOKEN_EXPIRED and exc.verified_claims is not None:
                return exc.verified_claims
            self._record_rejection(caller, exc, "revoke")
            return None

    def _record_rejection(self, caller: Caller, exc: InvalidToken, via: str) -> None:
        """The precise cause goes to the audit log only; the caller saw one opaque answer."""
        claims = exc.verified_claims or {}
        with self.db.transaction() as tx:
            self.audit.append(
                tx,
                type="token.rejected",
                actor=caller.label,
                subject=f"jti:{claims['jti']}" if "jti" in claims else "token:unverified",
                outcome="denied",
                reason=exc.reason.value,
                data={"via": via, "cause": exc.audit_detail},
            )

    def introspect(self, caller: Caller, token: str) -> dict[str, Any]:
        """RFC 7662. Anything not currently valid, or not the caller's to see, is inactive."""
        try:
            verified = self.verifier.verify(token, now=self.clock())
        except InvalidToken as exc:
            self._record_rejection(caller, exc, "introspect")
            return {"active": False}
        if caller.kind == "agent" and not _holds(caller, verified.claims):
            return {"active": False}
        if self.introspect_status(verified.jti) != "active":
            return {"active": False}
        if any(self.introspect_status(a) != "active" for a in verified.ancestors):
            return {"active": False}  # a delegated token lives only while its ancestors do
        used = budgets_used(self.db, verified.jti)  # an extension member (RFC 7662 s. 2.2)
        # RFC 9449 6.2: a bound token is a DPoP token, and its cnf (in the claims) says to what.
        token_type = "DPoP" if verified.cnf_jkt is not None else "Bearer"
        return {"active": True, "token_type": token_type, **verified.claims, BUDGETS_USED: used}

    def introspect_status(self, jti: str) -> str:
        """'active', 'revoked' or 'unknown' (no record: never honoured)."""
        with self.db.read() as conn:
            row = conn.execute(
                select(_tokens.c.revoked_at, _sessions.c.ended_at)
                .join(_sessions, _sessions.c.id == _tokens.c.session_id)
                .where(_tokens.c.jti == jti)
            ).first()
        if row is None:
            return "unknown"
        return "revoked" if row.revoked_at is not None or row.ended_at is not None else "active"

    def verify(self, token: str) -> VerifiedToken:
        return self.verifier.verify(token, now=self.clock())
