"""Live tokens follow their template: the grant met with the template's current version.

Checked against brute force over small universes: the result never allows an action or a
resource that either side refuses, never spends more budget or asks for less approval; it
is the token's own grant when the template did not change; and it is exact wherever the
two sides' patterns nest (only a partial overlap inside one segment is left out).
"""

from __future__ import annotations

import functools
import itertools
import re
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from broker.domain.following import CurrentTemplate, Lapse, follow_template
from broker.domain.globs import glob_match
from broker.domain.grants import Grant, GrantRequest, decide_grant
from broker.domain.policy import EMPTY_FLOOR
from broker.domain.templates import ApprovalRule, Budgets, Template
from broker.errors import Reason

from . import strategies
from .strategies import action_patterns, reference_regex, words

# Concrete actions over a, b and c (no pattern names c), segments up to three letters.
UNIVERSE = [f"{r}:{a}" for r in words(3) for a in words(3)]

ENVS = ("staging", "production", "preview")
RESOURCE_WORDS = ["".join(p) for n in range(1, 4) for p in itertools.product("ab:c", repeat=n)]
resource_patterns = st.text(alphabet="ab:*", min_size=1, max_size=3)
budgets = st.one_of(st.none(), st.integers(1, 5))


@functools.lru_cache(maxsize=4096)
def matched(pattern: str) -> frozenset[str]:
    rx = reference_regex(pattern)
    return frozenset(x for x in UNIVERSE if rx.fullmatch(x))


@functools.lru_cache(maxsize=4096)
def resources_matched(pattern: str) -> frozenset[str]:
    rx = re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.S)
    return frozenset(r for r in RESOURCE_WORDS if rx.fullmatch(r))


def allowed(patterns: tuple[str, ...]) -> frozenset[str]:
    return frozenset().union(*(matched(p) for p in patterns))


def allowed_resources(patterns: tuple[str, ...]) -> frozenset[str]:
    return frozenset().union(*(resources_matched(p) for p in patterns))


def limit(b: int | None) -> float:
    return float("inf") if b is None else b


templates = st.builds(
    Template,
    name=st.just("t"),
    provider=st.just("p"),
    environments=st.lists(st.sampled_from(ENVS), min_size=1, unique=True).map(tuple),
    actions=st.lists(action_patterns, min_size=1, max_size=3).map(tuple),
    resources=st.lists(resource_patterns, min_size=1, max_size=2).map(tuple),
    default_ttl=st.just(60),
    max_ttl=st.just(600),
    agents=st.just(("*",)),
    budgets=st.builds(Budgets, budgets, budgets),
    approval=st.builds(
        ApprovalRule, st.lists(action_patterns, max_size=2).map(tuple), st.integers(1, 3)
    ),
    description=st.just(""),
)
grants = strategies.grants(
    environments=st.sampled_from(ENVS),
    actions=action_patterns,
    resources=resource_patterns,
    budgets=st.builds(Budgets, budgets, budgets),
)


def newer(template: Template) -> CurrentTemplate:
    return CurrentTemplate(2, template)


@settings(max_examples=400, deadline=None)
@given(grant=grants, template=templates)
def test_never_wider_than_either_side(grant: Grant, template: Template) -> None:
    result = follow_template(grant, newer(template))
    if grant.environment not in template.environments:
        assert result == Lapse(
            Reason.ENVIRONMENT_NOT_GRANTED,
            f"template 't' no longer grants environment {grant.environment!r}",
        )
        return
    assert isinstance(result, Grant)
    effective = allowed(result.actions)
    assert effective <= allowed(grant.actions) & allowed(template.actions)
    assert allowed_resources(result.resources) <= (
        allowed_resources(grant.resources) & allowed_resources(template.resources)
    )
    for mine, theirs, ours in (
        (grant.budgets.calls, template.budgets.calls, result.budgets.calls),
        (
            grant.budgets.destructive_calls,
            template.budgets.destructive_calls,
            result.budgets.destructive_calls,
        ),
    ):
        assert limit(ours) == min(limit(mine), limit(theirs))
    # Whatever either side holds for a human is held, by at least as many approvers.
    either = allowed(grant.approval_actions) | allowed(template.approval.actions)
    assert effective & either <= allowed(result.approval_actions)
    assert result.approvers >= max(grant.approvers, template.approval.approvers)
    assert (result.environment, result.provider) == (grant.environment, grant.provider)


def _nests(a: str, b: str) -> bool:
    """Whether, segment by segment, one pattern subsumes the other."""
    return all(
        glob_match(x, y) or glob_match(y, x)
        for x, y in zip(a.split(":"), b.split(":"), strict=True)
    )


@settings(max_examples=400, deadline=None)
@given(grant=grants, template=templates)
def test_narrowing_applies_exactly_where_the_patterns_nest(
    grant: Grant, template: Template
) -> None:
    template = replace(template, environments=(grant.environment,))
    result = follow_template(grant, newer(template))
    assert isinstance(result, Grant)
    effective = allowed(result.actions)
    nesting = frozenset().union(
        *(matched(p) & matched(q) for p in grant.actions for q in template.actions if _nests(p, q))
    )
    assert nesting <= effective <= allowed(grant.actions) & allowed(template.actions)


@settings(max_examples=300, deadline=None)
@given(template=templates, data=st.data())
def test_the_token_itself_when_the_template_did_not_change(
    template: Template, data: st.DataObject
) -> None:
    """Issued from this template, then met with it again (as a newer version with the same
    spec, or as the same version): nothing changes, not even the spelling."""
    env = data.draw(st.sampled_from(template.environments))
    asked = data.draw(st.none() | st.just(template.actions[:1]))
    grant = decide_grant(
        template,
        1,
        EMPTY_FLOOR,
        agent_name="agent",
        request=GrantRequest("t", env, asked),
        ttl_ceiling=3600,
    )
    assert isinstance(grant, Grant)
    assert follow_template(grant, CurrentTemplate(1, template)) is grant
    assert follow_template(grant, newer(template)) == grant


@given(grant=grants, template=templates)
def test_an_older_or_equal_version_is_the_token_itself(grant: Grant, template: Template) -> None:
    assert follow_template(grant, CurrentTemplate(1, template)) is grant
    assert follow_template(replace(grant, template_version=5), CurrentTemplate(3, template)) == (
        replace(grant, template_version=5)
    )


def test_the_narrowings_an_admin_makes() -> None:
    token = Grant(
        template_name="t",
        template_version=1,
        provider="p",
        environment="staging",
        actions=("volume:*", "project:read"),
        resources=("*",),
        ttl=600,
        budgets=Budgets(100, 5),
        approval_actions=(),
        approvers=1,
    )
    base = Template(
        "t", "p", ("staging",), ("volume:*", "project:read"), ("*",), 60, 600, ("*",),
        Budgets(), ApprovalRule(), "",
    )  # fmt: skip
    narrowed = Template(
        "t", "p", ("staging",), ("volume:read", "project:*"), ("volume:vol-*",), 60, 600,
        ("*",), Budgets(10, None), ApprovalRule(("volume:read",), 2), "",
    )  # fmt: skip
    result = follow_template(token, CurrentTemplate(2, narrowed))
    assert isinstance(result, Grant)
    assert result.actions == ("project:read", "volume:read")
    assert result.resources == ("volume:vol-*",)
    assert result.budgets == Budgets(10, 5)
    assert (result.approval_actions, result.approvers) == (("volume:read",), 2)
    # Widening never applies: a wider newer version leaves the token as it was.
    wider = replace(base, actions=("*:*",), resources=("*",), environments=ENVS)
    assert follow_template(token, CurrentTemplate(3, wider)) == token
    moved = replace(base, provider="other")
    assert follow_template(token, CurrentTemplate(2, moved)) == Lapse(
        Reason.TOKEN_REVOKED, "template 't' is now for another provider"
    )
    gone = replace(base, environments=("production",))
    lapse = follow_template(token, CurrentTemplate(2, gone))
    assert isinstance(lapse, Lapse)
    assert lapse.reason is Reason.ENVIRONMENT_NOT_GRANTED
