"""The gateway's decision: may this token make these calls? Pure, plain values in and out.

Every call of a request must pass (a GraphQL document is allowed whole or not at all).
Deny beats approval: an approval is only asked for a request that is otherwise allowed.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from broker.domain.actions import covered_by
from broker.domain.globs import glob_match
from broker.domain.grants import Grant
from broker.domain.policy import PolicyFloor
from broker.errors import Reason
from broker.routemap.model import Call


@dataclass(frozen=True, slots=True)
class ResolvedCall:
    """A classified call with its environments as the gateway itself resolved them."""

    call: Call
    environments: frozenset[str] | None  # None: the call is unscoped


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: Reason | None
    detail: str
    # Shown to the caller with a refusal (approval id and URL, a finer refusal code).
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def outcome(self) -> str:
        return "allow" if self.allowed else "deny"


ALLOW = Decision(True, None, "every call is within the token")


@functools.lru_cache(maxsize=8192)
def _covered(patterns: tuple[str, ...], action: str) -> bool:
    # Pure and asked again for every request of a token: remember the answer.
    return covered_by(patterns, action)


def _deny(reason: Reason, detail: str) -> Decision:
    return Decision(False, reason, detail)


def decide(grant: Grant, floor: PolicyFloor, calls: Sequence[ResolvedCall]) -> Decision:
    if not calls:
        return _deny(Reason.UNKNOWN_ROUTE, "the request contains no classified call")
    for rc in calls:
        action = rc.call.action
        if _covered(floor.forbidden_actions, action):
            return _deny(Reason.FORBIDDEN_VERB, f"{action} is forbidden by the policy floor")
        if not _covered(grant.actions, action):
            return _deny(Reason.VERB_NOT_GRANTED, f"the token does not grant {action}")
        if rc.environments is not None:
            if not rc.environments:
                return _deny(Reason.ENVIRONMENT_UNRESOLVED, f"{action}: no environment resolved")
            outside = sorted(rc.environments - {grant.environment})
            if outside:
                return _deny(
                    Reason.ENVIRONMENT_NOT_GRANTED,
                    f"{action} touches {', '.join(outside)}; the token is for {grant.environment}",
                )
        for resource in rc.call.resources:
            if not any(glob_match(p, resource) for p in grant.resources):
                return _deny(Reason.RESOURCE_NOT_GRANTED, f"{action} on {resource} is not granted")
    for rc in calls:
        action = rc.call.action
        protected = rc.environments is not None and bool(
            rc.environments & set(floor.protected_environments)
        )
        if _covered(grant.approval_actions, action) or (
            protected and rc.call.effect == "destructive"
        ):
            return _deny(Reason.APPROVAL_REQUIRED, f"{action} needs a human's approval")
    return ALLOW


def over_budget(grant: Grant, calls_made: int, destructive_made: int, destructive: bool) -> bool:
    """Whether one more call (destructive or not) would exceed the token's budgets."""
    budgets = grant.budgets
    if budgets.calls is not None and calls_made + 1 > budgets.calls:
        return True
    return (
        destructive
        and budgets.destructive_calls is not None
        and destructive_made + 1 > budgets.destructive_calls
    )
