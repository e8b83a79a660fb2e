"""Stage 3: who is calling, and may they still: the capability token, verified offline, for
this provider, not revoked, not stopped by a kill switch, against a current revocation set.

The grant the rest of the pipeline enforces is the token's own met with its template's
current version (``domain/following.py``): a narrower newer version applies to live
tokens, a wider one never does, and a template gone from the store stops its tokens.
"""

from __future__ import annotations

from broker.domain.delegation import least
from broker.domain.following import Lapse, follow_template
from broker.domain.grants import Grant
from broker.errors import Denied, InvalidRequest, Reason, Unavailable
from broker.gateway.expiring import ExpiringCache
from broker.gateway.headers import RawHeaders
from broker.gateway.outcome import Attempt
from broker.gateway.revocations import RevocationFeed
from broker.gateway.route import ProviderRoute
from broker.gateway.sender import CallTarget, check_sender, presented
from broker.gateway.tokens import VerifiedTokens
from broker.tokens import InvalidToken, VerifiedToken
from broker.tokens.delegation import Ancestor, ancestors
from broker.tokens.dpop import DPoPVerifier
from broker.tokens.grant import grant_from_token

MAX_GRANTS = 20_000


def _grant(token: VerifiedToken) -> Grant:
    """The token's grant; a signed token without our capability entry is refused as a
    token (401, audited), like any other malformed claim (``tokens/claims.py``)."""
    try:
        return grant_from_token(token)
    except InvalidRequest:
        raise InvalidToken("claim authorization_details holds no capability") from None


class Authenticator:
    def __init__(
        self, tokens: VerifiedTokens, feed: RevocationFeed, *, dpop: DPoPVerifier | None = None
    ) -> None:
        self.tokens, self.feed = tokens, feed
        # DPoP proofs (``sender.py``): one bounded jti cache per gateway process
        self.dpop = dpop if dpop is not None else DPoPVerifier()
        # Per token, kept until it expires (swept, and bounded: ``expiring.py``).
        self._grants: ExpiringCache[str, Grant] = ExpiringCache(MAX_GRANTS)  # jti -> grant
        # jti -> (template version met, what it gave): met again only when a version lands
        self._followed: ExpiringCache[str, tuple[int, Grant | Lapse]] = ExpiringCache(MAX_GRANTS)

    def sweep(self, now: float) -> int:
        """Forget what was kept about tokens expired by ``now``."""
        return self.tokens.sweep(now) + self._grants.sweep(now) + self._followed.sweep(now)

    async def authenticate(
        self,
        headers: RawHeaders,
        route: ProviderRoute,
        attempt: Attempt,
        *,
        call: CallTarget | None,
    ) -> tuple[VerifiedToken, Grant]:
        """``call``: the request a DPoP proof must sign; None only where no request is
        made yet (the proxy's CONNECT: each request in its tunnel is checked)."""
        shown = presented(headers)
        token = attempt.token = await self.tokens.verify_async(shown.token)
        if call is not None:
            check_sender(shown, token, call, verifier=self.dpop, now=self.tokens.clock())
        grant = self._grants.get(token.jti, self.tokens.clock())
        if grant is None:
            grant = _grant(token)
            self._grants.put(token.jti, grant, self.tokens.expiry(token))
        if grant.provider != route.name:
            raise Denied("the token is for another provider", reason=Reason.AUDIENCE_MISMATCH)
        if self.feed.stale():
            raise Unavailable(
                "revocations are not current; refusing until they are",
                reason=Reason.DATABASE_UNAVAILABLE,
            )
        revocations = self.feed.revocations
        if revocations.revoked(token.jti, token.sid):
            raise Denied("the token has been revoked", reason=Reason.TOKEN_REVOKED)
        if revocations.any_revoked(token.ancestors):  # delegated: its parent's fate too
            raise Denied(
                "a token this one was delegated from has been revoked",
                reason=Reason.TOKEN_REVOKED,
            )
        kill = revocations.killed_any(
            (token.sub, *token.actors), template=token.template, provider=grant.provider
        )
        if kill is not None:
            raise Denied(
                f"a kill switch stops {kill.scope} {kill.label}", reason=Reason.KILL_SWITCH
            )
        if token.ancestors:
            attempt.ancestors = self.ancestors(token)
        return token, self.following(token, grant)

    def ancestors(self, token: VerifiedToken) -> tuple[Ancestor, ...]:
        """A delegated token's ancestors, each budget no more than the template's current
        version offers (a narrowing binds the ancestors' counters as it binds the token)."""
        current = self.feed.revocations.templates.get(token.template)
        found = ancestors(token.claims)
        if current is None or current.version < token.template_version:
            return found  # the feed is behind the token: following.py decides what stands
        offered = current.template.budgets
        return tuple(Ancestor(a.jti, least(a.budgets, offered)) for a in found)

    def following(self, token: VerifiedToken, grant: Grant) -> Grant:
        """The token's grant as its template's current version still allows it."""
        current = self.feed.revocations.templates.get(token.template)
        if current is None or current.version < token.template_version:
            # Unknown to a read made after the token was issued: the template (or that
            # version) left the store. Before such a read, the feed may just be behind.
            if self.feed.read_after(token.iat):
                raise Denied(
                    f"template {token.template!r} no longer exists", reason=Reason.TOKEN_REVOKED
                )
            return grant
        if current.version == token.template_version:
            return grant
        met = self._followed.get(token.jti, self.tokens.clock())
        if met is None or met[0] != current.version:
            met = (current.version, follow_template(grant, current))
            self._followed.put(token.jti, met, self.tokens.expiry(token))
        if isinstance(met[1], Lapse):
            raise Denied(met[1].detail, reason=met[1].reason)
        return met[1]
