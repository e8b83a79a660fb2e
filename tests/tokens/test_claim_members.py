"""The members of our ``capbroker_capability`` entry are type-checked in claims.py, so a
correctly signed token that passes ``check_claims`` always yields a well-typed grant."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.tokens import InvalidToken
from broker.tokens.claims import CAPABILITY_TYPE, ClaimRules, check_claims
from broker.tokens.grant import grant_from_token
from tests.tokens.token_builders import AUDIENCE, ISSUER, NOW, valid_claims

RULES = ClaimRules(issuer=ISSUER, audience=AUDIENCE, leeway=30, max_lifetime=86400)
GOOD = {
    "type": CAPABILITY_TYPE,
    "provider": "railway",
    "environments": ["staging"],
    "actions": ["volume:read"],
    "locations": [AUDIENCE],
    "resources": ["*"],
    "budgets": {"calls": 5, "destructive_calls": 0},
    "approval": {"actions": ["volume:delete"], "approvers": 2},
    "dry_run": False,
}


def check(detail: Any, *others: Any) -> Any:
    claims = valid_claims(authorization_details=[*others, detail])
    return check_claims(claims, kid="k1", rules=RULES, now=NOW)


def test_a_well_formed_capability_gives_its_grant() -> None:
    grant = grant_from_token(check(dict(GOOD)))
    assert (grant.provider, grant.environment, grant.actions) == (
        "railway",
        "staging",
        ("volume:read",),
    )
    assert (grant.budgets.calls, grant.approvers) == (5, 2)


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("provider", ""),
        ("provider", 7),
        ("environments", []),
        ("environments", [""]),
        ("environments", "staging"),
        ("actions", "volume:read"),
        ("actions", [None]),
        ("resources", {"a": 1}),
        ("locations", [1]),
        ("budgets", "5"),
        ("budgets", {"calls": 1.5}),
        ("budgets", {"calls": False}),
        ("budgets", {"destructive_calls": -2}),
        ("approval", {"approvers": 0}),
        ("approval", {"approvers": "1"}),
        ("approval", {"actions": [1]}),
        ("dry_run", 1),
    ],
)
def test_a_wrongly_typed_member_is_refused_by_name(member: str, value: Any) -> None:
    with pytest.raises(InvalidToken) as refused:
        check({**GOOD, member: value})
    assert refused.value.audit_detail == f"claim authorization_details has a malformed {member}"


def test_other_types_are_left_alone_but_two_capabilities_are_refused() -> None:
    check(dict(GOOD), {"type": "someone-else", "anything": [1, {"x": None}]})
    with pytest.raises(InvalidToken) as refused:
        check(dict(GOOD), dict(GOOD))
    assert "more than one capability" in refused.value.audit_detail


members = st.fixed_dictionaries(
    {},
    optional={
        k: st.one_of(
            st.none(),
            st.booleans(),
            st.integers(-3, 3),
            st.text(max_size=4),
            st.lists(st.one_of(st.text(max_size=4), st.integers()), max_size=2),
            st.dictionaries(
                st.sampled_from(["calls", "destructive_calls", "actions", "approvers"]),
                st.one_of(st.none(), st.integers(-1, 3), st.text(max_size=3), st.lists(st.text())),
                max_size=2,
            ),
        )
        for k in GOOD
        if k != "type"
    },
)


@settings(max_examples=500, deadline=None)
@given(changes=members)
def test_whatever_passes_the_check_gives_a_well_typed_grant(changes: dict[str, Any]) -> None:
    try:
        token = check({**GOOD, **changes})
    except InvalidToken:
        return
    grant = grant_from_token(token)
    assert isinstance(grant.provider, str)
    assert grant.provider
    assert isinstance(grant.environment, str)
    assert grant.environment
    for patterns in (grant.actions, grant.resources, grant.approval_actions):
        assert all(isinstance(p, str) for p in patterns)
    for count in (grant.budgets.calls, grant.budgets.destructive_calls):
        assert count is None or (type(count) is int and count >= 0)
    assert type(grant.approvers) is int
    assert grant.approvers >= 1
