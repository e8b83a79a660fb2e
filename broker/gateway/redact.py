"""Redacting a master key an upstream echoes, in headers and in a streamed body.

The replacement has the key's length, so a Content-Length stays true; a window of
``len(key) - 1`` bytes is held back between chunks so a key split across two chunks
is still caught.
"""

from __future__ import annotations

from collections.abc import Sequence


class StreamRedactor:
    def __init__(self, secrets: Sequence[bytes]) -> None:
        self._secrets = [s for s in secrets if s]
        self._keep = max((len(s) for s in self._secrets), default=1) - 1
        self._held = b""

    def feed(self, chunk: bytes) -> bytes:
        data = self._scrub(self._held + chunk)
        if self._keep == 0:
            self._held = b""
            return data
        self._held = data[-self._keep :]
        return data[: -self._keep]

    def finish(self) -> bytes:
        out, self._held = self._scrub(self._held), b""
        return out

    def _scrub(self, data: bytes) -> bytes:
        for secret in self._secrets:
            if secret in data:
                data = data.replace(secret, b"*" * len(secret))
        return data


def redact_header_value(value: bytes, secrets: Sequence[bytes]) -> bytes:
    for secret in secrets:
        if secret and secret in value:
            value = value.replace(secret, b"*" * len(secret))
    return value
