"""A resource server's own key pair and the client assertions (RFC 7523) it signs, made
with PyJWT as a resource server's code would (no capbroker code signs them)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_TO_JWK = {"ES256": ECAlgorithm, "RS256": RSAAlgorithm, "EdDSA": OKPAlgorithm}


@dataclass
class ClientKey:
    alg: str  # JWS alg: ES256, RS256 or EdDSA
    kid: str
    private: Any = field(repr=False)

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(_TO_JWK[self.alg].to_jwk(self.private.public_key()))
        return {**jwk, "kid": self.kid}

    def private_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(_TO_JWK[self.alg].to_jwk(self.private))
        return {**jwk, "kid": self.kid}

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.public_jwk()]}

    def sign(self, claims: dict[str, Any], *, kid: str | None = "", **header: Any) -> str:
        """``kid`` "": this key's kid; None: no kid in the header."""
        headers = {**header}
        if kid is not None:
            headers["kid"] = kid or self.kid
        return jwt.encode(claims, self.private, algorithm=self.alg, headers=headers)


def make_key(alg: str = "ES256", kid: str = "rs-key-1") -> ClientKey:
    if alg == "ES256":
        return ClientKey(alg, kid, ec.generate_private_key(ec.SECP256R1()))
    if alg == "RS256":
        return ClientKey(alg, kid, rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return ClientKey("EdDSA", kid, Ed25519PrivateKey.generate())


def assertion_claims(client_id: str, aud: Any, now: float, **over: Any) -> dict[str, Any]:
    """Claims of a good assertion; ``over`` replaces members (None removes one)."""
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "iat": int(now),
        "exp": int(now) + 60,
        "jti": uuid.uuid4().hex,
    }
    claims.update(over)
    return {k: v for k, v in claims.items() if v is not None}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(claims: dict[str, Any]) -> str:
    """``alg: none``: what a verifier that lets the header choose would accept."""
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(claims).encode())}."


def hs256_with(secret: bytes, claims: dict[str, Any], kid: str) -> str:
    """HS256 keyed with ``secret`` (the public key's bytes: the classic confusion attack)."""
    header = {"alg": "HS256", "typ": "JWT", "kid": kid}
    h = _b64(json.dumps(header).encode())
    p = _b64(json.dumps(claims).encode())
    mac = hmac.new(secret, f"{h}.{p}".encode(), hashlib.sha256).digest()
    return f"{h}.{p}.{_b64(mac)}"
