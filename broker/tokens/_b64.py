"""Strict base64url (RFC 7515 section 2): no padding, no stray characters, canonical only.

Canonical means re-encoding gives back the input, so the unused low bits of the
last character must be zero: otherwise two strings decode to one signature and
a mutated token could still verify.
"""

from __future__ import annotations

import base64
import binascii

_URL_TO_STD = bytes.maketrans(b"-_", b"+/")
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_VALUE = {c: i for i, c in enumerate(_ALPHABET)}
# Unused low bits of the last character, by length modulo 4 (2 chars: 4 bits, 3 chars: 2 bits).
_UNUSED_BITS = {0: 0, 2: 0x0F, 3: 0x03}


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode or raise ``ValueError`` (the message names no input bytes)."""
    unused = _UNUSED_BITS.get(len(text) % 4)
    if unused is None:
        raise ValueError("not base64url")
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError("not base64url") from None
    # The standard alphabet's own symbols would pass the translated check below.
    if b"+" in raw or b"/" in raw or b"=" in raw:
        raise ValueError("not base64url")
    try:
        data = binascii.a2b_base64(
            raw.translate(_URL_TO_STD) + b"=" * (-len(raw) % 4), strict_mode=True
        )
    except binascii.Error:
        raise ValueError("not base64url") from None
    if text and _VALUE[text[-1]] & unused:
        raise ValueError("non-canonical base64url")
    return data
