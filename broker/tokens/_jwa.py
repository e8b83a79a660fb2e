"""JWA (RFC 7518 section 3, RFC 8037, RFC 9864): the three signature algorithms, by hand.

``Ed25519``, ``ES256`` (P-256, SHA-256, the 64-byte ``r || s`` form of RFC 7518 section
3.4) and ``RS256`` (RSASSA-PKCS1-v1_5, SHA-256, keys of 2048 bits or more). The
algorithm always follows from the key's type, never from a token's header: a header
that names another algorithm than its key's is refused by the caller.
"""

from __future__ import annotations

from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from broker.tokens.errors import InvalidKey

ED25519: Final = "Ed25519"
ES256: Final = "ES256"
RS256: Final = "RS256"
ALGORITHMS: Final = (ED25519, ES256, RS256)
# What each algorithm is called in a JWS header we write. RFC 9864 deprecates "EdDSA"
# for "Ed25519", but PyJWT, authlib and joserfc's default key import accept only "EdDSA"
# (docs/decisions/0021-algorithm-names.md).
HEADER_NAME: Final = {ED25519: "EdDSA", ES256: "ES256", RS256: "RS256"}
# Header names read back, to the algorithm they name: both names of Ed25519.
FROM_HEADER: Final = {"EdDSA": ED25519, "Ed25519": ED25519, "ES256": ES256, "RS256": RS256}
RSA_MIN_BITS: Final = 2048
_RSA_BITS: Final = 2048
_P256_BYTES: Final = 32

PublicKey = Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey
PrivateKey = Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def algorithm_of(public: PublicKey) -> str:
    """The one algorithm ``public`` signs with; ``InvalidKey`` for any other key."""
    if isinstance(public, Ed25519PublicKey):
        return ED25519
    if isinstance(public, ec.EllipticCurvePublicKey):
        if not isinstance(public.curve, ec.SECP256R1):
            raise InvalidKey("only P-256 elliptic-curve keys are accepted (ES256)")
        return ES256
    if isinstance(public, rsa.RSAPublicKey):
        if public.key_size < RSA_MIN_BITS:
            raise InvalidKey(f"RSA keys need at least {RSA_MIN_BITS} bits")
        return RS256
    raise InvalidKey("only Ed25519, P-256 and RSA keys are accepted")


def parse_algorithms(text: str, *, what: str) -> tuple[str, ...]:
    """A comma-separated list of algorithm names (empty: all three), refusing unknown ones."""
    names = tuple(n.strip() for n in text.split(",") if n.strip()) or ALGORITHMS
    unknown = [n for n in names if n not in ALGORITHMS]
    if unknown:
        raise InvalidKey(f"{what}: {', '.join(unknown)} not one of {', '.join(ALGORITHMS)}")
    return names


def jose_names(algorithms: tuple[str, ...] | list[str]) -> list[str]:
    """The JWS ``alg`` values a verifier of ``algorithms`` accepts, for metadata lists
    (``*_signing_alg_values_supported``): Ed25519 under both of its names."""
    return [n for n, a in FROM_HEADER.items() if a in algorithms]


def generate(algorithm: str) -> PrivateKey:
    if algorithm == ED25519:
        return Ed25519PrivateKey.generate()
    if algorithm == ES256:
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == RS256:
        return rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS)
    raise InvalidKey(f"signing algorithm {algorithm!r} is not one of {', '.join(ALGORITHMS)}")


def sign(private: PrivateKey, data: bytes) -> bytes:
    """The JWS signature of ``data`` (RFC 7518's encoding: raw ``r || s`` for ES256)."""
    if isinstance(private, Ed25519PrivateKey):
        return private.sign(data)
    if isinstance(private, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(private.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(_P256_BYTES, "big") + s.to_bytes(_P256_BYTES, "big")
    return private.sign(data, padding.PKCS1v15(), hashes.SHA256())


def signature_length(public: PublicKey) -> int:
    if isinstance(public, rsa.RSAPublicKey):
        return (public.key_size + 7) // 8
    return 64


def verify(public: PublicKey, signature: bytes, data: bytes) -> bool:
    """True if ``signature`` is ``public``'s JWS signature of ``data``; never raises."""
    if len(signature) != signature_length(public):
        return False
    try:
        if isinstance(public, Ed25519PublicKey):
            public.verify(signature, data)
        elif isinstance(public, ec.EllipticCurvePublicKey):
            r = int.from_bytes(signature[:_P256_BYTES], "big")
            s = int.from_bytes(signature[_P256_BYTES:], "big")
            public.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))
        else:
            public.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True
