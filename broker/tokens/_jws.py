"""JWS compact serialization (RFC 7515) for exactly one algorithm: EdDSA over Ed25519.

Done by hand with ``cryptography`` rather than pyjwt because it is faster and
every step is explicit: the algorithm is pinned, never chosen by the header.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from broker.tokens._b64 import b64url_decode
from broker.tokens.errors import InvalidToken
from broker.tokens.mint import ALGORITHM, HEADER_TYP

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
_SIGNATURE_BYTES = 64


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


def _segment(text: str, what: str) -> bytes:
    try:
        return b64url_decode(text)
    except ValueError:
        raise InvalidToken(f"{what} is not canonical base64url") from None


def _object(data: bytes, what: str) -> dict[str, Any]:
    try:
        return parse_json_object(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidToken(f"{what} is not a strict JSON object") from None


def _check_header(header: dict[str, Any]) -> str:
    alg = header.get("alg")
    if alg != ALGORITHM:
        shown = alg if isinstance(alg, str) and alg in _KNOWN_ALGS else "unrecognised"
        raise InvalidToken(f"alg {shown} refused")
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
    return kid


# Every token a key signs carries the same header bytes, so an accepted header's kid is
# remembered by its encoded form. Bounded: headers an attacker varies only churn it.
_ACCEPTED_HEADERS: dict[str, str] = {}
_ACCEPTED_HEADERS_MAX = 256


def _header_kid(header_b64: str) -> str:
    kid = _ACCEPTED_HEADERS.get(header_b64)
    if kid is None:
        kid = _check_header(_object(_segment(header_b64, "header"), "header"))
        if len(_ACCEPTED_HEADERS) >= _ACCEPTED_HEADERS_MAX:
            _ACCEPTED_HEADERS.clear()
        _ACCEPTED_HEADERS[header_b64] = kid
    return kid


def verify_compact(
    token: str, resolve_key: Callable[[str], Ed25519PublicKey | None]
) -> tuple[str, dict[str, Any]]:
    """Check the header and the signature; return ``(kid, payload)`` unchecked as claims."""
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("not a three-segment JWS compact token")
    header_b64, payload_b64, signature_b64 = parts
    kid = _header_kid(header_b64)
    public = resolve_key(kid)
    if public is None:
        raise InvalidToken("unknown kid")
    signature = _segment(signature_b64, "signature")
    if len(signature) != _SIGNATURE_BYTES:
        raise InvalidToken("signature is not 64 bytes")
    try:
        public.verify(signature, f"{header_b64}.{payload_b64}".encode("ascii"))
    except InvalidSignature:
        raise InvalidToken("signature does not verify") from None
    return kid, _object(_segment(payload_b64, "payload"), "payload")
