"""Claim rules -> agent names (pure)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.identity import AgentRule, agent_name
from broker.identity.rules import RuleError
from broker.tokens import InvalidToken

K8S = AgentRule.compile(
    "k8s.{ns}.{sa}",
    {"kubernetes.io/namespace": "{ns}", "kubernetes.io/serviceaccount/name": "{sa}"},
)


def k8s(ns: Any = "agents", sa: Any = "claude") -> dict[str, Any]:
    return {"kubernetes.io": {"namespace": ns, "serviceaccount": {"name": sa}}}


def refusal(rules: list[AgentRule], claims: dict[str, Any]) -> str:
    with pytest.raises(InvalidToken) as caught:
        agent_name(rules, claims)
    return caught.value.audit_detail


def test_nested_claims_and_captures() -> None:
    assert agent_name([K8S], k8s()) == "k8s.agents.claude"


@pytest.mark.parametrize(
    "claims",
    [
        {},
        {"kubernetes.io": "agents"},
        k8s(ns=["agents"]),
        k8s(ns=7),
        k8s(sa=None),
        k8s(ns="a/b"),  # a capture is one run of [A-Za-z0-9._-]
        k8s(ns="agents\n"),
        k8s(ns=""),
    ],
)
def test_claims_that_match_no_rule(claims: dict[str, Any]) -> None:
    assert refusal([K8S], claims) == "no agent rule matches the token's claims"


def test_literals_globs_and_a_repeated_capture() -> None:
    rule = AgentRule.compile(
        "gha.{owner}.{repo}",
        {"repository": "{owner}/{repo}", "repository_owner": "{owner}", "ref": "refs/heads/*"},
    )
    good = {"repository": "Octo-Org/app", "repository_owner": "Octo-Org", "ref": "refs/heads/x/y"}
    assert agent_name([rule], good) == "gha.octo-org.app"  # lower-cased
    for bad in (
        {**good, "repository_owner": "other"},  # {owner} captured twice, differently
        {**good, "ref": "refs/tags/v1"},
        {**good, "repository": "Octo-Org/app/extra"},
    ):
        with pytest.raises(InvalidToken):
            agent_name([rule], bad)


def test_regex_metacharacters_are_literal() -> None:
    rule = AgentRule.compile("x", {"sub": "a.b+c"})
    assert agent_name([rule], {"sub": "a.b+c"}) == "x"
    with pytest.raises(InvalidToken):
        agent_name([rule], {"sub": "aXbbc"})


def test_two_rules_naming_different_agents_is_a_refusal() -> None:
    a = AgentRule.compile("one", {"sub": "*"})
    b = AgentRule.compile("two", {"sub": "s*"})
    assert "more than one" in refusal([a, b], {"sub": "sam"})
    assert agent_name([a, b], {"sub": "tom"}) == "one"


def test_a_mapped_name_that_is_not_an_agent_name() -> None:
    rule = AgentRule.compile("k8s.{x}.", {"sub": "{x}"})
    assert "not a valid name" in refusal([rule], {"sub": "a"})
    long = AgentRule.compile("{x}", {"sub": "{x}"})
    with pytest.raises(InvalidToken):
        agent_name([long], {"sub": "a" * 121})


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("{missing}", {"sub": "x"}),
        ("x", {"sub": "{Bad}"}),
        ("x", {"sub": "{}"}),
        ("{x", {"sub": "{x}"}),
        ("x", {"a//b": "y"}),
    ],
)
def test_rules_that_do_not_compile(name: str, match: dict[str, str]) -> None:
    with pytest.raises(RuleError):
        AgentRule.compile(name, match)


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=40))
def test_a_captured_segment_comes_back_in_the_name(value: str) -> None:
    name = agent_name([K8S], k8s(ns=value, sa="sa"))
    assert name == f"k8s.{value}.sa"


@given(st.text(min_size=1, max_size=40))
def test_no_value_outside_the_segment_alphabet_is_captured(value: str) -> None:
    try:
        name = agent_name([K8S], k8s(ns=value, sa="sa"))
    except InvalidToken:
        return
    assert set(value) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
    assert name.startswith("k8s.")
