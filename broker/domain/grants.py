"""Deciding what a token may carry: request ∩ template ∩ floor, never silently narrowed.

Order of checks (the first failure is raised): request shape, agent, environment,
floor (``forbidden_verb``), template actions (``verb_not_granted``), TTL. The floor
comes before the template so that asking for a forbidden action always reads as
forbidden, whatever the template says; ``extra`` still lists both kinds of offender.
"""

from __future__ import annotations

from dataclasses import dataclass

from broker.domain.actions import covered_by, is_valid_action, patterns_overlap
from broker.domain.policy import PolicyFloor
from broker.domain.templates import Budgets, Template, agent_allowed
from broker.errors import Denied, InvalidRequest, Reason


@dataclass(frozen=True, slots=True)
class GrantRequest:
    template: str
    environment: str
    actions: tuple[str, ...] | None = None  # None: everything the template offers
    ttl: int | None = None  # None: the template's default


@dataclass(frozen=True, slots=True)
class Grant:
    """What one token carries. ``approval_actions`` are the template's approval
    patterns that can touch a granted action."""

    template_name: str
    template_version: int
    provider: str
    environment: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    ttl: int
    budgets: Budgets
    approval_actions: tuple[str, ...]
    approvers: int


def decide_grant(
    template: Template,
    template_version: int,
    floor: PolicyFloor,
    *,
    agent_name: str,
    request: GrantRequest,
    ttl_ceiling: int,
) -> Grant:
    """Grant exactly what was asked, or raise ``Denied``/``InvalidRequest`` saying why.

    A requested action (or pattern) is refused when a forbidden pattern subsumes
    it. A granted wildcard that merely overlaps a forbidden pattern (``volume:*``
    against ``volume:delete``) is granted: the floor is enforced again on every
    call, so the overlap can never be used. When ``request.actions`` is None the
    grant is the template's patterns minus those the floor forbids outright (a
    token must never carry a forbidden pattern); if none remain, ``forbidden_verb``.

    The effective TTL ceiling is ``min(template.max_ttl, ttl_ceiling)``.
    """
    if ttl_ceiling < 1:
        raise ValueError("ttl_ceiling must be at least one second")
    actions = _requested_actions(request)
    if request.template != template.name:
        raise InvalidRequest(f"request names template {request.template!r}, not {template.name!r}")
    if not agent_allowed(template, agent_name):
        raise Denied(
            f"agent {agent_name!r} may not request template {template.name!r}",
            reason=Reason.AGENT_NOT_ALLOWED,
            extra={"agent": agent_name, "template": template.name},
        )
    if request.environment not in template.environments:
        raise Denied(
            f"template {template.name!r} does not grant environment {request.environment!r}",
            reason=Reason.ENVIRONMENT_NOT_GRANTED,
            extra={"environment": request.environment, "granted": list(template.environments)},
        )
    granted = _granted_actions(template, floor, actions)
    ttl = _ttl(template, request.ttl, ttl_ceiling)
    return Grant(
        template_name=template.name,
        template_version=template_version,
        provider=template.provider,
        environment=request.environment,
        actions=granted,
        resources=template.resources,
        ttl=ttl,
        budgets=template.budgets,
        approval_actions=tuple(
            p for p in template.approval.actions if any(patterns_overlap(p, a) for a in granted)
        ),
        approvers=template.approval.approvers,
    )


def _requested_actions(request: GrantRequest) -> tuple[str, ...] | None:
    if request.ttl is not None and request.ttl < 1:
        raise InvalidRequest(f"ttl must be at least 1 second, not {request.ttl}")
    if request.actions is None:
        return None
    if not request.actions:
        raise InvalidRequest("ask for at least one action, or omit actions for the template's")
    malformed = [a for a in request.actions if not is_valid_action(a, allow_wildcards=True)]
    if malformed:
        raise InvalidRequest(
            "not valid actions (resource:action, lower case): " + ", ".join(map(repr, malformed)),
            extra={"malformed": malformed},
        )
    return tuple(sorted(set(request.actions)))


def _granted_actions(
    template: Template, floor: PolicyFloor, requested: tuple[str, ...] | None
) -> tuple[str, ...]:
    if requested is None:
        granted = tuple(a for a in template.actions if not covered_by(floor.forbidden_actions, a))
        if not granted:
            raise Denied(
                f"the policy floor forbids every action of template {template.name!r}",
                reason=Reason.FORBIDDEN_VERB,
                extra={"forbidden": list(template.actions)},
            )
        return granted
    forbidden = [a for a in requested if covered_by(floor.forbidden_actions, a)]
    not_granted = [a for a in requested if not covered_by(template.actions, a)]
    extra = {"forbidden": forbidden, "not_granted": not_granted}
    if forbidden:
        raise Denied(
            "forbidden by the policy floor: " + ", ".join(forbidden),
            reason=Reason.FORBIDDEN_VERB,
            extra=extra,
        )
    if not_granted:
        raise Denied(
            f"not granted by template {template.name!r}: " + ", ".join(not_granted),
            reason=Reason.VERB_NOT_GRANTED,
            extra=extra,
        )
    return requested


def _ttl(template: Template, requested: int | None, ttl_ceiling: int) -> int:
    effective_max = min(template.max_ttl, ttl_ceiling)
    if requested is None:
        return min(template.default_ttl, effective_max)
    if requested > effective_max:
        raise Denied(
            f"ttl {requested}s is longer than the allowed {effective_max}s",
            reason=Reason.TTL_TOO_LONG,
            extra={"requested": requested, "max": effective_max},
        )
    return requested


def check_template_against_ceiling(t: Template, ttl_ceiling: int) -> list[str]:
    """Problems that make a template unfit for a broker with this TTL ceiling."""
    problems = []
    if t.max_ttl > ttl_ceiling:
        problems.append(
            f"ttl.max ({t.max_ttl}s) is longer than the broker's ceiling ({ttl_ceiling}s)"
        )
    if t.default_ttl > ttl_ceiling:
        problems.append(
            f"ttl.default ({t.default_ttl}s) is longer than the broker's ceiling ({ttl_ceiling}s)"
        )
    return problems


def check_template_against_floor(t: Template, floor: PolicyFloor) -> list[str]:
    """Template actions the floor forbids outright (they are left out of every grant)."""
    return [
        f"action {a!r} is forbidden by the policy floor"
        for a in t.actions
        if covered_by(floor.forbidden_actions, a)
    ]
