"""Live tokens follow their template: a token's grant met with the template's current version.

Pure. A newer version that narrows what the template offers (actions, environments,
resources, budgets), asks for more approval or newly requires DPoP (an unbound token then
lapses: it cannot be bound after the fact) applies to tokens issued from an older
version; a wider one never does. So the result is never wider than the token, never wider
than the current version, and it is the token's own grant whenever the current version
still covers it (the template did not change, or changed only outside this token).

Action and resource patterns are star globs. The meet of two patterns is the narrower one
where one subsumes the other (segment by segment for actions); two patterns that overlap
without either subsuming the other (``vol*`` and ``*ume``) have no single glob for their
meet and are left out: the refusing side, never a wider one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from broker.domain.actions import SEPARATOR, covered_by, patterns_overlap
from broker.domain.globs import glob_match
from broker.domain.grants import Grant
from broker.domain.templates import Budgets, Template
from broker.errors import Reason


@dataclass(frozen=True, slots=True)
class CurrentTemplate:
    """A template's newest version, as the gateway last read it from the store."""

    version: int
    template: Template


@dataclass(frozen=True, slots=True)
class Lapse:
    """The token grants nothing any more: its environment or provider left the template."""

    reason: Reason
    detail: str


def follow_template(grant: Grant, current: CurrentTemplate) -> Grant | Lapse:
    """What a live token may do now: its grant met with its template's current version."""
    if current.version <= grant.template_version:
        return grant  # the version the token was issued from (or the feed is behind)
    template = current.template
    if template.provider != grant.provider:
        return Lapse(
            Reason.TOKEN_REVOKED, f"template {template.name!r} is now for another provider"
        )
    if grant.environment not in template.environments:
        return Lapse(
            Reason.ENVIRONMENT_NOT_GRANTED,
            f"template {template.name!r} no longer grants environment {grant.environment!r}",
        )
    if template.require_dpop and grant.dpop_jkt is None:
        return Lapse(
            Reason.DPOP_BINDING_MISMATCH,
            f"template {template.name!r} now requires DPoP-bound tokens; this one is not bound",
        )
    actions = meet_patterns(grant.actions, template.actions, _meet_action)
    added = tuple(
        p
        for p in template.approval.actions
        if p not in grant.approval_actions and any(patterns_overlap(p, a) for a in actions)
    )
    return replace(
        grant,
        actions=actions,
        resources=meet_patterns(grant.resources, template.resources, _meet_glob),
        budgets=Budgets(
            _least(grant.budgets.calls, template.budgets.calls),
            _least(grant.budgets.destructive_calls, template.budgets.destructive_calls),
        ),
        approval_actions=grant.approval_actions + added,
        approvers=max(grant.approvers, template.approval.approvers),
    )


def meet_patterns(
    token: tuple[str, ...], template: tuple[str, ...], meet: Callable[[str, str], str | None]
) -> tuple[str, ...]:
    """The patterns both sides allow. The token's own tuple when the template still covers
    each of them; otherwise every pairwise meet, without ones another meet subsumes."""
    if all(any(meet(p, q) == p for q in template) for p in token):
        return token
    found = sorted({m for p in token for q in template if (m := meet(p, q)) is not None})
    return tuple(m for i, m in enumerate(found) if not _subsumed(found, i, meet))


def _subsumed(found: list[str], i: int, meet: Callable[[str, str], str | None]) -> bool:
    """Whether another of ``found`` covers ``found[i]`` (of two equivalent spellings, the
    first one stays)."""
    m = found[i]
    for j, other in enumerate(found):
        if j != i and meet(other, m) == m and (j < i or meet(m, other) != other):
            return True
    return False


def _meet_glob(a: str, b: str) -> str | None:
    """The narrower glob where one subsumes the other (``glob_match`` is also the syntactic
    subsumption test); None when they are disjoint or only overlap."""
    if glob_match(a, b):
        return b
    if glob_match(b, a):
        return a
    return None


def _meet_action(a: str, b: str) -> str | None:
    if covered_by((a,), b):
        return b
    if covered_by((b,), a):
        return a
    ar, _, aa = a.partition(SEPARATOR)
    br, _, ba = b.partition(SEPARATOR)
    resource, action = _meet_glob(ar, br), _meet_glob(aa, ba)
    if resource is None or action is None:
        return None
    return f"{resource}{SEPARATOR}{action}"


def _least(a: int | None, b: int | None) -> int | None:
    """The tighter of two budgets (None: unlimited)."""
    if a is None:
        return b
    return a if b is None else min(a, b)
