"""The one thing ``mint`` needs from a key: its ``kid`` and a way to sign bytes."""

from __future__ import annotations

from typing import Protocol


class Signer(Protocol):
    """A JWS signer. ``SigningKey`` is one, whether it holds the private half itself
    or reaches it in Vault Transit."""

    @property
    def algorithm(self) -> str:
        """``Ed25519``, ``ES256`` or ``RS256`` (broker.tokens._jwa)."""
        ...

    @property
    def kid(self) -> str:
        """The RFC 7638 thumbprint of the public key: what goes into the JWS header."""
        ...

    def sign(self, signing_input: bytes) -> bytes:
        """The JWS signature of ``signing_input`` (RFC 7518's encoding for its algorithm)."""
        ...
