"""The one exception tree. Every refusal carries a stable reason code.

Domain code raises these; the HTTP edge (``broker.api.problems``) and the CLI
translate them once. Internal faults are anything that is not a ``BrokerError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, ClassVar


class Reason(StrEnum):
    """Stable machine-readable reason codes (part of the public contract)."""

    # request shape
    INVALID_REQUEST = "invalid_request"
    BODY_TOO_LARGE = "body_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    INVALID_MANIFEST = "invalid_manifest"
    REQUEST_TIMEOUT = "request_timeout"  # a request's head or body did not arrive in time
    TOO_MANY_CONNECTIONS = "too_many_connections"  # one client address's connection cap
    # authentication
    UNAUTHENTICATED = "unauthenticated"
    CREDENTIAL_INVALID = "credential_invalid"
    CREDENTIAL_DISABLED = "credential_disabled"
    ADMIN_REQUIRED = "admin_required"
    # tokens
    TOKEN_INVALID = "token_invalid"
    TOKEN_EXPIRED = "token_expired"
    TOKEN_REVOKED = "token_revoked"
    KILL_SWITCH = "kill_switch_engaged"
    AUDIENCE_MISMATCH = "audience_mismatch"
    # grant decisions
    UNKNOWN_TEMPLATE = "unknown_template"
    AGENT_NOT_ALLOWED = "agent_not_allowed"
    VERB_NOT_GRANTED = "verb_not_granted"
    ENVIRONMENT_NOT_GRANTED = "environment_not_granted"
    ENVIRONMENT_UNRESOLVED = "environment_unresolved"
    RESOURCE_NOT_GRANTED = "resource_not_granted"
    FORBIDDEN_VERB = "forbidden_verb"
    TTL_TOO_LONG = "ttl_too_long"
    DELEGATION_NOT_ALLOWED = "delegation_not_allowed"  # the template does not opt in
    DELEGATION_TOO_DEEP = "delegation_too_deep"  # the chain is as long as allowed
    BUDGET_EXHAUSTED = "budget_exhausted"
    APPROVAL_REQUIRED = "approval_required"
    APPROVAL_DENIED = "approval_denied"
    UNKNOWN_ROUTE = "unknown_route"
    ROUTE_REFUSED = "route_refused"  # the route map names the call only to refuse it
    RELATION_UNPROVEN = "relation_unproven"  # a relation the call asserts did not hold
    # sessions and objects
    SESSION_NOT_FOUND = "session_not_found"
    SESSION_ENDED = "session_ended"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    # OAuth (RFC 6749 section 5.2 / RFC 8693)
    UNSUPPORTED_GRANT_TYPE = "unsupported_grant_type"
    INVALID_GRANT = "invalid_grant"
    INVALID_CLIENT = "invalid_client"  # a resource server's client authentication failed
    INVALID_TARGET = "invalid_target"  # RFC 8707 / RFC 8693: audience, resource
    INVALID_AUTHORIZATION_DETAILS = "invalid_authorization_details"  # RFC 9396
    INSUFFICIENT_SCOPE = "insufficient_scope"  # RFC 6750: a valid credential, the wrong role
    # RFC 9449 DPoP: a proof missing, malformed, replayed or for another call; a token whose
    # binding (cnf.jkt) does not match how it was presented (Bearer, another key)
    INVALID_DPOP_PROOF = "invalid_dpop_proof"
    DPOP_BINDING_MISMATCH = "dpop_binding_mismatch"
    # availability
    SECRET_BACKEND_UNAVAILABLE = "secret_backend_unavailable"
    BROKER_UNAVAILABLE = "broker_unavailable"
    UPSTREAM_UNAVAILABLE = "upstream_unavailable"
    DATABASE_UNAVAILABLE = "database_unavailable"
    DISK_FULL = "disk_full"  # the database's disk or file system is full (a 503)
    AUDIT_UNAVAILABLE = "audit_unavailable"
    # the gateway forwards a call only while its client waits (nothing was forwarded)
    DECISION_TIMEOUT = "decision_timeout"
    CLIENT_GONE = "client_gone"
    # a trusted issuer's JWKS cannot be fetched (workload identity, broker.identity)
    ISSUER_UNAVAILABLE = "issuer_unavailable"
    INTERNAL_ERROR = "internal_error"


class BrokerError(Exception):
    """A refusal or fault the caller may be told about.

    ``detail`` is shown to the caller, so it must never contain a secret.
    """

    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"
    default_reason: ClassVar[Reason] = Reason.INTERNAL_ERROR

    def __init__(
        self,
        detail: str,
        *,
        reason: Reason | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.reason = reason or self.default_reason
        self.extra: dict[str, Any] = dict(extra or {})


class InvalidRequest(BrokerError):
    status = 400
    title = "Invalid request"
    default_reason = Reason.INVALID_REQUEST


class Unauthenticated(BrokerError):
    status = 401
    title = "Authentication required"
    default_reason = Reason.UNAUTHENTICATED


class Denied(BrokerError):
    """A policy decision said no."""

    status = 403
    title = "Denied"
    default_reason = Reason.VERB_NOT_GRANTED


class NotFound(BrokerError):
    status = 404
    title = "Not found"
    default_reason = Reason.NOT_FOUND


class Conflict(BrokerError):
    status = 409
    title = "Conflict"
    default_reason = Reason.CONFLICT


class UnsupportedMediaType(BrokerError):
    status = 415
    title = "Unsupported media type"
    default_reason = Reason.UNSUPPORTED_MEDIA_TYPE


class PayloadTooLarge(BrokerError):
    status = 413
    title = "Payload too large"
    default_reason = Reason.BODY_TOO_LARGE


class Unavailable(BrokerError):
    """A dependency (database, secret backend, audit) cannot be used: fail closed."""

    status = 503
    title = "Service unavailable"
    default_reason = Reason.DATABASE_UNAVAILABLE
