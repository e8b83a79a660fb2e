"""Reading a published JWKS back into verification keys (what an offline gateway does)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Mapping

from broker.errors import Reason, Unavailable
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


def fetch_jwks(
    url: str, *, timeout: float, what: str, reason: Reason, max_bytes: int = 1_000_000
) -> Mapping[str, object]:
    """GET a JWKS document (blocking: call it off the event loop). Every failure is
    ``Unavailable`` with ``reason``; the message names ``what``, never the answer."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 (http(s) URL from settings)
            document = json.loads(answer.read(max_bytes))
    except (OSError, ValueError) as exc:
        raise Unavailable(f"{what} is unavailable ({type(exc).__name__})", reason=reason) from None
    if not isinstance(document, dict):
        raise Unavailable(f"{what} is not a JSON object", reason=reason)
    return document
