from dataclasses import replace

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from broker.domain.actions import covered_by
from broker.domain.grants import (
    Grant,
    GrantRequest,
    Refusal,
    check_template_against_ceiling,
    check_template_against_floor,
    decide_grant,
)
from broker.domain.policy import EMPTY_FLOOR, PolicyFloor
from broker.domain.templates import Budgets, Template
from broker.errors import Denied, InvalidRequest, Reason
from tests.support.factories import template

from .strategies import action_patterns

FLOOR = PolicyFloor(("backup:delete", "volume:delete-all"), ("production",))
CEILING = 3600


def _decide(
    t: Template | None = None,
    *,
    floor: PolicyFloor = FLOOR,
    agent: str = "claude-code",
    env: str = "staging",
    actions: tuple[str, ...] | None = None,
    ttl: int | None = None,
    ceiling: int = CEILING,
) -> Grant:
    t = t or template()
    request = GrantRequest(t.name, env, actions, ttl)
    outcome = decide_grant(t, 7, floor, agent_name=agent, request=request, ttl_ceiling=ceiling)
    return granted(outcome)


def granted(outcome: Grant | Refusal) -> Grant:
    """The grant, or the refusal raised as the issuance service raises it."""
    if isinstance(outcome, Refusal):
        raise outcome.error()
    return outcome


def _denied(**kwargs: object) -> Denied:
    with pytest.raises(Denied) as exc:
        _decide(**kwargs)  # type: ignore[arg-type]
    return exc.value


def test_default_grant_is_the_template() -> None:
    g = _decide()
    assert g == Grant(
        template_name="staging-agent",
        template_version=7,
        provider="railway",
        environment="staging",
        actions=("deployment:*", "project:read", "variable:write", "volume:delete"),
        resources=("*",),
        ttl=900,
        budgets=Budgets(500, 3),
        approval_actions=("volume:delete",),
        approvers=1,
    )


def test_explicit_actions_are_granted_as_asked() -> None:
    g = _decide(actions=("project:read", "deployment:create", "project:read"), ttl=600)
    assert g.actions == ("deployment:create", "project:read")
    assert g.ttl == 600
    assert g.approval_actions == ()  # volume:delete cannot touch what was granted


def test_approval_actions_follow_overlap() -> None:
    t = template(actions=["volume:*"], approval={"actions": ["volume:delete"], "approvers": 2})
    assert _decide(t, actions=("volume:*",)).approval_actions == ("volume:delete",)
    assert _decide(t, actions=("volume:d*",)).approval_actions == ("volume:delete",)
    assert _decide(t, actions=("volume:read",)).approval_actions == ()
    assert _decide(t, actions=("volume:read",)).approvers == 2


def test_agent_not_allowed() -> None:
    err = _denied(agent="rogue")
    assert err.reason is Reason.AGENT_NOT_ALLOWED
    assert err.extra == {"agent": "rogue", "template": "staging-agent"}


def test_environment_not_granted() -> None:
    err = _denied(env="production")
    assert err.reason is Reason.ENVIRONMENT_NOT_GRANTED
    assert err.extra["environment"] == "production"


def test_verbs_not_granted_names_every_offender() -> None:
    err = _denied(actions=("project:read", "volume:read", "project:*"))
    assert err.reason is Reason.VERB_NOT_GRANTED
    assert err.extra == {"forbidden": [], "not_granted": ["project:*", "volume:read"]}
    assert "project:*" in err.detail
    assert "volume:read" in err.detail


def test_floor_is_checked_before_the_template() -> None:
    t = template(actions=["backup:*", "project:read"], approval={})
    err = _denied(t=t, actions=("backup:delete", "volume:read"))
    assert err.reason is Reason.FORBIDDEN_VERB
    assert err.extra == {"forbidden": ["backup:delete"], "not_granted": ["volume:read"]}


def test_a_wildcard_overlapping_the_floor_is_granted() -> None:
    # The floor is enforced on every call, so backup:delete stays unusable.
    t = template(actions=["backup:*"], approval={})
    assert _decide(t, actions=("backup:*",)).actions == ("backup:*",)
    assert _decide(t).actions == ("backup:*",)


def test_default_grant_leaves_out_patterns_the_floor_forbids() -> None:
    t = template(actions=["backup:delete", "backup:read"], approval={})
    assert _decide(t).actions == ("backup:read",)
    assert check_template_against_floor(t, FLOOR) == [
        "action 'backup:delete' is forbidden by the policy floor"
    ]
    only_forbidden = template(actions=["backup:delete"], approval={})
    assert _denied(t=only_forbidden).reason is Reason.FORBIDDEN_VERB


def test_ttl_limits() -> None:
    assert _denied(ttl=3601).reason is Reason.TTL_TOO_LONG
    err = _denied(ttl=601, ceiling=600)
    assert err.reason is Reason.TTL_TOO_LONG
    assert err.extra == {"requested": 601, "max": 600}
    assert _decide(ttl=3600).ttl == 3600
    assert _decide(ceiling=300).ttl == 300  # the default is capped, not refused


def test_check_template_against_ceiling() -> None:
    assert check_template_against_ceiling(template(), 3600) == []
    assert len(check_template_against_ceiling(template(), 600)) == 2
    assert "ttl.max" in check_template_against_ceiling(template(), 1800)[0]


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"ttl": 0}, "ttl"),
        ({"ttl": -5}, "ttl"),
        ({"actions": ()}, "at least one"),
        ({"actions": ("Volume:Read", "ok:ok", "x")}, "'Volume:Read', 'x'"),
    ],
)
def test_malformed_requests(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(InvalidRequest) as exc:
        _decide(**kwargs)  # type: ignore[arg-type]
    assert exc.value.reason is Reason.INVALID_REQUEST
    assert fragment in exc.value.detail


def test_request_must_name_the_template() -> None:
    t = template()
    with pytest.raises(InvalidRequest):
        granted(
            decide_grant(
                t,
                1,
                EMPTY_FLOOR,
                agent_name="claude-code",
                request=GrantRequest("other", "staging"),
                ttl_ceiling=CEILING,
            )
        )


def test_bad_ceiling_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="ttl_ceiling"):
        _decide(ceiling=0)


@settings(max_examples=300, deadline=None)
@given(
    template_actions=st.lists(action_patterns, min_size=1, max_size=4),
    forbidden=st.lists(action_patterns, max_size=2),
    requested=st.none() | st.lists(action_patterns, min_size=1, max_size=4).map(tuple),
)
def test_grants_stay_inside_template_and_floor(
    template_actions: list[str], forbidden: list[str], requested: tuple[str, ...] | None
) -> None:
    t = replace(template(), actions=tuple(template_actions), approval=template().approval)
    floor = PolicyFloor(tuple(forbidden), ())
    reason: Reason | None
    try:
        g = _decide(t, floor=floor, actions=requested)
    except Denied as exc:
        reason = exc.reason
    else:
        reason = None
    if reason is not None:
        assert reason in {Reason.FORBIDDEN_VERB, Reason.VERB_NOT_GRANTED}
        return
    for action in g.actions:
        assert covered_by(t.actions, action)
        assert not covered_by(floor.forbidden_actions, action)
    if requested is not None:
        assert set(g.actions) == set(requested)  # never silently narrowed


@settings(max_examples=200, deadline=None)
@given(requested=st.integers(1, 10_000), ceiling=st.integers(1, 10_000))
def test_ttl_never_exceeds_template_or_ceiling(requested: int, ceiling: int) -> None:
    limit = min(3600, ceiling)
    if requested > limit:
        with pytest.raises(Denied) as exc:
            _decide(ttl=requested, ceiling=ceiling)
        assert exc.value.reason is Reason.TTL_TOO_LONG
    else:
        assert _decide(ttl=requested, ceiling=ceiling).ttl == requested


@given(st.text(alphabet="acdeil-", max_size=12))
@example("ci-")
@example("claude-code")
@example("claude-code-")
def test_only_listed_agents_get_a_grant(agent: str) -> None:
    if agent.startswith("ci-") or agent == "claude-code":
        assert _decide(agent=agent).environment == "staging"
    else:
        with pytest.raises(Denied) as exc:
            _decide(agent=agent)
        assert exc.value.reason is Reason.AGENT_NOT_ALLOWED
