"""JWS compact serialization (RFC 7515) for the algorithms a verifier was configured with.

Done by hand with ``cryptography`` rather than pyjwt because it is faster and
every step is explicit: the header's ``alg`` must be on the verifier's list *and* be
the algorithm of the key its ``kid`` names, so the header never chooses how a key is
used (no RS256 public key as an HMAC secret, no ``none``, no ES256 header on an RSA key).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from broker.tokens import _jwa
from broker.tokens._b64 import b64url_decode
from broker.tokens._jwa import FROM_HEADER, PublicKey
from broker.tokens.errors import InvalidKey, InvalidToken
from broker.tokens.mint import HEADER_TYP

# Header values we may quote in an audit detail; anything else is "unrecognised".
_KNOWN_ALGS = frozenset(
    {
        "none",
        "HS256",
        "HS384",
        "HS512",
        "RS256",
        "RS384",
        "RS512",
        "PS256",
        "PS384",
        "PS512",
        "ES256",
        "ES256K",
        "ES384",
        "ES512",
        "EdDSA",
        "Ed25519",
        "Ed448",
    }
)


def _refuse_constant(name: str) -> Any:
    raise ValueError("NaN and Infinity are not JSON")


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate member")
    return obj


def parse_json_object(data: bytes) -> dict[str, Any]:
    """Strict JSON object: UTF-8, no duplicate members, no NaN/Infinity."""
    value = json.loads(
        data.decode("utf-8"),
        object_pairs_hook=_unique_object,
        parse_constant=_refuse_constant,
    )
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def segment(text: str, what: str) -> bytes:
    try:
        return b64url_decode(text)
    except ValueError:
        raise InvalidToken(f"{what} is not canonical base64url") from None


def strict_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        return parse_json_object(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidToken(f"{what} is not a strict JSON object") from None


def _shown(alg: object) -> str:
    return alg if isinstance(alg, str) and alg in _KNOWN_ALGS else "unrecognised"


def _check_header(header: dict[str, Any]) -> tuple[str, str]:
    """``(kid, algorithm)`` of a well-formed header naming one of the three algorithms."""
    alg = header.get("alg")
    algorithm = FROM_HEADER.get(alg) if isinstance(alg, str) else None
    if algorithm is None:
        raise InvalidToken(f"alg {_shown(alg)} refused")
    typ = header.get("typ")
    # RFC 9068 section 4 asks for "at+jwt"; media types compare case-insensitively.
    if not isinstance(typ, str) or typ.lower() != HEADER_TYP:
        raise InvalidToken("typ is not at+jwt")
    if "crit" in header:
        # RFC 7515 section 4.1.11: we understand no extensions, so any crit is refused.
        raise InvalidToken("crit header refused")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidToken("kid missing")
    return kid, algorithm


# Every token a key signs carries the same header bytes, so an accepted header's kid is
# remembered by its encoded form. Bounded: headers an attacker varies only churn it.
# Shared by every verifier: the allowlist is checked on each call, after the cache.
_ACCEPTED_HEADERS: dict[str, tuple[str, str]] = {}
_ACCEPTED_HEADERS_MAX = 256


def _header_kid(header_b64: str) -> tuple[str, str]:
    found = _ACCEPTED_HEADERS.get(header_b64)
    if found is None:
        found = _check_header(strict_object(segment(header_b64, "header"), "header"))
        if len(_ACCEPTED_HEADERS) >= _ACCEPTED_HEADERS_MAX:
            _ACCEPTED_HEADERS.clear()
        _ACCEPTED_HEADERS[header_b64] = found
    return found


def verify_compact(
    token: str,
    resolve_key: Callable[[str], PublicKey | None],
    *,
    algorithms: frozenset[str] = frozenset({_jwa.ED25519}),
) -> tuple[str, dict[str, Any]]:
    """Check the header and the signature; return ``(kid, payload)`` unchecked as claims."""
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("not a three-segment JWS compact token")
    header_b64, payload_b64, signature_b64 = parts
    kid, algorithm = _header_kid(header_b64)
    if algorithm not in algorithms:
        raise InvalidToken(f"alg {algorithm} refused")
    public = resolve_key(kid)
    if public is None:
        raise InvalidToken("unknown kid")
    try:
        key_algorithm = _jwa.algorithm_of(public)
    except InvalidKey:
        key_algorithm = None
    if key_algorithm != algorithm:
        raise InvalidToken("alg does not match the key's type")
    signature = segment(signature_b64, "signature")
    if not _jwa.verify(public, signature, f"{header_b64}.{payload_b64}".encode("ascii")):
        raise InvalidToken("signature does not verify")
    return kid, strict_object(segment(payload_b64, "payload"), "payload")
