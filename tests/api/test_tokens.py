"""POST /v1/tokens end to end: the grant is exactly what was asked, or a reason code."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.api.api_support import assert_problem, count_rows, decode_unverified
from tests.support.broker_app import NOW, Broker


def test_issued_token_is_scoped_and_verifiable(broker: Broker) -> None:
    r = broker.issue(actions=["project:read", "deployment:create"], ttl=300)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 300
    assert sorted(body["actions"]) == ["deployment:create", "project:read"]
    header, claims = decode_unverified(body["access_token"])
    assert header == {"alg": "EdDSA", "typ": "at+jwt", "kid": header["kid"]}
    assert claims["sid"] == body["session_id"]
    assert claims["exp"] - claims["iat"] == 300
    assert claims["aud"] == "capbroker-gateway"
    assert claims["template"] == "staging-agent"
    assert claims["template_version"] == 1
    detail = claims["authorization_details"][0]
    assert detail["environments"] == ["staging"]
    assert sorted(detail["actions"]) == ["deployment:create", "project:read"]
    assert detail["provider"] == "railway"
    verified = broker.services.issuance.verify(body["access_token"])
    assert verified.jti == body["jti"]
    # the JWKS published over HTTP verifies it too
    jwks = broker.client.get("/.well-known/jwks.json").json()
    assert header["kid"] in {k["kid"] for k in jwks["keys"]}


def test_default_grant_is_the_template_and_default_ttl(broker: Broker) -> None:
    body = broker.issue().json()
    assert body["expires_in"] == 600
    assert "deployment:*" in body["actions"]


@pytest.mark.parametrize(
    ("request_body", "status", "code"),
    [
        ({"environment": "production"}, 403, "environment_not_granted"),
        ({"actions": ["volume:read"]}, 403, "verb_not_granted"),
        ({"actions": ["backup:delete"]}, 403, "forbidden_verb"),
        ({"ttl": 3600}, 403, "ttl_too_long"),
        ({"template": "nope"}, 404, "unknown_template"),
        ({"ttl": 0}, 400, "invalid_request"),
        ({"ttl": "60"}, 400, "invalid_request"),
        ({"surprise": 1}, 400, "invalid_request"),
        ({"actions": "project:read"}, 400, "invalid_request"),
        ({"actions": ["NOT AN ACTION"]}, 400, "invalid_request"),
    ],
)
def test_refusals_have_reason_codes_and_change_nothing(
    broker: Broker, request_body: dict[str, Any], status: int, code: str
) -> None:
    before = count_rows(broker, "tokens")
    r = broker.issue(**request_body)
    assert_problem(r, status, code)
    assert count_rows(broker, "tokens") == before


def test_refusal_is_audited(broker: Broker) -> None:
    broker.issue(environment="production")
    events = broker.client.get(
        "/v1/admin/audit?type=token.refused", headers=broker.admin_headers()
    ).json()
    assert events[0]["reason"] == "environment_not_granted"
    assert events[0]["actor"] == "agent:claude-code"


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "unauthenticated"),
        ({"Authorization": "Basic abc"}, "unauthenticated"),
        ({"Authorization": "Bearer nonsense"}, "credential_invalid"),
        (
            {"Authorization": "Bearer capb_agt_000000000000000000000000_" + "A" * 43},
            "credential_invalid",
        ),
    ],
)
def test_bad_credentials(broker: Broker, headers: dict[str, str], code: str) -> None:
    r = broker.client.post(
        "/v1/tokens", json={"template": "staging-agent", "environment": "staging"}, headers=headers
    )
    assert_problem(r, 401, code)


def test_wrong_secret_for_a_real_key_id_is_refused(broker: Broker) -> None:
    last = broker.agent[-1]
    forged = broker.agent[:-1] + ("B" if last != "B" else "C")
    r = broker.client.post(
        "/v1/tokens",
        json={"template": "staging-agent", "environment": "staging"},
        headers=broker.agent_headers(forged),
    )
    assert_problem(r, 401, "credential_invalid")


def test_admin_credential_cannot_request_tokens(broker: Broker) -> None:
    r = broker.client.post(
        "/v1/tokens",
        json={"template": "staging-agent", "environment": "staging"},
        headers=broker.admin_headers(),
    )
    # Issue 17: a valid credential of the wrong role is 403 insufficient_scope, not 401.
    assert assert_problem(r, 403, "insufficient_scope")["error"] == "insufficient_scope"


def test_disabled_agent_gets_no_new_tokens(broker: Broker) -> None:
    assert broker.issue().status_code == 201
    r = broker.client.post("/v1/admin/agents/claude-code/disable", headers=broker.admin_headers())
    assert r.status_code == 200
    assert_problem(broker.issue(), 401, "credential_disabled")
    broker.client.post("/v1/admin/agents/claude-code/enable", headers=broker.admin_headers())
    assert broker.issue().status_code == 201


def test_agent_not_in_template_is_refused(broker: Broker) -> None:
    other = broker.client.post(
        "/v1/admin/agents", json={"name": "intern-bot"}, headers=broker.admin_headers()
    ).json()["credential"]
    r = broker.client.post(
        "/v1/tokens",
        json={"template": "staging-agent", "environment": "staging"},
        headers=broker.agent_headers(other),
    )
    assert_problem(r, 403, "agent_not_allowed")


def test_oversized_and_malformed_bodies(broker: Broker) -> None:
    big = b'{"template": "' + b"a" * 70_000 + b'", "environment": "staging"}'
    r = broker.client.post(
        "/v1/tokens",
        content=big,
        headers={**broker.agent_headers(), "Content-Type": "application/json"},
    )
    assert_problem(r, 413, "body_too_large")
    r = broker.client.post(
        "/v1/tokens",
        content=b"{not json",
        headers={**broker.agent_headers(), "Content-Type": "application/json"},
    )
    assert_problem(r, 400, "invalid_request")
    r = broker.client.post(
        "/v1/tokens",
        content=b"\xff\xfe",
        headers={**broker.agent_headers(), "Content-Type": "application/json"},
    )
    assert_problem(r, 400, "invalid_request")


def test_session_end_revokes_every_token(broker: Broker) -> None:
    first = broker.issue().json()
    second = broker.issue(session_id=first["session_id"]).json()
    assert second["session_id"] == first["session_id"]
    r = broker.client.post(
        f"/v1/sessions/{first['session_id']}/end", headers=broker.agent_headers()
    )
    assert r.json() == {"session_id": first["session_id"], "tokens_revoked": 2}
    for token in (first["access_token"], second["access_token"]):
        r = broker.client.post(
            "/oauth/introspect", data={"token": token}, headers=broker.admin_headers()
        )
        assert r.json() == {"active": False}
    assert_problem(broker.issue(session_id=first["session_id"]), 403, "session_ended")


def test_other_agents_session_is_not_found(broker: Broker) -> None:
    sid = broker.issue().json()["session_id"]
    other = broker.client.post(
        "/v1/admin/agents", json={"name": "ci-bot"}, headers=broker.admin_headers()
    ).json()["credential"]
    r = broker.client.post(f"/v1/sessions/{sid}/end", headers=broker.agent_headers(other))
    assert_problem(r, 404, "session_not_found")


def test_token_expires(broker: Broker) -> None:
    token = broker.issue(ttl=60).json()["access_token"]
    broker.clock.advance(60 + broker.services.settings.leeway + 1)
    r = broker.client.post(
        "/oauth/introspect", data={"token": token}, headers=broker.admin_headers()
    )
    assert r.json() == {"active": False}


def test_tampered_token_is_inactive(broker: Broker) -> None:
    token = broker.issue().json()["access_token"]
    head, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["authorization_details"][0]["environments"] = ["production"]
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    r = broker.client.post(
        "/oauth/introspect",
        data={"token": f"{head}.{forged_payload}.{sig}"},
        headers=broker.admin_headers(),
    )
    assert r.json() == {"active": False}
    assert NOW > 0


def test_issuance_after_the_keyset_reloads(broker: Broker) -> None:
    # The keyset is re-read from the database every few seconds, also mid-issuance.
    broker.clock.advance(30)
    assert broker.issue().status_code == 201, broker.issue().text


def test_refused_credentials_of_known_keys_are_audited(broker: Broker) -> None:
    forged = broker.agent[:-1] + ("B" if broker.agent[-1] != "B" else "C")
    broker.client.post(
        "/v1/tokens",
        json={"template": "staging-agent", "environment": "staging"},
        headers=broker.agent_headers(forged),
    )
    broker.client.post("/v1/admin/agents/claude-code/disable", headers=broker.admin_headers())
    broker.issue()
    events = broker.client.get(
        "/v1/admin/audit?type=auth.refused", headers=broker.admin_headers()
    ).json()
    assert [e["reason"] for e in events] == ["credential_disabled", "credential_invalid"]
    assert all(e["actor"] == "agent:claude-code" for e in events)
    assert forged not in str(events)
