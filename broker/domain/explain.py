"""Explanations: would this call be allowed, and every reason why not.

Every check runs (none stops at the first failure) so an admin sees all reasons.
Deny wins over approval; approval wins over allow.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from broker.domain.actions import covered_by, validate_action
from broker.domain.globs import glob_match
from broker.domain.grants import Grant
from broker.domain.policy import PolicyFloor
from broker.domain.templates import Template, agent_allowed
from broker.errors import Reason

Decision = Literal["allow", "deny", "approval_required"]
Effect = Literal["read", "write", "destructive"]


@dataclass(frozen=True, slots=True)
class ExplainStep:
    check: str  # agent, environment, action, floor, resource, approval, ttl
    passed: bool
    reason: Reason | None  # set when not passed
    detail: str


@dataclass(frozen=True, slots=True)
class Explanation:
    decision: Decision
    steps: tuple[ExplainStep, ...]

    @property
    def reasons(self) -> tuple[Reason, ...]:
        return tuple(s.reason for s in self.steps if s.reason is not None)


def _step(check: str, passed: bool, reason: Reason, ok: str, failed: str) -> ExplainStep:
    return ExplainStep(check, passed, None if passed else reason, ok if passed else failed)


def _decide(steps: list[ExplainStep]) -> Explanation:
    failed = [s for s in steps if not s.passed]
    if any(s.reason is not Reason.APPROVAL_REQUIRED for s in failed):
        decision: Decision = "deny"
    elif failed:
        decision = "approval_required"
    else:
        decision = "allow"
    return Explanation(decision, tuple(steps))


def _common_steps(
    *,
    granted_actions: Iterable[str],
    granted_envs: tuple[str, ...],
    resources: tuple[str, ...],
    approval_actions: tuple[str, ...],
    approvers: int,
    floor: PolicyFloor,
    action: str,
    environment: str,
    resource: str | None,
    effect: Effect | None,
) -> list[ExplainStep]:
    envs = ", ".join(granted_envs)
    steps = [
        _step(
            "environment",
            environment in granted_envs,
            Reason.ENVIRONMENT_NOT_GRANTED,
            f"environment {environment!r} is granted",
            f"environment {environment!r} is not granted (granted: {envs})",
        ),
        _step(
            "action",
            covered_by(granted_actions, action),
            Reason.VERB_NOT_GRANTED,
            f"{action!r} is granted",
            f"{action!r} is not granted",
        ),
        _step(
            "floor",
            not covered_by(floor.forbidden_actions, action),
            Reason.FORBIDDEN_VERB,
            f"{action!r} is not forbidden by the policy floor",
            f"{action!r} is forbidden by the policy floor",
        ),
    ]
    if resource is not None:
        steps.append(
            _step(
                "resource",
                any(glob_match(p, resource) for p in resources),
                Reason.RESOURCE_NOT_GRANTED,
                f"resource {resource!r} is granted",
                f"resource {resource!r} matches none of {', '.join(resources)}",
            )
        )
    steps.append(_approval_step(approval_actions, approvers, floor, action, environment, effect))
    return steps


def _approval_step(
    patterns: tuple[str, ...],
    approvers: int,
    floor: PolicyFloor,
    action: str,
    environment: str,
    effect: Effect | None,
) -> ExplainStep:
    why = []
    if covered_by(patterns, action):
        why.append(f"{action!r} needs approval from {approvers} approver(s)")
    protected = environment in floor.protected_environments
    if protected and effect == "destructive":
        why.append(f"destructive calls in protected environment {environment!r} need approval")
    if why:
        return ExplainStep("approval", False, Reason.APPROVAL_REQUIRED, "; ".join(why))
    detail = "no approval needed"
    if protected and effect is None:
        detail += f" unless the call is destructive ({environment!r} is protected)"
    return ExplainStep("approval", True, None, detail)


def explain_template(
    template: Template,
    version: int,
    floor: PolicyFloor,
    *,
    action: str,
    environment: str,
    agent_name: str | None = None,
    resource: str | None = None,
    effect: Effect | None = None,
    ttl_ceiling: int,
) -> Explanation:
    """Would a token from this template (as wide as it can be) allow this call?

    ``action`` must be concrete (raises ``InvalidRequest`` otherwise).
    """
    validate_action(action, allow_wildcards=False)
    steps: list[ExplainStep] = []
    if agent_name is not None:
        steps.append(
            _step(
                "agent",
                agent_allowed(template, agent_name),
                Reason.AGENT_NOT_ALLOWED,
                f"agent {agent_name!r} may request template {template.name!r}",
                f"agent {agent_name!r} may not request template {template.name!r}",
            )
        )
    steps += _common_steps(
        granted_actions=template.actions,
        granted_envs=template.environments,
        resources=template.resources,
        approval_actions=template.approval.actions,
        approvers=template.approval.approvers,
        floor=floor,
        action=action,
        environment=environment,
        resource=resource,
        effect=effect,
    )
    # Informational: the ceiling caps TTLs but never denies a call.
    effective = min(template.max_ttl, ttl_ceiling)
    steps.append(
        ExplainStep(
            "ttl",
            True,
            None,
            f"tokens from {template.name!r} v{version} last at most {effective}s "
            f"(template max {template.max_ttl}s, broker ceiling {ttl_ceiling}s)",
        )
    )
    return _decide(steps)


def explain_grant(
    grant: Grant,
    floor: PolicyFloor,
    *,
    action: str,
    environment: str,
    resource: str | None = None,
    effect: Effect | None = None,
) -> Explanation:
    """Would a token carrying ``grant`` allow this call? (Budgets are not considered.)"""
    validate_action(action, allow_wildcards=False)
    return _decide(
        _common_steps(
            granted_actions=grant.actions,
            granted_envs=(grant.environment,),
            resources=grant.resources,
            approval_actions=grant.approval_actions,
            approvers=grant.approvers,
            floor=floor,
            action=action,
            environment=environment,
            resource=resource,
            effect=effect,
        )
    )
