"""One canonical form of a request before anything matches it.

The raw path (exactly as received, still percent-encoded) becomes a tuple of
decoded segments; anything that could mean two different things to two
parsers is refused rather than guessed at. The gateway forwards
``wire_path``/``wire_query`` (re-encoded from the canonical form), never the
raw strings, so the upstream sees exactly what was classified.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

from broker.routemap import errors as e
from broker.routemap.overrides import is_override_header, is_override_param

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"})
MAX_PATH_LENGTH = 8192
MAX_QUERY_LENGTH = 65536
MAX_SEGMENTS = 64
_HEX = frozenset("0123456789abcdefABCDEF")
_PATH_SAFE = "!$&'()*+,=:@"  # sub-delims (but ';') and ':' '@' stay as they are on the wire
_AMBIGUOUS_BYTES = {0x2F: "%2F (an encoded '/')", 0x5C: "%5C (an encoded '\\')", 0x25: "%25"}
# A segment of only these is its own decoded form (no escapes, nothing refused): most are.
_PLAIN_SEGMENT = re.compile(
    "["
    + re.escape("".join(sorted({chr(o) for o in range(0x21, 0x7F)} - set('%\\?#"<>`{}|^;'))))
    + "]*"
)
# ... and of only these, also its own wire form (what ``quote`` leaves alone).
_PLAIN_WIRE = re.compile("[A-Za-z0-9_.~" + re.escape("-" + _PATH_SAFE) + "]*")

Headers = Mapping[str, str] | Iterable[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class PathOptions:
    case_insensitive: bool = False
    trailing_slash: Literal["strip", "refuse"] = "strip"


@dataclass(frozen=True, slots=True)
class CanonicalRequest:
    method: str
    segments: tuple[str, ...]  # decoded, non-empty, never '.', '..' or containing '/'
    query: tuple[tuple[str, str], ...] = ()  # decoded pairs in order
    content_type: str = ""  # media type, lower case, no parameters; '' when absent

    @property
    def path(self) -> str:
        return "/" + "/".join(self.segments)

    @property
    def wire_path(self) -> str:
        return "/" + "/".join(
            s if _PLAIN_WIRE.fullmatch(s) else quote(s, safe=_PATH_SAFE) for s in self.segments
        )

    @property
    def wire_query(self) -> str:
        return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in self.query)

    def query_values(self, name: str) -> list[str]:
        return [v for k, v in self.query if k == name]


def canonical_request(
    method: str,
    raw_path: str,
    raw_query: str = "",
    headers: Headers = (),
    *,
    options: PathOptions = PathOptions(),
) -> CanonicalRequest:
    """The canonical request, or an ``InvalidRequest``/415 refusal naming why not."""
    if method not in METHODS:
        raise e.bad_request(e.METHOD_NOT_ALLOWED, f"method {method[:16]!r} is not allowed")
    content_type = _headers(headers)
    segments = canonical_segments(raw_path, options)
    query = _query(raw_query)
    return CanonicalRequest(method, segments, query, content_type)


def canonical_segments(raw_path: str, options: PathOptions = PathOptions()) -> tuple[str, ...]:
    if len(raw_path) > MAX_PATH_LENGTH:
        raise e.bad_request(e.INVALID_PATH, "the path is too long")
    if not raw_path.startswith("/"):
        raise e.bad_request(e.INVALID_PATH, "the path must start with '/'")
    raw_segments = raw_path[1:].split("/")
    out: list[str] = []
    for raw in raw_segments:
        seg = _decode_segment(raw)
        if options.case_insensitive:
            seg = seg.lower()
        if seg in ("", "."):
            continue
        if seg == "..":
            if not out:
                raise e.bad_request(e.PATH_TRAVERSAL, "'..' climbs above the root")
            out.pop()
            continue
        out.append(seg)
    if len(out) > MAX_SEGMENTS:
        raise e.bad_request(e.INVALID_PATH, "the path has too many segments")
    if options.trailing_slash == "refuse" and len(raw_path) > 1 and raw_path.endswith("/"):
        raise e.bad_request(e.TRAILING_SLASH, "this provider's paths do not end in '/'")
    return tuple(out)


def _escaped_byte(raw: str, i: int) -> int:
    """The byte a ``%XX`` at ``raw[i]`` stands for; anything else after a '%' is refused."""
    pair = raw[i + 1 : i + 3]
    if len(pair) != 2 or not set(pair) <= _HEX:
        raise e.bad_request(e.AMBIGUOUS_ENCODING, "a '%' is not followed by two hex digits")
    return int(pair, 16)


def _decode_segment(raw: str) -> str:
    if _PLAIN_SEGMENT.fullmatch(raw):
        return raw
    return _decode_escaped_segment(raw)


def _decode_escaped_segment(raw: str) -> str:
    buf = bytearray()
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == "%":
            byte = _escaped_byte(raw, i)
            if byte in _AMBIGUOUS_BYTES:
                what = _AMBIGUOUS_BYTES[byte]
                raise e.bad_request(e.AMBIGUOUS_ENCODING, f"the path contains {what}")
            buf.append(byte)
            i += 3
            continue
        o = ord(c)
        if c == "\\":
            raise e.bad_request(e.AMBIGUOUS_ENCODING, "the path contains '\\'")
        if o < 0x20 or o == 0x7F:
            raise e.bad_request(e.CONTROL_CHARACTER, "the path contains a control character")
        if o > 0x7E or c in ' ?#"<>`{}|^':
            raise e.bad_request(
                e.INVALID_PATH, "the path contains a character that must be encoded"
            )
        buf.append(o)
        i += 1
    try:
        seg = buf.decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        raise e.bad_request(e.INVALID_UTF8, "the decoded path is not valid UTF-8") from None
    if any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in seg):
        raise e.bad_request(e.CONTROL_CHARACTER, "the path contains a control character")
    if ";" in seg:
        raise e.bad_request(e.INVALID_PATH, "';' path parameters are not accepted")
    return seg


def _decode_component(raw: str, *, value: bool) -> str:
    buf = bytearray()
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == "%":
            buf.append(_escaped_byte(raw, i))
            i += 3
            continue
        if ord(c) <= 0x20 or ord(c) >= 0x7F:
            raise e.bad_request(
                e.INVALID_PATH, "the query contains a character that must be encoded"
            )
        buf.append(0x20 if c == "+" else ord(c))
        i += 1
    try:
        text = buf.decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        raise e.bad_request(e.INVALID_UTF8, "the decoded query is not valid UTF-8") from None
    allowed = "\t\n\r" if value else ""
    if any((ord(ch) < 0x20 and ch not in allowed) or 0x7F <= ord(ch) < 0xA0 for ch in text):
        raise e.bad_request(e.CONTROL_CHARACTER, "the query contains a control character")
    return text


def _query(raw_query: str) -> tuple[tuple[str, str], ...]:
    if len(raw_query) > MAX_QUERY_LENGTH:
        raise e.bad_request(e.INVALID_PATH, "the query string is too long")
    if ";" in raw_query:
        raise e.bad_request(e.AMBIGUOUS_ENCODING, "';' in the query string is ambiguous")
    pairs = []
    for part in raw_query.split("&"):
        if not part:
            continue
        raw_name, _, raw_value = part.partition("=")
        name = _decode_component(raw_name, value=False)
        if is_override_param(name):
            raise e.bad_request(e.METHOD_OVERRIDE, f"the {name!r} query parameter is refused")
        pairs.append((name, _decode_component(raw_value, value=True)))
    return tuple(pairs)


def _headers(headers: Headers) -> str:
    items = headers.items() if isinstance(headers, Mapping) else headers
    content_types = []
    for name, value in items:
        lname = name.lower()
        if is_override_header(lname):
            raise e.bad_request(e.METHOD_OVERRIDE, f"the {name} header is refused")
        if lname == "content-type":
            content_types.append(value)
        elif lname == "content-encoding" and value.strip().lower() not in ("", "identity"):
            raise e.unsupported_media_type("compressed bodies are not accepted", e.CONTENT_ENCODING)
    if len(content_types) > 1:
        raise e.bad_request(e.AMBIGUOUS_HEADER, "Content-Type is given more than once")
    if not content_types:
        return ""
    media, *params = (p.strip() for p in content_types[0].split(";"))
    for param in params:
        key, _, val = param.partition("=")
        if key.strip().lower() == "charset" and val.strip().strip('"').lower() not in (
            "utf-8",
            "utf8",
        ):
            raise e.unsupported_media_type("only UTF-8 bodies are accepted")
    return media.lower()
