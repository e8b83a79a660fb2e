"""One Vault request, with every hvac and requests failure translated into our errors.

A 403 and KV's own 404 come back as a ``Signal`` for the session to act on (log in
again, or "not found"); everything else becomes ``SecretBackendUnavailable``, raised
outside the ``except`` block so that no hvac exception (whose text may carry URLs and
response bodies) is chained onto ours. Logs carry at most the operation, the Vault path
and the HTTP status class; never a token, secret_id, JWT or value.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from typing import Final, TypeVar

import hvac.exceptions

from broker.errors import BrokerError
from broker.secrets.base import SecretBackendUnavailable

__all__ = ["FORBIDDEN", "MISSING", "Signal", "attempt", "parse", "unavailable"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")


class Signal(enum.Enum):
    FORBIDDEN = "403: the token was refused for this request"
    MISSING = "404: KV has nothing at this path"


FORBIDDEN: Final = Signal.FORBIDDEN
MISSING: Final = Signal.MISSING


def attempt(addr: str, operation: str, path: str, request: Callable[[], _T]) -> _T | Signal:
    """One request. A 403 or a KV 404 comes back as a signal; any other hvac or requests
    exception becomes ``SecretBackendUnavailable``. Nothing is raised inside an
    ``except`` block, so no hvac exception (its text can hold URLs and response bodies)
    hangs on ours as ``__context__``."""
    failure: BrokerError
    try:
        return request()
    except hvac.exceptions.Forbidden:
        return FORBIDDEN
    except hvac.exceptions.InvalidPath as exc:
        if not exc.errors:  # KV's own "no such secret" carries no error text
            return MISSING
        # "no handler for route": a wrong mount or path, not a missing secret.
        failure = unavailable(addr, operation, path, "no such mount or route (404)")
    except hvac.exceptions.VaultError as exc:
        failure = unavailable(addr, operation, path, _describe_vault_error(exc))
    except OSError as exc:  # requests' ConnectionError, Timeout, SSLError are OSErrors
        failure = unavailable(addr, operation, path, _describe_os_error(exc))
    except ValueError:  # a body that is not JSON
        failure = unavailable(addr, operation, path, "an unreadable response")
    raise failure


def unavailable(addr: str, operation: str, path: str, what: str) -> SecretBackendUnavailable:
    log.warning("vault %s %s failed: %s", operation, path, what)
    return SecretBackendUnavailable(
        f"secret backend unavailable: vault at {addr} ({what}) during {operation} of {path}"
    )


def parse(addr: str, path: str, extract: Callable[[], _T]) -> _T:
    """``extract()`` from a response; a response of another shape is a backend failure."""
    try:
        return extract()
    except (KeyError, TypeError, ValueError, IndexError):
        failure = SecretBackendUnavailable(f"unexpected response from vault at {addr} for {path}")
    log.warning("vault response for %s had an unexpected shape", path)
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
