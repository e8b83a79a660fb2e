"""Approvals (pure): what a held call is, when a retry may use its approval, how votes tally.

An approval lets through exactly the call a human looked at, once: the retry's canonical
form (provider, method, path, query, body, the headers the gateway would forward, and the
actions, resources and environments the gateway resolved) must hash to the same digest,
from the same agent and session, before expiry, and only while unused. Everything the
provider would receive is bound; only what the gateway itself adds (the master key) is not.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from broker.errors import Reason

Status = Literal["pending", "granted", "denied", "used"]
Vote = Literal["approve", "deny"]

# Fine-grained refusal codes (problem+json "refusal") for a retry that may not pass.
APPROVAL_PENDING = "approval_pending"
APPROVAL_UNKNOWN = "approval_unknown"
APPROVAL_FOREIGN = "approval_foreign"
APPROVAL_USED = "approval_used"
APPROVAL_EXPIRED = "approval_expired"
APPROVAL_MISMATCH = "approval_mismatch"
APPROVAL_REJECTED = "approval_rejected"


@dataclass(frozen=True, slots=True)
class HeldCall:
    provider: str
    method: str
    path: str
    query: str
    body_sha256: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    environments: tuple[str, ...]
    headers_sha256: str = ""  # ``headers_digest`` of the headers to forward

    def digest(self) -> str:
        canonical = json.dumps(
            [
                self.provider,
                self.method,
                self.path,
                self.query,
                self.body_sha256,
                self.headers_sha256,
                sorted(self.actions),
                sorted(self.resources),
                sorted(self.environments),
            ],
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


def headers_digest(headers: Sequence[tuple[str, str]]) -> str:
    """sha256 of the headers as they would be forwarded: names in lower case (HTTP reads
    them so), values exact, in order (a repeated header's order can change its meaning)."""
    canonical = json.dumps([[name.lower(), value] for name, value in headers])
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ApprovalState:
    status: Status
    call_digest: str
    session_id: str
    agent_id: str
    expires_at: float


@dataclass(frozen=True, slots=True)
class RetryVerdict:
    allowed: bool
    reason: Reason | None = None
    refusal: str = ""
    detail: str = ""


def judge_retry(
    approval: ApprovalState | None,
    *,
    digest: str | None,
    session_id: str,
    agent_id: str,
    now: float,
) -> RetryVerdict:
    """May this retry use this approval? (Marking it used is the caller's atomic step.)

    ``digest`` None judges everything but the call itself: before look-ups, when the
    call's environments are not known yet, an approval that can never pass again
    (unknown, another's, denied, used, expired) is refused without asking the provider."""
    if approval is None:
        return RetryVerdict(False, Reason.APPROVAL_DENIED, APPROVAL_UNKNOWN, "no such approval")
    if approval.agent_id != agent_id or approval.session_id != session_id:
        # Another agent's or another session's approval looks like an unknown one.
        return RetryVerdict(False, Reason.APPROVAL_DENIED, APPROVAL_FOREIGN, "no such approval")
    if approval.status == "denied":
        return RetryVerdict(
            False, Reason.APPROVAL_DENIED, APPROVAL_REJECTED, "a human denied this call"
        )
    if approval.status == "used":
        return RetryVerdict(
            False, Reason.APPROVAL_DENIED, APPROVAL_USED, "this approval was already used"
        )
    if now >= approval.expires_at:
        return RetryVerdict(
            False, Reason.APPROVAL_DENIED, APPROVAL_EXPIRED, "this approval has expired"
        )
    if digest is not None and approval.call_digest != digest:
        return RetryVerdict(
            False,
            Reason.APPROVAL_DENIED,
            APPROVAL_MISMATCH,
            "this is not the call that was approved",
        )
    if approval.status == "pending" and digest is not None:
        return RetryVerdict(
            False, Reason.APPROVAL_REQUIRED, APPROVAL_PENDING, "the approval is still pending"
        )
    return RetryVerdict(True)


def tally(votes: Iterable[Vote], required: int) -> Status:
    """Any deny denies; enough distinct approvals grant; otherwise still pending."""
    counted = list(votes)
    if "deny" in counted:
        return "denied"
    return "granted" if counted.count("approve") >= required else "pending"
