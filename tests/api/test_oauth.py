"""The OAuth surface: RFC 8693 exchange, RFC 7009 revocation, RFC 7662 introspection, RFC 8414."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.api.api_support import assert_problem, count_rows
from tests.support.broker_app import Broker

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
AGENT_CRED = "urn:capbroker:params:oauth:token-type:agent-credential"


def exchange(broker: Broker, **extra: str) -> Any:
    form = {
        "grant_type": EXCHANGE,
        "subject_token_type": AGENT_CRED,
        "subject_token": broker.agent,
        "template": "staging-agent",
        "environment": "staging",
        **extra,
    }
    return broker.client.post("/oauth/token", data=form)


def test_token_exchange_issues_a_scoped_token(broker: Broker) -> None:
    r = exchange(broker, scope="project:read deployment:create", expires_in="120")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 120
    assert set(body["scope"].split()) == {"project:read", "deployment:create"}
    assert r.headers["cache-control"] == "no-store"
    assert broker.services.issuance.verify(body["access_token"]).client_id == "claude-code"


def test_token_exchange_with_authorization_details(broker: Broker) -> None:
    details = [
        {
            "type": "capbroker_capability",
            "template": "staging-agent",
            "environments": ["preview"],
            "actions": ["project:read"],
        }
    ]
    r = exchange(broker, authorization_details=json.dumps(details), template="", environment="")
    assert r.status_code == 200, r.text
    assert r.json()["authorization_details"][0]["environments"] == ["preview"]


@pytest.mark.parametrize(
    ("form", "status", "code"),
    [
        ({"grant_type": "client_credentials"}, 400, "unsupported_grant_type"),
        ({"subject_token_type": "urn:ietf:params:oauth:token-type:jwt"}, 400, "invalid_request"),
        ({"subject_token": "capb_agt_" + "0" * 24 + "_" + "A" * 43}, 400, "invalid_grant"),
        ({"environment": "production"}, 403, "environment_not_granted"),
        ({"scope": "backup:delete"}, 403, "forbidden_verb"),
        ({"expires_in": "-5"}, 400, "invalid_request"),
        ({"authorization_details": "{nope"}, 400, "invalid_request"),
        (
            {"requested_token_type": "urn:ietf:params:oauth:token-type:refresh_token"},
            400,
            "invalid_request",
        ),
    ],
)
def test_exchange_refusals(broker: Broker, form: dict[str, str], status: int, code: str) -> None:
    before = count_rows(broker, "tokens")
    body = assert_problem(exchange(broker, **form), status, code)
    if code in ("unsupported_grant_type", "invalid_grant"):
        assert body["error"] == code
    assert count_rows(broker, "tokens") == before


def test_repeated_parameter_and_wrong_content_type(broker: Broker) -> None:
    r = broker.client.post(
        "/oauth/token",
        content=f"grant_type={EXCHANGE}&grant_type=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_problem(r, 400, "invalid_request")
    r = broker.client.post("/oauth/token", json={"grant_type": EXCHANGE})
    assert_problem(r, 415, "unsupported_media_type")


def test_revocation(broker: Broker) -> None:
    token = broker.issue().json()["access_token"]
    introspect = lambda: broker.client.post(  # noqa: E731
        "/oauth/introspect", data={"token": token}, headers=broker.admin_headers()
    ).json()
    assert introspect()["active"] is True
    r = broker.client.post("/oauth/revoke", data={"token": token}, headers=broker.agent_headers())
    assert r.status_code == 200
    assert introspect() == {"active": False}
    # unknown and garbage tokens: 200 as RFC 7009 asks, nothing changes
    r = broker.client.post(
        "/oauth/revoke", data={"token": "garbage"}, headers=broker.agent_headers()
    )
    assert r.status_code == 200
    events = broker.client.get(
        "/v1/admin/audit?type=token.revoked", headers=broker.admin_headers()
    ).json()
    assert len(events) == 1


def test_agent_cannot_revoke_or_introspect_another_agents_token(broker: Broker) -> None:
    token = broker.issue().json()["access_token"]
    other = broker.client.post(
        "/v1/admin/agents", json={"name": "ci-bot"}, headers=broker.admin_headers()
    ).json()["credential"]
    broker.secrets.append(other)
    seen = broker.client.post(
        "/oauth/introspect", data={"token": token}, headers=broker.agent_headers(other)
    ).json()
    assert seen == {"active": False}
    broker.client.post("/oauth/revoke", data={"token": token}, headers=broker.agent_headers(other))
    mine = broker.client.post(
        "/oauth/introspect", data={"token": token}, headers=broker.agent_headers()
    ).json()
    assert mine["active"] is True
    assert mine["jti"]


def test_introspection_requires_a_credential(broker: Broker) -> None:
    assert_problem(
        broker.client.post("/oauth/introspect", data={"token": "x"}), 401, "unauthenticated"
    )


def test_discovery_documents(broker: Broker) -> None:
    meta = broker.client.get("/.well-known/oauth-authorization-server").json()
    assert meta["issuer"] == "http://broker.test"
    assert meta["jwks_uri"].endswith("/.well-known/jwks.json")
    assert EXCHANGE in meta["grant_types_supported"]
    jwks = broker.client.get("/.well-known/jwks.json")
    assert jwks.headers["content-type"].startswith("application/jwk-set+json")
    (key,) = jwks.json()["keys"]
    assert key["kty"] == "OKP"
    assert key["crv"] == "Ed25519"
    assert "d" not in key
    openapi = broker.client.get("/schema/openapi.json").json()
    assert "/v1/tokens" in openapi["paths"]
    assert "/oauth/token" in openapi["paths"]
    assert broker.client.get("/readyz").json()["status"] == "ready"


def test_rejected_tokens_are_audited_with_their_cause(broker: Broker) -> None:
    token = broker.issue().json()["access_token"]
    head, payload, sig = token.split(".")
    broker.client.post(
        "/oauth/introspect",
        data={"token": f"{head}.{payload}.{sig[:-4]}AAAA"},
        headers=broker.admin_headers(),
    )
    broker.client.post(
        "/oauth/introspect", data={"token": "not-a-token"}, headers=broker.admin_headers()
    )
    events = broker.client.get(
        "/v1/admin/audit?type=token.rejected", headers=broker.admin_headers()
    ).json()
    assert len(events) == 2
    assert all(e["reason"] == "token_invalid" and e["data"]["cause"] for e in events)
    assert token not in str(events)


def test_disabling_an_agent_revokes_its_live_tokens(broker: Broker) -> None:
    token = broker.issue().json()["access_token"]
    broker.client.post("/v1/admin/agents/claude-code/disable", headers=broker.admin_headers())
    seen = broker.client.post(
        "/oauth/introspect", data={"token": token}, headers=broker.admin_headers()
    )
    assert seen.json() == {"active": False}


def test_admin_can_end_any_session(broker: Broker) -> None:
    sid = broker.issue().json()["session_id"]
    r = broker.client.post(f"/v1/sessions/{sid}/end", headers=broker.admin_headers())
    assert r.json()["tokens_revoked"] == 1
