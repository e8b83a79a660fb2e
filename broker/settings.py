"""Typed settings, built by a factory from defaults, a config file and ``CAPBROKER_*`` variables.

Precedence (lowest first): built-in defaults, the YAML config file, the environment,
explicit overrides (CLI flags). Nothing here is read at import time.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

import yaml

from broker.errors import InvalidRequest
from broker.typed_settings import Limit, coerce, field_kinds, limit_problems, unknown

ENV_PREFIX = "CAPBROKER_"
# Variables with the prefix that are not settings: the config file's path, the clients' own
# (the agent's side), and the providers file ``gateway serve --workers`` hands its workers.
NOT_SETTINGS = frozenset(
    {
        "CAPBROKER_CONFIG",
        "CAPBROKER_AGENT_CREDENTIAL",
        "CAPBROKER_URL",
        "CAPBROKER_GATEWAY_PROVIDERS",
    }
)
# The Vault connection's own variables; read by broker.secrets.vault.config.
VAULT_PREFIX = "CAPBROKER_VAULT_"


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path(".capbroker")
    # Empty means the embedded default: SQLite inside data_dir.
    database_url: str = ""
    # A file holding the database URL (e.g. a mounted Kubernetes Secret), so its password is
    # never in the environment; read when the engine is built. Exclusive with database_url.
    database_url_file: str = ""
    # Connections each process keeps open to PostgreSQL, and how many more it may open under
    # load. Every replica and worker has its own pool: size them against max_connections
    # (or put PgBouncer in front; docs/operations.md).
    database_pool_size: int = 10
    database_max_overflow: int = 20
    host: str = "127.0.0.1"
    port: int = 8080
    # The token issuer; empty means derived from host and port.
    issuer: str = ""
    # The audience stamped into tokens: the gateway (or gateways) that will verify them.
    audience: str = "capbroker-gateway"
    # "local" (encrypted files in data_dir) or "vault" (KV v2 through hvac; connection from
    # VAULT_ADDR, VAULT_TOKEN and CAPBROKER_VAULT_*, see broker.secrets.vault.config).
    secret_backend: str = "local"
    # Who signs capability tokens: "local" (keys generated here, private halves in the
    # secret backend) or "transit" (a Vault Transit ed25519 key; needs secret_backend vault).
    signer: str = "local"
    transit_mount: str = "transit"
    transit_key: str = "capbroker"
    # Transit keys that signed before transit_key (comma-separated; an algorithm change
    # with signer "transit"): published verify-only until their tokens have expired.
    transit_retired_keys: str = ""
    # What new signing keys sign with: "Ed25519" (published as JOSE "EdDSA"), "ES256" or
    # "RS256". With signer "transit" it must be the Transit key's type (docs/tokens.md).
    signing_algorithm: str = "Ed25519"
    # The algorithms verifiers accept, comma-separated (empty: all three); each only with a
    # key of its own type. Keep the old one listed while its tokens live after a change.
    token_algorithms: str = ""
    # A YAML file of TrustedIssuer documents (workload identity, docs/identity.md); empty:
    # agents authenticate only with capbroker credentials.
    trusted_issuers_file: str = ""
    # Gateway: its URL as agents address it (scheme, host, port, any path prefix a reverse
    # proxy adds), e.g. https://gateway.example.com; a DPoP proof's htu is checked against it
    # plus the request path. Empty: the scheme the gateway was reached with and the Host
    # header (docs/tokens.md, DPoP behind proxies).
    gateway_public_url: str = ""
    # DPoP proofs (RFC 9449): accepted this many seconds after their iat (plus 5 s of skew).
    dpop_max_age: int = 60
    # Global ceiling on any token's lifetime; templates may not exceed it.
    max_token_ttl: int = 3600
    # Clock skew tolerated when verifying tokens.
    leeway: int = 30
    # A new signing key is published this long before it starts signing, so verifiers
    # that cache the JWKS see it first.
    key_propagation_delay: int = 300
    max_body_bytes: int = 65536
    # How long a verified credential hash is remembered, sparing the slow hash per request.
    credential_cache_ttl: int = 60
    log_level: str = "info"
    # A file holding the first admin's credential (e.g. a mounted Kubernetes Secret). Empty:
    # the first start generates one and prints it once.
    bootstrap_admin_file: str = ""
    # How long a held call waits for its approval (and how long a granted one stays usable).
    approval_ttl: int = 900
    # Where gateways announce new pending approvals (empty: nowhere), and a file holding the
    # HMAC key that signs each delivery (required with a URL).
    approval_webhook_url: str = ""
    approval_webhook_secret_file: str = ""
    # Bounds on waiting for the database (docs/operations.md, failure modes): opening a
    # PostgreSQL connection, one statement (PostgreSQL's statement_timeout), and the most a
    # request waits for its write to commit before it is answered 503 database_unavailable.
    database_connect_timeout: float = 5.0
    database_statement_timeout: float = 10.0
    database_wait: float = 5.0
    # The most one secret-backend (Vault) operation may take, its retry included.
    secret_deadline: float = 3.0
    # Gateway: how long a provider's master key is used after it was read (it is read again
    # in the background after half of that).
    master_key_ttl: float = 60.0
    # Gateway: a call is forwarded only while its client waits: its decision durable within
    # this many seconds of its arrival, and the client still connected.
    decision_deadline: float = 10.0
    # Prometheus /metrics on a port of its own (0: off), bound to metrics_host; one process
    # each (not with --workers). Keep it private: it tells how the gateway is used.
    metrics_port: int = 0
    metrics_host: str = "127.0.0.1"
    # "text" (one line per record) or "json" (one JSON object per line).
    log_format: str = "text"
    # Both servers (broker and gateway; broker/httpguard.py): a request's head must arrive
    # within header_timeout of its first byte, its body within body_timeout of its head;
    # an idle keep-alive connection closes after idle_timeout; one client address may hold
    # max_connections_per_client open connections per process (0: no cap).
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    idle_timeout: float = 20.0
    max_connections_per_client: int = 64

    @property
    def effective_database_url(self) -> str:
        """The URL to connect to; with ``database_url_file``, read from that file now (the
        error names the file, never its content)."""
        if self.database_url_file:
            return read_database_url_file(Path(self.database_url_file))
        return self.database_url or f"sqlite:///{(self.data_dir / 'capbroker.db').resolve()}"

    @property
    def accepted_algorithms(self) -> tuple[str, ...]:
        """``token_algorithms`` as a list (checked when the settings were built)."""
        from broker.tokens import parse_algorithms

        return parse_algorithms(self.token_algorithms, what="token_algorithms")

    @property
    def effective_issuer(self) -> str:
        return self.issuer or f"http://{self.host}:{self.port}"


def read_database_url_file(path: Path) -> str:
    try:
        url = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
        raise InvalidRequest(f"database_url_file {path}: cannot be read ({why})") from None
    if not url:
        raise InvalidRequest(f"database_url_file {path}: is empty")
    return url


def load_settings(
    *,
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
) -> Settings:
    """Build settings. Unknown keys in the file or environment are errors, not silently ignored."""
    env = os.environ if environ is None else environ
    kinds = field_kinds(Settings)
    fields = {f.name for f in dataclasses.fields(Settings)}
    values: dict[str, object] = {}

    path = config_file or (
        Path(env[f"{ENV_PREFIX}CONFIG"]) if f"{ENV_PREFIX}CONFIG" in env else None
    )
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise InvalidRequest(f"config file {path}: cannot be read ({exc.strerror})") from None
        except yaml.YAMLError as exc:
            raise InvalidRequest(f"config file {path}: not valid YAML ({exc})") from None
        if not isinstance(loaded, dict):
            raise InvalidRequest(f"config file {path}: expected a mapping of settings")
        for key, raw in loaded.items():
            name = str(key).replace("-", "_")
            if name not in fields:
                raise unknown(f"config file {path}", f"setting {key!r}")
            values[name] = coerce(f"config file {path}: setting {key!r}", raw, kinds[name])

    for key, raw in env.items():
        if not key.startswith(ENV_PREFIX) or key in NOT_SETTINGS:
            continue
        if key.startswith(VAULT_PREFIX):
            _check_vault_variable(key)
            continue
        name = key[len(ENV_PREFIX) :].lower()
        if name not in fields:
            raise unknown(f"environment variable {key}")
        values[name] = coerce(f"environment variable {key}", raw, kinds[name])

    for name, raw in (overrides or {}).items():
        if raw is not None:
            values[name] = coerce(f"setting {name!r}", raw, kinds[name])

    settings = Settings(**values)  # type: ignore[arg-type]
    _check(settings)
    return settings


def _check_vault_variable(key: str) -> None:
    """A CAPBROKER_VAULT_* name must be one the Vault configuration reads (typos are errors);
    its value is checked by ``vault_config_from_env`` when the vault backend is built."""
    from broker.secrets.vault.config import ENV_VARIABLES

    if not any(key in names for names in ENV_VARIABLES.values()):
        raise unknown(f"environment variable {key}", "vault setting")


# In the order problems are reported.
LIMITS: Final = {
    # Capability tokens live minutes, not hours (DESIGN.md).
    "max_token_ttl": Limit(low=60, high=3600, unit=" seconds"),
    "leeway": Limit(low=0, high=300, unit=" seconds"),
    "dpop_max_age": Limit(low=1, high=600, unit=" seconds"),
    "secret_backend": Limit(choices=("local", "vault")),
    "signer": Limit(choices=("local", "transit")),
    "signing_algorithm": Limit(choices=("Ed25519", "ES256", "RS256")),
    "port": Limit(low=1, high=65535),
    "metrics_port": Limit(low=0, high=65535),
    "log_format": Limit(choices=("text", "json")),
    "max_body_bytes": Limit(low=1024),
    "database_pool_size": Limit(low=1, high=1000),
    "database_max_overflow": Limit(low=0, high=1000),
    "database_connect_timeout": Limit(low=2, high=300, unit=" seconds"),
    "database_statement_timeout": Limit(above=0, high=3600, unit=" seconds"),
    "database_wait": Limit(above=0, high=300, unit=" seconds"),
    "secret_deadline": Limit(above=0, high=300, unit=" seconds"),
    "master_key_ttl": Limit(above=0, high=86400, unit=" seconds"),
    "decision_deadline": Limit(above=0, high=3600, unit=" seconds"),
    "header_timeout": Limit(low=0.5, high=600, unit=" seconds"),
    "body_timeout": Limit(low=0.5, high=3600, unit=" seconds"),
    "idle_timeout": Limit(low=1, high=3600, unit=" seconds"),
    "max_connections_per_client": Limit(low=0, high=100_000),
}


def _algorithm_problems(settings: Settings) -> list[str]:
    from broker.tokens import InvalidKey, parse_algorithms

    try:
        accepted = parse_algorithms(settings.token_algorithms, what="token_algorithms")
    except InvalidKey as exc:
        return [str(exc)]
    if settings.signing_algorithm not in accepted:
        return [f"token_algorithms must include signing_algorithm {settings.signing_algorithm}"]
    return []


def _issuer_problems(issuer: str) -> list[str]:
    """RFC 8414 section 2: the issuer is an https URL without query or fragment, and the
    metadata is found by inserting the well-known path after its host, so no trailing
    slash either. http is allowed (the loopback default, an in-cluster Service); strict
    validators such as authlib's refuse it, as docs/tokens.md says."""
    if not issuer:
        return []
    try:
        parts = urlsplit(issuer)
    except ValueError:
        return ["issuer is not a URL"]
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return ["issuer must be an https (or http) URL with a host"]
    if "?" in issuer or "#" in issuer:  # also an empty query or fragment
        return ["issuer must have no query or fragment (RFC 8414 section 2)"]
    if parts.username is not None or parts.password is not None:
        return ["issuer must not carry user information"]
    if issuer.endswith("/"):
        return ["issuer must not end with / (RFC 8414 section 3 appends the well-known path)"]
    return []


def _public_url_problems(url: str) -> list[str]:
    """``gateway_public_url``: an http(s) URL with a host, no query, fragment or userinfo."""
    if not url:
        return []
    try:
        parts = urlsplit(url)
    except ValueError:
        return ["gateway_public_url is not a URL"]
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return ["gateway_public_url must be an https (or http) URL with a host"]
    if "?" in url or "#" in url or "@" in parts.netloc:
        return ["gateway_public_url must have no query, fragment or user information"]
    return []


def _check(settings: Settings) -> None:
    problems = [f"{name} {message}" for name, message in limit_problems(settings, LIMITS)]
    problems.extend(_issuer_problems(settings.issuer))
    problems.extend(_public_url_problems(settings.gateway_public_url))
    if settings.signer == "transit" and settings.secret_backend != "vault":
        problems.append("signer 'transit' needs secret_backend 'vault' (the same Vault)")
    problems.extend(_algorithm_problems(settings))
    if settings.database_url and settings.database_url_file:
        problems.append("database_url and database_url_file: set one, not both")
    if settings.approval_webhook_url and not settings.approval_webhook_secret_file:
        problems.append("approval_webhook_url needs approval_webhook_secret_file (the HMAC key)")
    if problems:
        raise InvalidRequest("invalid settings: " + "; ".join(problems))
