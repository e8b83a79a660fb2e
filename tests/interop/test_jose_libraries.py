"""Capability tokens verified from the published JWKS by PyJWT (with its JWKS client),
joserfc and jwcrypto, as a resource server's code would; tampering is caught by each.

Parametrised by signing algorithm: one live broker per ``signing_algorithm`` (Ed25519,
written ``EdDSA``; ES256; RS256), and every library check runs for each. python-jose,
which has no EdDSA, checks the other two."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import jwt as pyjwt
import pytest
import requests
from jose import jwt as python_jose
from jose.exceptions import JOSEError
from joserfc import jwt as joserfc_jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from jwcrypto import jwk as jwcrypto_jwk
from jwcrypto import jwt as jwcrypto_jwt
from jwcrypto.common import JWException

from tests.interop.conftest import EXCHANGE, LiveBroker, live_broker

# signing_algorithm -> the JWS alg its tokens carry
ALGORITHMS = {"Ed25519": "EdDSA", "ES256": "ES256", "RS256": "RS256"}


@pytest.fixture(scope="module", params=list(ALGORITHMS))
def signed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveBroker, str]]:
    """A live broker signing with one algorithm, and the alg its tokens carry."""
    tmp = tmp_path_factory.mktemp(f"interop-{request.param}")
    for broker in live_broker(tmp, signing_algorithm=request.param):
        yield broker, ALGORITHMS[request.param]


def _token(live: LiveBroker) -> str:
    form = {"grant_type": EXCHANGE, "scope": "project:read", **live.exchange_form()}
    r = requests.post(f"{live.url}/oauth/token", data=form, timeout=10)
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def _jwks(live: LiveBroker) -> dict[str, Any]:
    r = requests.get(f"{live.url}/.well-known/jwks.json", timeout=10)
    assert r.headers["content-type"].startswith("application/jwk-set+json")
    body: dict[str, Any] = r.json()
    return body


def _with_pyjwt(live: LiveBroker, token: str, alg: str) -> dict[str, Any]:
    client = pyjwt.PyJWKClient(f"{live.url}/.well-known/jwks.json", cache_keys=False)
    key = client.get_signing_key_from_jwt(token)
    claims: dict[str, Any] = pyjwt.decode(
        token,
        key,
        algorithms=[alg],
        audience=live.audience,
        issuer=live.issuer,
        options={"require": ["exp", "iat", "iss", "aud", "jti", "sub"]},
    )
    return claims


def _with_joserfc(live: LiveBroker, token: str, alg: str) -> dict[str, Any]:
    keys = KeySet.import_key_set(_jwks(live))  # type: ignore[arg-type]
    decoded = joserfc_jwt.decode(token, keys, algorithms=[alg])
    registry = joserfc_jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": live.issuer},
        aud={"essential": True, "value": live.audience},
        exp={"essential": True},
        jti={"essential": True},
    )
    registry.validate(decoded.claims)
    return dict(decoded.claims)


def _with_jwcrypto(live: LiveBroker, token: str, alg: str) -> dict[str, Any]:
    keys = jwcrypto_jwk.JWKSet.from_json(json.dumps(_jwks(live)))
    checked = jwcrypto_jwt.JWT(
        jwt=token,
        key=keys,
        algs=[alg],
        check_claims={"iss": live.issuer, "aud": live.audience, "exp": None, "jti": None},
    )
    claims: dict[str, Any] = json.loads(checked.claims)
    return claims


def _with_python_jose(live: LiveBroker, token: str, alg: str) -> dict[str, Any]:
    kid = _header(token)["kid"]
    jwk = next(k for k in _jwks(live)["keys"] if k["kid"] == kid)
    claims: dict[str, Any] = python_jose.decode(
        token, jwk, algorithms=[alg], audience=live.audience, issuer=live.issuer
    )
    return claims


VERIFIERS: dict[str, Callable[[LiveBroker, str, str], dict[str, Any]]] = {
    "pyjwt": _with_pyjwt,
    "joserfc": _with_joserfc,
    "jwcrypto": _with_jwcrypto,
    "python-jose": _with_python_jose,
}
REFUSED = (pyjwt.PyJWTError, JoseError, JWException, ValueError, JOSEError)
# What a library cannot verify at all (docs/tokens.md#algorithms): checked to refuse, so
# the docs are told when that changes.
CANNOT_VERIFY = {("python-jose", "EdDSA")}


def _header(token: str) -> dict[str, Any]:
    head = token.split(".")[0]
    header: dict[str, Any] = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    return header


@pytest.mark.parametrize("library", list(VERIFIERS))
def test_each_library_verifies_a_capability_token(
    signed: tuple[LiveBroker, str], library: str
) -> None:
    live, alg = signed
    token = _token(live)
    header = _header(token)
    assert header["alg"] == alg
    assert header["typ"] == "at+jwt"
    assert header["kid"] in {k["kid"] for k in _jwks(live)["keys"]}
    if (library, alg) in CANNOT_VERIFY:
        with pytest.raises(REFUSED):
            VERIFIERS[library](live, token, alg)
        return
    claims = VERIFIERS[library](live, token, alg)
    assert claims["scope"] == "project:read"
    assert claims["authorization_details"][0]["actions"] == ["project:read"]
    assert claims["client_id"] == "claude-code"


@pytest.mark.parametrize("library", list(VERIFIERS))
def test_each_library_refuses_a_tampered_token(
    signed: tuple[LiveBroker, str], library: str
) -> None:
    live, alg = signed
    head, payload, sig = _token(live).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["authorization_details"][0]["environments"] = ["production"]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(REFUSED):
        VERIFIERS[library](live, f"{head}.{forged}.{sig}", alg)


@pytest.mark.parametrize("library", list(VERIFIERS))
def test_each_library_refuses_the_wrong_audience(live: LiveBroker, library: str) -> None:
    token = _token(live)
    other = LiveBroker(
        live.url, live.services, live.agent, live.admin, live.rs_secret, audience="elsewhere"
    )
    with pytest.raises(REFUSED):
        VERIFIERS[library](other, token, _header(token)["alg"])
