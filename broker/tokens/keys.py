"""Ed25519 signing keys, their RFC 7638 thumbprint ``kid`` and their JWK form (RFC 8037)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from broker.tokens._b64 import b64url_decode, b64url_encode
from broker.tokens.errors import InvalidKey

_RAW_KEY_BYTES = 32

# Signs with one exact key whose private half lives elsewhere (Vault Transit): the
# signing input in, the raw 64-byte Ed25519 signature out.
RemoteSign = Callable[[bytes], bytes]


@dataclass(frozen=True)
class SigningKey:
    """One keypair in the rotation schedule; a ``Signer`` when it can sign.

    A key signs with ``private`` (held in this process) or through ``remote`` (the
    private half stays in Vault Transit); a key with neither is verify-only.
    Equality and hashing use ``kid`` and times: ``kid`` is a digest of the public key.
    """

    kid: str
    private: Ed25519PrivateKey | None = field(repr=False, compare=False)
    public: Ed25519PublicKey = field(repr=False, compare=False)
    created_at: float
    activates_at: float
    remote: RemoteSign | None = field(default=None, repr=False, compare=False)

    @property
    def can_sign(self) -> bool:
        return self.private is not None or self.remote is not None

    def sign(self, signing_input: bytes) -> bytes:
        """The Ed25519 signature of ``signing_input`` (``InvalidKey`` if verify-only)."""
        if self.private is not None:
            return self.private.sign(signing_input)
        if self.remote is not None:
            return self.remote(signing_input)
        raise InvalidKey(f"key {self.kid} is verify-only and cannot sign")


def _raw_public(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def thumbprint(public: Ed25519PublicKey) -> str:
    """RFC 7638: SHA-256 over the required members in lexicographic order, no whitespace."""
    members = {"crv": "Ed25519", "kty": "OKP", "x": b64url_encode(_raw_public(public))}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return b64url_encode(hashlib.sha256(canonical).digest())


def generate_signing_key(*, now: float, activates_at: float) -> SigningKey:
    private = Ed25519PrivateKey.generate()
    public = private.public_key()
    return SigningKey(thumbprint(public), private, public, now, activates_at)


def verify_only(key: SigningKey) -> SigningKey:
    """The same key without its private half (what a verifier or a retired key keeps)."""
    return SigningKey(key.kid, None, key.public, key.created_at, key.activates_at)


def private_key_bytes(key: SigningKey) -> bytes:
    """The raw 32-byte Ed25519 seed (RFC 8032 private key), for the secret backend only."""
    if key.private is None:
        raise InvalidKey(f"key {key.kid} is verify-only")
    return key.private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def load_signing_key(
    kid: str, private_bytes: bytes, created_at: float, activates_at: float
) -> SigningKey:
    """Rebuild a key from its raw 32-byte seed; refuses a seed whose thumbprint is not ``kid``."""
    if len(private_bytes) != _RAW_KEY_BYTES:
        raise InvalidKey("an Ed25519 private key is 32 raw bytes")
    private = Ed25519PrivateKey.from_private_bytes(private_bytes)
    public = private.public_key()
    if thumbprint(public) != kid:
        raise InvalidKey(f"stored key does not match kid {kid}")
    return SigningKey(kid, private, public, created_at, activates_at)


def public_jwk(key: SigningKey) -> dict[str, str]:
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": b64url_encode(_raw_public(key.public)),
        "kid": key.kid,
        "alg": "EdDSA",
        "use": "sig",
    }


def public_key_from_jwk(jwk: Mapping[str, object]) -> Ed25519PublicKey:
    """Strict: an OKP/Ed25519 public JWK for EdDSA signatures, nothing else.

    A JWK carrying ``d`` is refused: private material has no place in a JWKS.
    A ``kid``, when present, must be the key's thumbprint.
    """
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise InvalidKey("only OKP Ed25519 keys are accepted")
    if jwk.get("alg", "EdDSA") != "EdDSA" or jwk.get("use", "sig") != "sig":
        raise InvalidKey("only EdDSA signature keys are accepted")
    if "d" in jwk:
        raise InvalidKey("a public JWK must not carry private material")
    x = jwk.get("x")
    if not isinstance(x, str):
        raise InvalidKey("JWK member x is missing")
    try:
        raw = b64url_decode(x)
    except ValueError:
        raise InvalidKey("JWK member x is not base64url") from None
    if len(raw) != _RAW_KEY_BYTES:
        raise InvalidKey("JWK member x is not 32 bytes")
    public = Ed25519PublicKey.from_public_bytes(raw)
    kid = jwk.get("kid")
    if kid is not None and kid != thumbprint(public):
        raise InvalidKey("JWK kid is not the key's RFC 7638 thumbprint")
    return public
