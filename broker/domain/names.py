"""Object names (templates, providers, environments): DNS-label style."""

from __future__ import annotations

MAX_NAME_LENGTH = 63
_INNER = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
_EDGE = _INNER - {"-"}


def is_valid_name(s: object) -> bool:
    """``^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$``, checked without a regex."""
    if not isinstance(s, str) or not 0 < len(s) <= MAX_NAME_LENGTH:
        return False
    return s[0] in _EDGE and s[-1] in _EDGE and all(c in _INNER for c in s)
