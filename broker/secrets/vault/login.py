"""Logging in to Vault by the configured method: ``token``, ``approle`` or ``kubernetes``.

``token`` is a static token, or a token file re-read on every login (e.g. a Vault Agent
sink); ``approle`` takes role_id and secret_id from values or files, files re-read on
every login; ``kubernetes`` reads the service-account JWT file on every login because
projected tokens rotate. Credentials never reach a log or an error.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from broker.secrets.base import SecretBackendUnavailable
from broker.secrets.vault.config import VaultConfig
from broker.secrets.vault.errors import Signal, attempt, parse

__all__ = ["Lease", "log_in"]

log = logging.getLogger(__name__)

# A credential file larger than this is refused (a JWT is a few KiB).
_MAX_CREDENTIAL_FILE_BYTES: Final = 64 * 1024


@dataclass(frozen=True)
class Lease:
    """A Vault token and what Vault said about it. ``ttl`` 0: no expiry."""

    token: str = dataclasses.field(repr=False)
    ttl: int
    renewable: bool
    accessor: str | None


def log_in(client: Any, config: VaultConfig) -> Lease:
    """Log in by ``config.auth``; on success ``client`` carries the new token."""
    if config.auth == "token":
        return _token_login(client, config)
    response = _method_login(client, config)
    token, ttl, renewable, accessor = parse(
        config.addr,
        f"auth/{config.auth} login",
        lambda: (
            str(response["auth"]["client_token"]),
            int(response["auth"]["lease_duration"] or 0),
            bool(response["auth"]["renewable"]),
            str(response["auth"].get("accessor") or ""),
        ),
    )
    if not token:
        raise SecretBackendUnavailable(f"vault {config.auth} login returned no token")
    client.token = token
    return Lease(token, ttl, renewable, accessor or None)


def _token_login(client: Any, config: VaultConfig) -> Lease:
    """A given token is checked (and its TTL learnt) by looking it up."""
    token = config.token or read_credential(config.token_file, "token")
    client.token = token
    looked_up = attempt(
        config.addr, "look up token", "auth/token/lookup-self", client.auth.token.lookup_self
    )
    if isinstance(looked_up, Signal):
        client.token = None
        log.warning("vault rejected the configured token (%s)", looked_up.value[:3])
        raise SecretBackendUnavailable(
            f"vault at {config.addr} rejected the configured token "
            "(expired, revoked or not allowed to look itself up)"
        )
    ttl, renewable, accessor = parse(
        config.addr,
        "auth/token/lookup-self",
        lambda: (
            int(looked_up["data"]["ttl"] or 0),
            bool(looked_up["data"].get("renewable")),
            str(looked_up["data"].get("accessor") or ""),
        ),
    )
    return Lease(token, ttl, renewable, accessor or None)


def _method_login(client: Any, config: VaultConfig) -> Any:
    """The AppRole or Kubernetes login response (not yet parsed)."""
    client.token = None
    if config.auth == "approle":
        role_id = config.role_id or read_credential(config.role_id_file, "role_id")
        secret_id = config.secret_id or read_credential(config.secret_id_file, "secret_id")
        mount = config.approle_mount
        login: Callable[[], Any] = lambda: client.auth.approle.login(  # noqa: E731
            role_id=role_id, secret_id=secret_id, use_token=False, mount_point=mount
        )
    else:
        jwt = read_credential(config.kubernetes_jwt_file, "service-account token")
        role = config.kubernetes_role
        mount = config.kubernetes_mount
        login = lambda: client.auth.kubernetes.login(  # noqa: E731
            role=role, jwt=jwt, use_token=False, mount_point=mount
        )
    # Vault answers 400 for bad AppRole credentials (unavailable, from attempt),
    # 403 for a refused Kubernetes JWT, 404 for an auth mount that does not exist.
    response = attempt(config.addr, "login", f"auth/{mount}/login", login)
    if not isinstance(response, Signal):
        return response
    log.warning("vault %s login refused (%s)", config.auth, response.value[:3])
    raise SecretBackendUnavailable(
        f"vault at {config.addr} refused the {config.auth} login at auth/{mount}"
    )


def read_credential(path: Path | None, what: str) -> str:
    """A credential file's text, stripped; unreadable, empty or oversized is a failure."""
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
            failure = SecretBackendUnavailable(f"the vault {what} file {path} is empty or too big")
        else:
            return text
    raise failure
