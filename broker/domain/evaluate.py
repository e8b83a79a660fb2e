"""The policy evaluator: every reason a scope refuses or holds some calls. Pure.

One function for three readers: the gateway acts on the first failure, explain shows
them all, and issuance checks requested actions with it. Failures come in a stable
order: the agent, then each call's floor, action, environment and resource checks in
call order, then every approval. Approvals come last, so deny beats approval for
whoever reads the first failure.

The gateway evaluates every request, so the small values are NamedTuples (a frozen
dataclass costs several times as much to build).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NamedTuple

from broker.domain.actions import covered_by
from broker.domain.globs import glob_match
from broker.domain.policy import PolicyFloor
from broker.domain.templates import Template
from broker.errors import Reason

if TYPE_CHECKING:  # grants.py decides grants with this evaluator
    from broker.domain.grants import Grant

Verdict = Literal["allow", "deny", "approval_required"]
# What a failure is about. "approval" is the scope's approval patterns, "protected" the
# floor's rule that destructive calls in protected environments need approval.
Check = Literal[
    "route", "agent", "floor", "action", "environment", "resource", "approval", "protected"
]


class Scope(NamedTuple):
    """What may be done: a token's grant, or the widest token a template can give."""

    actions: tuple[str, ...]
    environments: tuple[str, ...]
    resources: tuple[str, ...]
    approval_actions: tuple[str, ...]
    agents: tuple[str, ...] = ()  # agent globs; only a template names them


def grant_scope(grant: Grant) -> Scope:
    return Scope(grant.actions, (grant.environment,), grant.resources, grant.approval_actions)


def template_scope(template: Template) -> Scope:
    return Scope(
        template.actions,
        template.environments,
        template.resources,
        template.approval.actions,
        template.agents,
    )


class Attempt(NamedTuple):
    """One classified call, as plain values."""

    action: str  # concrete, or a pattern when issuance asks for one
    effect: str | None = None  # read | write | destructive; None: not known
    resources: tuple[str, ...] = ()
    environments: frozenset[str] | None = None  # None: unscoped; empty: unresolved


class Failure(NamedTuple):
    check: Check
    reason: Reason
    action: str = ""  # the call's action; empty for the route and agent checks
    # The values at fault: the agent, environments outside the scope, the resource,
    # the protected environments a destructive call touches.
    found: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Result:
    """Allowed when nothing failed (Pomerium's ``Result{Allow, Deny{Reasons}}``)."""

    failures: tuple[Failure, ...]

    @property
    def allowed(self) -> bool:
        return not self.failures

    @property
    def verdict(self) -> Verdict:
        if not self.failures:
            return "allow"
        # Denials come first, so a leading approval means nothing was denied.
        held = self.failures[0].reason is Reason.APPROVAL_REQUIRED
        return "approval_required" if held else "deny"

    @property
    def reasons(self) -> tuple[Reason, ...]:
        return tuple(f.reason for f in self.failures)


ALLOWED = Result(())


@functools.lru_cache(maxsize=8192)
def _covered(patterns: tuple[str, ...], action: str) -> bool:
    # Pure and asked again for every request of a token: remember the answer.
    return covered_by(patterns, action)


def evaluate(
    scope: Scope, floor: PolicyFloor, attempts: Sequence[Attempt], *, agent: str | None = None
) -> Result:
    """Every failure of ``attempts`` (all must pass) against ``scope`` and ``floor``.

    ``agent`` is checked against the scope's agent globs when given. No attempt at
    all is a denial: nothing was classified, so nothing can be allowed.
    """
    failures: list[Failure] = []
    if agent is not None and not any(glob_match(p, agent) for p in scope.agents):
        failures.append(Failure("agent", Reason.AGENT_NOT_ALLOWED, found=(agent,)))
    if not attempts:
        failures.append(Failure("route", Reason.UNKNOWN_ROUTE))
    for attempt in attempts:
        _denials(scope, floor, attempt, failures)
    for attempt in attempts:
        _approvals(scope, floor, attempt, failures)
    return Result(tuple(failures)) if failures else ALLOWED


def _denials(scope: Scope, floor: PolicyFloor, attempt: Attempt, out: list[Failure]) -> None:
    action = attempt.action
    if _covered(floor.forbidden_actions, action):
        out.append(Failure("floor", Reason.FORBIDDEN_VERB, action))
    if not _covered(scope.actions, action):
        out.append(Failure("action", Reason.VERB_NOT_GRANTED, action))
    envs = attempt.environments
    if envs is not None:
        if not envs:
            out.append(Failure("environment", Reason.ENVIRONMENT_UNRESOLVED, action))
        else:
            outside = envs.difference(scope.environments)
            if outside:
                found = tuple(sorted(outside))
                out.append(Failure("environment", Reason.ENVIRONMENT_NOT_GRANTED, action, found))
    for resource in attempt.resources:
        if not any(glob_match(p, resource) for p in scope.resources):
            out.append(Failure("resource", Reason.RESOURCE_NOT_GRANTED, action, (resource,)))


def is_protected(environment: str, protected: tuple[str, ...]) -> bool:
    """An unqualified protected name protects that name under every owner (``production``
    covers ``<project>/production``); a qualified one protects exactly itself."""
    name = environment.rsplit("/", 1)[-1]
    return environment in protected or name in protected


def _approvals(scope: Scope, floor: PolicyFloor, attempt: Attempt, out: list[Failure]) -> None:
    action = attempt.action
    if _covered(scope.approval_actions, action):
        out.append(Failure("approval", Reason.APPROVAL_REQUIRED, action))
    envs = attempt.environments
    if attempt.effect == "destructive" and envs:
        protected = {e for e in envs if is_protected(e, floor.protected_environments)}
        if protected:
            found = tuple(sorted(protected))
            out.append(Failure("protected", Reason.APPROVAL_REQUIRED, action, found))
