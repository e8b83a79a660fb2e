"""Claim checks (RFC 9068 / RFC 7519) on a payload whose signature already verified. Pure.

A correctly signed token is still checked member by member: its claims go on to the
grant, the decision and the audit event, all inside a group-commit batch, where a wrong
type would fail every request of the batch rather than this one. So every member the
gateway reads of our own ``capbroker_capability`` entry has its type checked here, and
the whole payload is held to ``broker/limits.py`` (depth, NUL, lone surrogates).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeGuard

from broker.errors import Reason
from broker.limits import InputProblem, check_document
from broker.tokens import delegation
from broker.tokens.errors import InvalidToken

CAPABILITY_TYPE = "capbroker_capability"  # our RFC 9396 type (tokens/grant.py writes it)

STRING_CLAIMS = ("iss", "sub", "jti", "sid", "client_id", "template")
TIME_CLAIMS = ("iat", "nbf", "exp")
REQUIRED_CLAIMS = (
    *STRING_CLAIMS,
    *TIME_CLAIMS,
    "aud",
    "template_version",
    "authorization_details",
)


@dataclass(frozen=True)
class VerifiedToken:
    """A token whose signature and claims were accepted. ``claims`` is read-only."""

    claims: Mapping[str, Any]
    kid: str
    jti: str
    sub: str
    sid: str
    client_id: str
    exp: float
    iat: float
    template: str
    template_version: int
    authorization_details: tuple[Mapping[str, Any], ...]
    cnf_jkt: str | None = None
    # Delegated tokens (``tokens/delegation.py``): ancestor jtis, root first, and the
    # principal ids of the ``act`` chain, current actor first; () for a root token.
    ancestors: tuple[str, ...] = ()
    actors: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClaimRules:
    issuer: str
    audience: str
    leeway: float
    max_lifetime: float


def is_number(value: object) -> TypeGuard[int | float]:
    # bool is an int subclass; true/false are not times.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _strings(value: object, *, non_empty: bool = False) -> bool:
    return (
        isinstance(value, list)
        and all(isinstance(v, str) and v for v in value)
        and (bool(value) or not non_empty)
    )


def _count(value: object, *, least: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def _capability_problem(detail: Mapping[str, Any]) -> str | None:
    """The first member of a ``capbroker_capability`` entry the gateway cannot read."""
    if not isinstance(detail.get("provider"), str) or not detail["provider"]:
        return "provider"
    for name in ("environments", "actions"):
        if not _strings(detail.get(name), non_empty=name == "environments"):
            return name
    for name in ("resources", "locations"):
        if name in detail and not _strings(detail[name]):
            return name
    budgets = detail.get("budgets", {})
    if not isinstance(budgets, dict) or any(
        budgets.get(k) is not None and not _count(budgets[k], least=0)
        for k in ("calls", "destructive_calls")
    ):
        return "budgets"
    approval = detail.get("approval", {})
    if not isinstance(approval, dict) or not (
        _strings(approval.get("actions", [])) and _count(approval.get("approvers", 1), least=1)
    ):
        return "approval"
    if not isinstance(detail.get("dry_run", False), bool):
        return "dry_run"
    return None


def _check_details(details: object) -> None:
    if not isinstance(details, list) or not details:
        raise InvalidToken("claim authorization_details is not a non-empty list")
    ours = 0
    for detail in details:
        # RFC 9396 section 2: every entry is an object with a string "type".
        if not isinstance(detail, dict) or not isinstance(detail.get("type"), str):
            raise InvalidToken("claim authorization_details holds an entry without type")
        if detail["type"] == CAPABILITY_TYPE:
            ours += 1
            member = _capability_problem(detail)
            if member is not None:
                raise InvalidToken(f"claim authorization_details has a malformed {member}")
    if ours > 1:
        raise InvalidToken("claim authorization_details holds more than one capability")


def _check_shapes(claims: Mapping[str, Any]) -> None:
    try:
        check_document(claims)
    except InputProblem as exc:
        name = exc.path.split(".", 1)[0].split("[", 1)[0]
        shown = name if name in REQUIRED_CLAIMS or name == "cnf" else "a claim"
        raise InvalidToken(f"{shown} nests too deeply or holds text no store can keep") from None
    for name in REQUIRED_CLAIMS:
        if name not in claims:
            raise InvalidToken(f"missing claim {name}")
    for name in STRING_CLAIMS:
        if not isinstance(claims[name], str) or not claims[name]:
            raise InvalidToken(f"claim {name} is not a non-empty string")
    for name in TIME_CLAIMS:
        if not is_number(claims[name]):
            raise InvalidToken(f"claim {name} is not a NumericDate")
    aud = claims["aud"]
    aud_ok = isinstance(aud, str) or (
        isinstance(aud, list) and aud and all(isinstance(a, str) for a in aud)
    )
    if not aud_ok:
        raise InvalidToken("claim aud is not a string or a non-empty list of strings")
    version = claims["template_version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise InvalidToken("claim template_version is not a positive integer")
    _check_details(claims["authorization_details"])
    if not isinstance(claims.get("scope", ""), str):
        raise InvalidToken("claim scope is not a string")
    cnf = claims.get("cnf")
    if cnf is not None and (not isinstance(cnf, dict) or not isinstance(cnf.get("jkt", ""), str)):
        raise InvalidToken("claim cnf is malformed")
    problem = delegation.claim_problem(claims)
    if problem is not None:
        raise InvalidToken(f"claim {problem} is malformed")


def check_claims(
    claims: dict[str, Any], *, kid: str, rules: ClaimRules, now: float
) -> VerifiedToken:
    _check_shapes(claims)
    if claims["iss"] != rules.issuer:
        raise InvalidToken("wrong iss")
    frozen = MappingProxyType(claims)
    aud = claims["aud"]
    if not (aud == rules.audience or (isinstance(aud, list) and rules.audience in aud)):
        raise InvalidToken("wrong aud", reason=Reason.AUDIENCE_MISMATCH, verified_claims=frozen)
    iat, nbf, exp = claims["iat"], claims["nbf"], claims["exp"]
    if exp <= iat or exp - iat > rules.max_lifetime:
        raise InvalidToken("lifetime exp - iat out of bounds")
    if iat > now + rules.leeway:
        raise InvalidToken("iat in the future")
    if nbf - rules.leeway > now:
        raise InvalidToken("not yet valid (nbf)")
    if now >= exp + rules.leeway:
        raise InvalidToken("expired", reason=Reason.TOKEN_EXPIRED, verified_claims=frozen)
    cnf = claims.get("cnf")
    return VerifiedToken(
        claims=frozen,
        kid=kid,
        jti=claims["jti"],
        sub=claims["sub"],
        sid=claims["sid"],
        client_id=claims["client_id"],
        exp=exp,
        iat=iat,
        template=claims["template"],
        template_version=claims["template_version"],
        authorization_details=tuple(MappingProxyType(d) for d in claims["authorization_details"]),
        cnf_jkt=cnf.get("jkt") if isinstance(cnf, dict) else None,
        ancestors=tuple(a.jti for a in delegation.ancestors(claims)),
        actors=tuple(a["sub"] for a in delegation.actors(claims)),
    )
