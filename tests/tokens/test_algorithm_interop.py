"""Each algorithm's tokens, verified by JOSE libraries capbroker did not write, from the JWKS
as served over a real socket (PyJWT's JWKS client, joserfc, jwcrypto; python-jose where it
can: it has no EdDSA at all)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from jose import jwt as python_jose
from joserfc import jwt as joserfc_jwt
from joserfc.jwk import KeySet
from jwcrypto import jwk as jwcrypto_jwk
from jwcrypto import jwt as jwcrypto_jwt

from broker.tokens import ALGORITHMS, ED25519, Keyset, generate_signing_key, mint
from tests.tokens.token_builders import AUDIENCE, ISSUER

HEADER_NAMES = {"Ed25519": "EdDSA", "ES256": "ES256", "RS256": "RS256"}


def _claims() -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": ISSUER,
        "sub": "agent-7",
        "aud": AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": "jti-interop",
    }


@pytest.fixture(scope="module")
def keys() -> Keyset:
    now = time.time()
    # One key per algorithm, all published (a JWKS in the middle of algorithm changes).
    return Keyset(
        [
            generate_signing_key(now=now - 30 + i, activates_at=now - 30 + i, algorithm=a)
            for i, a in enumerate(ALGORITHMS)
        ]
    )


@pytest.fixture(scope="module")
def jwks_url(keys: Keyset) -> Iterator[str]:
    body = json.dumps(keys.jwks(time.time(), max_token_lifetime=3600)).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/jwk-set+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    finally:
        server.shutdown()
        server.server_close()


def _token(keys: Keyset, algorithm: str) -> str:
    key = next(k for k in keys.keys if k.algorithm == algorithm)
    return mint(_claims(), key)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_pyjwt_jwks_client(keys: Keyset, jwks_url: str, algorithm: str) -> None:
    token = _token(keys, algorithm)
    signing_key = jwt.PyJWKClient(jwks_url).get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token, signing_key, algorithms=[HEADER_NAMES[algorithm]], audience=AUDIENCE, issuer=ISSUER
    )
    assert claims["jti"] == "jti-interop"
    # Pinned to another algorithm, PyJWT refuses the same token.
    other = next(HEADER_NAMES[a] for a in ALGORITHMS if a != algorithm)
    with pytest.raises(jwt.InvalidTokenError):
        jwt.decode(token, signing_key, algorithms=[other], audience=AUDIENCE)


def _fetch(url: str) -> dict[str, Any]:
    import urllib.request

    with urllib.request.urlopen(url, timeout=5) as answer:
        document: dict[str, Any] = json.loads(answer.read())
    return document


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_joserfc(keys: Keyset, jwks_url: str, algorithm: str) -> None:
    token = _token(keys, algorithm)
    key_set = KeySet.import_key_set(_fetch(jwks_url))  # type: ignore[arg-type]
    decoded = joserfc_jwt.decode(token, key_set, algorithms=[HEADER_NAMES[algorithm]])
    assert decoded.header["typ"] == "at+jwt"
    joserfc_jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": ISSUER}, aud={"essential": True, "value": AUDIENCE}
    ).validate(decoded.claims)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_jwcrypto(keys: Keyset, jwks_url: str, algorithm: str) -> None:
    token = _token(keys, algorithm)
    key_set = jwcrypto_jwk.JWKSet.from_json(json.dumps(_fetch(jwks_url)))
    verified = jwcrypto_jwt.JWT(
        jwt=token,
        key=key_set,
        algs=[HEADER_NAMES[algorithm]],
        check_claims={"iss": ISSUER, "aud": AUDIENCE, "exp": None},
        expected_type="JWS",
    )
    assert json.loads(verified.claims)["jti"] == "jti-interop"


@pytest.mark.parametrize("algorithm", [a for a in ALGORITHMS if a != ED25519])
def test_python_jose(keys: Keyset, jwks_url: str, algorithm: str) -> None:
    token = _token(keys, algorithm)
    kid = jwt.get_unverified_header(token)["kid"]
    jwk = next(k for k in _fetch(jwks_url)["keys"] if k["kid"] == kid)
    claims = python_jose.decode(
        token, jwk, algorithms=[algorithm], audience=AUDIENCE, issuer=ISSUER
    )
    assert claims["jti"] == "jti-interop"
