"""Redacting a master key an upstream echoes, in headers and in a streamed body.

Not only its exact bytes: the usual ways a framework echoes a value back too.

- base64, standard and URL-safe, padded or not, at any of the three alignments a prefix
  can give it (``user:key`` in a Basic credential), percent-encoded or not (base64 in a
  URL). At each alignment the characters made of the key's bits alone are a fixed run; a
  stretch of it without ``+`` or ``/`` (the same in both alphabets, never escaped) is
  looked for like the key itself, and where it is found the whole run is starred with the
  characters beside it that carry some of the key's bits, and its padding.
- percent-encoding and JSON string escapes, any bytes escaped (``escapes.py``).

The replacement has the matched text's length, so a Content-Length stays true; a window
of the longest form's length minus one (``\\u00XX`` for every byte) is held back between
chunks so a key split across two chunks is still caught. This runs on every answer: the
common case is a few substring searches per key, and two for ``%`` and ``\\``.
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from broker.gateway.escapes import EscapedSpellings

# A stretch of base64 shorter than this could occur by chance: not looked for alone.
MIN_ANCHOR = 12
_B64 = rb"[A-Za-z0-9+/_-]"
# each of these may be written in the other alphabet, percent-encoded or JSON-escaped
_SPELLINGS = {
    ord("+"): rb"(?:[+\-]|%2[bB]|%2[dD])",
    ord("/"): rb"(?:[/_]|%2[fF]|%5[fF]|\\/)",
}
_PADDING = rb"(?:=|%3[dD])*"


def base64_runs(secret: bytes) -> list[tuple[bytes, re.Pattern[bytes]]]:
    """Per alignment: a stretch to look for, and the pattern that stars the whole run
    (either alphabet, escaped or not) with its partly-key neighbours and padding."""
    found: list[tuple[bytes, re.Pattern[bytes]]] = []
    for skip in range(3):  # the key's bits start at 8*skip in the encoded stream
        encoded = base64.b64encode(bytes(skip) + secret)
        run = encoded[-(-8 * skip // 6) : 8 * (skip + len(secret)) // 6]
        body = b"".join(_SPELLINGS.get(c, re.escape(bytes([c]))) for c in run)
        before = _B64 + b"?" if 8 * skip % 6 else b""
        pattern = re.compile(before + body + _B64 + b"?" + _PADDING)
        stretches = [s for s in re.split(rb"[+/]", run) if len(s) >= MIN_ANCHOR]
        if stretches:  # one stretch both alphabets share, escaped or not
            found.append((max(stretches, key=len), pattern))
        elif len(run) >= MIN_ANCHOR:  # only short stretches: each alphabet's run as written
            found += [(run, pattern), (run.translate(_URLSAFE), pattern)]
    return found


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _stars(match: re.Match[bytes]) -> bytes:
    return b"*" * len(match[0])


@dataclass(frozen=True, slots=True)
class Redaction:
    """Every form of a set of secrets to look for, built once per set."""

    secrets: tuple[bytes, ...] = ()
    runs: tuple[tuple[bytes, re.Pattern[bytes]], ...] = ()
    escaped: EscapedSpellings | None = field(default=None, repr=False)
    longest: int = 1  # the longest text one form can match

    def scrub(self, data: bytes) -> bytes:
        for secret in self.secrets:
            if secret in data:
                data = data.replace(secret, b"*" * len(secret))
        for anchor, run in self.runs:
            if anchor in data:
                data = run.sub(_stars, data)
        return self.escaped.scrub(data) if self.escaped is not None else data

    def scrub_all(self, values: Sequence[bytes]) -> Sequence[bytes]:
        """Several header values in one pass (a value never holds a line break)."""
        joined = b"\n".join(values)
        cleaned = self.scrub(joined)
        return values if cleaned is joined else cleaned.split(b"\n")


@functools.lru_cache(maxsize=8)  # the master-key cache hands out one tuple until it changes
def redaction_for(secrets: tuple[bytes, ...]) -> Redaction:
    kept = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))
    if not kept:
        return Redaction()
    runs = tuple(r for s in kept for r in base64_runs(s))
    return Redaction(kept, runs, EscapedSpellings.of(kept), max(6 * len(s) for s in kept))


class StreamRedactor:
    def __init__(self, redaction: Redaction) -> None:
        self._redaction = redaction
        self._keep = redaction.longest - 1
        self._held = b""

    def feed(self, chunk: bytes) -> bytes:
        data = self._redaction.scrub(self._held + chunk)
        if self._keep == 0:
            self._held = b""
            return data
        self._held = data[-self._keep :]
        return data[: -self._keep]

    def finish(self) -> bytes:
        # What is held was scrubbed with what came before it, and nothing follows now that
        # could complete a form: it goes out as it is.
        out, self._held = self._held, b""
        return out
