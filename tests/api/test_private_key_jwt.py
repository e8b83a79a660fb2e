"""private_key_jwt at /oauth/introspect and /oauth/revoke: a resource server registered with
public keys signs a client assertion (PyJWT here), and every bad assertion is refused with
invalid_client, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.api.api_support import assert_oauth_error, assert_problem
from tests.support.broker_app import Broker
from tests.support.client_keys import (
    JWT_BEARER,
    ClientKey,
    assertion_claims,
    hs256_with,
    make_key,
    unsigned,
)

RS = "billing-api"


def _register(broker: Broker, key: ClientKey, *, name: str = RS, **extra: Any) -> Any:
    body = {"name": name, "jwks": key.jwks(), "with_secret": False, **extra}
    return broker.client.post(
        "/v1/admin/resource-servers", json=body, headers=broker.admin_headers()
    )


def _issuer(broker: Broker) -> str:
    return broker.services.settings.effective_issuer


def _claims(broker: Broker, **over: Any) -> dict[str, Any]:
    return assertion_claims(RS, over.pop("aud", _issuer(broker)), broker.clock(), **over)


def _call(broker: Broker, path: str, assertion: str, **form: str) -> Any:
    token = form.pop("token", "x")
    data = {
        "token": token,
        "client_assertion_type": JWT_BEARER,
        "client_assertion": assertion,
        **form,
    }
    return broker.client.post(path, data=data, headers=form.pop("headers", None) or {})


@pytest.fixture
def key(broker: Broker) -> ClientKey:
    k = make_key("ES256")
    r = _register(broker, k)
    assert r.status_code == 201, r.text
    assert r.json()["credential"] is None
    assert r.json()["kids"] == [k.kid]
    return k


@pytest.mark.parametrize("alg", ["ES256", "RS256", "EdDSA"])
def test_each_algorithm_introspects_and_revokes(broker: Broker, alg: str) -> None:
    k = make_key(alg)
    assert _register(broker, k).status_code == 201
    token = broker.issue().json()["access_token"]
    broker.secrets.append(token)
    r = _call(broker, "/oauth/introspect", k.sign(_claims(broker)), token=token)
    assert r.status_code == 200, r.text
    assert r.json()["active"] is True
    r = _call(broker, "/oauth/revoke", k.sign(_claims(broker)), token=token)
    assert r.status_code == 200, r.text
    r = _call(broker, "/oauth/introspect", k.sign(_claims(broker)), token=token)
    assert r.json() == {"active": False}


def test_audiences_accepted(broker: Broker, key: ClientKey) -> None:
    issuer = _issuer(broker)
    for path, aud in [
        ("/oauth/introspect", issuer),
        ("/oauth/introspect", [issuer]),
        ("/oauth/introspect", f"{issuer}/oauth/introspect"),
        ("/oauth/revoke", f"{issuer}/oauth/revoke"),
        ("/oauth/revoke", [issuer, f"{issuer}/oauth/revoke"]),
    ]:
        r = _call(broker, path, key.sign(_claims(broker, aud=aud)))
        assert r.status_code == 200, (path, aud, r.text)


def test_a_header_without_kid_uses_the_only_key(broker: Broker, key: ClientKey) -> None:
    r = _call(broker, "/oauth/introspect", key.sign(_claims(broker), kid=None))
    assert r.status_code == 200, r.text


def test_client_id_beside_the_assertion_must_name_its_issuer(
    broker: Broker, key: ClientKey
) -> None:
    ok = _call(broker, "/oauth/introspect", key.sign(_claims(broker)), client_id=RS)
    assert ok.status_code == 200, ok.text
    r = _call(broker, "/oauth/introspect", key.sign(_claims(broker)), client_id="other")
    assert_oauth_error(r, 401, "invalid_client", "invalid_client")


def _bad(broker: Broker, key: ClientKey, how: str) -> str:
    now, issuer = broker.clock(), _issuer(broker)
    if how == "wrong_aud":
        return key.sign(_claims(broker, aud="https://elsewhere.example"))
    if how == "aud_with_another_party":
        return key.sign(_claims(broker, aud=[issuer, "https://elsewhere.example"]))
    if how == "other_endpoint_url":  # meant for revocation, sent to introspection
        return key.sign(_claims(broker, aud=f"{issuer}/oauth/revoke"))
    if how == "token_endpoint_url":
        return key.sign(_claims(broker, aud=f"{issuer}/oauth/token"))
    if how == "expired":
        return key.sign(_claims(broker, iat=int(now) - 600, exp=int(now) - 120))
    if how == "exp_missing":
        return key.sign(_claims(broker, exp=None))
    if how == "exp_too_far":
        return key.sign(_claims(broker, exp=int(now) + 7200))
    if how == "iat_future":
        return key.sign(_claims(broker, iat=int(now) + 600, exp=int(now) + 900))
    if how == "nbf_future":
        return key.sign(_claims(broker, nbf=int(now) + 600))
    if how == "jti_missing":
        return key.sign(_claims(broker, jti=None))
    if how == "iss_not_sub":
        return key.sign(_claims(broker, sub="someone-else"))
    if how == "unknown_kid":
        return key.sign(_claims(broker), kid="not-registered")
    if how == "unregistered_key":
        return make_key("ES256", kid=key.kid).sign(_claims(broker))
    if how == "unknown_client":
        return key.sign(_claims(broker, iss="nobody", sub="nobody"))
    if how == "alg_none":
        return unsigned(_claims(broker))
    if how == "hs256_public_key_as_secret":
        raw = key.private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        return hs256_with(raw, _claims(broker), key.kid)
    if how == "alg_of_another_key_type":  # an RS256 header on the EC key's kid
        return make_key("RS256", kid=key.kid).sign(_claims(broker))
    if how == "garbage":
        return "a.b.c"
    raise AssertionError(how)


REFUSALS = [
    "wrong_aud",
    "aud_with_another_party",
    "other_endpoint_url",
    "token_endpoint_url",
    "expired",
    "exp_missing",
    "exp_too_far",
    "iat_future",
    "nbf_future",
    "jti_missing",
    "iss_not_sub",
    "unknown_kid",
    "unregistered_key",
    "unknown_client",
    "alg_none",
    "hs256_public_key_as_secret",
    "alg_of_another_key_type",
    "garbage",
]


@pytest.mark.parametrize("how", REFUSALS)
def test_bad_assertions_are_invalid_client(
    broker: Broker, key: ClientKey, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    token = broker.issue().json()["access_token"]
    broker.secrets.append(token)
    assertion = _bad(broker, key, how)
    caplog.set_level(logging.DEBUG)
    r = _call(broker, "/oauth/introspect", assertion, token=token)
    body = assert_oauth_error(r, 401, "invalid_client", "invalid_client")
    assert r.headers["www-authenticate"] == 'Bearer realm="capbroker"'
    assert body["error_description"] == "the client assertion was not accepted"
    assert assertion not in caplog.text
    assert assertion not in json.dumps(_audit(broker))
    if how != "other_endpoint_url":  # that one is good at /oauth/revoke
        # Revocation refuses it too, and the token stays active.
        r = _call(broker, "/oauth/revoke", assertion, token=token)
        assert_oauth_error(r, 401, "invalid_client", "invalid_client")
    assert broker.client.post(
        "/oauth/introspect", data={"token": token}, headers=broker.admin_headers()
    ).json()["active"]


def _audit(broker: Broker) -> list[dict[str, Any]]:
    r = broker.client.get(
        "/v1/admin/audit",
        params={"type": "client_assertion.refused"},
        headers=broker.admin_headers(),
    )
    events: list[dict[str, Any]] = r.json()
    return events


def test_a_replayed_assertion_is_refused_and_audited(broker: Broker, key: ClientKey) -> None:
    assertion = key.sign(_claims(broker))
    assert _call(broker, "/oauth/introspect", assertion).status_code == 200
    r = _call(broker, "/oauth/introspect", assertion)
    assert_oauth_error(r, 401, "invalid_client", "invalid_client")
    # Spent at introspection means spent at revocation too.
    assert _call(broker, "/oauth/revoke", assertion).status_code == 401
    events = _audit(broker)
    assert [e["data"]["detail"] for e in events] == ["jti replayed", "jti replayed"]
    assert events[0]["actor"] == f"resource_server:{RS}"


def test_wrong_audience_is_audited_with_its_cause(broker: Broker, key: ClientKey) -> None:
    _call(broker, "/oauth/introspect", _bad(broker, key, "wrong_aud"))
    assert [e["data"]["detail"] for e in _audit(broker)] == ["wrong aud"]


def test_unsigned_garbage_is_not_audited(broker: Broker, key: ClientKey) -> None:
    for how in ("alg_none", "unknown_kid", "hs256_public_key_as_secret", "garbage"):
        _call(broker, "/oauth/introspect", _bad(broker, key, how))
    assert _audit(broker) == []


def test_an_expired_assertion_a_moment_later(broker: Broker, key: ClientKey) -> None:
    assertion = key.sign(_claims(broker))
    broker.clock.advance(60 + broker.services.settings.leeway)
    assert_oauth_error(
        _call(broker, "/oauth/introspect", assertion), 401, "invalid_client", "invalid_client"
    )


@pytest.mark.parametrize(
    ("extra", "status", "error"),
    [
        ({"basic": True}, 400, "invalid_request"),
        ({"client_secret": True}, 400, "invalid_request"),
        ({"client_assertion_type": "urn:example:other"}, 401, "invalid_client"),
        ({"client_assertion": ""}, 400, "invalid_request"),
    ],
)
def test_mixed_or_malformed_methods(
    broker: Broker, key: ClientKey, extra: dict[str, Any], status: int, error: str
) -> None:
    r = broker.client.post(
        "/v1/admin/resource-servers", json={"name": "other-rs"}, headers=broker.admin_headers()
    )
    secret = r.json()["credential"]
    broker.secrets.append(secret)
    form = {
        "token": "x",
        "client_assertion_type": JWT_BEARER,
        "client_assertion": key.sign(_claims(broker)),
    }
    headers = {}
    extra = dict(extra)  # the parameter is shared by the sqlite and postgresql runs
    if extra.pop("basic", False):
        headers["Authorization"] = (
            "Basic " + base64.b64encode(f"other-rs:{secret}".encode()).decode()
        )
    if extra.pop("client_secret", False):
        form |= {"client_id": "other-rs", "client_secret": secret}
    form |= extra
    r = broker.client.post("/oauth/introspect", data=form, headers=headers)
    assert_oauth_error(r, status, error, r.json()["code"])


def test_a_disabled_resource_server_is_refused(broker: Broker, key: ClientKey) -> None:
    r = broker.client.post(
        f"/v1/admin/resource-servers/{RS}/disable", headers=broker.admin_headers()
    )
    assert r.status_code == 200
    r = _call(broker, "/oauth/introspect", key.sign(_claims(broker)))
    assert_oauth_error(r, 401, "invalid_client", "credential_disabled")


def test_agents_cannot_use_private_key_jwt(broker: Broker, key: ClientKey) -> None:
    claims = assertion_claims("claude-code", _issuer(broker), broker.clock())
    r = _call(broker, "/oauth/introspect", key.sign(claims))
    assert_oauth_error(r, 401, "invalid_client", "invalid_client")


@pytest.mark.parametrize(
    "jwks",
    [
        "private",
        {"keys": []},
        {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "h"}]},
        "no_kid",
        "duplicate_kid",
        {"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "kid": "bad"}]},
    ],
)
def test_registration_refuses_unusable_or_private_keys(broker: Broker, jwks: Any) -> None:
    k = make_key("ES256")
    if jwks == "private":
        jwks = {"keys": [k.private_jwk()]}
    elif jwks == "no_kid":
        jwks = {"keys": [{m: v for m, v in k.public_jwk().items() if m != "kid"}]}
    elif jwks == "duplicate_kid":
        jwks = {"keys": [k.public_jwk(), make_key("ES256", kid=k.kid).public_jwk()]}
    r = broker.client.post(
        "/v1/admin/resource-servers",
        json={"name": RS, "jwks": jwks},
        headers=broker.admin_headers(),
    )
    body = assert_problem(r, 400, r.json()["code"])
    assert '"d"' not in r.text
    assert k.private_jwk()["d"] not in r.text
    if jwks == {"keys": [k.private_jwk()]}:
        assert "private material" in body["detail"]
    listed = broker.client.get("/v1/admin/resource-servers", headers=broker.admin_headers())
    assert listed.json() == []


def test_jwks_is_for_resource_servers_only(broker: Broker) -> None:
    r = broker.client.post(
        "/v1/admin/agents",
        json={"name": "a", "jwks": make_key().jwks()},
        headers=broker.admin_headers(),
    )
    assert_problem(r, 400, "invalid_request")


def test_a_resource_server_may_hold_a_secret_and_keys(broker: Broker) -> None:
    k = make_key("EdDSA")
    r = _register(broker, k, with_secret=True)
    secret = r.json()["credential"]
    broker.secrets.append(secret)
    assert secret.startswith("capb_rs_")
    assert _call(broker, "/oauth/introspect", k.sign(_claims(broker))).status_code == 200
    by_post = broker.client.post(
        "/oauth/introspect", data={"token": "x", "client_id": RS, "client_secret": secret}
    )
    assert by_post.status_code == 200, by_post.text


def _manifest(key_jwks: dict[str, Any], name: str = RS) -> dict[str, Any]:
    return {
        "apiVersion": "capbroker.dev/v1",
        "kind": "ResourceServer",
        "metadata": {"name": name},
        "spec": {"description": "the billing API", "jwks": key_jwks},
    }


def _apply(broker: Broker, *docs: dict[str, Any], dry_run: bool = False) -> Any:
    return broker.client.post(
        "/v1/admin/manifests",
        json={"manifests": list(docs), "dry_run": dry_run},
        headers=broker.admin_headers(),
    )


def test_a_resource_server_manifest_registers_and_rotates_keys(broker: Broker) -> None:
    old, new = make_key("ES256", kid="2026-01"), make_key("EdDSA", kid="2026-06")
    dry = _apply(broker, _manifest(old.jwks()), dry_run=True)
    assert dry.json()["changes"][0]["action"] == "create"
    assert _call(broker, "/oauth/introspect", old.sign(_claims(broker))).status_code == 401
    created = _apply(broker, _manifest(old.jwks()))
    assert created.status_code == 200, created.text
    assert [(c["kind"], c["action"]) for c in created.json()["changes"]] == [
        ("ResourceServer", "create")
    ]
    assert _call(broker, "/oauth/introspect", old.sign(_claims(broker))).status_code == 200
    again = _apply(broker, _manifest(old.jwks()))
    assert again.json()["changes"][0]["action"] == "unchanged"
    # Rotation: both keys for a while, then only the new one.
    both = {"keys": [old.public_jwk(), new.public_jwk()]}
    assert _apply(broker, _manifest(both)).json()["changes"][0]["action"] == "update"
    for k in (old, new):
        assert _call(broker, "/oauth/introspect", k.sign(_claims(broker))).status_code == 200
    rotated = _apply(broker, _manifest(new.jwks())).json()["changes"][0]
    assert rotated["diff"] == ["- kid 2026-01"]
    r = _call(broker, "/oauth/introspect", old.sign(_claims(broker)))
    assert_oauth_error(r, 401, "invalid_client", "invalid_client")
    assert _call(broker, "/oauth/introspect", new.sign(_claims(broker))).status_code == 200
    events = broker.client.get(
        "/v1/admin/audit",
        params={"subject": f"resource_server:{RS}"},
        headers=broker.admin_headers(),
    ).json()
    assert [e["type"] for e in reversed(events)] == [
        "resource_server.created",
        "resource_server.keys_replaced",
        "resource_server.keys_replaced",
    ]
    listed = broker.client.get("/v1/admin/resource-servers", headers=broker.admin_headers())
    assert [(p["name"], p["description"]) for p in listed.json()] == [(RS, "the billing API")]


def test_a_manifest_with_a_private_key_is_refused_whole(broker: Broker) -> None:
    k = make_key("RS256")
    good = _manifest(make_key().jwks(), name="good-rs")
    r = _apply(broker, good, _manifest({"keys": [k.private_jwk()]}))
    body = assert_problem(r, 400, "invalid_manifest")
    assert body["problems"] == [
        {
            "source": "request#2",
            "path": "spec.jwks",
            "message": "a public JWK must not carry private material",
        }
    ]
    assert k.private_jwk()["d"] not in r.text
    listed = broker.client.get("/v1/admin/resource-servers", headers=broker.admin_headers())
    assert listed.json() == []


def test_a_manifest_adds_keys_to_a_resource_server_with_a_secret(broker: Broker) -> None:
    r = broker.client.post(
        "/v1/admin/resource-servers", json={"name": RS}, headers=broker.admin_headers()
    )
    secret = r.json()["credential"]
    broker.secrets.append(secret)
    k = make_key("ES256")
    assert _apply(broker, _manifest(k.jwks())).json()["changes"][0]["action"] == "update"
    assert _call(broker, "/oauth/introspect", k.sign(_claims(broker))).status_code == 200
    by_post = broker.client.post(
        "/oauth/introspect", data={"token": "x", "client_id": RS, "client_secret": secret}
    )
    assert by_post.status_code == 200


def test_a_resource_server_needs_a_secret_or_keys(broker: Broker) -> None:
    r = broker.client.post(
        "/v1/admin/resource-servers",
        json={"name": RS, "with_secret": False},
        headers=broker.admin_headers(),
    )
    assert_problem(r, 400, "invalid_request")
