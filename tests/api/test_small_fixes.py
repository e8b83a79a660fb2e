"""Issue 17's small fixes: bounded integer parameters, the last admin, HEAD, scope."""

from __future__ import annotations

import base64
import json

import pytest
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

from tests.api.api_support import assert_problem, decode_unverified
from tests.support.broker_app import Broker


def test_huge_template_versions_are_refused_not_500(broker: Broker) -> None:
    for version in (2**63, 2**31, 0):
        r = broker.client.get(
            f"/v1/admin/templates/staging-agent/versions/{version}", headers=broker.admin_headers()
        )
        assert_problem(r, 400, "invalid_request")
    ok = broker.client.get(
        "/v1/admin/templates/staging-agent/versions/1", headers=broker.admin_headers()
    )
    assert ok.status_code == 200
    r = broker.client.get("/v1/admin/audit?since=1e400", headers=broker.admin_headers())
    assert_problem(r, 400, "invalid_request")


def test_the_last_enabled_admin_cannot_be_disabled(broker: Broker) -> None:
    r = broker.client.post("/v1/admin/admins/root/disable", headers=broker.admin_headers())
    assert_problem(r, 409, "conflict")
    assert (
        broker.client.get("/v1/admin/admins", headers=broker.admin_headers()).json()[0][
            "disabled_at"
        ]
        is None
    )
    created = broker.client.post(
        "/v1/admin/admins", json={"name": "ops"}, headers=broker.admin_headers()
    ).json()
    r = broker.client.post("/v1/admin/admins/root/disable", headers=broker.admin_headers())
    assert r.status_code == 200
    ops = {"Authorization": f"Bearer {created['credential']}"}
    # Now ops is the last one: it cannot disable itself either.
    assert_problem(broker.client.post("/v1/admin/admins/ops/disable", headers=ops), 409, "conflict")
    assert broker.client.get("/v1/admin/keys", headers=ops).status_code == 200


def test_head_on_the_well_known_documents(broker: Broker) -> None:
    for path in ("/.well-known/jwks.json", "/.well-known/oauth-authorization-server"):
        full = broker.client.get(path)
        r = broker.client.head(path)
        assert r.status_code == 200
        assert r.content == b""
        assert r.headers["content-type"] == full.headers["content-type"]
        assert r.headers["content-length"] == str(len(full.content))


def test_metadata_lists_registered_methods_and_passes_authlibs_validator(broker: Broker) -> None:
    meta = broker.client.get("/.well-known/oauth-authorization-server").json()
    for endpoint in ("introspection", "revocation"):
        assert meta[f"{endpoint}_endpoint_auth_methods_supported"] == [
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
        ]
        # Listed where private_key_jwt is offered, and only the asymmetric algorithms.
        assert meta[f"{endpoint}_endpoint_auth_signing_alg_values_supported"] == [
            "EdDSA",
            "Ed25519",
            "ES256",
            "RS256",
        ]
    # The token endpoint takes no client authentication: no algorithm list for it.
    assert "token_endpoint_auth_signing_alg_values_supported" not in meta
    assert meta["response_types_supported"]
    # authlib insists on https issuers; the test broker's issuer is http://broker.test.
    https = {
        k: v.replace("http://", "https://") if isinstance(v, str) else v for k, v in meta.items()
    }
    AuthorizationServerMetadata(https).validate()


def test_tokens_and_introspection_carry_scope(broker: Broker) -> None:
    body = broker.issue(actions=["project:read", "deployment:create"]).json()
    _, claims = decode_unverified(body["access_token"])
    assert claims["scope"].split() == claims["authorization_details"][0]["actions"]
    assert set(claims["scope"].split()) == {"project:read", "deployment:create"}
    seen = broker.client.post(
        "/oauth/introspect", data={"token": body["access_token"]}, headers=broker.admin_headers()
    ).json()
    assert seen["active"] is True
    assert seen["scope"] == claims["scope"]


def test_a_token_with_a_non_string_scope_is_refused(broker: Broker) -> None:
    from broker.tokens import InvalidToken, mint

    body = broker.issue().json()
    _, claims = decode_unverified(body["access_token"])
    claims["scope"] = ["project:read"]
    forged = mint(claims, broker.services.keys.signer())
    with pytest.raises(InvalidToken) as refused:
        broker.services.issuance.verify(forged)
    assert "scope" in refused.value.audit_detail
    assert json.loads(base64.urlsafe_b64decode(forged.split(".")[1] + "==")) == claims
