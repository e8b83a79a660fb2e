"""Capability-token verification: size cap, pinned header, signature, then claims."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from broker.tokens._jwa import ED25519, PublicKey
from broker.tokens._jws import verify_compact
from broker.tokens.claims import ClaimRules, VerifiedToken, check_claims
from broker.tokens.errors import InvalidToken

KeyResolver = Callable[[str], PublicKey | None]


class TokenVerifier:
    """Verifies offline against keys from ``resolve_key`` (kid -> key, None if unknown).

    ``algorithms`` is the allowlist (``Ed25519``, ``ES256``, ``RS256``); a token must also
    name the algorithm of the key its ``kid`` resolves to. Every refusal is one
    ``InvalidToken``; see its docstring for what it carries.
    """

    def __init__(
        self,
        resolve_key: KeyResolver,
        *,
        issuer: str,
        audience: str,
        leeway: float = 30,
        max_token_bytes: int = 8192,
        max_lifetime: float = 86400,
        algorithms: Iterable[str] = (ED25519,),
    ) -> None:
        self._resolve_key = resolve_key
        self._algorithms = frozenset(algorithms)
        self._max_token_bytes = max_token_bytes
        self._rules = ClaimRules(
            issuer=issuer, audience=audience, leeway=leeway, max_lifetime=max_lifetime
        )

    def __repr__(self) -> str:
        return (
            f"TokenVerifier(issuer={self._rules.issuer!r}, audience={self._rules.audience!r}, "
            f"algorithms={sorted(self._algorithms)!r})"
        )

    def verify(self, token: str, *, now: float) -> VerifiedToken:
        # Size before anything parses it; ASCII so characters and bytes count alike.
        if not isinstance(token, str) or len(token) > self._max_token_bytes:
            raise InvalidToken("token too large or not text")
        if not token.isascii():
            raise InvalidToken("token is not ASCII")
        kid, claims = verify_compact(token, self._resolve_key, algorithms=self._algorithms)
        return check_claims(claims, kid=kid, rules=self._rules, now=now)
