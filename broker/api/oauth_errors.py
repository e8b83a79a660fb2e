"""capbroker's refusals as RFC 6749 section 5.2 errors, for every answer under ``/oauth/``.

One pure table maps a reason code to the OAuth ``error`` a client library raises on and
the status it expects; the body keeps capbroker's stable ``code`` and the caller-visible
extras of the problem body (``broker.problems``, the one place extras are filtered).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from broker.errors import BrokerError, Reason
from broker.problems import problem_body

OAUTH_PREFIX = "/oauth/"


@dataclass(frozen=True)
class OAuthError:
    error: str
    status: int | None  # None: keep the refusal's own status (404, 405, 413)


_BAD_REQUEST = OAuthError("invalid_request", 400)
# RFC 6749 5.2, RFC 8693 2.2.2, RFC 8707 2, RFC 9396 5, RFC 7009 2.2.1, RFC 9449 5.
OAUTH_ERRORS: dict[Reason, OAuthError] = {
    Reason.INVALID_REQUEST: _BAD_REQUEST,
    Reason.UNSUPPORTED_MEDIA_TYPE: _BAD_REQUEST,
    Reason.BODY_TOO_LARGE: OAuthError("invalid_request", None),
    Reason.NOT_FOUND: OAuthError("invalid_request", None),
    Reason.TTL_TOO_LONG: _BAD_REQUEST,  # expires_in is a parameter out of range
    Reason.SESSION_NOT_FOUND: _BAD_REQUEST,  # session_id names nothing of the agent's
    Reason.UNSUPPORTED_GRANT_TYPE: OAuthError("unsupported_grant_type", 400),
    # The subject token is the grant: not valid, disabled, stopped, or its session ended.
    Reason.INVALID_GRANT: OAuthError("invalid_grant", 400),
    Reason.KILL_SWITCH: OAuthError("invalid_grant", 400),
    Reason.SESSION_ENDED: OAuthError("invalid_grant", 400),
    # Delegation (RFC 8693): the subject token cannot be delegated (further).
    Reason.TOKEN_REVOKED: OAuthError("invalid_grant", 400),
    Reason.TOKEN_EXPIRED: OAuthError("invalid_grant", 400),
    Reason.DELEGATION_NOT_ALLOWED: OAuthError("invalid_grant", 400),
    Reason.DELEGATION_TOO_DEEP: OAuthError("invalid_grant", 400),
    # The verbs asked for are the scope.
    Reason.VERB_NOT_GRANTED: OAuthError("invalid_scope", 400),
    Reason.FORBIDDEN_VERB: OAuthError("invalid_scope", 400),
    # Template, environment and resources are the authorization details.
    Reason.UNKNOWN_TEMPLATE: OAuthError("invalid_authorization_details", 400),
    Reason.AGENT_NOT_ALLOWED: OAuthError("invalid_authorization_details", 400),
    Reason.ENVIRONMENT_NOT_GRANTED: OAuthError("invalid_authorization_details", 400),
    Reason.RESOURCE_NOT_GRANTED: OAuthError("invalid_authorization_details", 400),
    Reason.BUDGET_EXHAUSTED: OAuthError("invalid_authorization_details", 400),
    Reason.INVALID_AUTHORIZATION_DETAILS: OAuthError("invalid_authorization_details", 400),
    Reason.INVALID_TARGET: OAuthError("invalid_target", 400),
    # RFC 9449 5 / 12.3: a DPoP proof missing (the template requires one) or not accepted.
    Reason.INVALID_DPOP_PROOF: OAuthError("invalid_dpop_proof", 400),
    # The caller of introspection or revocation did not authenticate as a client.
    Reason.UNAUTHENTICATED: OAuthError("invalid_client", 401),
    Reason.CREDENTIAL_INVALID: OAuthError("invalid_client", 401),
    Reason.CREDENTIAL_DISABLED: OAuthError("invalid_client", 401),
    Reason.INVALID_CLIENT: OAuthError("invalid_client", 401),
    Reason.ADMIN_REQUIRED: OAuthError("insufficient_scope", 403),
    Reason.INSUFFICIENT_SCOPE: OAuthError("insufficient_scope", 403),
}
# Registered (IANA "OAuth Extensions Error Registry") for the authorization endpoint;
# the token endpoint has no code of its own for a fault, and clients read these.
_SERVER_ERROR = OAuthError("server_error", 500)
_UNAVAILABLE = OAuthError("temporarily_unavailable", 503)
# RFC 6749 5.2: error_description is %x20-21 / %x23-5B / %x5D-7E.
_NOT_ALLOWED = re.compile(r"[^\x20-\x21\x23-\x5b\x5d-\x7e]")
_PROBLEM_ONLY = frozenset({"type", "title", "status", "detail", "instance", "code", "error"})


def oauth_error(reason: Reason, status: int) -> OAuthError:
    """The OAuth error for a refusal with ``reason`` and HTTP ``status``."""
    known = OAUTH_ERRORS.get(reason)
    if known is not None:
        return known
    if status >= 500:
        return _UNAVAILABLE if status == 503 else _SERVER_ERROR
    return OAuthError("invalid_request", status)


def description(detail: str) -> str:
    """``detail`` in the characters RFC 6749 allows (quotes become apostrophes)."""
    return _NOT_ALLOWED.sub("?", detail.replace('"', "'").replace("\\", "/"))[:500]


def oauth_body(error: BrokerError, *, status: int | None = None) -> tuple[int, dict[str, Any]]:
    """The status and JSON body of ``error`` at an OAuth endpoint. A ``status`` given (a
    framework's own refusal: 404, 405, 413) is kept; else the table's applies."""
    problem = problem_body(error, status=status)
    mapped = oauth_error(error.reason, problem["status"])
    body: dict[str, Any] = {
        "error": mapped.error,
        "error_description": description(problem["detail"]),
        "code": problem["code"],
    }
    body.update((k, v) for k, v in problem.items() if k not in _PROBLEM_ONLY)
    return status or mapped.status or problem["status"], body


def challenge(error: str, authorization: str) -> str | None:
    """The ``WWW-Authenticate`` value for a refused client (RFC 6749 5.2, RFC 6750 3), in
    the scheme the client used; None when none is due."""
    if error not in ("invalid_client", "insufficient_scope"):
        return None
    scheme = "Basic" if authorization.lower().startswith("basic ") else "Bearer"
    if error == "insufficient_scope":
        return f'Bearer realm="capbroker", error="{error}"'
    return f'{scheme} realm="capbroker"'
