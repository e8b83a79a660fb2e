"""Object names (templates, providers, environments): DNS-label style.

An environment may be qualified by what owns it where a provider reuses names
(docs/decisions/0018-qualified-environments.md): ``<project id>/staging``,
``<owner>/<repo>/production``. The owner parts are ids or repository names
(letters, digits, ``.``, ``_``, ``-``); the last part is a name as above.
"""

from __future__ import annotations

MAX_NAME_LENGTH = 63
_INNER = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
_EDGE = _INNER - {"-"}


def is_valid_name(s: object) -> bool:
    """``^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$``, checked without a regex."""
    if not isinstance(s, str) or not 0 < len(s) <= MAX_NAME_LENGTH:
        return False
    return s[0] in _EDGE and s[-1] in _EDGE and all(c in _INNER for c in s)


MAX_ENVIRONMENT_LENGTH = 255
MAX_OWNER_PARTS = 3
_OWNER = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


def is_valid_environment(s: object) -> bool:
    """A name, or a name qualified by up to three owner parts (``owner/repo/name``)."""
    if not isinstance(s, str) or not 0 < len(s) <= MAX_ENVIRONMENT_LENGTH:
        return False
    *owners, name = s.split("/")
    if len(owners) > MAX_OWNER_PARTS or not is_valid_name(name):
        return False
    return all(_valid_owner(o) for o in owners)


def _valid_owner(part: str) -> bool:
    return (
        0 < len(part) <= 100
        and part not in (".", "..")
        and part[0] not in "._-"
        and all(c in _OWNER for c in part)
    )
