"""Actions (verbs) ``resource-type:action`` and the patterns that name sets of them.

A pattern may put ``*`` anywhere inside a segment; it matches any run of
characters within that segment and never crosses the ``:``.
"""

from __future__ import annotations

from collections.abc import Iterable

from broker.domain.globs import WILDCARD, glob_match, glob_overlap
from broker.errors import InvalidRequest

SEPARATOR = ":"
MAX_ACTION_LENGTH = 128
SEGMENT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-.")
ACTION_HINT = "is not a valid action (resource:action, lower case)"


def is_valid_action(s: object, *, allow_wildcards: bool) -> bool:
    if not isinstance(s, str) or not 0 < len(s) <= MAX_ACTION_LENGTH:
        return False
    segments = s.split(SEPARATOR)
    if len(segments) != 2:
        return False
    allowed = SEGMENT_CHARS | {WILDCARD} if allow_wildcards else SEGMENT_CHARS
    return all(seg and all(c in allowed for c in seg) for seg in segments)


def validate_action(s: str, *, allow_wildcards: bool) -> str:
    """Return ``s`` unchanged if it is a well-formed action (or pattern), else raise."""
    if not is_valid_action(s, allow_wildcards=allow_wildcards):
        hint = (
            ACTION_HINT
            if allow_wildcards or WILDCARD not in str(s)
            else ("is not a concrete action (no * allowed here)")
        )
        raise InvalidRequest(f"{s!r} {hint}", extra={"action": str(s)[:MAX_ACTION_LENGTH]})
    return s


def _segments(s: str, *, allow_wildcards: bool) -> tuple[str, str] | None:
    if not is_valid_action(s, allow_wildcards=allow_wildcards):
        return None
    resource, action = s.split(SEPARATOR)
    return resource, action


def action_matches(pattern: str, action: str) -> bool:
    """Whether the concrete ``action`` is matched by ``pattern``.

    Malformed input never matches (fail closed), including an ``action`` with ``*``.
    """
    p = _segments(pattern, allow_wildcards=True)
    a = _segments(action, allow_wildcards=False)
    if p is None or a is None:
        return False
    return glob_match(p[0], a[0]) and glob_match(p[1], a[1])


def pattern_subsumes(general: str, specific: str) -> bool:
    """Whether every concrete action matched by ``specific`` is matched by ``general``.

    Sound always; exact unless ``general`` spells out every character of the
    alphabet, in which case it may answer False (the refusing side).
    """
    g = _segments(general, allow_wildcards=True)
    s = _segments(specific, allow_wildcards=True)
    if g is None or s is None:
        return False
    return glob_match(g[0], s[0]) and glob_match(g[1], s[1])


def patterns_overlap(a: str, b: str) -> bool:
    """Whether some concrete action is matched by both patterns."""
    x = _segments(a, allow_wildcards=True)
    y = _segments(b, allow_wildcards=True)
    if x is None or y is None:
        return False
    return glob_overlap(x[0], y[0]) and glob_overlap(x[1], y[1])


def covered_by(patterns: Iterable[str], action: str) -> bool:
    """Whether one of ``patterns`` alone subsumes ``action`` (concrete or a pattern).

    A wildcard covered only by the union of several patterns counts as not
    covered: the conservative answer, and one an admin can read off the list.
    """
    return any(pattern_subsumes(p, action) for p in patterns)
