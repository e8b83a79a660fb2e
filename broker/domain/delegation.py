"""Delegation (RFC 8693): a narrower grant for a sub-agent out of a parent token's. Pure.

The child's grant is what was asked, or a ``Refusal``; never silently narrowed. Every part
is a subset of what is left of the parent's current (template-followed) grant: actions
covered by the parent's, its one environment, resource patterns each subsumed by one of
the parent's, budgets no larger than what the parent and every ancestor have left, and a
lifetime no longer than the parent's remaining one. Delegation is a template's opt-in
(``delegation.max_depth``), bounded by ``MAX_DEPTH`` whatever the template says.

Order of precedence (the first failure is the refusal): request shape, delegation allowed,
depth, template, environment, floor, actions, resources, budgets, lifetime.
"""

from __future__ import annotations

from dataclasses import dataclass

from broker.domain.actions import covered_by, is_valid_action, patterns_overlap
from broker.domain.globs import glob_match
from broker.domain.grants import Grant, Refusal
from broker.domain.policy import PolicyFloor
from broker.domain.templates import Budgets
from broker.errors import Reason

MAX_DEPTH = 4  # delegation steps below a root token, whatever a template allows


@dataclass(frozen=True, slots=True)
class DelegationRequest:
    """What the delegator asks for; None: the parent's (budgets: what is left of them)."""

    template: str | None = None
    environment: str | None = None
    actions: tuple[str, ...] | None = None
    resources: tuple[str, ...] | None = None
    budgets: Budgets | None = None
    ttl: int | None = None


@dataclass(frozen=True, slots=True)
class Parent:
    """The subject token as it stands now.

    ``grant``: its grant met with the template's current version; ``left``: the budgets
    the parent and all its ancestors still have (the least of each); ``lifetime``: whole
    seconds until it expires; ``depth``: delegation steps above it (0: a root token);
    ``max_depth``: the template's current opt-in (0: no delegation)."""

    grant: Grant
    left: Budgets
    lifetime: int
    depth: int
    max_depth: int


def decide_delegation(
    parent: Parent, request: DelegationRequest, floor: PolicyFloor
) -> Grant | Refusal:
    """The child's grant, exactly as asked within the parent's, or why not."""
    g = parent.grant
    shape = _shape(request)
    if shape is not None:
        return shape
    if parent.max_depth < 1:
        return Refusal(
            Reason.DELEGATION_NOT_ALLOWED,
            f"template {g.template_name!r} does not allow delegation",
            {"template": g.template_name},
        )
    allowed = min(parent.max_depth, MAX_DEPTH)
    if parent.depth + 1 > allowed:
        return Refusal(
            Reason.DELEGATION_TOO_DEEP,
            f"the token is already {parent.depth} delegation(s) deep; at most {allowed}",
            {"depth": parent.depth, "max_depth": allowed},
        )
    if request.template is not None and request.template != g.template_name:
        return Refusal(
            Reason.INVALID_TARGET,
            f"a delegated token keeps the parent's template {g.template_name!r}",
        )
    if request.environment is not None and request.environment != g.environment:
        return Refusal(
            Reason.ENVIRONMENT_NOT_GRANTED,
            f"the parent token grants environment {g.environment!r} only",
            {"environment": request.environment, "granted": (g.environment,)},
        )
    actions = g.actions if request.actions is None else tuple(sorted(set(request.actions)))
    forbidden = tuple(a for a in actions if covered_by(floor.forbidden_actions, a))
    if forbidden:
        return Refusal(
            Reason.FORBIDDEN_VERB,
            "forbidden by the policy floor: " + ", ".join(forbidden),
            {"forbidden": forbidden},
        )
    wider = tuple(a for a in actions if not covered_by(g.actions, a))
    if wider:
        return Refusal(
            Reason.VERB_NOT_GRANTED,
            "not granted by the parent token: " + ", ".join(wider),
            {"not_granted": wider},
        )
    resources = g.resources if request.resources is None else tuple(sorted(set(request.resources)))
    outside = tuple(r for r in resources if not any(glob_match(p, r) for p in g.resources))
    if outside:
        return Refusal(
            Reason.RESOURCE_NOT_GRANTED,
            "resources not granted by the parent token: " + ", ".join(outside),
            {"not_granted": outside},
        )
    budgets = _budgets(parent.left, request.budgets)
    if isinstance(budgets, Refusal):
        return budgets
    ttl = parent.lifetime if request.ttl is None else request.ttl
    if ttl > parent.lifetime or ttl < 1:
        return Refusal(
            Reason.TTL_TOO_LONG,
            f"ttl {ttl}s is longer than the parent token's remaining {parent.lifetime}s",
            {"requested": ttl, "max": parent.lifetime},
        )
    return Grant(
        template_name=g.template_name,
        template_version=g.template_version,
        provider=g.provider,
        environment=g.environment,
        actions=actions,
        resources=resources,
        ttl=ttl,
        budgets=budgets,
        approval_actions=tuple(
            p for p in g.approval_actions if any(patterns_overlap(p, a) for a in actions)
        ),
        approvers=g.approvers,
    )


def _shape(request: DelegationRequest) -> Refusal | None:
    if request.ttl is not None and request.ttl < 1:
        return Refusal(Reason.INVALID_REQUEST, f"ttl must be at least 1 second, not {request.ttl}")
    if request.actions is not None:
        if not request.actions:
            return Refusal(Reason.INVALID_REQUEST, "ask for at least one action, or omit scope")
        bad = [a for a in request.actions if not is_valid_action(a, allow_wildcards=True)]
        if bad:
            return Refusal(
                Reason.INVALID_REQUEST,
                "not valid actions (resource:action, lower case): " + ", ".join(map(repr, bad)),
            )
    if request.resources is not None and not request.resources:
        return Refusal(Reason.INVALID_REQUEST, "ask for at least one resource, or omit them")
    b = request.budgets
    if b is not None and any(v is not None and v < 0 for v in (b.calls, b.destructive_calls)):
        return Refusal(Reason.INVALID_REQUEST, "budgets are whole numbers of calls, 0 or more")
    return None


def _budgets(left: Budgets, asked: Budgets | None) -> Budgets | Refusal:
    """Each budget: what was asked if it fits in what is left, else a refusal; one not asked
    for is what is left (unlimited only where the whole chain is unlimited)."""
    out: list[int | None] = []
    for name, have, want in (
        ("calls", left.calls, asked.calls if asked else None),
        ("destructive_calls", left.destructive_calls, asked.destructive_calls if asked else None),
    ):
        if want is None:
            out.append(have)
        elif have is not None and want > have:
            return Refusal(
                Reason.BUDGET_EXHAUSTED,
                f"budget {name} {want} is more than the {have} the parent token has left",
                {"budget": name, "requested": want, "left": have},
            )
        else:
            out.append(want)
    if out[0] == 0:
        return Refusal(
            Reason.BUDGET_EXHAUSTED,
            "the parent token has no calls left to delegate",
            {"budget": "calls", "left": 0},
        )
    return Budgets(out[0], out[1])


def remaining(cap: Budgets, calls: int, destructive: int) -> Budgets:
    """What is left of ``cap`` after ``calls`` and ``destructive`` calls (never below 0)."""
    return Budgets(
        None if cap.calls is None else max(cap.calls - calls, 0),
        None if cap.destructive_calls is None else max(cap.destructive_calls - destructive, 0),
    )


def least(a: Budgets, b: Budgets) -> Budgets:
    """The tighter of each budget (None: unlimited)."""

    def one(x: int | None, y: int | None) -> int | None:
        return y if x is None else (x if y is None else min(x, y))

    return Budgets(one(a.calls, b.calls), one(a.destructive_calls, b.destructive_calls))
