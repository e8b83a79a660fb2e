"""The OAuth surface: RFC 8693 exchange, RFC 7009 revocation, RFC 7662 introspection, RFC 8414."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.api.api_support import assert_oauth_error, assert_problem, count_rows
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


ADMIN_ONLY = "capb_adm_" + "0" * 24 + "_" + "A" * 43


@pytest.mark.parametrize(
    ("form", "status", "error", "code"),
    [
        ({"grant_type": "client_credentials"}, 400, "unsupported_grant_type", None),
        (
            {"subject_token_type": "urn:ietf:params:oauth:token-type:jwt"},
            400,
            "invalid_request",
            None,
        ),
        ({"subject_token": "capb_agt_" + "0" * 24 + "_" + "A" * 43}, 400, "invalid_grant", None),
        ({"subject_token": ADMIN_ONLY}, 400, "invalid_grant", None),
        (
            {"environment": "production"},
            400,
            "invalid_authorization_details",
            "environment_not_granted",
        ),
        ({"template": "nope"}, 400, "invalid_authorization_details", "unknown_template"),
        ({"scope": "backup:delete"}, 400, "invalid_scope", "forbidden_verb"),
        ({"scope": "cluster:nuke"}, 400, "invalid_scope", "verb_not_granted"),
        ({"expires_in": "86400"}, 400, "invalid_request", "ttl_too_long"),
        ({"expires_in": "-5"}, 400, "invalid_request", None),
        ({"authorization_details": "{nope"}, 400, "invalid_authorization_details", None),
        (
            {"requested_token_type": "urn:ietf:params:oauth:token-type:refresh_token"},
            400,
            "invalid_request",
            None,
        ),
        ({"session_id": "f" * 32}, 400, "invalid_request", "session_not_found"),
    ],
)
def test_exchange_refusals(
    broker: Broker, form: dict[str, str], status: int, error: str, code: str | None
) -> None:
    # Issue 17: every refusal at /oauth/token is an RFC 6749 error, policy ones included.
    before = count_rows(broker, "tokens")
    assert_oauth_error(exchange(broker, **form), status, error, code or error)
    assert count_rows(broker, "tokens") == before


@pytest.mark.parametrize(
    ("form", "error", "code"),
    [
        ({"audience": "https://elsewhere.example"}, "invalid_target", "invalid_target"),
        ({"resource": "https://elsewhere.example/api"}, "invalid_target", "invalid_target"),
        ({"actor_token": "x"}, "invalid_request", "invalid_request"),
        (
            {"actor_token_type": "urn:ietf:params:oauth:token-type:jwt"},
            "invalid_request",
            "invalid_request",
        ),
        (
            {"actor_token": "x", "actor_token_type": "urn:ietf:params:oauth:token-type:jwt"},
            "invalid_request",
            "invalid_request",
        ),
        (
            {
                "authorization_details": json.dumps(
                    [{"type": "capbroker_capability", "locations": ["https://x.example"]}]
                )
            },
            "invalid_authorization_details",
            "invalid_authorization_details",
        ),
        (
            {"authorization_details": json.dumps([{"type": "payment_initiation"}])},
            "invalid_authorization_details",
            "invalid_authorization_details",
        ),
        ({"client_secret": "s", "client_id": "claude-code"}, "invalid_client", "invalid_client"),
        ({"client_id": "someone-else"}, "invalid_client", "invalid_client"),
    ],
)
def test_unsupported_parameters_are_refused(
    broker: Broker, form: dict[str, str], error: str, code: str
) -> None:
    before = count_rows(broker, "tokens")
    status = 401 if error == "invalid_client" else 400
    assert_oauth_error(exchange(broker, **form), status, error, code)
    assert count_rows(broker, "tokens") == before


def test_matching_audience_and_client_id_are_accepted(broker: Broker) -> None:
    audience = broker.services.issuance.audience
    r = exchange(broker, audience=audience, resource=audience, client_id="claude-code")
    assert r.status_code == 200, r.text


def test_client_authentication_at_the_token_endpoint_is_refused(broker: Broker) -> None:
    form = {"grant_type": EXCHANGE, "subject_token_type": AGENT_CRED, "subject_token": broker.agent}
    r = broker.client.post(
        "/oauth/token",
        data={**form, "template": "staging-agent", "environment": "staging"},
        headers={"Authorization": "Basic Y2xhdWRlLWNvZGU6eA=="},
    )
    assert_oauth_error(r, 401, "invalid_client", "invalid_client")
    assert r.headers["www-authenticate"].startswith("Basic ")


def test_kill_switch_refusal_is_invalid_grant(broker: Broker) -> None:
    r = broker.client.post(
        "/v1/admin/kills",
        json={"scope": "agent", "name": "claude-code"},
        headers=broker.admin_headers(),
    )
    assert r.status_code == 201
    assert_oauth_error(exchange(broker), 400, "invalid_grant", "kill_switch_engaged")


def test_repeated_parameter_and_wrong_content_type(broker: Broker) -> None:
    r = broker.client.post(
        "/oauth/token",
        content=f"grant_type={EXCHANGE}&grant_type=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_oauth_error(r, 400, "invalid_request", "invalid_request")
    r = broker.client.post("/oauth/token", json={"grant_type": EXCHANGE})
    assert_oauth_error(r, 400, "invalid_request", "unsupported_media_type")


def test_routing_refusals_under_oauth_are_oauth_errors(broker: Broker) -> None:
    r = broker.client.get("/oauth/token")
    assert_oauth_error(r, 405, "invalid_request", "invalid_request")
    assert "POST" in r.headers["allow"].split(", ")
    assert_oauth_error(broker.client.post("/oauth/nowhere"), 404, "invalid_request", "not_found")
    # /v1/ stays problem+json, with Allow on a 405 too.
    r = broker.client.get("/v1/tokens")
    assert_problem(r, 405, "invalid_request")
    assert "POST" in r.headers["allow"]


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
    r = broker.client.post("/oauth/introspect", data={"token": "x"})
    assert_oauth_error(r, 401, "invalid_client", "invalid_client")
    assert r.headers["www-authenticate"].startswith("Bearer ")
    r = broker.client.post(
        "/oauth/introspect", data={"token": "x"}, headers={"Authorization": "Bearer nope"}
    )
    assert_oauth_error(r, 401, "invalid_client", "credential_invalid")


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


def _resource_server(broker: Broker, name: str = "billing-api") -> str:
    r = broker.client.post(
        "/v1/admin/resource-servers", json={"name": name}, headers=broker.admin_headers()
    )
    assert r.status_code == 201, r.text
    credential: str = r.json()["credential"]
    assert credential.startswith("capb_rs_")
    broker.secrets.append(credential)
    return credential


def _basic(client_id: str, secret: str) -> dict[str, str]:
    pair = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


def test_resource_servers_introspect_with_client_secret_basic_and_post(broker: Broker) -> None:
    secret = _resource_server(broker)
    token = broker.issue().json()["access_token"]
    by_basic = broker.client.post(
        "/oauth/introspect", data={"token": token}, headers=_basic("billing-api", secret)
    )
    assert by_basic.status_code == 200, by_basic.text
    assert by_basic.json()["active"] is True
    by_post = broker.client.post(
        "/oauth/introspect",
        data={"token": token, "client_id": "billing-api", "client_secret": secret},
    )
    assert by_post.json()["active"] is True
    assert by_post.json()["scope"]


@pytest.mark.parametrize(
    ("how", "status", "error"),
    [
        ("wrong_id", 401, "invalid_client"),
        ("wrong_secret", 401, "invalid_client"),
        ("post_without_id", 401, "invalid_client"),
        ("two_methods", 400, "invalid_request"),
        ("assertion", 401, "invalid_client"),
        ("public_client_id_only", 401, "invalid_client"),
        ("digest", 401, "invalid_client"),
    ],
)
def test_client_authentication_refusals(broker: Broker, how: str, status: int, error: str) -> None:
    secret = _resource_server(broker)
    token = broker.issue().json()["access_token"]
    wrong = secret[:-4] + ("AAAA" if not secret.endswith("AAAA") else "BBBB")
    form: dict[str, str] = {"token": token}
    headers: dict[str, str] = {}
    if how == "wrong_id":
        headers = _basic("claude-code", secret)
    elif how == "wrong_secret":
        headers = _basic("billing-api", wrong)
    elif how == "post_without_id":
        form["client_secret"] = secret
    elif how == "two_methods":
        headers = _basic("billing-api", secret)
        form |= {"client_id": "billing-api", "client_secret": secret}
    elif how == "assertion":
        form |= {
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": "a.b.c",
        }
    elif how == "public_client_id_only":
        form["client_id"] = "billing-api"
    else:
        headers = {"Authorization": "Digest username=billing-api"}
    for path in ("/oauth/introspect", "/oauth/revoke"):
        r = broker.client.post(path, data=form, headers=headers)
        body = assert_oauth_error(r, status, error, r.json()["code"])
        if status == 401:
            assert "www-authenticate" in r.headers, body
    assert _active(broker, token)


def _active(broker: Broker, token: str) -> bool:
    r = broker.client.post(
        "/oauth/introspect", data={"token": token}, headers=broker.admin_headers()
    )
    return bool(r.json()["active"])


def test_resource_server_revokes_and_holds_no_other_power(broker: Broker) -> None:
    secret = _resource_server(broker)
    token = broker.issue().json()["access_token"]
    r = broker.client.post(
        "/oauth/revoke",
        data={"token": token, "client_id": "billing-api", "client_secret": secret},
    )
    assert r.status_code == 200
    assert not _active(broker, token)
    as_rs = {"Authorization": f"Bearer {secret}"}
    r = broker.client.get("/v1/admin/templates", headers=as_rs)
    assert_problem(r, 403, "admin_required")
    sid = broker.issue().json()["session_id"]
    r = broker.client.post(f"/v1/sessions/{sid}/end", headers=as_rs)
    assert_problem(r, 403, "insufficient_scope")
    r = broker.client.post(
        "/v1/tokens", json={"template": "staging-agent", "environment": "staging"}, headers=as_rs
    )
    assert_problem(r, 403, "insufficient_scope")
    assert_oauth_error(
        exchange(broker, subject_token=secret), 400, "invalid_grant", "invalid_grant"
    )
    # Disabled: refused at once.
    broker.client.post(
        "/v1/admin/resource-servers/billing-api/disable", headers=broker.admin_headers()
    )
    r = broker.client.post(
        "/oauth/introspect", data={"token": "x"}, headers=_basic("billing-api", secret)
    )
    assert_oauth_error(r, 401, "invalid_client", "credential_disabled")
