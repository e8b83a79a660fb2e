"""Token and key errors. Callers see one opaque text; the cause goes to the audit log."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from broker.errors import InvalidRequest, Reason, Unauthenticated, Unavailable

OPAQUE_DETAIL = "the capability token was not accepted"


class InvalidToken(Unauthenticated):
    """Any refused token. ``detail`` never varies, so the caller learns nothing.

    ``reason`` is ``token_invalid`` unless the signature verified, when it may be
    ``token_expired`` or ``audience_mismatch``. ``audit_detail`` names the precise
    cause from a fixed vocabulary; it never holds token bytes or key material.
    ``verified_claims`` is set only when the signature verified (for the audit log).
    """

    def __init__(
        self,
        audit_detail: str,
        *,
        reason: Reason = Reason.TOKEN_INVALID,
        verified_claims: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(OPAQUE_DETAIL, reason=reason)
        self.audit_detail = audit_detail
        self.verified_claims = verified_claims


class InvalidKey(InvalidRequest):
    """Key material or a JWK that cannot be used. The message never holds key bytes."""


class NoSigningKey(Unavailable):
    """No key may sign now: tokens cannot be issued until one is active (a 503; the CLI
    exits 3 for it, as for every ``Unavailable``)."""

    default_reason = Reason.INTERNAL_ERROR
