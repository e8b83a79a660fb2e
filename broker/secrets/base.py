"""The secret-backend contract: a five-method protocol, its errors, and name rules."""

from __future__ import annotations

import re
from typing import Protocol, runtime_checkable

from broker.errors import InvalidRequest, NotFound, Reason, Unavailable

_NAME = re.compile(r"[a-z0-9][a-z0-9._/-]{0,200}")


class SecretNotFound(NotFound):
    pass


class SecretBackendUnavailable(Unavailable):
    default_reason = Reason.SECRET_BACKEND_UNAVAILABLE


class SecretCorrupt(Unavailable):
    """A stored secret failed authentication: tampered, swapped or damaged. Fail closed."""

    default_reason = Reason.SECRET_BACKEND_UNAVAILABLE


def validate_name(name: str) -> str:
    """Return ``name`` if it is a valid secret name, else raise ``InvalidRequest``.

    Names are path-like (``github/master``) but can never climb out of a store.
    """
    if (
        not isinstance(name, str)
        or _NAME.fullmatch(name) is None
        or name.endswith("/")
        or "//" in name
        or ".." in name
    ):
        raise InvalidRequest("invalid secret name: use [a-z0-9][a-z0-9._/-]{0,200}, no .. or //")
    return name


@runtime_checkable
class SecretStore(Protocol):
    """A named, versioned byte store. Values never appear in errors, reprs or logs."""

    def get(self, name: str) -> bytes:
        """The latest value; ``SecretNotFound`` if absent."""
        ...

    def put(self, name: str, value: bytes) -> int:
        """Store a new value; return its version (1 for a new or re-created name)."""
        ...

    def delete(self, name: str) -> None:
        """Remove the name and all its versions; ``SecretNotFound`` if absent."""
        ...

    def names(self) -> list[str]:
        """Every stored name, sorted."""
        ...

    def describe(self) -> str:
        """A one-line description for start-up reports; no secrets."""
        ...
