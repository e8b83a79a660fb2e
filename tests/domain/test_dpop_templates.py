"""Templates that require DPoP (RFC 9449): the spec field, the grant decision, and live
tokens following a template that newly requires it. Pure."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.domain.following import CurrentTemplate, Lapse, follow_template
from broker.domain.grants import Grant, GrantRequest, Refusal, decide_grant
from broker.domain.policy import EMPTY_FLOOR
from broker.domain.problems import SpecError
from broker.domain.templates import spec_digest, template_from_spec, template_to_spec
from broker.errors import InvalidRequest, Reason
from tests.support.factories import spec, template

from . import strategies
from .strategies import action_patterns

JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"


def _decide(require_dpop: bool, jkt: str | None) -> Grant | Refusal:
    t = template(require_dpop=require_dpop)
    request = GrantRequest(t.name, "staging", dpop_jkt=jkt)
    return decide_grant(
        t, 3, EMPTY_FLOOR, agent_name="claude-code", request=request, ttl_ceiling=3600
    )


def test_the_field_defaults_to_off_and_keeps_existing_digests() -> None:
    t = template()
    assert t.require_dpop is False
    canonical = template_to_spec(t)
    assert "require_dpop" not in canonical  # so templates stored before keep their digest
    on = template(require_dpop=True)
    assert on.require_dpop is True
    assert template_to_spec(on)["require_dpop"] is True
    assert spec_digest(template_to_spec(on)) != spec_digest(canonical)  # a new version
    assert template_from_spec(t.name, template_to_spec(on)) == on


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_only_a_boolean_is_accepted(value: object) -> None:
    with pytest.raises(SpecError) as exc:
        template_from_spec("t", spec(require_dpop=value))
    assert "require_dpop" in str(exc.value)


def test_a_proof_binds_the_grant_whatever_the_template_says() -> None:
    for required in (False, True):
        outcome = _decide(required, JKT)
        assert isinstance(outcome, Grant)
        assert outcome.dpop_jkt == JKT
    unbound = _decide(False, None)
    assert isinstance(unbound, Grant)
    assert unbound.dpop_jkt is None


def test_a_template_that_requires_dpop_refuses_a_request_without_a_proof() -> None:
    outcome = _decide(True, None)
    assert isinstance(outcome, Refusal)
    assert outcome.reason is Reason.INVALID_DPOP_PROOF
    error = outcome.error()
    assert isinstance(error, InvalidRequest)  # a 400, as RFC 9449 5 answers it
    assert error.reason is Reason.INVALID_DPOP_PROOF


grants = strategies.grants(
    environments=st.just("staging"),
    actions=action_patterns,
    resources=st.just("*"),
)


@settings(max_examples=200, deadline=None)
@given(grant=grants, bound=st.booleans(), required=st.booleans())
def test_a_template_newly_requiring_dpop_stops_only_unbound_live_tokens(
    grant: Grant, bound: bool, required: bool
) -> None:
    grant = replace(grant, dpop_jkt=JKT if bound else None)
    t = replace(
        template("t", environments=["staging"], actions=["*:*"]),
        provider="p",
        require_dpop=required,
    )
    result = follow_template(grant, CurrentTemplate(2, t))
    if required and not bound:
        assert isinstance(result, Lapse)
        assert result.reason is Reason.DPOP_BINDING_MISMATCH
    else:
        assert isinstance(result, Grant)
        assert result.dpop_jkt == grant.dpop_jkt  # following never binds nor unbinds
