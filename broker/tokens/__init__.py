"""Capability tokens: Ed25519, ES256 and RS256 keys and their rotation, minting, verification, JWKS.

The only package that touches JOSE. Everything a caller needs is re-exported here.
"""

from broker.tokens._jwa import (
    ALGORITHMS,
    ED25519,
    ES256,
    RS256,
    PublicKey,
    jose_names,
    parse_algorithms,
)
from broker.tokens.claims import VerifiedToken
from broker.tokens.errors import OPAQUE_DETAIL, InvalidKey, InvalidToken, NoSigningKey
from broker.tokens.jwks import keys_from_jwks
from broker.tokens.keys import (
    SigningKey,
    generate_signing_key,
    load_signing_key,
    private_key_bytes,
    public_jwk,
    public_key_from_jwk,
    thumbprint,
    verify_only,
)
from broker.tokens.keyset import Keyset
from broker.tokens.mint import mint
from broker.tokens.signer import Signer
from broker.tokens.verify import KeyResolver, TokenVerifier

__all__ = [
    "ALGORITHMS",
    "ED25519",
    "ES256",
    "OPAQUE_DETAIL",
    "RS256",
    "InvalidKey",
    "InvalidToken",
    "KeyResolver",
    "Keyset",
    "NoSigningKey",
    "PublicKey",
    "Signer",
    "SigningKey",
    "TokenVerifier",
    "VerifiedToken",
    "generate_signing_key",
    "jose_names",
    "keys_from_jwks",
    "load_signing_key",
    "mint",
    "parse_algorithms",
    "private_key_bytes",
    "public_jwk",
    "public_key_from_jwk",
    "thumbprint",
    "verify_only",
]
