"""The policy evaluator: every failure in a stable order, and its readers agree.

The gateway acts on the first failure, explain shows them all, issuance refuses with
one of them: the property tests below check that they never tell different stories.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from broker.domain.evaluate import Attempt, Scope, evaluate, grant_scope
from broker.domain.explain import Effect, Explanation, explain_grant, explain_template
from broker.domain.grants import Grant, GrantRequest, Refusal, decide_grant
from broker.domain.policy import PolicyFloor
from broker.errors import Reason
from broker.gateway.decide import ResolvedCall, decide
from broker.routemap.model import Call, EnvFixed
from tests.support.factories import template

from . import strategies

ENVS = ["staging", "production", "preview"]
RESOURCE_PATTERNS = ["*", "vol-*", "vol-1", "db-*"]
RESOURCES = ["vol-1", "vol-2", "db-1", "x"]
EFFECTS: list[Effect] = ["read", "write", "destructive"]

SCOPE = Scope(("volume:*", "project:read"), ("staging",), ("vol-*",), ("volume:delete",))
FLOOR = PolicyFloor(("volume:purge",), ("production",))


def test_nothing_failing_is_allowed() -> None:
    result = evaluate(SCOPE, FLOOR, [Attempt("volume:read", "read", ("vol-1",), None)])
    assert result.allowed
    assert result.verdict == "allow"
    assert result.reasons == ()


def test_every_failure_in_order_approvals_last() -> None:
    attempts = [
        Attempt("volume:delete", "destructive", (), frozenset({"staging"})),
        Attempt("volume:purge", "read", ("db-1", "vol-1", "x"), frozenset({"staging", "preview"})),
        Attempt("deployment:create", "write", (), frozenset()),
    ]
    result = evaluate(SCOPE, FLOOR, attempts, agent="rogue")
    assert [(f.check, f.reason, f.action, f.found) for f in result.failures] == [
        ("agent", Reason.AGENT_NOT_ALLOWED, "", ("rogue",)),
        ("floor", Reason.FORBIDDEN_VERB, "volume:purge", ()),
        ("environment", Reason.ENVIRONMENT_NOT_GRANTED, "volume:purge", ("preview",)),
        ("resource", Reason.RESOURCE_NOT_GRANTED, "volume:purge", ("db-1",)),
        ("resource", Reason.RESOURCE_NOT_GRANTED, "volume:purge", ("x",)),
        ("action", Reason.VERB_NOT_GRANTED, "deployment:create", ()),
        ("environment", Reason.ENVIRONMENT_UNRESOLVED, "deployment:create", ()),
        ("approval", Reason.APPROVAL_REQUIRED, "volume:delete", ()),
    ]
    assert result.verdict == "deny"


def test_approval_alone_holds() -> None:
    scope = SCOPE._replace(environments=("staging", "production"))
    attempts = [Attempt("volume:delete", "destructive", (), frozenset({"production"}))]
    result = evaluate(scope, FLOOR, attempts)
    assert result.verdict == "approval_required"
    assert [(f.check, f.found) for f in result.failures] == [
        ("approval", ()),
        ("protected", ("production",)),
    ]


def test_no_call_is_an_unknown_route() -> None:
    assert evaluate(SCOPE, FLOOR, []).reasons == (Reason.UNKNOWN_ROUTE,)


def test_an_agent_is_checked_only_when_named() -> None:
    scope = SCOPE._replace(agents=("ci-*",))
    attempts = [Attempt("project:read")]
    assert evaluate(scope, FLOOR, attempts, agent="ci-1").allowed
    assert evaluate(scope, FLOOR, attempts).allowed
    assert evaluate(scope, FLOOR, attempts, agent="cd-1").reasons == (Reason.AGENT_NOT_ALLOWED,)


# Small alphabets, so that grants, floors and calls often meet: patterns over a, b and *,
# concrete actions over a and b (test_actions.py checks the matching itself).
segments = st.text(alphabet="ab*", min_size=1, max_size=2)
patterns = st.builds(lambda r, a: f"{r}:{a}", segments, segments)
actions = st.sampled_from([f"{r}:{a}" for r in ("a", "b", "ab") for a in ("a", "b", "ba")])
floors = st.builds(
    PolicyFloor,
    st.lists(patterns, max_size=2).map(tuple),
    st.lists(st.sampled_from(ENVS), max_size=2, unique=True).map(tuple),
)
grants = strategies.grants(
    environments=st.sampled_from(ENVS),
    actions=patterns,
    resources=st.sampled_from(RESOURCE_PATTERNS),
)
Raw = tuple[str, Effect, str, str | None]


@st.composite
def calls(draw: st.DrawFn, grant: Grant) -> Raw:
    """One call as explain can put it: a concrete action, one environment, at most one
    resource; often one the grant names, so that not everything is denied."""
    granted = st.sampled_from(grant.actions).flatmap(
        lambda p: st.sampled_from([p.replace("*", w) for w in ("a", "b", "ab")])
    )
    action = draw(actions | granted)
    env = draw(st.sampled_from([grant.environment, grant.environment, *ENVS]))
    resource = draw(st.none() | st.sampled_from(RESOURCES))
    return action, draw(st.sampled_from(EFFECTS)), env, resource


def _gateway_call(action: str, effect: str, env: str, resource: str | None) -> ResolvedCall:
    resources = () if resource is None else (resource,)
    return ResolvedCall(Call(action, effect, resources, (EnvFixed((env,)),)), frozenset({env}))


def _first_refused(explanations: list[Explanation]) -> Explanation | None:
    """The call the gateway answers for: the first denied one, else the first held one."""
    for verdict in ("deny", "approval_required"):
        for e in explanations:
            if e.decision == verdict:
                return e
    return None


@settings(max_examples=300, deadline=None)
@given(grant=grants, floor=floors, data=st.data())
def test_explain_and_the_gateway_agree(
    grant: Grant, floor: PolicyFloor, data: st.DataObject
) -> None:
    raw = data.draw(st.lists(calls(grant), min_size=1, max_size=3))
    explanations = [
        explain_grant(grant, floor, action=a, environment=env, resource=r, effect=eff)
        for a, eff, env, r in raw
    ]
    decision = decide(grant, floor, [_gateway_call(*c) for c in raw])
    refused = _first_refused(explanations)
    if refused is None:
        assert decision.allowed, (decision, explanations)
        return
    held = decision.reason is Reason.APPROVAL_REQUIRED
    assert not decision.allowed
    assert refused.decision == ("approval_required" if held else "deny")
    assert decision.reason in refused.reasons, (decision, refused)


@settings(max_examples=300, deadline=None)
@given(grant=grants, floor=floors, data=st.data())
def test_explain_shows_every_reason_of_the_evaluator(
    grant: Grant, floor: PolicyFloor, data: st.DataObject
) -> None:
    action, effect, env, resource = data.draw(calls(grant))
    attempt = Attempt(action, effect, () if resource is None else (resource,), frozenset({env}))
    result = evaluate(grant_scope(grant), floor, [attempt])
    e = explain_grant(
        grant, floor, action=action, environment=env, resource=resource, effect=effect
    )
    assert e.decision == result.verdict
    assert set(e.reasons) == set(result.reasons)


@settings(max_examples=300, deadline=None)
@given(
    floor=floors,
    action=actions,
    env=st.sampled_from(ENVS),
    agent=st.sampled_from(["ci-1", "claude-code", "rogue"]),
)
def test_issuance_refuses_for_a_reason_explain_gives(
    floor: PolicyFloor, action: str, env: str, agent: str
) -> None:
    t = template(actions=["a*:*", "b:b*"], environments=["staging", "preview"], approval={})
    outcome = decide_grant(
        t,
        1,
        floor,
        agent_name=agent,
        request=GrantRequest(t.name, env, (action,)),
        ttl_ceiling=600,
    )
    e = explain_template(
        t, 1, floor, action=action, environment=env, agent_name=agent, ttl_ceiling=600
    )
    if isinstance(outcome, Refusal):
        assert e.decision == "deny"
        assert outcome.reason in e.reasons
    else:
        assert e.decision != "deny"
