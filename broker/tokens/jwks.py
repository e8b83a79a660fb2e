"""Reading a published JWKS back into verification keys (what an offline gateway does)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Mapping

from broker.errors import Reason, Unavailable
from broker.tokens._jwa import PublicKey
from broker.tokens._jwk import jwk_of
from broker.tokens.errors import InvalidKey
from broker.tokens.keys import public_key_from_jwk

MAX_CLIENT_KEYS = 10
MAX_KID = 200


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


def client_keys(jwks: Mapping[str, object]) -> dict[str, dict[str, str]]:
    """A client's registered JWKS (private_key_jwt) as ``{kid: canonical public JWK}``.

    Strict, as for keys an operator writes: at most ``MAX_CLIENT_KEYS``, each with a kid
    of its own (the client chooses it), each a public signature key of one of the three
    algorithms; a JWK with private members (``d``, ``p``, ``k``, ...) refuses the set, so
    private material is never stored. The canonical form keeps only the public members
    plus ``kid``, ``alg`` and ``use``.
    """
    entries = jwks.get("keys")
    if not isinstance(entries, list) or not entries:
        raise InvalidKey("a JWKS is an object with a non-empty keys list")
    if len(entries) > MAX_CLIENT_KEYS:
        raise InvalidKey(f"at most {MAX_CLIENT_KEYS} keys")
    found: dict[str, dict[str, str]] = {}
    for entry in entries:
        kid = entry.get("kid") if isinstance(entry, Mapping) else None
        if not isinstance(kid, str) or not kid or len(kid) > MAX_KID or kid in found:
            raise InvalidKey(f"every key needs a kid of its own (1-{MAX_KID} characters)")
        assert isinstance(entry, Mapping)
        found[kid] = jwk_of(public_key_from_jwk(entry, kid_is_thumbprint=False), kid)
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
