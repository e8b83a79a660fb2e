"""Signing keys (Ed25519, ES256, RS256), their RFC 7638 thumbprint ``kid`` and JWK form.

A key's algorithm is a property of its type (broker.tokens._jwa); nothing stores it apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_der_private_key,
)

from broker.tokens import _jwa
from broker.tokens._jwa import ED25519, PrivateKey, PublicKey
from broker.tokens._jwk import jwk_of, public_key_from_jwk, thumbprint
from broker.tokens.errors import InvalidKey

__all__ = [
    "RemoteSign",
    "SigningKey",
    "generate_signing_key",
    "load_signing_key",
    "private_key_bytes",
    "public_jwk",
    "public_key_from_jwk",
    "thumbprint",
    "verify_only",
]

_RAW_KEY_BYTES = 32

# Signs with one exact key whose private half lives elsewhere (Vault Transit): the
# signing input in, the raw JWS signature out.
RemoteSign = Callable[[bytes], bytes]


@dataclass(frozen=True)
class SigningKey:
    """One keypair in the rotation schedule; a ``Signer`` when it can sign.

    A key signs with ``private`` (held in this process) or through ``remote`` (the
    private half stays in Vault Transit); a key with neither is verify-only.
    Equality and hashing use ``kid`` and times: ``kid`` is a digest of the public key.
    """

    kid: str
    private: PrivateKey | None = field(repr=False, compare=False)
    public: PublicKey = field(repr=False, compare=False)
    created_at: float
    activates_at: float
    remote: RemoteSign | None = field(default=None, repr=False, compare=False)

    @property
    def can_sign(self) -> bool:
        return self.private is not None or self.remote is not None

    @property
    def algorithm(self) -> str:
        """``Ed25519``, ``ES256`` or ``RS256``: what the key's type signs with."""
        return _jwa.algorithm_of(self.public)

    def sign(self, signing_input: bytes) -> bytes:
        """The JWS signature of ``signing_input`` (``InvalidKey`` if verify-only)."""
        if self.private is not None:
            return _jwa.sign(self.private, signing_input)
        if self.remote is not None:
            return self.remote(signing_input)
        raise InvalidKey(f"key {self.kid} is verify-only and cannot sign")


def generate_signing_key(
    *, now: float, activates_at: float, algorithm: str = ED25519
) -> SigningKey:
    private = _jwa.generate(algorithm)
    public = private.public_key()
    return SigningKey(thumbprint(public), private, public, now, activates_at)


def verify_only(key: SigningKey) -> SigningKey:
    """The same key without its private half (what a verifier or a retired key keeps)."""
    return SigningKey(key.kid, None, key.public, key.created_at, key.activates_at)


def private_key_bytes(key: SigningKey) -> bytes:
    """For the secret backend only: an Ed25519 key's raw 32-byte seed (RFC 8032), as
    capbroker always stored it; an ES256 or RS256 key as unencrypted PKCS#8 DER."""
    if key.private is None:
        raise InvalidKey(f"key {key.kid} is verify-only")
    if isinstance(key.private, Ed25519PrivateKey):
        return key.private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return key.private.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())


def _private_from_bytes(data: bytes) -> PrivateKey:
    if len(data) == _RAW_KEY_BYTES:
        return Ed25519PrivateKey.from_private_bytes(data)
    try:
        private = load_der_private_key(data, password=None)
    except (ValueError, TypeError):
        raise InvalidKey("a private key is a 32-byte Ed25519 seed or PKCS#8 DER") from None
    if not isinstance(private, PrivateKey):
        raise InvalidKey("only Ed25519, P-256 and RSA private keys are accepted")
    return private


def load_signing_key(
    kid: str, private_bytes: bytes, created_at: float, activates_at: float
) -> SigningKey:
    """Rebuild a key from ``private_key_bytes``; refuses one whose thumbprint is not ``kid``."""
    private = _private_from_bytes(private_bytes)
    public = private.public_key()
    if thumbprint(public) != kid:
        raise InvalidKey(f"stored key does not match kid {kid}")
    return SigningKey(kid, private, public, created_at, activates_at)


def public_jwk(key: SigningKey) -> dict[str, str]:
    return jwk_of(key.public, key.kid)
