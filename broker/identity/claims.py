"""Claim checks on a workload token whose signature verified (pure; ``now`` is given)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from broker.identity.issuers import TrustedIssuer
from broker.identity.rules import agent_name
from broker.tokens import InvalidToken


@dataclass(frozen=True)
class WorkloadIdentity:
    """Who a verified workload token says the caller is."""

    issuer: str  # the TrustedIssuer's name
    agent: str  # the agent principal it maps to
    subject: str  # the token's sub, for the audit log
    jti: str | None
    exp: float


def _time(claims: Mapping[str, Any], name: str) -> float:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidToken(f"claim {name} is not a NumericDate")
    return float(value)


def _audience_ok(aud: object, accepted: tuple[str, ...]) -> bool:
    if isinstance(aud, str):
        return aud in accepted
    return isinstance(aud, list) and any(isinstance(a, str) and a in accepted for a in aud)


def check_workload_claims(
    claims: Mapping[str, Any], issuer: TrustedIssuer, *, now: float
) -> WorkloadIdentity:
    if claims.get("iss") != issuer.issuer:
        raise InvalidToken("wrong iss")
    if not _audience_ok(claims.get("aud"), issuer.audiences):
        raise InvalidToken("wrong aud")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise InvalidToken("claim sub is not a non-empty string")
    exp, iat = _time(claims, "exp"), _time(claims, "iat")
    nbf = _time(claims, "nbf") if "nbf" in claims else None
    if exp <= iat or exp - iat > issuer.max_lifetime:
        raise InvalidToken("lifetime exp - iat out of bounds")
    if iat > now + issuer.leeway:
        raise InvalidToken("iat in the future")
    if nbf is not None and nbf - issuer.leeway > now:
        raise InvalidToken("not yet valid (nbf)")
    if now >= exp + issuer.leeway:
        raise InvalidToken("expired")
    jti = claims.get("jti")
    if jti is not None and (not isinstance(jti, str) or not jti or len(jti) > 200):
        raise InvalidToken("claim jti is not a short non-empty string")
    if issuer.single_use and jti is None:
        raise InvalidToken("no jti, and this issuer's tokens are single-use")
    return WorkloadIdentity(issuer.name, agent_name(issuer.agents, claims), sub, jti, exp)
