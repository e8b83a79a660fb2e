"""Where a provider's master key is kept: a name in the configured store (its own layout),
or a field at an operator-chosen Vault KV v2 path, read as ``vault kv put`` stores it.

The providers file says which (``master_key: {vault: {mount, path, field, encoding}}``);
``read_key``/``write_key`` are the one place that turns a location into bytes, for the
gateway, ``capbroker secrets put|check`` and the Vault policy generator alike.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from broker.errors import InvalidRequest
from broker.secrets.base import SecretBackendUnavailable, SecretStore, validate_name

ENCODINGS: Final = ("text", "base64")
_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")


def default_key_name(provider: str) -> str:
    return f"providers/{provider}/master-key"


def _check_path(label: str, path: str) -> str:
    parts = path.split("/")
    if not path or len(parts) > 16 or any(_SEGMENT.fullmatch(p) is None for p in parts):
        raise InvalidRequest(
            f"master_key vault {label}: use segments of [A-Za-z0-9._-] separated by '/'"
        )
    return path


@dataclass(frozen=True)
class VaultLocation:
    """A field of a KV v2 secret, e.g. ``secret/railway/prod`` field ``token``."""

    mount: str
    path: str
    field: str
    encoding: str = "text"  # text: the field's string as UTF-8; base64: binary keys

    def __post_init__(self) -> None:
        _check_path("mount", self.mount)
        _check_path("path", self.path)
        if _SEGMENT.fullmatch(self.field) is None:
            raise InvalidRequest("master_key vault field: use [A-Za-z0-9._-]")
        if self.encoding not in ENCODINGS:
            raise InvalidRequest("master_key vault encoding: must be 'text' or 'base64'")

    def describe(self) -> str:
        encoded = ", base64" if self.encoding == "base64" else ""
        return f"vault kv-v2 {self.mount}/{self.path} field {self.field}{encoded}"


@dataclass(frozen=True)
class KeyLocation:
    """Exactly one of: ``name`` in the configured store, or a ``vault`` location."""

    name: str = ""
    vault: VaultLocation | None = None

    def __post_init__(self) -> None:
        if (self.vault is None) == (not self.name):
            raise InvalidRequest("a master key location names a secret or a vault location")
        if self.name:
            validate_name(self.name)

    @classmethod
    def default(cls, provider: str) -> KeyLocation:
        return cls(name=default_key_name(provider))

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any], provider: str) -> KeyLocation:
        """From a providers-file entry (already checked against its schema)."""
        spec = entry.get("master_key")
        if spec is None:
            return cls(name=entry.get("master_key_secret") or default_key_name(provider))
        vault = spec["vault"]
        return cls(
            vault=VaultLocation(
                mount=vault.get("mount", "secret"),
                path=vault["path"],
                field=vault.get("field", "value"),
                encoding=vault.get("encoding", "text"),
            )
        )

    def describe(self, store: SecretStore) -> str:
        if self.vault is not None:
            return self.vault.describe()
        return f"{self.name} in {store.describe()}"


class VaultFields(Protocol):
    """What the Vault store offers for operator-chosen locations (``VaultSecretStore``)."""

    def read_field(self, location: VaultLocation) -> tuple[bytes, int]: ...

    def write_field(self, location: VaultLocation, value: bytes) -> int: ...


def _vault(store: SecretStore, location: VaultLocation) -> VaultFields:
    if not (hasattr(store, "read_field") and hasattr(store, "write_field")):
        raise SecretBackendUnavailable(
            f"the master key is kept at {location.describe()}, but the secret backend is"
            " not vault (set secret_backend: vault)"
        )
    return store  # type: ignore[return-value]


def read_key(store: SecretStore, location: KeyLocation) -> bytes:
    if location.vault is not None:
        return _vault(store, location.vault).read_field(location.vault)[0]
    return store.get(location.name)


def key_version(store: SecretStore, location: KeyLocation) -> int | None:
    """The KV version read (Vault only), for ``secrets check``."""
    if location.vault is not None:
        return _vault(store, location.vault).read_field(location.vault)[1]
    version = getattr(store, "version", None)
    return int(version(location.name)) if callable(version) else None


def write_key(store: SecretStore, location: KeyLocation, value: bytes) -> int:
    if location.vault is not None:
        return _vault(store, location.vault).write_field(location.vault, value)
    return store.put(location.name, value)
