"""A delegated token's ``act`` and ``delegation`` claims are checked in claims.py: a signed
token whose chain is malformed, too long, or disagrees with itself is refused as a token."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from broker.domain.delegation import MAX_DEPTH
from broker.tokens import InvalidToken
from broker.tokens.claims import ClaimRules, check_claims
from broker.tokens.delegation import delegation_data
from tests.tokens.token_builders import AUDIENCE, ISSUER, NOW, valid_claims

RULES = ClaimRules(issuer=ISSUER, audience=AUDIENCE, leeway=30, max_lifetime=86400)
ACT = {"sub": "p-sub2", "client_id": "sub-two", "act": {"sub": "p-sub1", "client_id": "sub-one"}}
DELEGATION = {
    "parent": "j-parent",
    "ancestors": [
        {"jti": "j-root", "budgets": {"calls": 10}},
        {"jti": "j-parent", "budgets": {"calls": 4, "destructive_calls": 0}},
    ],
}


def check(**extra: Any) -> Any:
    return check_claims(valid_claims(**extra), kid="k1", rules=RULES, now=NOW)


def test_a_well_formed_chain_is_read_back() -> None:
    token = check(act=ACT, delegation=DELEGATION)
    assert token.ancestors == ("j-root", "j-parent")
    assert token.actors == ("p-sub2", "p-sub1")
    assert delegation_data(token.claims) == {
        "chain": ["j-root", "j-parent"],
        "actors": ["sub-two", "sub-one"],
    }


def test_a_root_token_has_no_chain() -> None:
    token = check()
    assert (token.ancestors, token.actors) == ((), ())


def _with(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {"act": copy.deepcopy(ACT), "delegation": copy.deepcopy(DELEGATION)}
    target: Any = claims
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return claims


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("act",), "p-sub2"),
        (("act",), KeyError),  # a chain without actors
        (("delegation",), KeyError),  # actors without a chain
        (("act", "sub"), ""),
        (("act", "client_id"), 3),
        (("act", "extra"), "x"),
        (("act", "act"), {"sub": "p"}),
        (("delegation",), []),
        (("delegation", "parent"), None),
        (("delegation", "parent"), "j-other"),  # the parent is the last ancestor
        (("delegation", "ancestors"), []),
        (("delegation", "ancestors"), [{"jti": "j-parent", "budgets": {}}]),  # depth != acts
        (("delegation", "ancestors", 0, "jti"), ""),
        (("delegation", "ancestors", 0, "budgets"), {"calls": -1}),
        (("delegation", "ancestors", 0, "budgets"), {"calls": True}),
        (("delegation", "ancestors", 0, "budgets"), {"other": 1}),
        (("delegation", "ancestors", 0, "budgets"), None),
    ],
)
def test_a_malformed_chain_is_refused(path: tuple[Any, ...], value: Any) -> None:
    with pytest.raises(InvalidToken):
        check(**_with(path, value))


def test_a_chain_longer_than_the_bound_is_refused() -> None:
    n = MAX_DEPTH + 1
    act: dict[str, Any] = {"sub": "p0", "client_id": "a0"}
    for i in range(1, n):
        act = {"sub": f"p{i}", "client_id": f"a{i}", "act": act}
    ancestors = [{"jti": f"j{i}", "budgets": {}} for i in range(n)]
    with pytest.raises(InvalidToken):
        check(act=act, delegation={"parent": f"j{n - 1}", "ancestors": ancestors})
