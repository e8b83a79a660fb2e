"""Reading a published JWKS back into verification keys (what an offline gateway does)."""

from __future__ import annotations

from collections.abc import Mapping

from broker.tokens._jwa import PublicKey
from broker.tokens.errors import InvalidKey
from broker.tokens.keys import public_key_from_jwk


def keys_from_jwks(jwks: Mapping[str, object]) -> dict[str, PublicKey]:
    """``{kid: key}``. Fails closed: one unusable entry refuses the whole set."""
    entries = jwks.get("keys")
    if not isinstance(entries, list):
        raise InvalidKey("a JWKS is an object with a keys list")
    found: dict[str, PublicKey] = {}
    for entry in entries:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("kid"), str):
            raise InvalidKey("every JWKS entry needs a kid")
        kid = entry["kid"]
        if kid in found:
            raise InvalidKey("a JWKS must not repeat a kid")
        found[kid] = public_key_from_jwk(entry)
    return found
