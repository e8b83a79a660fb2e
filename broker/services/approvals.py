"""Held calls and the humans who decide them.

The gateway holds a call that needs approval (``hold_in``, inside its decision unit) and
answers ``approval_required`` with the approval's id. Admins vote (``vote``): approvers
are admin principals only, so an agent's credential cannot approve anything, its own
calls included; a template may ask for N distinct approvers. The agent's retry of the
identical call consumes the approval once (``consume_in``): a conditional update, so of
two concurrent retries exactly one wins.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Row, select, update

from broker.audit.writer import AuditWriter
from broker.clock import Clock
from broker.domain.approvals import (
    APPROVAL_USED,
    ApprovalState,
    HeldCall,
    RetryVerdict,
    Status,
    Vote,
    judge_retry,
    tally,
)
from broker.domain.grants import Grant
from broker.errors import Conflict, Denied, InvalidRequest, NotFound, Reason
from broker.store.database import Database, Tx
from broker.store.raw import RawStatement
from broker.store.tables import Approval, ApprovalVote
from broker.tokens import VerifiedToken

_approvals = Approval.__table__  # type: ignore[attr-defined]
_votes = ApprovalVote.__table__  # type: ignore[attr-defined]
_USE = RawStatement(
    "UPDATE approvals SET status = 'used', used_at = :now"
    " WHERE id = :id AND status = 'granted' AND used_at IS NULL"
)


@dataclass(frozen=True)
class ApprovalView:
    """What an approver sees: the blast radius as the gateway resolved it, and who asked."""

    id: str
    status: Status
    provider: str
    method: str
    path: str
    actions: list[str]
    resources: list[str]
    environments: list[str]
    effect: str
    agent: str
    session_id: str
    template: str
    template_version: int
    approvers_required: int
    votes: list[dict[str, Any]]
    created_at: float
    expires_at: float
    used_at: float | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class ApprovalService:
    def __init__(self, db: Database, audit: AuditWriter, clock: Clock, *, ttl: float = 900) -> None:
        self.db, self.audit, self.clock = db, audit, clock
        self.ttl = ttl

    def hold_in(
        self, tx: Tx, *, call: HeldCall, effect: str, token: VerifiedToken, grant: Grant
    ) -> str:
        now = self.clock()
        approval_id = "apr_" + secrets.token_urlsafe(18)
        tx.conn.execute(
            _approvals.insert().values(
                id=approval_id,
                status="pending",
                call_digest=call.digest(),
                provider=call.provider,
                method=call.method,
                path=call.path + (f"?{call.query}" if call.query else ""),
                actions=json.dumps(sorted(call.actions)),
                resources=json.dumps(sorted(call.resources)),
                environments=json.dumps(sorted(call.environments)),
                effect=effect,
                jti=token.jti,
                session_id=token.sid,
                agent_id=token.sub,
                agent_name=token.client_id,
                template_name=token.template,
                template_version=token.template_version,
                approvers_required=max(1, grant.approvers),
                created_at=now,
                expires_at=now + self.ttl,
            )
        )
        self.audit.append(
            tx,
            type="approval.requested",
            actor=f"agent:{token.client_id}",
            subject=f"approval:{approval_id}",
            data={
                "actions": sorted(call.actions),
                "environments": sorted(call.environments),
                "resources": sorted(call.resources),
                "session": token.sid,
                "jti": token.jti,
            },
        )
        return approval_id

    def precheck_in(self, tx: Tx, approval_id: str, *, token: VerifiedToken) -> RetryVerdict:
        """``judge_retry`` without the call (a read): is the approval spent already?"""
        state = self._state(tx, approval_id)
        return judge_retry(
            state, digest=None, session_id=token.sid, agent_id=token.sub, now=self.clock()
        )

    def _state(self, tx: Tx, approval_id: str) -> ApprovalState | None:
        row = tx.conn.execute(select(_approvals).where(_approvals.c.id == approval_id)).first()
        if row is None:
            return None
        return ApprovalState(
            cast(Status, row.status), row.call_digest, row.session_id, row.agent_id, row.expires_at
        )

    def consume_in(
        self, tx: Tx, approval_id: str, *, call: HeldCall, token: VerifiedToken
    ) -> RetryVerdict:
        now = self.clock()
        state = self._state(tx, approval_id)
        verdict = judge_retry(
            state, digest=call.digest(), session_id=token.sid, agent_id=token.sub, now=now
        )
        if verdict.allowed and _USE.execute(tx.conn, {"id": approval_id, "now": now}) != 1:
            verdict = RetryVerdict(
                False, Reason.APPROVAL_DENIED, APPROVAL_USED, "this approval was already used"
            )
        self.audit.append(
            tx,
            type="approval.used" if verdict.allowed else "approval.refused",
            actor=f"agent:{token.client_id}",
            subject=f"approval:{approval_id[:64]}",
            outcome="ok" if verdict.allowed else "denied",
            reason="" if verdict.reason is None else verdict.reason.value,
            data={"refusal": verdict.refusal} if verdict.refusal else {},
        )
        return verdict

    def vote(
        self, approval_id: str, *, approver: str, approver_id: str | None, decision: Vote
    ) -> ApprovalView:
        if decision not in ("approve", "deny"):
            raise InvalidRequest("decide approve or deny")
        now = self.clock()
        with self.db.transaction() as tx:
            row = tx.conn.execute(select(_approvals).where(_approvals.c.id == approval_id)).first()
            if row is None:
                raise NotFound("no such approval")
            if approver_id is not None and approver_id == row.agent_id:
                raise Denied("nobody approves their own call", reason=Reason.APPROVAL_DENIED)
            if row.status != "pending":
                raise Conflict(f"the approval is already {row.status}")
            if now >= row.expires_at:
                raise Conflict("the approval has expired")
            already = tx.conn.execute(
                select(_votes.c.approver).where(
                    _votes.c.approval_id == approval_id, _votes.c.approver == approver
                )
            ).first()
            if already is not None:
                raise Conflict("you have already decided this approval")
            tx.conn.execute(
                _votes.insert().values(
                    approval_id=approval_id, approver=approver, decision=decision, at=now
                )
            )
            votes = [
                cast(Vote, v.decision)
                for v in tx.conn.execute(
                    select(_votes.c.decision).where(_votes.c.approval_id == approval_id)
                )
            ]
            status = tally(votes, row.approvers_required)
            if status != "pending":
                tx.conn.execute(
                    update(_approvals)
                    .where(_approvals.c.id == approval_id)
                    .values(status=status, decided_at=now)
                )
            self.audit.append(
                tx,
                type=f"approval.{'approved' if decision == 'approve' else 'denied'}",
                actor=approver,
                subject=f"approval:{approval_id}",
                data={"status": status, "votes": len(votes), "required": row.approvers_required},
            )
        return self.get(approval_id)

    def get(self, approval_id: str) -> ApprovalView:
        with self.db.read() as conn:
            row = conn.execute(select(_approvals).where(_approvals.c.id == approval_id)).first()
            if row is None:
                raise NotFound("no such approval")
            votes = conn.execute(
                select(_votes).where(_votes.c.approval_id == approval_id).order_by(_votes.c.at)
            ).all()
        return _view(
            row, [{"approver": v.approver, "decision": v.decision, "at": v.at} for v in votes]
        )

    def list(self, *, status: str | None = None, limit: int = 100) -> list[ApprovalView]:
        with self.db.read() as conn:
            stmt = select(_approvals).order_by(_approvals.c.created_at.desc()).limit(limit)
            if status is not None:
                stmt = stmt.where(_approvals.c.status == status)
            rows = conn.execute(stmt).all()
        return [_view(r, []) for r in rows]


def _view(row: Row[Any], votes: list[dict[str, Any]]) -> ApprovalView:
    return ApprovalView(
        id=row.id,
        status=cast(Status, row.status),
        provider=row.provider,
        method=row.method,
        path=row.path,
        actions=json.loads(row.actions),
        resources=json.loads(row.resources),
        environments=json.loads(row.environments),
        effect=row.effect,
        agent=row.agent_name,
        session_id=row.session_id,
        template=row.template_name,
        template_version=row.template_version,
        approvers_required=row.approvers_required,
        votes=votes,
        created_at=row.created_at,
        expires_at=row.expires_at,
        used_at=row.used_at,
    )
