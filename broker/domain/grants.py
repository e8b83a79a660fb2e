"""Deciding what a token may carry: request ∩ template ∩ floor, never silently narrowed.

The policy evaluator (``evaluate.py``) checks the agent, the environment, the floor and
the template's actions, the same rules the gateway and explain apply to calls. The
answer is a value, a ``Grant`` or a ``Refusal``, raised only at the service's edge.

Order of precedence (the first failure is the refusal): request shape, agent,
environment, floor (``forbidden_verb``), template actions (``verb_not_granted``), TTL,
then a template's ``require_dpop`` without a proof (``invalid_dpop_proof``).
The floor comes before the template so that asking for a forbidden action always reads
as forbidden, whatever the template says; ``extra`` still lists both kinds of offender.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from broker.domain.actions import covered_by, is_valid_action, patterns_overlap
from broker.domain.evaluate import Attempt, Failure, evaluate, template_scope
from broker.domain.policy import PolicyFloor
from broker.domain.templates import Budgets, Template
from broker.errors import BrokerError, Denied, InvalidRequest, Reason


@dataclass(frozen=True, slots=True)
class GrantRequest:
    template: str
    environment: str
    actions: tuple[str, ...] | None = None  # None: everything the template offers
    ttl: int | None = None  # None: the template's default
    dpop_jkt: str | None = None  # the thumbprint of a verified DPoP proof's key (RFC 9449)


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
    dpop_jkt: str | None = None  # the token's cnf.jkt: bound to that DPoP key (RFC 9449)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why no grant. ``error()`` is what the service raises; lists in ``extra`` are
    tuples here because a refusal is cached and shared, never to be mutated."""

    reason: Reason  # ``invalid_request`` for a malformed request, else the denial's
    detail: str
    extra: Mapping[str, Any] = field(default_factory=dict)

    def error(self) -> BrokerError:
        extra = {k: list(v) if isinstance(v, tuple) else v for k, v in self.extra.items()}
        if self.reason in (Reason.INVALID_REQUEST, Reason.INVALID_DPOP_PROOF):
            return InvalidRequest(self.detail, reason=self.reason, extra=extra)
        return Denied(self.detail, reason=self.reason, extra=extra)


def decide_grant(
    template: Template,
    template_version: int,
    floor: PolicyFloor,
    *,
    agent_name: str,
    request: GrantRequest,
    ttl_ceiling: int,
) -> Grant | Refusal:
    """Exactly what was asked, or a ``Refusal`` saying why not.

    A requested action (or pattern) is refused when a forbidden pattern subsumes
    it. A granted wildcard that merely overlaps a forbidden pattern (``volume:*``
    against ``volume:delete``) is granted: the floor is enforced again on every
    call, so the overlap can never be used. When ``request.actions`` is None the
    grant is the template's patterns minus those the floor forbids outright (a
    token must never carry a forbidden pattern); if none remain, ``forbidden_verb``.

    The effective TTL ceiling is ``longest_ttl(template, ttl_ceiling)``.
    """
    if ttl_ceiling < 1:
        raise ValueError("ttl_ceiling must be at least one second")
    requested = _requested_actions(request, template)
    if isinstance(requested, Refusal):
        return requested
    asked = template.actions if requested is None else requested
    env = frozenset({request.environment})
    result = evaluate(
        template_scope(template),
        floor,
        [Attempt(a, environments=env) for a in asked],
        agent=agent_name,
    )
    granted = _granted(template, request, requested, result.failures)
    if isinstance(granted, Refusal):
        return granted
    ttl = _ttl(template, request.ttl, ttl_ceiling)
    if isinstance(ttl, Refusal):
        return ttl
    if template.require_dpop and request.dpop_jkt is None:
        return Refusal(
            Reason.INVALID_DPOP_PROOF,
            f"template {template.name!r} requires a DPoP proof (RFC 9449) with the request",
            {"template": template.name},
        )
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
        dpop_jkt=request.dpop_jkt,
    )


def _requested_actions(
    request: GrantRequest, template: Template
) -> tuple[str, ...] | Refusal | None:
    """The request's actions, sorted (None: the template's), or why the request is malformed."""
    if request.ttl is not None and request.ttl < 1:
        return _invalid(f"ttl must be at least 1 second, not {request.ttl}")
    if request.actions is None:
        actions = None
    elif not request.actions:
        return _invalid("ask for at least one action, or omit actions for the template's")
    else:
        malformed = [a for a in request.actions if not is_valid_action(a, allow_wildcards=True)]
        if malformed:
            return _invalid(
                "not valid actions (resource:action, lower case): "
                + ", ".join(map(repr, malformed)),
                malformed=tuple(malformed),
            )
        actions = tuple(sorted(set(request.actions)))
    if request.template != template.name:
        return _invalid(f"request names template {request.template!r}, not {template.name!r}")
    return actions


def _invalid(detail: str, **extra: Any) -> Refusal:
    return Refusal(Reason.INVALID_REQUEST, detail, extra)


def _granted(
    template: Template,
    request: GrantRequest,
    requested: tuple[str, ...] | None,
    failures: tuple[Failure, ...],
) -> tuple[str, ...] | Refusal:
    """The actions to grant, or the first refusal in issuance's order of precedence.

    The evaluator's approvals do not matter here: they are the gateway's to ask for.
    """
    found = {f.check: f for f in reversed(failures)}  # the first failure of each check
    if "agent" in found:
        agent = found["agent"].found[0]
        return Refusal(
            Reason.AGENT_NOT_ALLOWED,
            f"agent {agent!r} may not request template {template.name!r}",
            {"agent": agent, "template": template.name},
        )
    if "environment" in found:
        return Refusal(
            Reason.ENVIRONMENT_NOT_GRANTED,
            f"template {template.name!r} does not grant environment {request.environment!r}",
            {"environment": request.environment, "granted": template.environments},
        )
    forbidden = tuple(f.action for f in failures if f.check == "floor")
    if requested is None:
        granted = tuple(a for a in template.actions if a not in forbidden)
        if granted:
            return granted
        return Refusal(
            Reason.FORBIDDEN_VERB,
            f"the policy floor forbids every action of template {template.name!r}",
            {"forbidden": template.actions},
        )
    not_granted = tuple(f.action for f in failures if f.check == "action")
    extra = {"forbidden": forbidden, "not_granted": not_granted}
    if forbidden:
        return Refusal(
            Reason.FORBIDDEN_VERB, "forbidden by the policy floor: " + ", ".join(forbidden), extra
        )
    if not_granted:
        detail = f"not granted by template {template.name!r}: " + ", ".join(not_granted)
        return Refusal(Reason.VERB_NOT_GRANTED, detail, extra)
    return requested


def longest_ttl(template: Template, ttl_ceiling: int) -> int:
    """The longest a token from ``template`` may last under the broker's ceiling."""
    return min(template.max_ttl, ttl_ceiling)


def _ttl(template: Template, requested: int | None, ttl_ceiling: int) -> int | Refusal:
    effective_max = longest_ttl(template, ttl_ceiling)
    if requested is None:
        return min(template.default_ttl, effective_max)
    if requested > effective_max:
        return Refusal(
            Reason.TTL_TOO_LONG,
            f"ttl {requested}s is longer than the allowed {effective_max}s",
            {"requested": requested, "max": effective_max},
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
