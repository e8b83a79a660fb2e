"""Signing a token ahead of its transaction, for a remote signer (Vault Transit).

A Transit ``sign`` call is a network round trip; made inside the issuing transaction it
would hold SQLite's write lock (and a group-commit batch) for as long as Vault takes,
stalling every writer, the gateway's decisions included. So the decision is read first
without any lock (``plan``), the token signed off the event loop with the signer's
deadline, and the issuing unit uses that token only if its own decision, made in its
transaction, comes out the same (``Plan.matches``; otherwise it signs there, as before).
The token still leaves only once its row and audit event have committed: a failed
signature means no row at all, and a failed commit drops the signed bytes.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from broker.auth.authenticator import Caller
from broker.domain.grants import Grant, GrantRequest
from broker.errors import BrokerError, Reason, Unavailable
from broker.tokens import SigningKey, mint

if TYPE_CHECKING:
    from broker.services.issuance import IssuanceService


@dataclass(frozen=True)
class Plan:
    """An issuance decided from a read, before its transaction."""

    agent: Caller
    grant: Grant
    sid: str
    now: float
    floor_version: int
    jti: str

    def matches(self, agent: Caller, grant: Grant, floor_version: int) -> bool:
        return (agent, grant, floor_version) == (self.agent, self.grant, self.floor_version)


@dataclass(frozen=True)
class Presigned:
    plan: Plan
    token: str = field(repr=False)


async def presign(
    service: IssuanceService,
    credential: str | Caller,
    request: GrantRequest,
    session_id: str | None,
    signer: SigningKey,
    dry_run: bool,
) -> Presigned | None:
    """The token the unit would sign, signed ahead; None when the unit must decide
    itself (a refusal it records)."""
    try:
        plan = await asyncio.wait_for(
            asyncio.to_thread(_plan, service, credential, request, session_id),
            service.db.wait_seconds,
        )
    except TimeoutError:
        raise Unavailable(
            "the database did not answer in time", reason=Reason.DATABASE_UNAVAILABLE
        ) from None
    if plan is None:
        return None
    claims = service.claims(plan.agent, plan.grant, plan.sid, plan.now, plan.jti, dry_run)
    token = await service.signing_calls.call(mint, claims, signer)
    return Presigned(plan, token)


def _plan(
    service: IssuanceService,
    credential: str | Caller,
    request: GrantRequest,
    session_id: str | None,
) -> Plan | None:
    with service.db.read() as conn:
        try:
            agent = (
                credential  # a workload identity, already authenticated (broker.identity)
                if isinstance(credential, Caller)
                else service.authenticator.authenticate(conn, credential, kind="agent")
            )
            grant, floor_version = service.grant(conn, agent, request)
            if session_id is None:
                sid = uuid.uuid4().hex
            else:
                sid = service.open_session(conn, agent, session_id)
        except BrokerError as refused:
            if refused.status >= 500:
                raise
            return None
    return Plan(agent, grant, sid, service.clock(), floor_version, uuid.uuid4().hex)
