"""The one thing ``mint`` needs from a key: its ``kid`` and a way to sign bytes."""

from __future__ import annotations

from typing import Protocol


class Signer(Protocol):
    """An Ed25519 signer. ``SigningKey`` is one, whether it holds the private half itself
    or reaches it in Vault Transit."""

    @property
    def kid(self) -> str:
        """The RFC 7638 thumbprint of the public key: what goes into the JWS header."""
        ...

    def sign(self, signing_input: bytes) -> bytes:
        """The raw 64-byte Ed25519 signature of ``signing_input``."""
        ...
