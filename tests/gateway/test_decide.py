"""The gateway's pure decision: every call must pass; deny beats approval; budgets count."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from broker.domain.actions import action_matches
from broker.domain.grants import Grant
from broker.domain.policy import PolicyFloor
from broker.domain.templates import Budgets
from broker.errors import Reason
from broker.gateway.decide import (
    Cost,
    ResolvedCall,
    decide,
    decide_before_lookups,
    may_look_up,
    over_budget,
)
from broker.routemap.model import (
    UNSCOPED,
    Call,
    EnvById,
    EnvFixed,
    EnvLookup,
    EnvName,
    LookupCall,
    RelationCheck,
)


def grant(**kw: object) -> Grant:
    base: dict[str, object] = {
        "template_name": "t",
        "template_version": 1,
        "provider": "p",
        "environment": "staging",
        "actions": ("volume:*", "project:read"),
        "resources": ("*",),
        "ttl": 60,
        "budgets": Budgets(None, None),
        "approval_actions": (),
        "approvers": 1,
    }
    base.update(kw)
    return Grant(**base)  # type: ignore[arg-type]


def call(
    action: str, envs: frozenset[str] | None, effect: str = "read", resources: tuple[str, ...] = ()
) -> ResolvedCall:
    sources = (UNSCOPED,) if envs is None else (EnvFixed(tuple(sorted(envs))),)
    return ResolvedCall(Call(action, effect, resources, sources), envs)


FLOOR = PolicyFloor(forbidden_actions=("volume:purge",), protected_environments=("production",))


def test_allow_and_each_denial() -> None:
    assert decide(grant(), FLOOR, [call("project:read", None)]).allowed
    cases = [
        ([call("volume:purge", frozenset({"staging"}))], Reason.FORBIDDEN_VERB),
        ([call("deployment:create", frozenset({"staging"}))], Reason.VERB_NOT_GRANTED),
        (
            [call("volume:delete", frozenset({"staging", "production"}))],
            Reason.ENVIRONMENT_NOT_GRANTED,
        ),
        ([call("volume:delete", frozenset())], Reason.ENVIRONMENT_UNRESOLVED),
        ([], Reason.UNKNOWN_ROUTE),
    ]
    for calls, reason in cases:
        d = decide(grant(), FLOOR, calls)
        assert not d.allowed
        assert d.reason is reason, (calls, d)


def test_resources_and_approval() -> None:
    g = grant(resources=("volume:vol-cache",), approval_actions=("volume:delete",))
    d = decide(
        g, FLOOR, [call("volume:read", frozenset({"staging"}), resources=("volume:vol-pg",))]
    )
    assert d.reason is Reason.RESOURCE_NOT_GRANTED
    held = decide(
        g,
        FLOOR,
        [call("volume:delete", frozenset({"staging"}), "destructive", ("volume:vol-cache",))],
    )
    assert held.reason is Reason.APPROVAL_REQUIRED


def test_destructive_in_a_protected_environment_needs_approval() -> None:
    g = grant(environment="production")
    d = decide(g, FLOOR, [call("volume:delete", frozenset({"production"}), "destructive")])
    assert d.reason is Reason.APPROVAL_REQUIRED
    assert decide(g, FLOOR, [call("volume:read", frozenset({"production"}))]).allowed


def test_deny_beats_approval_whatever_the_order() -> None:
    g = grant(approval_actions=("volume:delete",))
    calls = [
        call("volume:delete", frozenset({"staging"}), "destructive"),
        call("deployment:create", frozenset({"staging"})),
    ]
    assert decide(g, FLOOR, calls).reason is Reason.VERB_NOT_GRANTED
    assert decide(g, FLOOR, list(reversed(calls))).reason is Reason.VERB_NOT_GRANTED


ACTIONS = ["volume:read", "volume:delete", "volume:purge", "project:read", "deployment:create"]
ENVS = ["staging", "production", "preview"]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(ACTIONS),
            st.one_of(st.none(), st.frozensets(st.sampled_from(ENVS), max_size=3)),
        ),
        max_size=6,
    )
)
def test_allowed_means_every_call_is_inside_the_grant(
    raw: list[tuple[str, frozenset[str] | None]],
) -> None:
    g = grant()
    d = decide(g, FLOOR, [call(a, e) for a, e in raw])
    if d.allowed:
        for action, envs in raw:
            assert any(action_matches(p, action) for p in g.actions)
            assert not any(action_matches(p, action) for p in FLOOR.forbidden_actions)
            assert envs is None or (envs and envs <= {g.environment})


ONE, ONE_DESTRUCTIVE = Cost(1, 0), Cost(1, 1)


def test_budgets() -> None:
    g = grant(budgets=Budgets(calls=3, destructive_calls=1))
    assert not over_budget(g, 2, 0, ONE)
    assert over_budget(g, 3, 0, ONE)
    assert not over_budget(g, 0, 0, ONE_DESTRUCTIVE)
    assert over_budget(g, 1, 1, ONE_DESTRUCTIVE)
    assert not over_budget(grant(), 10**6, 10**6, ONE_DESTRUCTIVE)


def test_a_request_spends_one_call_per_classified_call() -> None:
    g = grant(budgets=Budgets(calls=5, destructive_calls=2))
    assert not over_budget(g, 0, 0, Cost(5, 2))
    assert over_budget(g, 0, 0, Cost(6, 0))  # six root fields are six calls
    assert over_budget(g, 1, 0, Cost(5, 0))
    assert over_budget(g, 0, 0, Cost(3, 3))  # three destructive ones among them
    assert over_budget(g, 0, 1, Cost(2, 2))


def test_before_lookups_a_forbidden_verb_reads_as_forbidden_whatever_else() -> None:
    g = grant(resources=("volume:vol-cache",))
    calls = [
        Call("deployment:create", "write", (), (UNSCOPED,)),
        Call("volume:read", "read", ("volume:vol-pg",), (UNSCOPED,)),
        Call("volume:purge", "destructive", (), (UNSCOPED,)),
    ]
    first = decide_before_lookups(g, FLOOR, calls)
    assert first is not None
    assert first.reason is Reason.FORBIDDEN_VERB
    not_granted = decide_before_lookups(g, FLOOR, calls[:2])
    assert not_granted is not None
    assert not_granted.reason is Reason.VERB_NOT_GRANTED
    resource = decide_before_lookups(g, FLOOR, calls[1:2])
    assert resource is not None
    assert resource.reason is Reason.RESOURCE_NOT_GRANTED
    # An approval is asked for after the look-ups, never before.
    held = grant(approval_actions=("volume:delete",))
    delete = Call("volume:delete", "destructive", (), (UNSCOPED,))
    assert decide_before_lookups(held, FLOOR, [delete]) is None


def test_which_calls_may_send_a_look_up() -> None:
    lookup = LookupCall("volumeEnvironments", (("volumeId", "vol-pg"),))
    assert not may_look_up([Call("a:b", "read", (), (UNSCOPED,))])
    assert not may_look_up([Call("a:b", "read", (), (EnvName("staging"), EnvFixed(("x",))))])
    assert may_look_up([Call("a:b", "read", (), (EnvLookup(lookup),))])
    assert may_look_up([Call("a:b", "read", (), (EnvById("env-1", lookup),))])
    checked = Call("a:b", "read", (), (UNSCOPED,), (RelationCheck(lookup, "x", "why"),))
    assert may_look_up([checked])
