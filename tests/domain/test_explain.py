import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.domain.actions import action_matches
from broker.domain.explain import Explanation, explain_grant, explain_template
from broker.domain.grants import Grant, GrantRequest, Refusal, decide_grant
from broker.domain.policy import EMPTY_FLOOR, PolicyFloor
from broker.domain.templates import Budgets
from broker.errors import InvalidRequest, Reason
from tests.support.factories import template

from .strategies import action_patterns, concrete_actions

FLOOR = PolicyFloor(("backup:delete",), ("production",))


def _grant(**overrides: object) -> Grant:
    base: dict[str, object] = {
        "template_name": "t",
        "template_version": 1,
        "provider": "railway",
        "environment": "staging",
        "actions": ("volume:*", "project:read"),
        "resources": ("vol-1*",),
        "ttl": 600,
        "budgets": Budgets(),
        "approval_actions": ("volume:delete",),
        "approvers": 2,
    }
    base.update(overrides)
    return Grant(**base)  # type: ignore[arg-type]


def _checks(e: Explanation) -> dict[str, bool]:
    return {s.check: s.passed for s in e.steps}


def test_allow() -> None:
    e = explain_grant(
        _grant(), FLOOR, action="volume:read", environment="staging", resource="vol-123"
    )
    assert e.decision == "allow"
    assert e.reasons == ()
    assert _checks(e) == {
        "environment": True,
        "action": True,
        "floor": True,
        "resource": True,
        "approval": True,
    }


def test_every_failure_is_reported() -> None:
    e = explain_grant(
        _grant(actions=("backup:*",)),
        FLOOR,
        action="backup:delete",
        environment="production",
        resource="other",
    )
    assert e.decision == "deny"
    assert set(e.reasons) == {
        Reason.ENVIRONMENT_NOT_GRANTED,
        Reason.FORBIDDEN_VERB,
        Reason.RESOURCE_NOT_GRANTED,
    }


def test_not_granted_action() -> None:
    e = explain_grant(_grant(), FLOOR, action="variable:write", environment="staging")
    assert e.decision == "deny"
    assert e.reasons == (Reason.VERB_NOT_GRANTED,)
    assert "resource" not in _checks(e)


def test_approval_by_pattern() -> None:
    e = explain_grant(_grant(), FLOOR, action="volume:delete", environment="staging")
    assert e.decision == "approval_required"
    assert e.reasons == (Reason.APPROVAL_REQUIRED,)
    assert "2 approver(s)" in e.steps[-1].detail


def test_approval_in_protected_environment_only_for_destructive() -> None:
    g = _grant(environment="production")
    read = explain_grant(g, FLOOR, action="volume:read", environment="production", effect="read")
    assert read.decision == "allow"
    unknown = explain_grant(g, FLOOR, action="volume:read", environment="production")
    assert unknown.decision == "allow"
    assert "unless the call is destructive" in unknown.steps[-1].detail
    destructive = explain_grant(
        g, FLOOR, action="volume:wipe", environment="production", effect="destructive"
    )
    assert destructive.decision == "approval_required"


def test_deny_beats_approval() -> None:
    e = explain_grant(_grant(), FLOOR, action="volume:delete", environment="dev")
    assert e.decision == "deny"
    assert set(e.reasons) == {Reason.ENVIRONMENT_NOT_GRANTED, Reason.APPROVAL_REQUIRED}


def test_explain_template_checks_the_agent_and_reports_ttl() -> None:
    t = template()
    e = explain_template(
        t,
        3,
        FLOOR,
        action="project:read",
        environment="staging",
        agent_name="rogue",
        ttl_ceiling=1800,
    )
    assert e.decision == "deny"
    assert e.reasons == (Reason.AGENT_NOT_ALLOWED,)
    assert e.steps[0].check == "agent"
    assert "at most 1800s" in e.steps[-1].detail
    assert "v3" in e.steps[-1].detail
    ok = explain_template(
        t, 3, FLOOR, action="project:read", environment="staging", ttl_ceiling=1800
    )
    assert ok.decision == "allow"
    assert "agent" not in _checks(ok)


def test_explain_template_approval() -> None:
    e = explain_template(
        template(),
        1,
        EMPTY_FLOOR,
        action="volume:delete",
        environment="staging",
        agent_name="ci-1",
        ttl_ceiling=3600,
    )
    assert e.decision == "approval_required"


def test_action_must_be_concrete() -> None:
    with pytest.raises(InvalidRequest):
        explain_grant(_grant(), FLOOR, action="volume:*", environment="staging")
    with pytest.raises(InvalidRequest):
        explain_template(
            template(), 1, FLOOR, action="Volume", environment="staging", ttl_ceiling=60
        )


@settings(max_examples=300, deadline=None)
@given(
    granted=st.lists(action_patterns, min_size=1, max_size=4).map(tuple),
    forbidden=st.lists(action_patterns, min_size=1, max_size=3).map(tuple),
    action=concrete_actions,
    effect=st.sampled_from([None, "read", "write", "destructive"]),
)
def test_explain_grant_never_allows_a_forbidden_action(
    granted: tuple[str, ...], forbidden: tuple[str, ...], action: str, effect: str | None
) -> None:
    floor = PolicyFloor(forbidden, ("production",))
    e = explain_grant(
        _grant(actions=granted), floor, action=action, environment="staging", effect=effect
    )  # type: ignore[arg-type]
    if any(action_matches(p, action) for p in forbidden):
        assert e.decision == "deny"
        assert Reason.FORBIDDEN_VERB in e.reasons


@settings(max_examples=200, deadline=None)
@given(
    requested=st.lists(action_patterns, min_size=1, max_size=3).map(tuple), action=concrete_actions
)
def test_grant_and_template_explanations_agree(requested: tuple[str, ...], action: str) -> None:
    # A token never allows what its template would not.
    t = template(actions=["a*:*", "b:b*"], approval={})
    g = decide_grant(
        t,
        1,
        FLOOR,
        agent_name="ci-x",
        request=GrantRequest(t.name, "staging", requested),
        ttl_ceiling=600,
    )
    if isinstance(g, Refusal):
        return
    by_grant = explain_grant(g, FLOOR, action=action, environment="staging")
    by_template = explain_template(
        t, 1, FLOOR, action=action, environment="staging", ttl_ceiling=600
    )
    if by_grant.decision == "allow":
        assert by_template.decision == "allow"
