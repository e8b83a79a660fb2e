"""Delegation's decision (pure): a child's grant is within its parent's, or refused.

Checked against brute force over a small universe of concrete actions and resources: a
granted child never allows an action or a resource the parent refuses, never spends more
than what is left, never outlives the parent; a request that asks for anything wider is
refused with the reason of the first failing part, and exactly what was asked is granted
otherwise.
"""

from __future__ import annotations

import functools
import itertools
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from broker.domain.delegation import (
    MAX_DEPTH,
    DelegationRequest,
    Parent,
    decide_delegation,
    least,
    remaining,
)
from broker.domain.grants import Grant, Refusal
from broker.domain.policy import EMPTY_FLOOR, PolicyFloor
from broker.domain.templates import Budgets
from broker.errors import Reason

from .strategies import action_patterns, grants, reference_regex, words

# Concrete actions over a, b and c (no pattern names c), segments up to three letters.
UNIVERSE = [f"{r}:{a}" for r in words(3) for a in words(3)]

RESOURCE_WORDS = ["".join(p) for n in range(1, 4) for p in itertools.product("abc", repeat=n)]
resource_patterns = st.text(alphabet="ab*", min_size=1, max_size=3)
counts = st.one_of(st.none(), st.integers(0, 6))
budgets = st.builds(Budgets, counts, counts)
parent_grants = grants(
    environments=st.sampled_from(["staging", "preview"]),
    actions=action_patterns,
    resources=resource_patterns,
    budgets=budgets,
)


@functools.lru_cache(maxsize=4096)
def matched(pattern: str) -> frozenset[str]:
    rx = reference_regex(pattern)
    return frozenset(x for x in UNIVERSE if rx.fullmatch(x))


@functools.lru_cache(maxsize=4096)
def resources_of(pattern: str) -> frozenset[str]:
    rx = re.compile("[^\n]*".join(re.escape(p) for p in pattern.split("*")))
    return frozenset(w for w in RESOURCE_WORDS if rx.fullmatch(w))


def allowed(patterns: tuple[str, ...]) -> frozenset[str]:
    return frozenset().union(*(matched(p) for p in patterns))


def allowed_resources(patterns: tuple[str, ...]) -> frozenset[str]:
    return frozenset().union(*(resources_of(p) for p in patterns))


def within(child: int | None, left: int | None) -> bool:
    return left is None or (child is not None and child <= left)


@st.composite
def parents(draw: st.DrawFn) -> Parent:
    return Parent(
        grant=draw(parent_grants),
        left=draw(budgets),
        lifetime=draw(st.integers(1, 600)),
        depth=draw(st.integers(0, 2)),
        # mostly delegable, so the later checks are reached often
        max_depth=draw(st.sampled_from([MAX_DEPTH, 1, 2, 3, MAX_DEPTH + 1, 0])),
    )


requests = st.builds(
    DelegationRequest,
    template=st.sampled_from([None, None, None, "t", "u"]),
    environment=st.sampled_from([None, None, None, "staging", "preview"]),
    actions=st.one_of(st.none(), st.lists(action_patterns, min_size=1, max_size=3).map(tuple)),
    resources=st.one_of(st.none(), st.lists(resource_patterns, min_size=1, max_size=2).map(tuple)),
    budgets=st.one_of(st.none(), budgets),
    ttl=st.one_of(st.none(), st.integers(1, 700)),
)


@settings(max_examples=600, deadline=None)
@given(parents(), requests)
def test_a_child_is_never_wider_than_its_parent(parent: Parent, request: DelegationRequest) -> None:
    decided = decide_delegation(parent, request, EMPTY_FLOOR)
    if isinstance(decided, Refusal):
        return
    g, child = parent.grant, decided
    assert allowed(child.actions) <= allowed(g.actions)
    assert allowed_resources(child.resources) <= allowed_resources(g.resources)
    assert (child.environment, child.provider, child.template_name) == (
        g.environment,
        g.provider,
        g.template_name,
    )
    assert 1 <= child.ttl <= parent.lifetime
    assert within(child.budgets.calls, parent.left.calls)
    assert within(child.budgets.destructive_calls, parent.left.destructive_calls)
    assert child.budgets.calls != 0
    assert set(child.approval_actions) <= set(g.approval_actions)
    assert child.approvers == g.approvers
    assert parent.depth + 1 <= min(parent.max_depth, MAX_DEPTH)


@settings(max_examples=600, deadline=None)
@given(parents(), requests)
def test_exactly_what_fits_is_granted_and_the_rest_refused_with_its_reason(
    parent: Parent, request: DelegationRequest
) -> None:
    g = parent.grant
    decided = decide_delegation(parent, request, EMPTY_FLOOR)
    actions = g.actions if request.actions is None else request.actions
    resources = g.resources if request.resources is None else request.resources
    b = request.budgets or Budgets()
    calls = b.calls if b.calls is not None else parent.left.calls
    expected: Reason | None = None
    # The order of precedence of broker/domain/delegation.py.
    if parent.max_depth < 1:
        expected = Reason.DELEGATION_NOT_ALLOWED
    elif parent.depth + 1 > min(parent.max_depth, MAX_DEPTH):
        expected = Reason.DELEGATION_TOO_DEEP
    elif request.template not in (None, g.template_name):
        expected = Reason.INVALID_TARGET
    elif request.environment not in (None, g.environment):
        expected = Reason.ENVIRONMENT_NOT_GRANTED
    elif not all(_covered(a, g.actions) for a in actions):
        expected = Reason.VERB_NOT_GRANTED
    elif not all(_covered_resource(r, g.resources) for r in resources):
        expected = Reason.RESOURCE_NOT_GRANTED
    elif (
        not (within(b.calls, parent.left.calls) or b.calls is None)
        or not (
            within(b.destructive_calls, parent.left.destructive_calls)
            or b.destructive_calls is None
        )
        or calls == 0
    ):
        expected = Reason.BUDGET_EXHAUSTED
    elif request.ttl is not None and request.ttl > parent.lifetime:
        expected = Reason.TTL_TOO_LONG
    if expected is None:
        assert isinstance(decided, Grant), decided
        assert set(decided.actions) == set(actions)
        assert set(decided.resources) == set(resources)
        assert decided.ttl == (request.ttl or parent.lifetime)
    else:
        assert isinstance(decided, Refusal)
        assert decided.reason is expected, decided


def _covered(pattern: str, parent: tuple[str, ...]) -> bool:
    """Subsumption as the brute force sees it: one parent pattern matches all it matches."""
    mine = matched(pattern)
    return any(mine <= matched(p) for p in parent)


def _covered_resource(pattern: str, parent: tuple[str, ...]) -> bool:
    mine = resources_of(pattern)
    return any(mine <= resources_of(p) for p in parent)


def test_the_floor_still_applies() -> None:
    parent = Parent(
        Grant("t", 1, "p", "staging", ("backup:*",), ("*",), 60, Budgets(), (), 1),
        Budgets(),
        60,
        0,
        2,
    )
    floor = PolicyFloor(forbidden_actions=("backup:delete",), protected_environments=())
    refused = decide_delegation(parent, DelegationRequest(actions=("backup:delete",)), floor)
    assert isinstance(refused, Refusal)
    assert refused.reason is Reason.FORBIDDEN_VERB
    assert isinstance(
        decide_delegation(parent, DelegationRequest(actions=("backup:read",)), floor), Grant
    )


@given(budgets, st.integers(0, 8), st.integers(0, 8), budgets)
def test_remaining_and_least(cap: Budgets, calls: int, destructive: int, other: Budgets) -> None:
    left = remaining(cap, calls, destructive)
    for have, was, spent in (
        (left.calls, cap.calls, calls),
        (left.destructive_calls, cap.destructive_calls, destructive),
    ):
        assert (have is None) == (was is None)
        if was is not None:
            assert have == max(was - spent, 0)
    both = least(left, other)
    assert within(both.calls, left.calls)
    assert within(both.calls, other.calls)
    assert within(both.destructive_calls, other.destructive_calls)


def test_universe_is_what_the_brute_force_uses() -> None:
    assert "a:a" in UNIVERSE
