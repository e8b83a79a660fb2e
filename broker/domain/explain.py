"""Explanations: would this call be allowed, and every reason why not.

The policy evaluator (``evaluate.py``) finds every failure, none stops at the first, so
an admin sees all reasons; this module puts them in an admin's words, next to the
checks that passed. Deny wins over approval; approval wins over allow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from broker.domain.actions import validate_action
from broker.domain.evaluate import (
    Attempt,
    Check,
    Failure,
    Scope,
    Verdict,
    evaluate,
    grant_scope,
    is_protected,
    template_scope,
)
from broker.domain.grants import Grant, longest_ttl
from broker.domain.policy import PolicyFloor
from broker.domain.templates import Template
from broker.errors import Reason

Effect = Literal["read", "write", "destructive"]


@dataclass(frozen=True, slots=True)
class ExplainStep:
    check: str  # agent, environment, action, floor, resource, approval, ttl
    passed: bool
    reason: Reason | None  # set when not passed
    detail: str


@dataclass(frozen=True, slots=True)
class Explanation:
    decision: Verdict
    steps: tuple[ExplainStep, ...]

    @property
    def reasons(self) -> tuple[Reason, ...]:
        return tuple(s.reason for s in self.steps if s.reason is not None)


def _step(failure: Failure | None, check: str, ok: str, failed: str) -> ExplainStep:
    if failure is None:
        return ExplainStep(check, True, None, ok)
    return ExplainStep(check, False, failure.reason, failed)


def _call_steps(
    scope: Scope,
    floor: PolicyFloor,
    failures: dict[Check, Failure],
    *,
    approvers: int,
    action: str,
    environment: str,
    resource: str | None,
    effect: Effect | None,
) -> list[ExplainStep]:
    """The steps of one call, in the order admins read them (not the gateway's order)."""
    envs = ", ".join(scope.environments)
    steps = [
        _step(
            failures.get("environment"),
            "environment",
            f"environment {environment!r} is granted",
            f"environment {environment!r} is not granted (granted: {envs})",
        ),
        _step(
            failures.get("action"),
            "action",
            f"{action!r} is granted",
            f"{action!r} is not granted",
        ),
        _step(
            failures.get("floor"),
            "floor",
            f"{action!r} is not forbidden by the policy floor",
            f"{action!r} is forbidden by the policy floor",
        ),
    ]
    if resource is not None:
        steps.append(
            _step(
                failures.get("resource"),
                "resource",
                f"resource {resource!r} is granted",
                f"resource {resource!r} matches none of {', '.join(scope.resources)}",
            )
        )
    steps.append(_approval_step(failures, approvers, floor, action, environment, effect))
    return steps


def _approval_step(
    failures: dict[Check, Failure],
    approvers: int,
    floor: PolicyFloor,
    action: str,
    environment: str,
    effect: Effect | None,
) -> ExplainStep:
    why = []
    if "approval" in failures:
        why.append(f"{action!r} needs approval from {approvers} approver(s)")
    if "protected" in failures:
        why.append(f"destructive calls in protected environment {environment!r} need approval")
    if why:
        return ExplainStep("approval", False, Reason.APPROVAL_REQUIRED, "; ".join(why))
    detail = "no approval needed"
    # A hint only: with no effect given the evaluator cannot tell a destructive call.
    if effect is None and is_protected(environment, floor.protected_environments):
        detail += f" unless the call is destructive ({environment!r} is protected)"
    return ExplainStep("approval", True, None, detail)


def _explain_call(
    scope: Scope,
    floor: PolicyFloor,
    *,
    approvers: int,
    action: str,
    environment: str,
    resource: str | None,
    effect: Effect | None,
    agent_name: str | None = None,
    template_name: str = "",
) -> tuple[Verdict, list[ExplainStep]]:
    validate_action(action, allow_wildcards=False)
    resources = () if resource is None else (resource,)
    attempt = Attempt(action, effect, resources, frozenset({environment}))
    result = evaluate(scope, floor, [attempt], agent=agent_name)
    # One call: each check fails at most once.
    failures = {f.check: f for f in result.failures}
    steps = []
    if agent_name is not None:
        steps.append(
            _step(
                failures.get("agent"),
                "agent",
                f"agent {agent_name!r} may request template {template_name!r}",
                f"agent {agent_name!r} may not request template {template_name!r}",
            )
        )
    steps += _call_steps(
        scope,
        floor,
        failures,
        approvers=approvers,
        action=action,
        environment=environment,
        resource=resource,
        effect=effect,
    )
    return result.verdict, steps


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
    verdict, steps = _explain_call(
        template_scope(template),
        floor,
        approvers=template.approval.approvers,
        action=action,
        environment=environment,
        resource=resource,
        effect=effect,
        agent_name=agent_name,
        template_name=template.name,
    )
    # Informational: the ceiling caps TTLs but never denies a call.
    effective = longest_ttl(template, ttl_ceiling)
    steps.append(
        ExplainStep(
            "ttl",
            True,
            None,
            f"tokens from {template.name!r} v{version} last at most {effective}s "
            f"(template max {template.max_ttl}s, broker ceiling {ttl_ceiling}s)",
        )
    )
    return Explanation(verdict, tuple(steps))


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
    verdict, steps = _explain_call(
        grant_scope(grant),
        floor,
        approvers=grant.approvers,
        action=action,
        environment=environment,
        resource=resource,
        effect=effect,
    )
    return Explanation(verdict, tuple(steps))
