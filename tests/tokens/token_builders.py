"""Builders for token tests: valid claims, a verifier for one key, a hand-forger."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from broker.tokens import SigningKey, TokenVerifier
from broker.tokens._b64 import b64url_encode

ISSUER = "https://broker.example"
AUDIENCE = "capbroker-gateway"
NOW = 1_700_000_000.0


def valid_claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "agent-7",
        "aud": AUDIENCE,
        "iat": int(NOW) - 10,
        "nbf": int(NOW) - 10,
        "exp": int(NOW) + 600,
        "jti": "jti-1",
        "sid": "session-1",
        "client_id": "agent-7",
        "template": "staging-deployer",
        "template_version": 3,
        "authorization_details": [
            {
                "type": "capbroker",
                "provider": "railway",
                "environments": ["staging"],
                "actions": ["volume:read"],
            }
        ],
    }
    claims.update(overrides)
    return claims


def forge(header: dict[str, Any], payload: Any, sign: Callable[[bytes], bytes]) -> str:
    """Build a compact JWS by hand, so tests can produce what mint() never would."""
    h = b64url_encode(json.dumps(header).encode())
    p = b64url_encode(json.dumps(payload).encode())
    return f"{h}.{p}.{b64url_encode(sign(f'{h}.{p}'.encode()))}"


def verifier_for(key: SigningKey, **kwargs: Any) -> TokenVerifier:
    def resolve(kid: str) -> Ed25519PublicKey | None:
        return key.public if kid == key.kid else None

    return TokenVerifier(resolve, issuer=ISSUER, audience=AUDIENCE, **kwargs)
