"""Delegation (RFC 8693): a capability token exchanged for a narrower one for a sub-agent.

The subject token is verified offline first (signature, expiry, claims); inside the
issuing transaction its record and every ancestor's are read (none revoked, the session
not ended), the kill switches are met (the root agent, every actor, the template, the
provider), its grant is followed to the template's current version, and what the chain
has left of its budgets is counted. ``domain/delegation.py`` decides; the child is written
by ``IssuanceService._write_token`` with its parent named (``tokens.parent_jti``) and its
``act`` / ``delegation`` claims. A refusal is audited and returned, never half-written.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import replace

from sqlalchemy import Connection, select

from broker.auth.authenticator import Caller, WrongRole
from broker.domain.delegation import DelegationRequest, Parent, decide_delegation, least
from broker.domain.delegation import remaining as budget_left
from broker.domain.following import CurrentTemplate, Lapse, follow_template
from broker.domain.grants import Grant, Refusal
from broker.domain.kills import first_covering
from broker.domain.templates import Budgets, agent_allowed
from broker.errors import BrokerError, Denied, InvalidRequest, Reason, Unauthenticated
from broker.services.issuance import IssuanceService, IssuedCapability
from broker.store.database import Tx
from broker.store.group_commit import GroupCommit
from broker.store.tables import AgentSession, IssuedToken, TokenUsage
from broker.tokens import InvalidToken, VerifiedToken
from broker.tokens.delegation import Ancestor, Delegated, act_claim, ancestors
from broker.tokens.grant import grant_from_token

VIA = "delegation"
NOT_VALID = "the subject_token is not a valid, current capability token"
_sessions = AgentSession.__table__  # type: ignore[attr-defined]
_tokens = IssuedToken.__table__  # type: ignore[attr-defined]
_usage = TokenUsage.__table__  # type: ignore[attr-defined]


def _invalid_grant(detail: str, reason: Reason = Reason.INVALID_GRANT) -> InvalidRequest:
    return InvalidRequest(detail, reason=reason)


class DelegationService:
    """Built over the issuance service: the same keys, store, audit and templates."""

    def __init__(self, issuance: IssuanceService) -> None:
        self.issuance = issuance

    async def delegate(
        self,
        committer: GroupCommit,
        subject_token: str,
        request: DelegationRequest,
        *,
        actor_credential: str | None = None,
        client_id: str | None = None,
    ) -> IssuedCapability:
        """The child token, or the refusal raised (RFC 6749 errors at the OAuth edge)."""
        issuance = self.issuance
        try:
            unit = await self._unit(subject_token, request, actor_credential, client_id)
        except BrokerError as refused:
            issuance._counted(refused, VIA)  # counts it and raises it
            raise
        return issuance._counted(await committer.run(unit), VIA)

    async def _unit(
        self,
        subject_token: str,
        request: DelegationRequest,
        actor_credential: str | None,
        client_id: str | None,
    ) -> _Unit:
        """The checks made before the shared transaction: the token, the actor, client_id."""
        issuance = self.issuance
        # In a worker thread: a refused token's audit event is a write of its own.
        parent = await asyncio.to_thread(self._verified, subject_token)
        if parent.cnf_jkt is not None:
            # Its holder would have to prove the key here; not done yet: refused, not ignored.
            raise _invalid_grant("a sender-constrained (DPoP) token cannot be delegated")
        actor: Caller | None = None
        if actor_credential is not None:
            try:
                actor = await asyncio.to_thread(
                    issuance.authenticator.check, actor_credential, kind="agent"
                )
            except (Unauthenticated, WrongRole) as exc:
                raise _invalid_grant(f"actor_token: {exc.detail}") from None
        unit = _Unit(issuance, parent, request, actor)
        if client_id is not None and client_id != unit.actor_name:
            raise Unauthenticated(
                "client_id does not name the agent the token is delegated to",
                reason=Reason.INVALID_CLIENT,
            )
        return unit

    def _verified(self, token: str) -> VerifiedToken:
        issuance = self.issuance
        try:
            return issuance.verifier.verify(token, now=issuance.clock())
        except InvalidToken as exc:
            claims = exc.verified_claims or {}
            with issuance.db.transaction() as tx:  # the cause to the audit log only
                issuance.audit.append(
                    tx,
                    type="token.rejected",
                    actor=f"agent:{claims['client_id']}" if "client_id" in claims else "unknown",
                    subject=f"jti:{claims['jti']}" if "jti" in claims else "token:unverified",
                    outcome="denied",
                    reason=exc.reason.value,
                    data={"via": VIA, "cause": exc.audit_detail},
                )
            raise _invalid_grant(NOT_VALID) from None


class _Unit:
    """One delegation as a unit of work in the shared commit (``GroupCommit.run``)."""

    def __init__(
        self,
        issuance: IssuanceService,
        parent: VerifiedToken,
        request: DelegationRequest,
        actor: Caller | None,
    ) -> None:
        self.issuance, self.parent, self.request, self.actor = issuance, parent, request, actor
        # Who holds the child: the named sub-agent, else the delegator itself.
        if actor is not None:
            self.actor_id, self.actor_name = actor.principal_id, actor.name
        else:
            act = parent.claims.get("act")
            if isinstance(act, Mapping):
                self.actor_id, self.actor_name = str(act["sub"]), str(act["client_id"])
            else:
                self.actor_id, self.actor_name = parent.sub, parent.client_id

    def __call__(self, tx: Tx) -> IssuedCapability | BrokerError:
        issuance, parent = self.issuance, self.parent
        now = issuance.clock()
        holder = Caller(parent.sub, "agent", self.actor_name, "")
        try:
            grant, followed, floor_version = self._decide(tx.conn, now)
        except BrokerError as refusal:
            if refusal.status >= 500:
                raise
            self._record_refusal(tx, holder, refusal)
            return refusal
        delegated = Delegated(
            parent_jti=parent.jti,
            act=act_claim(self.actor_id, self.actor_name, parent.claims.get("act")),
            ancestors=(*ancestors(parent.claims), Ancestor(parent.jti, followed.budgets)),
        )
        return issuance._write_token(
            tx,
            holder,
            grant,
            parent.sid,
            now,
            issuance.keys.signer(),
            floor_version,
            VIA,
            _dry_run(parent),
            None,
            delegated,
        )

    def _decide(self, conn: Connection, now: float) -> tuple[Grant, Grant, int]:
        """(the child's grant, the parent's grant as it stands, the floor version)."""
        issuance, parent = self.issuance, self.parent
        chain = (*parent.ancestors, parent.jti)
        self._check_live(conn, chain)
        try:
            record = issuance.templates.latest(conn, parent.template)
        except BrokerError:
            raise _invalid_grant("the subject_token's template no longer exists") from None
        if record.version < parent.template_version:
            raise _invalid_grant("the subject_token's template no longer exists")
        followed = follow_template(
            grant_from_token(parent), CurrentTemplate(record.version, record.template)
        )
        if isinstance(followed, Lapse):
            raise Denied(followed.detail, reason=followed.reason)
        self._check_kills(conn, followed)
        if self.actor is not None and not agent_allowed(record.template, self.actor.name):
            raise Denied(
                f"agent {self.actor.name!r} may not hold tokens of template {parent.template!r}",
                reason=Reason.AGENT_NOT_ALLOWED,
            )
        floor, floor_version = issuance.templates.floor(conn)
        left = self._left(conn, followed)
        lifetime = int(parent.exp - now)
        if lifetime < 1:
            raise _invalid_grant(NOT_VALID)
        decided = decide_delegation(
            Parent(
                followed, left, lifetime, len(parent.ancestors), record.template.delegation_depth
            ),
            self.request,
            floor,
        )
        if isinstance(decided, Refusal):
            raise decided.error()
        # Decided under the current version: the gateway need not follow it again.
        return replace(decided, template_version=record.version), followed, floor_version

    def _check_live(self, conn: Connection, chain: tuple[str, ...]) -> None:
        rows = conn.execute(
            select(_tokens.c.jti, _tokens.c.revoked_at, _sessions.c.ended_at)
            .join(_sessions, _sessions.c.id == _tokens.c.session_id)
            .where(_tokens.c.jti.in_(chain))
        ).all()
        found = {r.jti: r for r in rows}
        for jti in chain:
            row = found.get(jti)
            if row is None:  # never issued here (or its record is gone): never honoured
                raise _invalid_grant(NOT_VALID)
            if row.revoked_at is not None or row.ended_at is not None:
                raise _invalid_grant(
                    "the subject_token (or a token it was delegated from) has been revoked",
                    Reason.TOKEN_REVOKED,
                )

    def _check_kills(self, conn: Connection, grant: Grant) -> None:
        kills = self.issuance.kills.active(conn)
        for agent_id in {self.parent.sub, *self.parent.actors, self.actor_id}:
            kill = first_covering(
                kills, agent_id=agent_id, template=grant.template_name, provider=grant.provider
            )
            if kill is not None:
                raise Denied(
                    f"delegation for {kill.scope} {kill.label} is stopped by a kill switch",
                    reason=Reason.KILL_SWITCH,
                )

    def _left(self, conn: Connection, followed: Grant) -> Budgets:
        """What the parent and every ancestor have left, the least of each budget."""
        caps = {a.jti: a.budgets for a in ancestors(self.parent.claims)}
        caps[self.parent.jti] = followed.budgets
        used = {
            r.jti: (int(r.calls), int(r.destructive_calls))
            for r in conn.execute(
                select(_usage.c.jti, _usage.c.calls, _usage.c.destructive_calls).where(
                    _usage.c.jti.in_(tuple(caps))
                )
            )
        }
        left = Budgets()
        for jti, cap in caps.items():
            left = least(left, budget_left(cap, *used.get(jti, (0, 0))))
        return left

    def _record_refusal(self, tx: Tx, holder: Caller, refusal: BrokerError) -> None:
        self.issuance._record_refusal(
            tx,
            holder,
            self.request,
            refusal,
            VIA,
            template=self.parent.template,
            parent=self.parent.jti,
            chain=[*self.parent.ancestors, self.parent.jti],
        )


def _dry_run(token: VerifiedToken) -> bool:
    return any(d.get("dry_run") is True for d in token.authorization_details)
