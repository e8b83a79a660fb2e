"""Where the secrets live in Vault and how to log in: ``VaultConfig`` and its variables.

Built by ``vault_config_from_env`` from ``VAULT_*`` and ``CAPBROKER_VAULT_*`` variables
(see ``ENV_VARIABLES``) and overrides, with the settings mechanism ``broker.settings``
uses (``broker.typed_settings``). Plain values only: importing or loading this module
does not import hvac, so ``load_settings`` can check ``CAPBROKER_VAULT_*`` names, and a
configuration can be checked, without the Vault client.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from broker.errors import InvalidRequest
from broker.typed_settings import Limit, coerce, field_kinds, limit_problems, unknown

__all__ = [
    "AUTH_METHODS",
    "DEFAULT_KUBERNETES_JWT_FILE",
    "ENV_VARIABLES",
    "VaultConfig",
    "vault_config_from_env",
]

AUTH_METHODS: Final = ("token", "approle", "kubernetes")
DEFAULT_KUBERNETES_JWT_FILE: Final = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


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
    # Opening a connection: short, so an unreachable Vault is known quickly (the read
    # timeout, ``timeout``, applies to each answer).
    connect_timeout: float = 2.0
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


_AUTH_LIMIT: Final = {
    "auth": Limit(choices=AUTH_METHODS, says="must be one of " + ", ".join(AUTH_METHODS))
}
_TIME_LIMITS: Final = {
    "timeout": Limit(above=0, unit=" seconds"),
    "connect_timeout": Limit(above=0, unit=" seconds"),
    "cache_ttl": Limit(low=0, says="must be 0 (no cache) or more seconds"),
}


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
    problems += limit_problems(config, _AUTH_LIMIT)
    for name in ("mount", "approle_mount", "kubernetes_mount"):
        if not _path_ok(getattr(config, name), empty_ok=False):
            problems.append((name, "must be a path like 'secret' (no empty, . or .. segments)"))
    if not _path_ok(config.prefix, empty_ok=True):
        problems.append(("prefix", "must be a path like 'capbroker' (no empty, . or .. segments)"))
    if not config.value_field:
        problems.append(("value_field", "must not be empty"))
    problems += _credential_problems(config)
    if (config.client_cert is None) != (config.client_key is None):
        problems.append(("client_cert", "a client certificate and its key go together"))
    return problems + limit_problems(config, _TIME_LIMITS)


def _credential_problems(config: VaultConfig) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
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
    "connect_timeout": ("CAPBROKER_VAULT_CONNECT_TIMEOUT",),
    "cache_ttl": ("CAPBROKER_VAULT_CACHE_TTL",),
}
# A problem reported on the key is fixed by setting any of these.
_ALTERNATIVES: Final[Mapping[str, tuple[str, ...]]] = {
    "token": ("token", "token_file"),
    "role_id": ("role_id", "role_id_file"),
    "secret_id": ("secret_id", "secret_id_file"),
    "client_cert": ("client_cert", "client_key"),
}
_FALSE_WORDS: Final = frozenset({"", "0", "false", "no", "off"})


def vault_config_from_env(
    environ: Mapping[str, str], overrides: Mapping[str, object] | None = None
) -> VaultConfig:
    """Build a ``VaultConfig`` from variables (see ``ENV_VARIABLES``) and overrides.

    Overrides are keyed by field name (``{"cache_ttl": 10}``) and win over the
    environment; ``None`` values are ignored. Empty variables count as unset. Errors
    are ``InvalidRequest`` naming the variable (or override) to fix, never its value.
    """
    kinds = field_kinds(VaultConfig)
    values: dict[str, object] = {}
    sources: dict[str, str] = {}
    for name, variables in ENV_VARIABLES.items():
        variable = next((v for v in variables if environ.get(v, "") != ""), None)
        if variable is not None:
            sources[name] = f"environment variable {variable}"
            values[name] = coerce(sources[name], environ[variable], kinds[name])
    for name, raw in (overrides or {}).items():
        if name not in kinds:
            raise unknown(f"vault setting {name!r}")
        if raw is not None:
            sources[name] = f"vault setting {name!r}"
            values[name] = coerce(sources[name], raw, kinds[name])
    skip = environ.get("VAULT_SKIP_VERIFY", "").strip().lower()
    if skip not in _FALSE_WORDS:
        raise InvalidRequest(
            "environment variable VAULT_SKIP_VERIFY: TLS verification of Vault cannot be "
            "turned off; set CAPBROKER_VAULT_CACERT (or VAULT_CACERT) to the CA bundle instead"
        )
    if "addr" not in values:
        raise InvalidRequest("environment variable VAULT_ADDR (or CAPBROKER_VAULT_ADDR) is not set")
    try:
        return VaultConfig(**values)  # type: ignore[arg-type]
    except _ConfigProblems as exc:
        problems = exc.problems
    raise InvalidRequest(
        "invalid vault configuration: "
        + "; ".join(f"{_label(name, sources)}: {message}" for name, message in problems)
    )


def _label(name: str, sources: Mapping[str, str]) -> str:
    """Where to fix a problem on ``name``: the source that set it, else every variable that can."""
    if name in sources and name not in _ALTERNATIVES:
        return sources[name]
    related = _ALTERNATIVES.get(name, (name,))
    choices = " or ".join(v for field in related for v in ENV_VARIABLES.get(field, ()))
    return f"{choices} (vault setting {name!r})" if choices else f"vault setting {name!r}"
