"""private_key_jwt as resource servers' code does it, against a broker on a real socket:
authlib's ``PrivateKeyJWT`` client authentication for introspection and revocation, and
assertions signed by two independent JOSE libraries (PyJWT, joserfc) posted with requests.
The resource servers are registered over the admin API with public keys only."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from joserfc import jwt as joserfc_jwt
from joserfc.jwk import ECKey

from tests.interop.conftest import EXCHANGE, LiveBroker
from tests.support.client_keys import JWT_BEARER, ClientKey, hs256_with, make_key

AUTH = "private_key_jwt"


@pytest.fixture(autouse=True)
def _plain_http_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


def _register(live: LiveBroker, name: str, *keys: ClientKey) -> None:
    r = requests.post(
        f"{live.url}/v1/admin/resource-servers",
        json={"name": name, "jwks": {"keys": [k.public_jwk() for k in keys]}, "with_secret": False},
        headers={"Authorization": f"Bearer {live.admin}"},
        timeout=10,
    )
    assert r.status_code == 201, r.text
    assert r.json()["credential"] is None


def _issue(live: LiveBroker) -> str:
    session = OAuth2Session(client_id="claude-code", token_endpoint_auth_method="none")
    token = session.fetch_token(
        f"{live.url}/oauth/token", grant_type=EXCHANGE, **live.exchange_form()
    )
    return str(token["access_token"])


def _pem(key: ClientKey) -> str:
    raw = key.private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    return raw.decode()


def _authlib(name: str, secret: Any, auth: PrivateKeyJWT) -> OAuth2Session:
    session = OAuth2Session(
        client_id=name,
        client_secret=secret,
        token_endpoint_auth_method=AUTH,
        revocation_endpoint_auth_method=AUTH,
    )
    session.register_client_auth_method(auth)
    return session


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_authlib_introspects_and_revokes_with_private_key_jwt(live: LiveBroker, alg: str) -> None:
    name = f"authlib-{alg.lower()}"
    key = make_key(alg)
    _register(live, name, key)
    # RS256 with the PEM text (authlib's default), ES256 with a joserfc key object. The
    # audience is the issuer identifier (RFC 7523bis), not the socket's URL.
    secret: Any = _pem(key) if alg == "RS256" else ECKey.import_key(_pem(key))
    rs = _authlib(name, secret, PrivateKeyJWT(token_endpoint=live.issuer, alg=alg))
    token = _issue(live)
    seen = rs.introspect_token(f"{live.url}/oauth/introspect", token=token)
    assert seen.status_code == 200, seen.text
    assert seen.json()["active"] is True
    assert seen.json()["client_id"] == "claude-code"
    revoked = rs.revoke_token(f"{live.url}/oauth/revoke", token=token)
    assert revoked.status_code == 200, revoked.text
    assert rs.introspect_token(f"{live.url}/oauth/introspect", token=token).json() == {
        "active": False
    }


def test_authlib_with_the_endpoint_url_as_audience(live: LiveBroker) -> None:
    key = make_key("ES256")
    _register(live, "authlib-endpoint-aud", key)
    secret = ECKey.import_key(_pem(key))
    introspect = PrivateKeyJWT(token_endpoint=f"{live.issuer}/oauth/introspect", alg="ES256")
    rs = _authlib("authlib-endpoint-aud", secret, introspect)
    r = rs.introspect_token(f"{live.url}/oauth/introspect", token=_issue(live))
    assert r.json()["active"] is True


def test_authlib_with_the_sockets_url_as_audience_is_invalid_client(live: LiveBroker) -> None:
    """authlib's default audience is the URL it calls; here that is 127.0.0.1, not the
    broker's published name, so the assertion is refused (a request can name any host)."""
    key = make_key("ES256")
    _register(live, "authlib-default-aud", key)
    rs = _authlib("authlib-default-aud", ECKey.import_key(_pem(key)), PrivateKeyJWT(alg="ES256"))
    r = rs.introspect_token(f"{live.url}/oauth/introspect", token=_issue(live))
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_client"


def _pyjwt_assertion(key: ClientKey, name: str, aud: str, **over: Any) -> str:
    now = int(time.time())
    claims = {"iss": name, "sub": name, "aud": aud, "iat": now, "exp": now + 120}
    claims["jti"] = str(uuid.uuid4())
    claims.update(over)
    return jwt.encode(claims, key.private, algorithm=key.alg, headers={"kid": key.kid})


def _post(live: LiveBroker, path: str, assertion: str, token: str) -> requests.Response:
    form = {"token": token, "client_assertion_type": JWT_BEARER, "client_assertion": assertion}
    return requests.post(f"{live.url}{path}", data=form, timeout=10)


@pytest.mark.parametrize("alg", ["EdDSA", "ES256", "RS256"])
def test_pyjwt_signed_assertions(live: LiveBroker, alg: str) -> None:
    name = f"pyjwt-{alg.lower()}"
    key = make_key(alg)
    _register(live, name, key)
    token = _issue(live)
    assertion = _pyjwt_assertion(key, name, live.issuer)
    r = _post(live, "/oauth/introspect", assertion, token)
    assert r.status_code == 200, r.text
    assert r.json()["active"] is True
    again = _post(live, "/oauth/introspect", assertion, token)
    assert again.status_code == 401
    assert again.json()["error"] == "invalid_client"
    assert again.headers["www-authenticate"].startswith("Bearer ")
    r = _post(live, "/oauth/revoke", _pyjwt_assertion(key, name, live.issuer), token)
    assert r.status_code == 200, r.text


def test_joserfc_signed_assertion(live: LiveBroker) -> None:
    key = ECKey.generate_key("P-256", parameters={"kid": "joserfc-1"})
    r = requests.post(
        f"{live.url}/v1/admin/resource-servers",
        json={"name": "joserfc-rs", "jwks": {"keys": [key.as_dict(private=False)]}},
        headers={"Authorization": f"Bearer {live.admin}"},
        timeout=10,
    )
    assert r.status_code == 201, r.text
    live_secret = r.json()["credential"]  # with_secret defaults to true: keys and a secret
    assert live_secret.startswith("capb_rs_")
    now = int(time.time())
    claims = {
        "iss": "joserfc-rs",
        "sub": "joserfc-rs",
        "aud": [live.issuer],
        "iat": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
    }
    assertion = joserfc_jwt.encode({"alg": "ES256", "kid": "joserfc-1"}, claims, key)
    token = _issue(live)
    assert _post(live, "/oauth/revoke", assertion, token).status_code == 200
    seen = requests.post(
        f"{live.url}/oauth/introspect",
        data={"token": token},
        auth=("joserfc-rs", live_secret),
        timeout=10,
    )
    assert seen.json() == {"active": False}


def test_hs256_with_the_public_key_is_refused(live: LiveBroker) -> None:
    key = make_key("RS256")
    _register(live, "pyjwt-confused", key)
    now = int(time.time())
    claims = {
        "iss": "pyjwt-confused",
        "sub": "pyjwt-confused",
        "aud": live.issuer,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
    }
    # PyJWT itself refuses a PEM public key as an HMAC secret, so the MAC is made by hand.
    public_pem = key.private.public_key().public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
    )
    r = _post(live, "/oauth/introspect", hs256_with(public_pem, claims, key.kid), _issue(live))
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_client"
