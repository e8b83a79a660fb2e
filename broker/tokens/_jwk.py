"""Public JWKs (RFC 7517, RFC 7518 section 6, RFC 8037) and RFC 7638 thumbprints; a
client's private JWK for signing DPoP proofs (``private_key_from_jwk``).

Strict reading: public members only, lengths checked, the JWK's ``alg`` (when present)
must be the one its key type signs with, so a JWK cannot widen what a key is used for.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from broker.tokens._b64 import b64url_decode, b64url_encode
from broker.tokens._jwa import FROM_HEADER, HEADER_NAME, PrivateKey, PublicKey, algorithm_of
from broker.tokens.errors import InvalidKey

_OKP_BYTES = 32
_P256_BYTES = 32
# Members that only private JWKs carry (RFC 7518 sections 6.2.2 and 6.3.2, RFC 8037).
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")


def _uint(value: int, length: int | None = None) -> str:
    size = length if length is not None else max(1, (value.bit_length() + 7) // 8)
    return b64url_encode(value.to_bytes(size, "big"))


def required_members(public: PublicKey) -> dict[str, str]:
    """The members RFC 7638 hashes, for each key type."""
    algorithm_of(public)  # refuses curves and sizes we do not sign with
    if isinstance(public, Ed25519PublicKey):
        raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
        return {"crv": "Ed25519", "kty": "OKP", "x": b64url_encode(raw)}
    if isinstance(public, ec.EllipticCurvePublicKey):
        numbers = public.public_numbers()
        return {
            "crv": "P-256",
            "kty": "EC",
            "x": _uint(numbers.x, _P256_BYTES),
            "y": _uint(numbers.y, _P256_BYTES),
        }
    rsa_numbers = public.public_numbers()
    return {"e": _uint(rsa_numbers.e), "kty": "RSA", "n": _uint(rsa_numbers.n)}


def thumbprint(public: PublicKey) -> str:
    """RFC 7638: SHA-256 over the required members in lexicographic order, no whitespace."""
    canonical = json.dumps(required_members(public), separators=(",", ":"), sort_keys=True)
    return b64url_encode(hashlib.sha256(canonical.encode()).digest())


def jwk_of(public: PublicKey, kid: str) -> dict[str, str]:
    return {
        **required_members(public),
        "kid": kid,
        "alg": HEADER_NAME[algorithm_of(public)],
        "use": "sig",
    }


def _member(jwk: Mapping[str, object], name: str, length: int | None = None) -> bytes:
    value = jwk.get(name)
    if not isinstance(value, str):
        raise InvalidKey(f"JWK member {name} is missing")
    try:
        raw = b64url_decode(value)
    except ValueError:
        raise InvalidKey(f"JWK member {name} is not base64url") from None
    if length is not None and len(raw) != length:
        raise InvalidKey(f"JWK member {name} is not {length} bytes")
    if length is None and (not raw or raw[0] == 0):
        raise InvalidKey(f"JWK member {name} is not a minimal unsigned integer")
    return raw


def _public_of(jwk: Mapping[str, object]) -> PublicKey:
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if kty == "OKP" and crv == "Ed25519":
        return Ed25519PublicKey.from_public_bytes(_member(jwk, "x", _OKP_BYTES))
    if kty == "EC" and crv == "P-256":
        x = int.from_bytes(_member(jwk, "x", _P256_BYTES), "big")
        y = int.from_bytes(_member(jwk, "y", _P256_BYTES), "big")
        try:
            return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
        except ValueError:
            raise InvalidKey("JWK point is not on P-256") from None
    if kty == "RSA":
        n = int.from_bytes(_member(jwk, "n"), "big")
        e = int.from_bytes(_member(jwk, "e"), "big")
        try:
            return rsa.RSAPublicNumbers(e, n).public_key()
        except ValueError:
            raise InvalidKey("JWK is not a usable RSA public key") from None
    raise InvalidKey("only OKP Ed25519, EC P-256 and RSA keys are accepted")


def public_key_from_jwk(jwk: Mapping[str, object], *, kid_is_thumbprint: bool = True) -> PublicKey:
    """Strict: a public signature JWK of one of the three algorithms, nothing else.

    A JWK carrying private members is refused: private material has no place in a JWKS.
    With ``kid_is_thumbprint`` (capbroker's own keys) a ``kid`` must be the key's RFC 7638
    thumbprint; other issuers choose their kids freely.
    """
    if any(name in jwk for name in _PRIVATE_MEMBERS):
        raise InvalidKey("a public JWK must not carry private material")
    if jwk.get("use", "sig") != "sig":
        raise InvalidKey("only signature keys are accepted")
    public = _public_of(jwk)
    algorithm = algorithm_of(public)
    alg = jwk.get("alg")
    if alg is not None and (not isinstance(alg, str) or FROM_HEADER.get(alg) != algorithm):
        raise InvalidKey(f"only {HEADER_NAME[algorithm]} signature keys are accepted")
    kid = jwk.get("kid")
    if kid_is_thumbprint and kid is not None and kid != thumbprint(public):
        raise InvalidKey("JWK kid is not the key's RFC 7638 thumbprint")
    return public


def private_key_from_jwk(jwk: Mapping[str, object]) -> PrivateKey:
    """A client's own private JWK (OKP Ed25519, EC P-256 or RSA with its CRT members), for
    signing DPoP proofs; ``InvalidKey`` names a member, never its value."""
    public_members = {k: v for k, v in jwk.items() if k not in _PRIVATE_MEMBERS}
    public = _public_of(public_members)
    try:
        if isinstance(public, Ed25519PublicKey):
            private: PrivateKey = Ed25519PrivateKey.from_private_bytes(
                _member(jwk, "d", _OKP_BYTES)
            )
        elif isinstance(public, ec.EllipticCurvePublicKey):
            d = int.from_bytes(_member(jwk, "d", _P256_BYTES), "big")
            private = ec.EllipticCurvePrivateNumbers(d, public.public_numbers()).private_key()
        else:
            p, q, d, dp, dq, qi = (
                int.from_bytes(_member(jwk, n), "big") for n in ("p", "q", "d", "dp", "dq", "qi")
            )
            numbers = rsa.RSAPrivateNumbers(p, q, d, dp, dq, qi, public.public_numbers())
            private = numbers.private_key()
    except ValueError:
        raise InvalidKey("the private JWK does not match its public members") from None
    if thumbprint(private.public_key()) != thumbprint(public):
        raise InvalidKey("the private JWK does not match its public members")
    return private
