"""Finding a secret spelt with percent-encoding or JSON string escapes, for the redactor.

``%XX`` (hex in either case), ``\\u00XX``, and ``\\/``, ``\\"``, ``\\\\``, any of a secret's
bytes escaped, mixed freely. Only escapes of a byte some secret holds matter (``\\n`` or
``%20`` never spell a key), so the common answer costs two substring searches, for ``%``
and ``\\``. Where such escapes are present they are decoded with ``bytes.replace`` (one
call per distinct escape, not one per occurrence) and the secrets looked for in the
result; only on a hit is the data decoded exactly, left to right, and the escaped
spelling mapped back to where it is and starred.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass

# (index in the decoded text, start, end in the data) of each escape decoded
Spans = list[tuple[int, int, int]]
_SHORTS = frozenset(b'/"\\')


def _either_case(hexa: str) -> bytes:
    return b"".join(b"[%s%s]" % (c.encode(), c.upper().encode()) for c in hexa)


@dataclass(frozen=True, slots=True)
class EscapedSpellings:
    """How a set of secrets could be spelt with escapes."""

    secrets: tuple[bytes, ...]
    hexes: frozenset[bytes]  # lower-case hex of every byte a secret holds
    shorts: frozenset[bytes]  # the bytes with a short JSON escape that a secret holds
    exact: tuple[re.Pattern[bytes], ...]  # each escape that matters, left to right

    @classmethod
    def of(cls, secrets: Iterable[bytes]) -> EscapedSpellings:
        kept = tuple(secrets)
        held = {b for s in kept for b in s}
        hexes = sorted(f"{b:02x}" for b in held)
        either = b"|".join(_either_case(h) for h in hexes)
        shorts = sorted(bytes([b]) for b in held & _SHORTS)
        short = b"|(" + b"|".join(re.escape(c) for c in shorts) + b")" if shorts else b""
        # two patterns, each starting with its literal: re scans for one quickly
        percent = re.compile(b"%(" + either + b")")
        backslash = re.compile(b"\\\\(?:u00(" + either + b")" + short + b")")
        return cls(
            kept, frozenset(h.encode() for h in hexes), frozenset(shorts), (percent, backslash)
        )

    def scrub(self, data: bytes) -> bytes:
        """``data`` with every escaped spelling of a secret starred (same length)."""
        present = self._present(data) if b"%" in data or b"\\" in data else {}
        if not present:
            return data
        approx = data
        for escape, byte in present.items():
            approx = approx.replace(escape, byte)
        decoded = set(present.values())
        if any(s in approx for s in self.secrets if any(b in s for b in decoded)):
            return self._starred(data)
        return data

    def _present(self, data: bytes) -> dict[bytes, bytes]:
        """The escapes that matter found in ``data``, each as written, with its byte (one
        step of Python per ``%`` or ``\\u00`` in the data, none per other escape)."""
        found: dict[bytes, bytes] = {}
        for prefix in (b"%", b"\\u00"):
            if prefix in data:
                for hexa in {p[:2] for p in data.split(prefix)[1:]}:
                    if hexa.lower() in self.hexes:
                        found[prefix + hexa] = bytes([int(hexa, 16)])
        for short in self.shorts:
            if b"\\" + short in data:
                found[b"\\" + short] = short
        return found

    def _starred(self, data: bytes) -> bytes:
        matches = sorted((m for p in self.exact for m in p.finditer(data)), key=re.Match.start)
        plain, spans = _decoded(data, matches)
        out = bytearray(data)
        for secret in self.secrets:
            at = plain.find(secret)
            while at >= 0:
                start = _original(spans, at)
                end = _original(spans, at + len(secret) - 1, end=True)
                out[start:end] = b"*" * (end - start)
                at = plain.find(secret, at + len(secret))
        return bytes(out)


def _decoded(data: bytes, matches: list[re.Match[bytes]]) -> tuple[bytes, Spans]:
    """``data`` with the escapes ``matches`` found (in order) decoded, and where each was."""
    pieces: list[bytes] = []
    spans: Spans = []
    last = shift = 0
    for match in matches:
        start, end = match.span()
        if start < last:  # inside an escape already decoded
            continue
        hexa = match[1]
        pieces += [data[last:start], bytes([int(hexa, 16)]) if hexa else match[2]]
        spans.append((start - shift, start, end))
        shift += end - start - 1
        last = end
    pieces.append(data[last:])
    return b"".join(pieces), spans


def _original(spans: Spans, index: int, *, end: bool = False) -> int:
    """Where decoded byte ``index`` starts in the data (or, with ``end``, ends)."""
    k = bisect.bisect_right(spans, (index, 1 << 62)) - 1  # the last escape at or before
    if k >= 0 and spans[k][0] == index:
        return spans[k][2] if end else spans[k][1]
    # past escape k, the data runs ahead of the decoded text by what the escapes took up
    ahead = spans[k][2] - spans[k][0] - 1 if k >= 0 else 0
    return index + ahead + (1 if end else 0)
