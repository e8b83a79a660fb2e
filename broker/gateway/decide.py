"""The gateway's decision: may this token make these calls? Pure, plain values in and out.

Every call of a request must pass (a GraphQL document is allowed whole or not at all).
The policy evaluator lists every failure; the gateway answers with the first, which
puts deny before approval: an approval is only asked for a request otherwise allowed.

The decision comes in two steps. ``decide_before_lookups`` runs on the classified calls
alone, before any environment look-up is sent upstream with the master key: the floor,
the token's actions and resources, and its budgets. ``decide`` then runs on the calls with
their resolved environments. Budgets count classified calls (every root field of every
batched entry), not HTTP requests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from broker.domain.evaluate import Attempt, Failure, evaluate, grant_scope
from broker.domain.grants import Grant
from broker.domain.policy import PolicyFloor
from broker.errors import Reason
from broker.routemap.model import Call, Classification, EnvById, EnvLookup


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
# A GraphQL document whose every root field is __typename classifies to no call: it reads
# nothing but the root type's name, so any token may send it (issue 14: no false refusal).
TYPENAME_ONLY = Decision(True, None, "the document asks only for __typename")


def decide_classified(
    grant: Grant, floor: PolicyFloor, classification: Classification, calls: Sequence[ResolvedCall]
) -> Decision:
    """``decide``, but a GraphQL request with no call (only ``__typename``) is harmless."""
    if classification.kind == "graphql" and not classification.calls:
        return TYPENAME_ONLY
    return decide(grant, floor, calls)


def decide(grant: Grant, floor: PolicyFloor, calls: Sequence[ResolvedCall]) -> Decision:
    attempts = [
        Attempt(rc.call.action, rc.call.effect, rc.call.resources, rc.environments) for rc in calls
    ]
    result = evaluate(grant_scope(grant), floor, attempts)
    if result.allowed:
        return ALLOW
    first = result.failures[0]
    return Decision(False, first.reason, _detail(first, grant))


def _detail(failure: Failure, grant: Grant) -> str:
    """What the caller is told, in the gateway's words."""
    action = failure.action
    match failure.reason:
        case Reason.UNKNOWN_ROUTE:
            return "the request contains no classified call"
        case Reason.FORBIDDEN_VERB:
            return f"{action} is forbidden by the policy floor"
        case Reason.VERB_NOT_GRANTED:
            return f"the token does not grant {action}"
        case Reason.ENVIRONMENT_UNRESOLVED:
            return f"{action}: no environment resolved"
        case Reason.ENVIRONMENT_NOT_GRANTED:
            outside = ", ".join(failure.found)
            return f"{action} touches {outside}; the token is for {grant.environment}"
        case Reason.RESOURCE_NOT_GRANTED:
            return f"{action} on {failure.found[0]} is not granted"
        case Reason.APPROVAL_REQUIRED:
            return f"{action} needs a human's approval"
        case _:  # the evaluator gives no other reason to a gateway (it names no agent)
            return f"{action}: {failure.reason.value}"


def decide_before_lookups(
    grant: Grant, floor: PolicyFloor, calls: Sequence[Call]
) -> Decision | None:
    """The denials that need no environment: a forbidden verb first (whatever else is
    wrong, a forbidden verb reads as forbidden), then the first action or resource the
    token does not grant. None: nothing refuses yet; ``decide`` follows the look-ups (and
    ``decide_classified`` judges a request with no call at all)."""
    if not calls:
        return None
    attempts = [Attempt(c.action, c.effect, c.resources) for c in calls]  # unscoped here
    failures = [
        f
        for f in evaluate(grant_scope(grant), floor, attempts).failures
        if f.reason is not Reason.APPROVAL_REQUIRED  # asked for after the look-ups
    ]
    if not failures:
        return None
    first = next((f for f in failures if f.reason is Reason.FORBIDDEN_VERB), failures[0])
    return Decision(False, first.reason, _detail(first, grant))


def may_look_up(calls: Sequence[Call]) -> bool:
    """Whether resolving ``calls`` may send a look-up upstream (a relation check, an
    environment id or a look-up source): then a spent budget is read before, not after.
    Keep in step with ``EnvironmentResolver.resolve``."""
    return any(
        c.checks or any(isinstance(s, EnvById | EnvLookup) for s in c.environments) for c in calls
    )


@dataclass(frozen=True, slots=True)
class Cost:
    """What a request spends of a token's budgets: one call per classified call."""

    calls: int
    destructive: int


def cost_of(classification: Classification) -> Cost:
    calls = classification.calls
    return Cost(len(calls), sum(1 for c in calls if c.effect == "destructive"))


BUDGET_SPENT = Decision(False, Reason.BUDGET_EXHAUSTED, "the token's call budget is spent")


def over_budget(grant: Grant, calls_made: int, destructive_made: int, cost: Cost) -> bool:
    """Whether spending ``cost`` on top of what was made would exceed the token's budgets."""
    budgets = grant.budgets
    if budgets.calls is not None and calls_made + cost.calls > budgets.calls:
        return True
    return (
        budgets.destructive_calls is not None
        and destructive_made + cost.destructive > budgets.destructive_calls
    )
