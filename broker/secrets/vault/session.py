"""``VaultSession``: the authenticated connection to Vault/OpenBao that KV and Transit share.

``call`` runs one request with a valid token: the token is renewed lazily on use once
two thirds of its TTL have passed (no background thread: a store that is not used
needs no token, and an expired one is simply replaced by logging in again on the next
use). When renewal stops extending the token (it reached its max TTL), or renewal
fails, or Vault answers 403, the session logs in again once and retries once; a second
refusal fails closed. Every hvac and requests failure becomes a ``BrokerError``
(``broker.secrets.vault.errors``); logins are in ``broker.secrets.vault.login``.

TLS: the CA bundle and client certificate come from the configuration, and an optional
server name is sent and checked instead of the address's host name. ``requests`` has no
setting for that name; urllib3 does (``server_hostname`` for SNI, ``assert_hostname`` for
the certificate check), so a small adapter passes both to every HTTPS connection pool.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import hvac
import requests
from requests.adapters import HTTPAdapter

from broker.clock import Clock, system_clock
from broker.errors import BrokerError
from broker.secrets.base import SecretBackendUnavailable
from broker.secrets.vault import errors
from broker.secrets.vault.config import VaultConfig
from broker.secrets.vault.login import log_in

__all__ = ["RENEW_AFTER_FRACTION", "VaultAuthStatus", "VaultSession"]

log = logging.getLogger(__name__)

# Renew once this fraction of the token's TTL has passed.
RENEW_AFTER_FRACTION: Final = 2 / 3

_T = TypeVar("_T")


@dataclass(frozen=True)
class VaultAuthStatus:
    """What the session knows about its Vault token (no token): for health reports and tests."""

    method: str
    logged_in: bool
    accessor: str | None
    expires_at: float | None  # None: no expiry (or not logged in)
    renewable: bool
    logins: int
    renewals: int


class VaultSession:
    """One Vault address, login and token. Safe to share between threads."""

    def __init__(self, config: VaultConfig, *, clock: Clock = system_clock) -> None:
        self._config = config
        self._clock = clock
        verify: bool | str = str(config.ca_cert) if config.ca_cert is not None else True
        cert = (
            (str(config.client_cert), str(config.client_key))
            if config.client_cert is not None and config.client_key is not None
            else None
        )
        self._http = _http_session(config.tls_server_name, verify=verify, cert=cert)
        self._client: Any = hvac.Client(
            url=config.addr.rstrip("/"),
            namespace=config.namespace or None,
            verify=verify,
            cert=cert,
            timeout=(config.connect_timeout, config.timeout),  # requests: (connect, read)
            session=self._http,
        )
        self._auth_lock = threading.RLock()
        self._token: str | None = None
        self._accessor: str | None = None
        self._expires_at: float | None = None
        self._renew_at: float | None = None
        self._renewable = False
        self._logins = 0
        self._renewals = 0

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
        """Forget the token; close connections."""
        with self._auth_lock:
            self._forget_token()
        self._http.close()

    # -- requests --------------------------------------------------------------------------

    def call(
        self,
        operation: str,
        path: str,
        request: Callable[[Any], _T],
        *,
        missing: Callable[[], _T | BrokerError] | None = None,
    ) -> _T:
        """Run ``request(client)`` (``client``: the hvac client) with a valid token; on 403
        log in again once and retry once.

        A 404 becomes ``missing()`` (raised if it is an error, else returned); without
        ``missing`` it is a backend failure.
        """
        client = self._client
        for attempt in (1, 2):
            token = self._ensure_token()
            outcome = errors.attempt(self._config.addr, operation, path, lambda: request(client))
            if outcome is errors.MISSING:
                if missing is None:
                    raise errors.unavailable(
                        self._config.addr, operation, path, "nothing there (404)"
                    )
                answer = missing()
                if isinstance(answer, BrokerError):
                    raise answer
                return answer
            if outcome is not errors.FORBIDDEN:
                return outcome
            if attempt == 1:
                log.info("vault refused %s %s (403); logging in again", operation, path)
                self._relogin(token)
        log.warning("vault %s %s: permission denied after logging in again", operation, path)
        raise SecretBackendUnavailable(
            f"vault at {self._config.addr} denied {operation} on {path} "
            "(permission denied): check the policy of the broker's Vault role"
        )

    def parse(self, path: str, extract: Callable[[], _T]) -> _T:
        """``extract()`` from a response of ``path``; another shape is a backend failure."""
        return errors.parse(self._config.addr, path, extract)

    # -- the Vault token -------------------------------------------------------------------

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
            response = errors.attempt(
                self._config.addr,
                "renew token",
                "auth/token/renew-self",
                self._client.auth.token.renew_self,
            )
            if isinstance(response, errors.Signal):
                log.info("vault token renewal refused; logging in again")
            else:
                lease = self.parse(
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
        now = self._clock()
        lease = log_in(self._client, self._config)
        self._token = lease.token
        self._accessor = lease.accessor
        self._set_lease(now, lease.ttl, renewable=lease.renewable)
        self._logins += 1
        log.info("vault login (%s) succeeded; token ttl %ss", self._config.auth, lease.ttl)


class _ServerNameAdapter(HTTPAdapter):
    """Connects to the configured address but sends and verifies ``server_name``."""

    def __init__(self, server_name: str) -> None:
        self._server_name = server_name  # read by init_poolmanager, which __init__ calls
        super().__init__()

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        pool_kwargs["server_hostname"] = self._server_name
        pool_kwargs["assert_hostname"] = self._server_name
        super().init_poolmanager(connections, maxsize, block=block, **pool_kwargs)


def _http_session(
    server_name: str | None, *, verify: bool | str, cert: tuple[str, str] | None
) -> requests.Session:
    """The ``requests`` session under hvac. ``verify`` and ``cert`` are set here because
    hvac prefers a given session's own settings (its default ``verify=True``) over its
    arguments."""
    session = requests.Session()
    session.verify = verify
    session.cert = cert
    # Never pick up proxies or a netrc from the environment for the secret backend:
    # a proxy would see the Vault token in every request header.
    session.trust_env = False
    if server_name:
        session.mount("https://", _ServerNameAdapter(server_name))
    return session
