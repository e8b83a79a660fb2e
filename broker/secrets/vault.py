"""The production secret backend: HashiCorp Vault or OpenBao KV v2, through hvac.

Layout: secret ``<name>`` lives at ``<mount>/data/<prefix>/<name>`` as one field
(default ``value``) holding the bytes in standard base64. KV v2 keeps the versions;
``put`` returns the version Vault assigned. A name segment that is exactly ``.``
(allowed by ``validate_name``) is stored as ``~`` because HTTP clients collapse
``/./`` in URLs; ``~`` never occurs in a valid name, so the mapping is one-to-one.

Reads are cached in memory for ``cache_ttl`` seconds (0 disables): a value rotated in
Vault by someone else is seen within the TTL, and while Vault is unreachable, sealed
or refusing, a value read less than ``cache_ttl`` ago is still served; after that the
store fails closed with ``SecretBackendUnavailable``. Nothing is served past the TTL.

Authentication (``VaultConfig.auth``): ``token`` (a static token, or a token file
re-read on every login, e.g. a Vault Agent sink), ``approle`` (role_id and secret_id
from values or files, files re-read on every login) or ``kubernetes`` (the
service-account JWT file, re-read on every login because projected tokens rotate).
The Vault token is renewed lazily on use once two thirds of its TTL have passed: no
background thread, because a store that is not used needs no token, and an expired
one is simply replaced by logging in again on the next use. When renewal stops
extending the token (it reached its max TTL), or renewal fails, or Vault answers 403,
the store logs in again once and retries once; a second refusal fails closed.

Errors: every hvac and requests exception is translated into ``SecretNotFound``,
``SecretCorrupt`` or ``SecretBackendUnavailable``, raised outside the ``except``
block so that no hvac exception (whose text may carry URLs and response bodies) is
chained onto ours. Logs carry at most the operation, the Vault path and the HTTP
status class; never a token, secret_id, JWT or value.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import enum
import logging
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

import hvac
import hvac.exceptions

from broker.clock import Clock, system_clock
from broker.errors import BrokerError, InvalidRequest
from broker.secrets._vault_tls import make_session
from broker.secrets.base import (
    SecretBackendUnavailable,
    SecretCorrupt,
    SecretNotFound,
    validate_name,
)

__all__ = [
    "AUTH_METHODS",
    "DEFAULT_KUBERNETES_JWT_FILE",
    "VAULT_POLICY",
    "VaultAuthStatus",
    "VaultConfig",
    "VaultSecretStore",
    "vault_config_from_env",
    "vault_policy",
]

log = logging.getLogger(__name__)

AUTH_METHODS: Final = ("token", "approle", "kubernetes")
DEFAULT_KUBERNETES_JWT_FILE: Final = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
# Renew once this fraction of the token's TTL has passed.
RENEW_AFTER_FRACTION: Final = 2 / 3
# A credential file larger than this is refused (a JWT is a few KiB).
_MAX_CREDENTIAL_FILE_BYTES: Final = 64 * 1024

_T = TypeVar("_T")


# --- policy ---------------------------------------------------------------------------------


def vault_policy(
    mount: str = "secret", prefix: str = "capbroker", *, read_only: bool = False
) -> str:
    """The minimal Vault policy (HCL) the store needs for ``mount`` and ``prefix``.

    The full policy serves the broker (``get``/``put``/``delete``/``names``); the
    read-only one serves a gateway that only reads master keys. Both allow the token
    to look itself up and renew itself (also granted by Vault's ``default`` policy,
    listed so that roles created with ``token_no_default_policy`` still work).
    """
    base = f"{mount}/data/{prefix}/" if prefix else f"{mount}/data/"
    meta = f"{mount}/metadata/{prefix}/" if prefix else f"{mount}/metadata/"
    if read_only:
        data_caps, meta_caps = '["read"]', '["list"]'
    else:
        data_caps, meta_caps = '["create", "read", "update"]', '["read", "list", "delete"]'
    return (
        f"# capbroker secret store: values under {mount}/{prefix or ''} (KV v2)\n"
        f'path "{base}*" {{\n  capabilities = {data_caps}\n}}\n'
        f'path "{meta}*" {{\n  capabilities = {meta_caps}\n}}\n'
        "# token upkeep\n"
        'path "auth/token/lookup-self" {\n  capabilities = ["read"]\n}\n'
        'path "auth/token/renew-self" {\n  capabilities = ["update"]\n}\n'
    )


VAULT_POLICY: Final = vault_policy()


# --- configuration --------------------------------------------------------------------------


@dataclass(frozen=True)
class VaultConfig:
    """Where the secrets live and how to log in. Credentials never appear in ``repr``."""

    addr: str
    auth: str = "token"
    mount: str = "secret"
    prefix: str = "capbroker"
    value_field: str = "value"
    namespace: str | None = None
    # auth token
    token: str | None = dataclasses.field(default=None, repr=False)
    token_file: Path | None = None
    # auth approle
    role_id: str | None = dataclasses.field(default=None, repr=False)
    role_id_file: Path | None = None
    secret_id: str | None = dataclasses.field(default=None, repr=False)
    secret_id_file: Path | None = None
    approle_mount: str = "approle"
    # auth kubernetes
    kubernetes_role: str | None = None
    kubernetes_jwt_file: Path = DEFAULT_KUBERNETES_JWT_FILE
    kubernetes_mount: str = "kubernetes"
    # TLS
    ca_cert: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    tls_server_name: str | None = None
    # behaviour
    timeout: float = 5.0
    cache_ttl: float = 30.0

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise _ConfigProblems(problems)


class _ConfigProblems(InvalidRequest):
    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__(
            "invalid vault configuration: "
            + "; ".join(f"{name}: {message}" for name, message in problems)
        )


def _path_ok(value: str, *, empty_ok: bool) -> bool:
    if value == "":
        return empty_ok
    parts = value.split("/")
    return all(part not in ("", ".", "..") and part.isprintable() for part in parts)


def _problems(config: VaultConfig) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    parts = urllib.parse.urlsplit(config.addr)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problems.append(("addr", "must be an http:// or https:// URL"))
    if config.auth not in AUTH_METHODS:
        problems.append(("auth", f"must be one of {', '.join(AUTH_METHODS)}"))
    for name in ("mount", "approle_mount", "kubernetes_mount"):
        if not _path_ok(getattr(config, name), empty_ok=False):
            problems.append((name, "must be a path like 'secret' (no empty, . or .. segments)"))
    if not _path_ok(config.prefix, empty_ok=True):
        problems.append(("prefix", "must be a path like 'capbroker' (no empty, . or .. segments)"))
    if not config.value_field:
        problems.append(("value_field", "must not be empty"))
    if config.auth == "token" and not (config.token or config.token_file):
        problems.append(("token", "a Vault token (or a token file) is required for auth 'token'"))
    if config.auth == "approle":
        if not (config.role_id or config.role_id_file):
            problems.append(
                ("role_id", "a role_id (or a role_id file) is required for auth 'approle'")
            )
        if not (config.secret_id or config.secret_id_file):
            problems.append(
                ("secret_id", "a secret_id (or a secret_id file) is required for auth 'approle'")
            )
    if config.auth == "kubernetes" and not config.kubernetes_role:
        problems.append(("kubernetes_role", "a role name is required for auth 'kubernetes'"))
    if (config.client_cert is None) != (config.client_key is None):
        problems.append(("client_cert", "a client certificate and its key go together"))
    if not config.timeout > 0:
        problems.append(("timeout", "must be more than 0 seconds"))
    if not config.cache_ttl >= 0:
        problems.append(("cache_ttl", "must be 0 (no cache) or more seconds"))
    return problems


# field -> the variables that set it, highest precedence first.
ENV_VARIABLES: Final[Mapping[str, tuple[str, ...]]] = {
    "addr": ("CAPBROKER_VAULT_ADDR", "VAULT_ADDR"),
    "auth": ("CAPBROKER_VAULT_AUTH",),
    "mount": ("CAPBROKER_VAULT_MOUNT",),
    "prefix": ("CAPBROKER_VAULT_PREFIX",),
    "value_field": ("CAPBROKER_VAULT_FIELD",),
    "namespace": ("CAPBROKER_VAULT_NAMESPACE", "VAULT_NAMESPACE"),
    "token": ("VAULT_TOKEN",),
    "token_file": ("CAPBROKER_VAULT_TOKEN_FILE",),
    "role_id": ("CAPBROKER_VAULT_ROLE_ID",),
    "role_id_file": ("CAPBROKER_VAULT_ROLE_ID_FILE",),
    "secret_id": ("CAPBROKER_VAULT_SECRET_ID",),
    "secret_id_file": ("CAPBROKER_VAULT_SECRET_ID_FILE",),
    "approle_mount": ("CAPBROKER_VAULT_APPROLE_MOUNT",),
    "kubernetes_role": ("CAPBROKER_VAULT_KUBERNETES_ROLE",),
    "kubernetes_jwt_file": ("CAPBROKER_VAULT_KUBERNETES_JWT_FILE",),
    "kubernetes_mount": ("CAPBROKER_VAULT_KUBERNETES_MOUNT",),
    "ca_cert": ("CAPBROKER_VAULT_CACERT", "VAULT_CACERT"),
    "client_cert": ("CAPBROKER_VAULT_CLIENT_CERT", "VAULT_CLIENT_CERT"),
    "client_key": ("CAPBROKER_VAULT_CLIENT_KEY", "VAULT_CLIENT_KEY"),
    "tls_server_name": ("CAPBROKER_VAULT_TLS_SERVER_NAME", "VAULT_TLS_SERVER_NAME"),
    "timeout": ("CAPBROKER_VAULT_TIMEOUT",),
    "cache_ttl": ("CAPBROKER_VAULT_CACHE_TTL",),
}
_FIELD_TYPES: Final[Mapping[str, type]] = {
    f.name: (Path if "Path" in str(f.type) else float if f.type == "float" else str)
    for f in dataclasses.fields(VaultConfig)
}
# A problem reported on the key is fixed by setting any of these.
_ALTERNATIVES: Final[Mapping[str, tuple[str, ...]]] = {
    "token": ("token", "token_file"),
    "role_id": ("role_id", "role_id_file"),
    "secret_id": ("secret_id", "secret_id_file"),
    "client_cert": ("client_cert", "client_key"),
}
_FALSE_WORDS: Final = frozenset({"", "0", "false", "no", "off"})


def _coerce(label: str, raw: object, kind: type) -> object:
    if kind is float:
        if isinstance(raw, bool):
            raise InvalidRequest(f"{label}: expected a number of seconds")
        try:
            return float(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise InvalidRequest(f"{label}: expected a number of seconds") from None
    if kind is Path:
        if not isinstance(raw, str | Path) or str(raw) == "":
            raise InvalidRequest(f"{label}: expected a file path")
        return Path(raw)
    if not isinstance(raw, str):
        raise InvalidRequest(f"{label}: expected a string")
    return raw


def vault_config_from_env(
    environ: Mapping[str, str], overrides: Mapping[str, object] | None = None
) -> VaultConfig:
    """Build a ``VaultConfig`` from variables (see ``ENV_VARIABLES``) and overrides.

    Overrides are keyed by field name (``{"cache_ttl": 10}``) and win over the
    environment; ``None`` values are ignored. Empty variables count as unset. Errors
    are ``InvalidRequest`` naming the variable (or override) to fix, never its value.
    """
    values: dict[str, object] = {}
    sources: dict[str, str] = {}
    for name, variables in ENV_VARIABLES.items():
        for variable in variables:
            text = environ.get(variable, "")
            if text != "":
                sources[name] = f"environment variable {variable}"
                values[name] = _coerce(sources[name], text, _FIELD_TYPES[name])
                break
    for name, raw in (overrides or {}).items():
        if name not in _FIELD_TYPES:
            raise InvalidRequest(f"vault setting {name!r}: unknown setting")
        if raw is not None:
            sources[name] = f"vault setting {name!r}"
            values[name] = _coerce(sources[name], raw, _FIELD_TYPES[name])
    skip = environ.get("VAULT_SKIP_VERIFY", "").strip().lower()
    if skip not in _FALSE_WORDS:
        raise InvalidRequest(
            "environment variable VAULT_SKIP_VERIFY: TLS verification of Vault cannot be "
            "turned off; set CAPBROKER_VAULT_CACERT (or VAULT_CACERT) to the CA bundle instead"
        )
    if "addr" not in values:
        raise InvalidRequest("environment variable VAULT_ADDR (or CAPBROKER_VAULT_ADDR) is not set")

    def label(name: str) -> str:
        if name in sources and name not in _ALTERNATIVES:
            return sources[name]
        related = _ALTERNATIVES.get(name, (name,))
        choices = " or ".join(v for field in related for v in ENV_VARIABLES.get(field, ()))
        return f"{choices} (vault setting {name!r})" if choices else f"vault setting {name!r}"

    try:
        return VaultConfig(**values)  # type: ignore[arg-type]
    except _ConfigProblems as exc:
        problems = exc.problems
    raise InvalidRequest(
        "invalid vault configuration: "
        + "; ".join(f"{label(name)}: {message}" for name, message in problems)
    )


# --- the store ------------------------------------------------------------------------------


@dataclass(frozen=True)
class VaultAuthStatus:
    """What the store knows about its Vault token (no token): for health reports and tests."""

    method: str
    logged_in: bool
    accessor: str | None
    expires_at: float | None  # None: no expiry (or not logged in)
    renewable: bool
    logins: int
    renewals: int


@dataclass
class _Entry:
    version: int
    value: bytes = dataclasses.field(repr=False)
    fetched_at: float


class _Signal(enum.Enum):
    FORBIDDEN = "403: the token was refused for this request"
    MISSING = "404: KV has nothing at this path"


_FORBIDDEN: Final = _Signal.FORBIDDEN
_MISSING: Final = _Signal.MISSING


def _encode_name(name: str) -> str:
    return "/".join("~" if part == "." else part for part in name.split("/"))


def _decode_segment(segment: str) -> str:
    return "." if segment == "~" else segment


class VaultSecretStore:
    """A ``SecretStore`` over Vault/OpenBao KV v2. Safe to share between threads."""

    def __init__(self, config: VaultConfig, *, clock: Clock = system_clock) -> None:
        self._config = config
        self._clock = clock
        verify: bool | str = str(config.ca_cert) if config.ca_cert is not None else True
        cert = (
            (str(config.client_cert), str(config.client_key))
            if config.client_cert is not None and config.client_key is not None
            else None
        )
        self._session = make_session(config.tls_server_name, verify=verify, cert=cert)
        self._client: Any = hvac.Client(
            url=config.addr.rstrip("/"),
            namespace=config.namespace or None,
            verify=verify,
            cert=cert,
            timeout=config.timeout,
            session=self._session,
        )
        self._auth_lock = threading.RLock()
        self._token: str | None = None
        self._accessor: str | None = None
        self._expires_at: float | None = None
        self._renew_at: float | None = None
        self._renewable = False
        self._logins = 0
        self._renewals = 0
        self._cache_lock = threading.Lock()
        self._cache: dict[tuple[str, int | None], _Entry] = {}

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

    def auth_status(self) -> VaultAuthStatus:
        with self._auth_lock:
            return VaultAuthStatus(
                method=self._config.auth,
                logged_in=self._token is not None,
                accessor=self._accessor,
                expires_at=self._expires_at,
                renewable=self._renewable,
                logins=self._logins,
                renewals=self._renewals,
            )

    def close(self) -> None:
        """Forget the token and every cached value; close connections."""
        with self._auth_lock:
            self._forget_token()
        with self._cache_lock:
            self._cache.clear()
        self._session.close()

    def check(self) -> None:
        """Log in if needed and list the prefix: raises ``SecretBackendUnavailable`` if unusable."""
        self.names()

    # -- SecretStore ---------------------------------------------------------------------------

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
        self._evict(name)
        response = self._call(
            "write",
            self._shown("data", path),
            lambda: self._client.secrets.kv.v2.create_or_update_secret(
                path=path, secret=secret, mount_point=self._config.mount
            ),
        )
        version = self._parse(path, lambda: int(response["data"]["version"]))
        self._remember(name, _Entry(version, value, self._clock()))
        return version

    def delete(self, name: str) -> None:
        validate_name(name)
        path = self._path(name)
        self._evict(name)
        self._call(
            "read metadata",
            self._shown("metadata", path),
            lambda: self._client.secrets.kv.v2.read_secret_metadata(
                path=path, mount_point=self._config.mount
            ),
            missing=lambda: SecretNotFound(f"no secret named {name}"),
        )
        self._call(
            "delete",
            self._shown("metadata", path),
            lambda: self._client.secrets.kv.v2.delete_metadata_and_all_versions(
                path=path, mount_point=self._config.mount
            ),
        )
        self._evict(name)

    def names(self) -> list[str]:
        found: list[str] = []
        self._walk("", found)
        return sorted(found)

    # -- reading ---------------------------------------------------------------------------------

    def _path(self, name: str) -> str:
        encoded = _encode_name(name)
        return f"{self._config.prefix}/{encoded}" if self._config.prefix else encoded

    def _shown(self, kind: str, path: str) -> str:
        """The API path for logs and errors: ``<mount>/data/<prefix>/<name>``."""
        return "/".join(part for part in (self._config.mount, kind, path) if part)

    def _read(self, name: str, version: int | None) -> _Entry:
        cached = self._cached(name, version)
        if cached is not None:
            return cached
        path = self._path(name)
        response = self._call(
            "read",
            self._shown("data", path),
            lambda: self._client.secrets.kv.v2.read_secret_version(
                path=path,
                version=version,
                mount_point=self._config.mount,
                raise_on_deleted_version=True,
            ),
            missing=lambda: SecretNotFound(
                f"no secret named {name}" + (f" at version {version}" if version else "")
            ),
        )
        entry = self._decode(name, path, response)
        self._remember(name, entry, latest=version is None)
        return entry

    def _decode(self, name: str, path: str, response: Any) -> _Entry:
        data, number = self._parse(
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
        return _Entry(number, value, self._clock())

    def _walk(self, relative: str, found: list[str]) -> None:
        base = self._config.prefix
        folder = "/".join(part for part in (base, relative.rstrip("/")) if part)
        response = self._call(
            "list",
            self._shown("metadata", folder) + "/",
            lambda: self._client.secrets.kv.v2.list_secrets(
                path=folder, mount_point=self._config.mount
            ),
            missing=lambda: None,
        )
        if response is None:
            return
        keys = self._parse(folder, lambda: list(response["data"]["keys"]))
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

    def _parse(self, path: str, extract: Callable[[], _T]) -> _T:
        try:
            return extract()
        except (KeyError, TypeError, ValueError, IndexError):
            failure = SecretBackendUnavailable(
                f"unexpected response from vault at {self._config.addr} for {path}"
            )
        log.warning("vault response for %s had an unexpected shape", path)
        raise failure

    # -- cache -----------------------------------------------------------------------------------

    def _cached(self, name: str, version: int | None) -> _Entry | None:
        ttl = self._config.cache_ttl
        if ttl <= 0:
            return None
        now = self._clock()
        with self._cache_lock:
            entry = self._cache.get((name, version))
            if entry is None:
                return None
            if 0 <= now - entry.fetched_at < ttl:
                return entry
            del self._cache[(name, version)]  # stale: never served, not kept
            return None

    def _remember(self, name: str, entry: _Entry, *, latest: bool = True) -> None:
        if self._config.cache_ttl <= 0:
            return
        with self._cache_lock:
            self._cache[(name, entry.version)] = entry
            if latest:
                self._cache[(name, None)] = entry

    def _evict(self, name: str) -> None:
        with self._cache_lock:
            for key in [key for key in self._cache if key[0] == name]:
                del self._cache[key]

    # -- calling Vault ---------------------------------------------------------------------------

    def _call(
        self,
        operation: str,
        path: str,
        request: Callable[[], _T],
        *,
        missing: Callable[[], _T | BrokerError] | None = None,
    ) -> _T:
        """Run ``request`` with a valid token; on 403 log in again once and retry once.

        A 404 becomes ``missing()`` (raised if it is an error, else returned); without
        ``missing`` it is a backend failure.
        """
        for attempt in (1, 2):
            token = self._ensure_token()
            outcome = self._attempt(operation, path, request)
            if outcome is _MISSING:
                if missing is None:
                    raise self._unavailable(operation, path, "nothing there (404)")
                answer = missing()
                if isinstance(answer, BrokerError):
                    raise answer
                return answer
            if outcome is not _FORBIDDEN:
                return outcome
            if attempt == 1:
                log.info("vault refused %s %s (403); logging in again", operation, path)
                self._relogin(token)
        log.warning("vault %s %s: permission denied after logging in again", operation, path)
        raise SecretBackendUnavailable(
            f"vault at {self._config.addr} denied {operation} on {path} "
            "(permission denied): check the policy of the broker's Vault role"
        )

    def _attempt(self, operation: str, path: str, request: Callable[[], _T]) -> _T | _Signal:
        """One request. A 403 or a KV 404 comes back as a signal; any other hvac or requests
        exception becomes ``SecretBackendUnavailable``. Nothing is raised inside an
        ``except`` block, so no hvac exception (its text can hold URLs and response bodies)
        hangs on ours as ``__context__``."""
        failure: BrokerError
        try:
            return request()
        except hvac.exceptions.Forbidden:
            return _FORBIDDEN
        except hvac.exceptions.InvalidPath as exc:
            if not exc.errors:  # KV's own "no such secret" carries no error text
                return _MISSING
            # "no handler for route": a wrong mount or path, not a missing secret.
            failure = self._unavailable(operation, path, "no such mount or route (404)")
        except hvac.exceptions.VaultError as exc:
            failure = self._unavailable(operation, path, _describe_vault_error(exc))
        except OSError as exc:  # requests' ConnectionError, Timeout, SSLError are OSErrors
            failure = self._unavailable(operation, path, _describe_os_error(exc))
        except ValueError:  # a body that is not JSON
            failure = self._unavailable(operation, path, "an unreadable response")
        raise failure

    def _unavailable(self, operation: str, path: str, what: str) -> SecretBackendUnavailable:
        log.warning("vault %s %s failed: %s", operation, path, what)
        return SecretBackendUnavailable(
            f"secret backend unavailable: vault at {self._config.addr} ({what}) "
            f"during {operation} of {path}"
        )

    # -- the Vault token -------------------------------------------------------------------------

    def _ensure_token(self) -> str:
        with self._auth_lock:
            if self._token is None:
                self._login()
            elif self._renew_at is not None and self._clock() >= self._renew_at:
                self._renew_or_login()
            assert self._token is not None
            return self._token

    def _relogin(self, refused: str) -> None:
        with self._auth_lock:
            if self._token == refused:  # another thread may already have logged in again
                self._forget_token()
                self._login()

    def _forget_token(self) -> None:
        self._token = self._accessor = None
        self._expires_at = self._renew_at = None
        self._renewable = False
        self._client.token = None

    def _renew_or_login(self) -> None:
        now = self._clock()
        expired = self._expires_at is not None and now >= self._expires_at
        if self._renewable and not expired:
            response = self._attempt(
                "renew token", "auth/token/renew-self", self._client.auth.token.renew_self
            )
            if isinstance(response, _Signal):
                log.info("vault token renewal refused; logging in again")
            else:
                lease = self._parse(
                    "auth/token/renew-self", lambda: int(response["auth"]["lease_duration"])
                )
                new_expiry = now + lease
                if self._expires_at is None or new_expiry > self._expires_at + 1:
                    self._renewals += 1
                    self._set_lease(now, lease, renewable=self._renewable)
                    return
                log.info("vault token reached its maximum TTL; logging in again")
        self._forget_token()
        self._login()

    def _set_lease(self, now: float, lease: int, *, renewable: bool) -> None:
        self._renewable = renewable
        if lease > 0:
            self._expires_at = now + lease
            self._renew_at = now + lease * RENEW_AFTER_FRACTION
        else:
            self._expires_at = self._renew_at = None

    def _login(self) -> None:
        method = self._config.auth
        now = self._clock()
        if method == "token":
            token = self._config.token or self._read_credential(self._config.token_file, "token")
            self._client.token = token
            looked_up = self._attempt(
                "look up token", "auth/token/lookup-self", self._client.auth.token.lookup_self
            )
            if isinstance(looked_up, _Signal):
                self._client.token = None
                log.warning("vault rejected the configured token (%s)", looked_up.value[:3])
                raise SecretBackendUnavailable(
                    f"vault at {self._config.addr} rejected the configured token "
                    "(expired, revoked or not allowed to look itself up)"
                )
            ttl, renewable, accessor = self._parse(
                "auth/token/lookup-self",
                lambda: (
                    int(looked_up["data"]["ttl"] or 0),
                    bool(looked_up["data"].get("renewable")),
                    str(looked_up["data"].get("accessor") or ""),
                ),
            )
        else:
            response = self._auth_login(method)
            token, ttl, renewable, accessor = self._parse(
                f"auth/{method} login",
                lambda: (
                    str(response["auth"]["client_token"]),
                    int(response["auth"]["lease_duration"] or 0),
                    bool(response["auth"]["renewable"]),
                    str(response["auth"].get("accessor") or ""),
                ),
            )
            if not token:
                raise SecretBackendUnavailable(f"vault {method} login returned no token")
            self._client.token = token
        self._token = token
        self._accessor = accessor or None
        self._set_lease(now, ttl, renewable=renewable)
        self._logins += 1
        log.info("vault login (%s) succeeded; token ttl %ss", method, ttl)

    def _auth_login(self, method: str) -> Any:
        config = self._config
        self._client.token = None
        if method == "approle":
            role_id = config.role_id or self._read_credential(config.role_id_file, "role_id")
            secret_id = config.secret_id or self._read_credential(
                config.secret_id_file, "secret_id"
            )
            mount = config.approle_mount
            login: Callable[[], Any] = lambda: self._client.auth.approle.login(  # noqa: E731
                role_id=role_id, secret_id=secret_id, use_token=False, mount_point=mount
            )
        else:
            jwt = self._read_credential(config.kubernetes_jwt_file, "service-account token")
            role = config.kubernetes_role
            mount = config.kubernetes_mount
            login = lambda: self._client.auth.kubernetes.login(  # noqa: E731
                role=role, jwt=jwt, use_token=False, mount_point=mount
            )
        # Vault answers 400 for bad AppRole credentials (unavailable, from _attempt),
        # 403 for a refused Kubernetes JWT, 404 for an auth mount that does not exist.
        response = self._attempt("login", f"auth/{mount}/login", login)
        if not isinstance(response, _Signal):
            return response
        log.warning("vault %s login refused (%s)", method, response.value[:3])
        raise SecretBackendUnavailable(
            f"vault at {config.addr} refused the {method} login at auth/{mount}"
        )

    @staticmethod
    def _read_credential(path: Path | None, what: str) -> str:
        if path is None:
            raise SecretBackendUnavailable(f"no {what} configured for vault login")
        try:
            with path.open("rb") as handle:
                raw = handle.read(_MAX_CREDENTIAL_FILE_BYTES + 1)
        except OSError as exc:
            failure = SecretBackendUnavailable(
                f"cannot read the vault {what} file {path}: {exc.strerror or type(exc).__name__}"
            )
        else:
            text = raw.decode("utf-8", errors="replace").strip()
            if len(raw) > _MAX_CREDENTIAL_FILE_BYTES or not text:
                failure = SecretBackendUnavailable(
                    f"the vault {what} file {path} is empty or too big"
                )
            else:
                return text
        raise failure


def _describe_vault_error(exc: hvac.exceptions.VaultError) -> str:
    kinds: dict[type[Exception], str] = {
        hvac.exceptions.VaultDown: "sealed or in standby (503)",
        hvac.exceptions.VaultNotInitialized: "not initialized (501)",
        hvac.exceptions.Unauthorized: "unauthorized (401)",
        hvac.exceptions.InvalidRequest: "rejected the request (400)",
        hvac.exceptions.RateLimitExceeded: "rate limited (429)",
        hvac.exceptions.InternalServerError: "internal error (500)",
        hvac.exceptions.BadGateway: "bad gateway (502)",
        hvac.exceptions.PreconditionFailed: "precondition failed (412)",
    }
    for kind, text in kinds.items():
        if isinstance(exc, kind):
            return text
    return "unexpected error status"


def _describe_os_error(exc: OSError) -> str:
    name = type(exc).__name__
    if "SSL" in name:
        return "TLS handshake or certificate check failed"
    if "Timeout" in name:
        return "timed out"
    return "unreachable"
