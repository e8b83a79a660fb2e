"""Stage 6 and after: the decision made durable, and everything else the audit log hears.

Each decision is written (``gateway.decision``) before anything is forwarded; holding a
call for approval, using a granted approval and counting the budget happen in that same
transaction. Refusals before a decision get a ``gateway.decision`` event of their own;
forwarded calls' outcomes are batched into ``gateway.completed`` events.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any

from broker.audit.writer import AuditWriter
from broker.domain.actions import covered_by
from broker.domain.approvals import HeldCall, headers_digest
from broker.domain.grants import Grant
from broker.domain.policy import PolicyFloor
from broker.errors import BrokerError, Reason, Unavailable
from broker.gateway.budgets import count_calls, would_exceed
from broker.gateway.decide import BUDGET_SPENT, Cost, Decision, cost_of, decide_classified
from broker.gateway.headers import APPROVAL_HEADER
from broker.gateway.notify import ApprovalWebhook
from broker.gateway.outcome import Attempt
from broker.metrics.gateway import GatewayMetrics, decision_outcome
from broker.routemap.errors import refusal_code
from broker.routemap.model import Call, Classification
from broker.services.approvals import ApprovalService
from broker.services.templates import TemplateService
from broker.store.checkpoint import WalCheckpointer
from broker.store.database import Database, Tx
from broker.store.group_commit import GroupCommit
from broker.tokens import InvalidToken
from broker.tokens.delegation import Ancestor


def _retrieved(read: asyncio.Future[None]) -> None:
    if not read.cancelled():
        read.exception()  # a failed read nobody awaited: the next request reads again


# What the approvers' webhook repeats of the audit data.
APPROVAL_EVENT_FIELDS = (
    "provider",
    "method",
    "path",
    "actions",
    "resources",
    "environments",
    "template",
    "session",
)


@dataclass(frozen=True)
class AuditStore:
    """The gateway's durable side: its database, its own audit chain, the group commit
    that batches its writes, and (on SQLite) the WAL checkpointer."""

    db: Database
    audit: AuditWriter
    committer: GroupCommit
    checkpointer: WalCheckpointer | None = None


@dataclass
class Approvals:
    """Holding calls for a human: the service, where approvers look, who is told."""

    service: ApprovalService
    base_url: str = ""
    webhook: ApprovalWebhook | None = None


class Recorder:
    def __init__(self, store: AuditStore, templates: TemplateService, approvals: Approvals) -> None:
        self.store, self.templates, self.approvals = store, templates, approvals
        self._completions: dict[str, list[dict[str, Any]]] = {}
        self._completions_lock = threading.Lock()
        self._floor: tuple[float, PolicyFloor] | None = None  # (read at, floor)
        self._floor_read: asyncio.Future[None] | None = None
        self.wait_seconds = store.committer.wait_seconds
        self.metrics: GatewayMetrics | None = None  # counted once committed

    # --- before the decision --------------------------------------------------------------

    async def current_floor(self) -> PolicyFloor:
        """The policy floor for the checks made before any look-up: as the last decision
        read it, or read again (in a worker thread, one read at a time) when that is older
        than the templates' refresh time. The decision itself reads it again in its
        transaction, so an older floor is kept while a read is slow or failing."""
        known = self._floor
        if known is not None and self.templates.clock() - known[0] < self.templates.refresh_seconds:
            return known[1]
        read = self._floor_read
        if read is None or read.done():
            read = self._floor_read = asyncio.ensure_future(asyncio.to_thread(self._read_floor))
            read.add_done_callback(_retrieved)
        if known is not None:
            return known[1]
        try:
            await asyncio.wait_for(asyncio.shield(read), self.wait_seconds)
        except TimeoutError:
            raise Unavailable(
                "the database did not answer in time", reason=Reason.DATABASE_UNAVAILABLE
            ) from None
        return self.floor()

    def _read_floor(self) -> None:
        now = self.templates.clock()
        with self.store.db.read() as conn:
            floor, _ = self.templates.floor(conn)
        self._floor = (now, floor)

    def floor(self) -> PolicyFloor:
        """The floor ``current_floor`` made sure of (the pipeline awaits it first)."""
        if self._floor is None:
            raise Unavailable("the policy floor cannot be read", reason=Reason.DATABASE_UNAVAILABLE)
        return self._floor[1]

    def may_need_approval(self, grant: Grant) -> bool:
        """Cheap and conservative: could any call under this grant be held for approval?"""
        return bool(grant.approval_actions) or bool(self.floor().protected_environments)

    def over_budget(
        self, jti: str, grant: Grant, cost: Cost, chain: tuple[Ancestor, ...] = ()
    ) -> Awaitable[bool]:
        """Whether ``cost`` would exceed the token's budgets, or an ancestor's (``chain``);
        a read, nothing is counted."""
        return self.store.committer.run(lambda tx: would_exceed(tx.conn, jti, grant, cost, chain))

    def may_be_held(self, grant: Grant, calls: Sequence[Call]) -> bool:
        """Could one of ``calls`` need a human's approval (its action, or a destructive
        call where the floor protects environments)? Only then is an approval id read."""
        protected = bool(self.floor().protected_environments)
        return any(
            covered_by(grant.approval_actions, c.action)
            or (protected and c.effect == "destructive")
            for c in calls
        )

    def spent_approval(self, attempt: Attempt) -> Awaitable[Decision | None]:
        """The refusal of a retry whose approval can never pass (unknown, another's, denied,
        used, expired), known before any look-up; None when it may still pass."""

        def judge(tx: Tx) -> Decision | None:
            assert attempt.token is not None
            assert attempt.approval_id
            service = self.approvals.service
            verdict = service.precheck_in(tx, attempt.approval_id, token=attempt.token)
            if verdict.allowed or verdict.reason is not Reason.APPROVAL_DENIED:
                return None
            return Decision(False, verdict.reason, verdict.detail, {"refusal": verdict.refusal})

        return self.store.committer.run(judge)

    # --- the decision -----------------------------------------------------------------------

    async def decision(
        self,
        attempt: Attempt,
        grant: Grant,
        classification: Classification,
        early: Decision | None = None,
    ) -> Decision:
        """Decide (or take ``early``, the refusal made before any look-up) and write the
        decision in one transaction; counted once it is committed."""
        decision = await self.store.committer.run(
            lambda tx: self._record_decision(tx, attempt, grant, classification, early)
        )
        if self.metrics is not None:
            attempt.decided = time.perf_counter()
            reason = decision.reason.value if decision.reason else None
            held = "approval_id" in decision.extra
            outcome = decision_outcome(allowed=decision.allowed, held=held, dry_run=attempt.dry_run)
            self.metrics.decided(attempt.provider, _effect(classification), outcome, reason)
            if decision.allowed and not attempt.dry_run:
                self.metrics.forwarding(attempt.provider, attempt.decided - attempt.started)
        return decision

    def announce(self, attempt: Attempt, decision: Decision) -> None:
        """Tell the approvers' webhook (if there is one) about a call just held."""
        webhook = self.approvals.webhook
        if not decision.allowed and webhook is not None and "approval_id" in decision.extra:
            webhook.notify(self._approval_event(attempt, decision))

    def _record_decision(
        self,
        tx: Tx,
        attempt: Attempt,
        grant: Grant,
        classification: Classification,
        early: Decision | None,
    ) -> Decision:
        floor, floor_version = self.templates.floor(tx.conn)
        self._floor = (self.templates.clock(), floor)
        decision = (
            early
            if early is not None
            else decide_classified(grant, floor, classification, attempt.resolved)
        )
        # A dry run changes nothing: no approval is held or used, no budget is counted.
        if (
            decision.reason is Reason.APPROVAL_REQUIRED
            and attempt.token is not None
            and not attempt.dry_run
        ):
            # A spent budget is the token's alone: no human is asked for a call it cannot make.
            spent = would_exceed(
                tx.conn, attempt.token.jti, grant, cost_of(classification), attempt.ancestors
            )
            decision = BUDGET_SPENT if spent else self._approval(tx, attempt, grant, classification)
        if (
            decision.allowed
            and attempt.token is not None
            and not attempt.dry_run
            and not count_calls(
                tx, attempt.token.jti, grant, cost_of(classification), attempt.ancestors
            )
        ):
            decision = BUDGET_SPENT
        data = attempt.audit_data()
        data["decision"] = decision.outcome
        data["detail"] = decision.detail
        data["policy_floor_version"] = floor_version
        data["dry_run"] = attempt.dry_run
        record = self.store.audit.append(
            tx,
            type="gateway.decision",
            actor=attempt.actor,
            subject=f"{attempt.provider}:{attempt.method} {attempt.path}",
            outcome="ok" if decision.allowed else "denied",
            reason=decision.reason.value if decision.reason else "",
            data=data,
        )
        attempt.decision_seq = record.seq
        return decision

    def _approval(
        self, tx: Tx, attempt: Attempt, grant: Grant, classification: Classification
    ) -> Decision:
        """Hold the call for a human, or let a retry through on its granted approval, once."""
        assert attempt.token is not None
        assert attempt.canonical is not None
        canonical = attempt.canonical
        held = HeldCall(
            provider=attempt.provider,
            method=canonical.method,
            path=canonical.path,
            query=canonical.wire_query,
            body_sha256=attempt.body_sha256,
            actions=tuple(sorted(classification.actions)),
            resources=tuple(sorted({r for c in classification.calls for r in c.resources})),
            environments=tuple(
                sorted({e for rc in attempt.resolved for e in (rc.environments or ())})
            ),
            headers_sha256=headers_digest(attempt.headers),
        )
        service = self.approvals.service
        if attempt.approval_id:
            verdict = service.consume_in(tx, attempt.approval_id, call=held, token=attempt.token)
            if verdict.allowed:
                return Decision(True, None, f"approval {attempt.approval_id} used")
            assert verdict.reason is not None
            return Decision(False, verdict.reason, verdict.detail, {"refusal": verdict.refusal})
        approval_id = service.hold_in(
            tx, call=held, effect=classification.effect, token=attempt.token, grant=grant
        )
        return Decision(
            False,
            Reason.APPROVAL_REQUIRED,
            "the call is held for a human's approval; retry it unchanged with the approval id"
            f" in the {APPROVAL_HEADER} header once it is granted",
            {
                "approval_id": approval_id,
                "approval_url": f"{self.approvals.base_url}/v1/admin/approvals/{approval_id}",
            },
        )

    def _approval_event(self, attempt: Attempt, decision: Decision) -> dict[str, Any]:
        """What the approvers' webhook receives: the blast radius, never a secret."""
        data = attempt.audit_data()
        return {
            "type": "approval.requested",
            "approval_id": decision.extra["approval_id"],
            "approval_url": decision.extra["approval_url"],
            "agent": attempt.token.client_id if attempt.token else "",
            **{k: data.get(k) for k in APPROVAL_EVENT_FIELDS},
        }

    # --- refusals without a decision ------------------------------------------------------

    async def refusal(self, attempt: Attempt, refusal: BrokerError) -> BrokerError:
        """Write the refusal; what to answer (the audit's own fault if it cannot be written)."""
        answer = refusal
        try:
            await self.store.committer.run(lambda tx: self._record_refusal(tx, attempt, refusal))
        except BrokerError as audit_fault:  # cannot audit: still refuse, and say why
            answer = audit_fault
        except Exception:
            answer = Unavailable("the audit log is unavailable", reason=Reason.AUDIT_UNAVAILABLE)
        self._count_refusal(attempt, answer)
        return answer

    def refusal_later(self, attempt: Attempt, refusal: BrokerError) -> None:
        """Queue the refusal's record without waiting for it (the database may be what
        failed); it runs after any unit of this attempt queued before it."""
        self.store.committer.defer(lambda tx: self._record_refusal(tx, attempt, refusal))
        self._count_refusal(attempt, refusal)

    def _count_refusal(self, attempt: Attempt, answer: BrokerError) -> None:
        if self.metrics is not None:
            outcome = "denied" if answer.status < 500 else "error"
            effect = _effect(attempt.classification)
            self.metrics.decided(attempt.provider, effect, outcome, answer.reason.value)

    def _record_refusal(self, tx: Tx, attempt: Attempt, refusal: BrokerError) -> None:
        data = attempt.audit_data()
        data["decision"] = "deny"
        data["refusal"] = refusal_code(refusal)
        data["detail"] = (
            refusal.audit_detail if isinstance(refusal, InvalidToken) else refusal.detail
        )
        if attempt.decision_seq:  # refused after it was allowed (while forwarding)
            data["decision_seq"] = attempt.decision_seq
        self.store.audit.append(
            tx,
            type="gateway.decision",
            actor=attempt.actor,
            subject=f"{attempt.provider or '?'}:{attempt.method} {data['path']}",
            outcome="denied" if refusal.status < 500 else "error",
            reason=refusal.reason.value,
            data=data,
        )

    # --- after forwarding -----------------------------------------------------------------

    def completed(
        self, attempt: Attempt, status: int, elapsed_ms: float, *, ended: str | None = None
    ) -> None:
        """Queue a forwarded call's outcome; the first one queued since the last write asks
        for a write, and everything queued until then shares it."""
        call = {
            "decision_seq": attempt.decision_seq,
            "jti": attempt.token.jti if attempt.token else None,
            "provider": attempt.provider,
            "method": attempt.method,
            "path": attempt.path,
            "upstream_status": status,
            "latency_ms": elapsed_ms,
        }
        if ended is not None:  # e.g. upstream_broke_off, client_gone (forward.py)
            call["ended"] = ended
        if self.metrics is not None:
            upstream_s = time.perf_counter() - (attempt.decided or attempt.started)
            self.metrics.completed(attempt.provider, status, upstream_s)
        with self._completions_lock:
            asked = bool(self._completions)  # a write is already asked for until it takes them
            self._completions.setdefault(attempt.actor, []).append(call)
        if not asked:
            self.store.committer.defer(self._record_completions)

    def _record_completions(self, tx: Tx) -> None:
        """One ``gateway.completed`` event per agent for every call completed since the last
        one: half the rows of an event per call, and each call names its decision event."""
        with self._completions_lock:  # a PostgreSQL batch runs in a worker thread
            done, self._completions = self._completions, {}
        for actor, calls in done.items():
            self.store.audit.append(
                tx,
                type="gateway.completed",
                actor=actor,
                subject=f"{len(calls)} call(s)",
                data={"calls": calls},
            )


def _effect(classification: Classification | None) -> str | None:
    """The strongest effect, for metrics; none for a call that classified no operation."""
    return classification.effect if classification is not None and classification.calls else None
