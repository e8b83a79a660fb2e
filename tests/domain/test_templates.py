import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.domain.problems import SpecError
from broker.domain.templates import (
    ApprovalRule,
    Budgets,
    Template,
    agent_allowed,
    spec_digest,
    template_from_spec,
    template_to_spec,
)
from broker.errors import InvalidRequest, Reason
from tests.support.factories import spec, template

from .strategies import action_patterns


def test_template_from_spec_reads_every_field() -> None:
    t = template()
    assert t == Template(
        name="staging-agent",
        provider="railway",
        environments=("staging",),
        actions=("deployment:*", "project:read", "variable:write", "volume:delete"),
        resources=("*",),
        default_ttl=900,
        max_ttl=3600,
        agents=("ci-*", "claude-code"),
        budgets=Budgets(500, 3),
        approval=ApprovalRule(("volume:delete",), 1),
        description="staging work",
    )


def test_defaults() -> None:
    minimal = {
        "provider": "github",
        "environments": ["prod"],
        "actions": ["repo:read"],
        "ttl": {"default": 60, "max": 60},
    }
    t = template_from_spec("gh", minimal)
    assert t.resources == ("*",)
    assert t.agents == ()  # nobody, until an admin says who
    assert t.budgets == Budgets(None, None)
    assert t.approval == ApprovalRule((), 1)
    assert t.description == ""
    assert not agent_allowed(t, "claude-code")


def _problems(name: str = "staging-agent", **overrides: object) -> dict[str, str]:
    with pytest.raises(SpecError) as exc:
        template_from_spec(name, spec(**overrides))
    assert isinstance(exc.value, InvalidRequest)
    assert exc.value.reason is Reason.INVALID_MANIFEST
    assert exc.value.extra["problems"]
    return {p.path: p.message for p in exc.value.problems}


def test_default_ttl_must_not_exceed_max() -> None:
    assert "longer than max" in _problems(ttl={"default": "2h", "max": "1h"})["ttl.default"]


def test_approval_actions_must_be_covered() -> None:
    problems = _problems(approval={"actions": ["volume:delete", "backup:delete"]})
    assert problems == {
        "approval.actions[1]": "'backup:delete' is not covered by any of the template's actions"
    }


def test_approval_wildcard_needs_a_single_covering_action() -> None:
    assert "approval.actions[0]" in _problems(approval={"actions": ["volume:*"]})
    t = template(actions=["volume:*"], approval={"actions": ["volume:del*"]})
    assert t.approval.actions == ("volume:del*",)


def test_duplicate_environments() -> None:
    problems = _problems(environments=["staging", "dev", "staging"])
    assert problems == {"environments[2]": "'staging' is listed twice"}


def test_every_problem_is_reported_at_once() -> None:
    problems = _problems(
        "Bad_Name",
        environments=["Staging"],
        actions=["Volume:Delete", "volume:*"],
        ttl={"default": "2h", "max": "0s"},
        approval={"actions": ["nope"]},
    )
    assert set(problems) == {
        "metadata.name",
        "environments[0]",
        "actions[0]",
        "ttl.max",
        "approval.actions[0]",
    }


def test_wrong_types_are_problems_not_crashes() -> None:
    problems = _problems(environments="staging", actions=[1], budgets={"calls": 0}, ttl=5)
    assert problems["environments"] == "expected a list of strings"
    assert problems["actions"] == "expected a list of strings"
    assert problems["budgets.calls"] == "0 must be a positive whole number"
    assert problems["ttl"] == "expected an object"


def test_required_fields() -> None:
    with pytest.raises(SpecError) as exc:
        template_from_spec("x", {})
    paths = {p.path for p in exc.value.problems}
    assert {"provider", "environments", "actions", "ttl.default", "ttl.max"} <= paths


def test_to_spec_is_canonical_and_round_trips() -> None:
    t = template(
        environments=["staging", "dev"],
        actions=["volume:delete", "project:read", "deployment:*"],
        budgets={"calls": 10},
    )
    s = template_to_spec(t)
    assert s["environments"] == ["dev", "staging"]
    assert s["ttl"] == {"default": 900, "max": 3600}
    assert s["budgets"] == {"calls": 10}
    assert template_from_spec(t.name, s) == t


def test_spec_digest_ignores_key_order_and_tracks_content() -> None:
    a = {"b": [1, 2], "a": {"y": 1, "x": "é"}}
    b = json.loads(json.dumps(a, sort_keys=True))
    assert spec_digest(a) == spec_digest(dict(reversed(list(a.items())))) == spec_digest(b)
    assert spec_digest(a) != spec_digest({**a, "b": [2, 1]})
    assert len(spec_digest(a)) == 64
    # Same template written two ways (durations, order) has one canonical digest.
    one = template(ttl={"default": "15m", "max": "1h"}, environments=["staging", "dev"])
    two = template(ttl={"default": 900, "max": 3600}, environments=["dev", "staging"])
    assert spec_digest(template_to_spec(one)) == spec_digest(template_to_spec(two))


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        ("ci-build", True),
        ("ci-", True),
        ("claude-code", True),
        ("claude-code-2", False),
        ("cd-build", False),
        ("", False),
    ],
)
def test_agent_allowed(agent: str, expected: bool) -> None:
    assert agent_allowed(template(), agent) is expected


@given(
    st.lists(action_patterns, min_size=1, max_size=5, unique=True),
    st.lists(st.sampled_from(["staging", "dev", "prod"]), min_size=1, unique=True),
    st.integers(1, 3600),
    st.integers(0, 3600),
)
def test_round_trip_property(actions: list[str], envs: list[str], default: int, extra: int) -> None:
    t = template(
        actions=actions,
        environments=envs,
        ttl={"default": default, "max": default + extra},
        approval={"actions": actions[:1], "approvers": 2},
    )
    assert template_from_spec(t.name, template_to_spec(t)) == t


def test_empty_lists() -> None:
    problems = _problems(environments=[], actions=[], approval={})
    assert problems == {
        "environments": "must name at least one environment",
        "actions": "must grant at least one action",
    }


def test_every_string_field_is_checked_without_the_schema() -> None:
    problems = _problems(
        provider="railway\n", agents=["ci-*", "CI Bot"], resources=["vol-1", "a b", ""]
    )
    assert set(problems) == {"provider", "agents[1]", "resources[1]", "resources[2]"}
