"""What the pipeline knows about a request as it goes (``Attempt``), and what it returns.

``Pipeline.run`` ends in exactly one of three values: ``Forward`` (send this to the
provider), ``DryRun`` (answer with the decision, forward nothing) or ``Refusal`` (answer
with this problem; its audit event is already written). The transport renders them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from broker.errors import BrokerError
from broker.gateway.decide import Decision, ResolvedCall
from broker.routemap.canonical import CanonicalRequest
from broker.routemap.model import Classification
from broker.tokens import VerifiedToken
from broker.tokens.delegation import Ancestor, delegation_data

# What a dry run's answer repeats of the audit data.
DRY_RUN_FIELDS = ("provider", "method", "path", "actions", "resources", "environments")


@dataclass
class Attempt:
    """What is known about a request so far: enough to audit a refusal at any step."""

    method: str
    raw_path: str
    started: float = 0.0  # perf_counter when the pipeline took it, for the latency
    provider: str = ""
    token: VerifiedToken | None = None
    canonical: CanonicalRequest | None = None
    classification: Classification | None = None
    resolved: list[ResolvedCall] = field(default_factory=list)
    body_sha256: str = ""
    # The headers to forward, as computed first: an approval binds them (hashed only then).
    headers: tuple[tuple[str, str], ...] = ()
    approval_id: str | None = None
    dry_run: bool = False
    decision_seq: int = 0  # the decision event's place in this gateway's chain
    waited_since: float = 0.0  # perf_counter once the request was read: the client waits
    decided: float = 0.0  # perf_counter once its decision committed (metrics)
    # A delegated token's ancestors, their budgets met with the template's current version
    # (authenticate.py): its calls count against each of them too (budgets.py).
    ancestors: tuple[Ancestor, ...] = ()

    @property
    def path(self) -> str:
        return self.canonical.path if self.canonical else self.raw_path[:200]

    def audit_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"provider": self.provider, "method": self.method}
        data["path"] = self.path
        if self.token is not None:
            data.update(jti=self.token.jti, session=self.token.sid, template=self.token.template)
            if self.token.ancestors:  # delegated (RFC 8693): whose token, held by whom
                data["delegation"] = delegation_data(self.token.claims)
        if self.classification is not None:
            data["actions"] = sorted(self.classification.actions)
            data["resources"] = sorted({r for c in self.classification.calls for r in c.resources})
        if self.resolved:
            envs = {e for rc in self.resolved for e in (rc.environments or ())}
            data["environments"] = sorted(envs)
        return data

    @property
    def actor(self) -> str:
        return f"agent:{self.token.client_id}" if self.token is not None else "unauthenticated"


@dataclass(slots=True)
class Forward:
    """The call to send upstream; its decision is already durable."""

    method: str
    url: str
    headers: list[tuple[str, str]] = field(repr=False)  # carries the master key
    body: bytes | AsyncIterator[bytes] | None = field(repr=False)
    attempt: Attempt


@dataclass(frozen=True, slots=True)
class DryRun:
    """The decision a call would get; nothing was forwarded, held, used or counted."""

    decision: Decision
    attempt: Attempt

    def body(self) -> dict[str, Any]:
        data = self.attempt.audit_data()
        return {
            "dry_run": True,
            "decision": self.decision.outcome,
            "reason": self.decision.reason.value if self.decision.reason else None,
            "detail": self.decision.detail,
            **{k: v for k, v in data.items() if k in DRY_RUN_FIELDS},
            # each classified operation with its effect and the environments it touches
            "calls": [
                {
                    "action": rc.call.action,
                    "effect": rc.call.effect,
                    "resources": list(rc.call.resources),
                    "environments": sorted(rc.environments or ()),
                }
                for rc in self.attempt.resolved
            ],
        }


@dataclass(frozen=True, slots=True)
class Refusal:
    """A refusal to answer with; its ``gateway.decision`` event is already written."""

    error: BrokerError
    attempt: Attempt


Outcome = Forward | DryRun | Refusal
