"""The production secret backend: HashiCorp Vault or OpenBao KV v2, through a ``VaultSession``.

Layout: secret ``<name>`` lives at ``<mount>/data/<prefix>/<name>`` as one field
(default ``value``) holding the bytes in standard base64. KV v2 keeps the versions;
``put`` returns the version Vault assigned. A name segment that is exactly ``.``
(allowed by ``validate_name``) is stored as ``~`` because HTTP clients collapse
``/./`` in URLs; ``~`` never occurs in a valid name, so the mapping is one-to-one.

Reads are cached in memory for ``cache_ttl`` seconds (0 disables): a value rotated in
Vault by someone else is seen within the TTL, and while Vault is unreachable, sealed
or refusing, a value read less than ``cache_ttl`` ago is still served; after that the
store fails closed with ``SecretBackendUnavailable``. Nothing is served past the TTL.

A provider's master key may instead live where the operator keeps it
(``broker.secrets.location.VaultLocation``): one field of any KV v2 secret, read as the
plain string ``vault kv put`` stores (or base64, if declared); ``read_field`` and
``write_field`` serve those, with the same cache, and a write keeps the secret's other
fields (read, merge, write with check-and-set).

Login, token upkeep and error translation are the session's
(``broker.secrets.vault.session``): every failure is ``SecretNotFound``,
``SecretCorrupt`` or ``SecretBackendUnavailable``, and no value reaches a log.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from broker.clock import Clock, system_clock
from broker.errors import InvalidRequest
from broker.secrets.base import SecretCorrupt, SecretNotFound, validate_name
from broker.secrets.location import VaultLocation
from broker.secrets.vault.cache import CachedValue, ValueCache
from broker.secrets.vault.config import VaultConfig
from broker.secrets.vault.session import VaultAuthStatus, VaultSession

__all__ = ["VaultSecretStore"]


def _encode_name(name: str) -> str:
    return "/".join("~" if part == "." else part for part in name.split("/"))


def _decode_segment(segment: str) -> str:
    return "." if segment == "~" else segment


class VaultSecretStore:
    """A ``SecretStore`` over Vault/OpenBao KV v2. Safe to share between threads."""

    def __init__(self, config: VaultConfig, *, clock: Clock = system_clock) -> None:
        self._config = config
        self._clock = clock
        self._session = VaultSession(config, clock=clock)
        self._cache = ValueCache(config.cache_ttl, clock)

    def __repr__(self) -> str:
        c = self._config
        return f"VaultSecretStore({c.addr!r}, mount={c.mount!r}, prefix={c.prefix!r})"

    def describe(self) -> str:
        c = self._config
        where = f" namespace {c.namespace}" if c.namespace else ""
        return (
            f"vault kv-v2 at {c.addr}{where} mount {c.mount} prefix {c.prefix or '(none)'} "
            f"(auth {c.auth})"
        )

    @property
    def config(self) -> VaultConfig:
        return self._config

    @property
    def session(self) -> VaultSession:
        """The authenticated connection, shared with Transit signing on the same Vault."""
        return self._session

    def auth_status(self) -> VaultAuthStatus:
        return self._session.auth_status()

    def close(self) -> None:
        """Forget the token and every cached value; close connections."""
        self._session.close()
        self._cache.clear()

    def check(self) -> None:
        """Log in if needed and list the prefix: raises ``SecretBackendUnavailable`` if unusable."""
        self.names()

    # -- SecretStore -----------------------------------------------------------------------

    def get(self, name: str) -> bytes:
        return self._read(validate_name(name), None).value

    def get_version(self, name: str, version: int) -> bytes:
        """A specific version's value; ``SecretNotFound`` if it does not exist or was deleted."""
        validate_name(name)
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise InvalidRequest("a secret version is an integer of at least 1")
        return self._read(name, version).value

    def version(self, name: str) -> int:
        """The latest version number of ``name``."""
        return self._read(validate_name(name), None).version

    def put(self, name: str, value: bytes) -> int:
        validate_name(name)
        if not isinstance(value, bytes):
            raise TypeError("a secret value is bytes")
        path = self._path(name)
        secret = {self._config.value_field: base64.b64encode(value).decode("ascii")}
        mount = self._config.mount
        self._cache.evict(name)
        response = self._session.call(
            "write",
            self._shown("data", path),
            lambda client: client.secrets.kv.v2.create_or_update_secret(
                path=path, secret=secret, mount_point=mount
            ),
        )
        version = self._session.parse(path, lambda: int(response["data"]["version"]))
        self._cache.remember(name, CachedValue(version, value, self._clock()))
        return version

    def delete(self, name: str) -> None:
        validate_name(name)
        path = self._path(name)
        mount = self._config.mount
        self._cache.evict(name)
        self._session.call(
            "read metadata",
            self._shown("metadata", path),
            lambda client: client.secrets.kv.v2.read_secret_metadata(path=path, mount_point=mount),
            missing=lambda: SecretNotFound(f"no secret named {name}"),
        )
        self._session.call(
            "delete",
            self._shown("metadata", path),
            lambda client: client.secrets.kv.v2.delete_metadata_and_all_versions(
                path=path, mount_point=mount
            ),
        )
        self._cache.evict(name)

    def names(self) -> list[str]:
        found: list[str] = []
        self._walk("", found)
        return sorted(found)

    # -- operator-chosen locations ----------------------------------------------------------

    def read_field(self, location: VaultLocation) -> tuple[bytes, int]:
        """The field's value (decoded as the location declares) and the KV version read."""
        key = f"@{location.mount}/{location.path}#{location.field}:{location.encoding}"
        cached = self._cache.get(key, None)
        if cached is None:
            data, version = self._read_data(location)
            raw = data.get(location.field)
            if raw is None:
                raise SecretNotFound(f"{location.describe()}: the secret has no such field")
            cached = CachedValue(version, _field_value(location, raw), self._clock())
            self._cache.remember(key, cached)
        return cached.value, cached.version

    def write_field(self, location: VaultLocation, value: bytes) -> int:
        """Set the field (a new KV version), keeping the secret's other fields."""
        if not isinstance(value, bytes):
            raise TypeError("a secret value is bytes")
        if location.encoding == "base64":
            stored = base64.b64encode(value).decode("ascii")
        else:
            try:
                stored = value.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidRequest(
                    f"{location.describe()}: the key is not text; declare encoding: base64"
                ) from None
        try:
            data, version = self._read_data(location)
        except SecretNotFound:
            data, version = {}, 0
        merged = {**data, location.field: stored}
        shown = f"{location.mount}/data/{location.path}"
        response = self._session.call(
            "write",
            shown,
            lambda client: client.secrets.kv.v2.create_or_update_secret(
                path=location.path, secret=merged, cas=version, mount_point=location.mount
            ),
        )
        written = self._session.parse(shown, lambda: int(response["data"]["version"]))
        self._cache.evict(f"@{location.mount}/{location.path}#{location.field}:{location.encoding}")
        return written

    def _read_data(self, location: VaultLocation) -> tuple[dict[str, Any], int]:
        shown = f"{location.mount}/data/{location.path}"
        response = self._session.call(
            "read",
            shown,
            lambda client: client.secrets.kv.v2.read_secret_version(
                path=location.path, mount_point=location.mount, raise_on_deleted_version=True
            ),
            missing=lambda: SecretNotFound(f"{location.describe()}: no such secret"),
        )
        data, version = self._session.parse(
            shown,
            lambda: (response["data"]["data"], int(response["data"]["metadata"]["version"])),
        )
        if not isinstance(data, dict):
            raise SecretCorrupt(f"{location.describe()}: the secret has no fields")
        return data, version

    # -- reading ---------------------------------------------------------------------------

    def _path(self, name: str) -> str:
        encoded = _encode_name(name)
        return f"{self._config.prefix}/{encoded}" if self._config.prefix else encoded

    def _shown(self, kind: str, path: str) -> str:
        """The API path for logs and errors: ``<mount>/data/<prefix>/<name>``."""
        return "/".join(part for part in (self._config.mount, kind, path) if part)

    def _read(self, name: str, version: int | None) -> CachedValue:
        cached = self._cache.get(name, version)
        if cached is not None:
            return cached
        path = self._path(name)
        mount = self._config.mount
        response = self._session.call(
            "read",
            self._shown("data", path),
            lambda client: client.secrets.kv.v2.read_secret_version(
                path=path, version=version, mount_point=mount, raise_on_deleted_version=True
            ),
            missing=lambda: SecretNotFound(
                f"no secret named {name}" + (f" at version {version}" if version else "")
            ),
        )
        entry = self._decode(name, path, response)
        self._cache.remember(name, entry, latest=version is None)
        return entry

    def _decode(self, name: str, path: str, response: Any) -> CachedValue:
        data, number = self._session.parse(
            path,
            lambda: (response["data"]["data"], int(response["data"]["metadata"]["version"])),
        )
        raw = data.get(self._config.value_field) if isinstance(data, dict) else None
        if not isinstance(raw, str):
            raise SecretCorrupt(
                f"stored secret {name} in vault has no string field {self._config.value_field!r}"
            )
        try:
            value = base64.b64decode(raw.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise SecretCorrupt(f"stored secret {name} in vault is not valid base64") from None
        return CachedValue(number, value, self._clock())

    def _walk(self, relative: str, found: list[str]) -> None:
        base = self._config.prefix
        folder = "/".join(part for part in (base, relative.rstrip("/")) if part)
        mount = self._config.mount
        response = self._session.call(
            "list",
            self._shown("metadata", folder) + "/",
            lambda client: client.secrets.kv.v2.list_secrets(path=folder, mount_point=mount),
            missing=lambda: None,
        )
        if response is None:
            return
        keys = self._session.parse(folder, lambda: list(response["data"]["keys"]))
        for key in keys:
            if not isinstance(key, str) or key in ("", "/"):
                continue
            if key.endswith("/"):
                self._walk(relative + key, found)
                continue
            name = "/".join(_decode_segment(s) for s in (relative + key).split("/"))
            try:
                found.append(validate_name(name))
            except InvalidRequest:
                continue  # written by someone else, not a name this store could hold


def _field_value(location: VaultLocation, raw: object) -> bytes:
    """The bytes a field holds: its string as UTF-8, or base64-decoded when declared."""
    if not isinstance(raw, str):
        raise SecretCorrupt(f"{location.describe()}: the field is not a string")
    if location.encoding == "text":
        return raw.encode("utf-8")
    try:
        return base64.b64decode(raw.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise SecretCorrupt(f"{location.describe()}: the field is not valid base64") from None
