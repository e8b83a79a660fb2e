"""Minting: JWS compact, RFC 9068 header ``{"alg":"EdDSA","typ":"at+jwt","kid":...}``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jwt

from broker.tokens.errors import InvalidKey
from broker.tokens.keys import SigningKey

ALGORITHM = "EdDSA"
HEADER_TYP = "at+jwt"


def mint(claims: Mapping[str, Any], key: SigningKey) -> str:
    """Sign ``claims`` as given; building and checking them is the issuer's job."""
    if key.private is None:
        raise InvalidKey(f"key {key.kid} is verify-only and cannot sign")
    return jwt.encode(
        dict(claims),
        key.private,
        algorithm=ALGORITHM,
        headers={"typ": HEADER_TYP, "kid": key.kid},
    )
