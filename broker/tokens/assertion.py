"""Claim checks on a client assertion whose signature verified (RFC 7523 section 3, OIDC
Core section 9 ``private_key_jwt``). Pure: ``now`` and the accepted audiences are given.

- ``iss`` and ``sub`` are both the client's ``client_id``;
- ``aud`` is one string or a list, and every member is an accepted audience: the issuer
  identifier, or the URL of the endpoint the assertion was sent to (docs/decisions: an
  assertion meant also for someone else is refused, so it cannot be replayed here);
- ``exp`` is required, in the future (leeway), and at most ``max_lifetime`` ahead;
- ``iat`` and ``nbf`` are optional; when present, not in the future (leeway), and ``iat``
  at most ``max_lifetime`` before ``exp``;
- ``jti`` is required (the caller spends it once: ``broker.tokens.replay``).

Each refusal is one ``InvalidToken`` whose ``audit_detail`` names the cause.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from broker.tokens.claims import is_number
from broker.tokens.errors import InvalidToken

MAX_ASSERTION_LIFETIME = 3600  # authlib's PrivateKeyJWT signs exp = iat + 3600, fixed
MAX_JTI = 200


@dataclass(frozen=True)
class AssertionClaims:
    client_id: str
    jti: str
    exp: float


def _time(claims: Mapping[str, Any], name: str) -> float | None:
    if name not in claims:
        return None
    value = claims[name]
    if not is_number(value):
        raise InvalidToken(f"claim {name} is not a NumericDate")
    return float(value)


def _audience_ok(aud: object, accepted: Collection[str]) -> bool:
    if isinstance(aud, str):
        return aud in accepted
    return (
        isinstance(aud, list)
        and bool(aud)
        and all(isinstance(a, str) and a in accepted for a in aud)
    )


def check_assertion_claims(
    claims: Mapping[str, Any],
    *,
    client_id: str,
    audiences: Collection[str],
    now: float,
    leeway: float,
    max_lifetime: float = MAX_ASSERTION_LIFETIME,
) -> AssertionClaims:
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise InvalidToken("iss and sub must both be the client_id")
    if not _audience_ok(claims.get("aud"), audiences):
        raise InvalidToken("wrong aud")
    exp = _time(claims, "exp")
    if exp is None:
        raise InvalidToken("claim exp missing")
    if now >= exp + leeway:
        raise InvalidToken("expired")
    if exp > now + max_lifetime + leeway:
        raise InvalidToken("exp too far ahead")
    iat, nbf = _time(claims, "iat"), _time(claims, "nbf")
    if iat is not None and (iat > now + leeway or exp - iat > max_lifetime):
        raise InvalidToken("iat in the future or too long before exp")
    if nbf is not None and nbf > now + leeway:
        raise InvalidToken("not yet valid (nbf)")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI:
        raise InvalidToken("claim jti is not a short non-empty string")
    return AssertionClaims(client_id, jti, exp)
