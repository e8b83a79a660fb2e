"""Stage 3: who is calling, and may they still: the capability token, verified offline, for
this provider, not revoked, not stopped by a kill switch, against a current revocation set."""

from __future__ import annotations

from broker.domain.grants import Grant
from broker.errors import Denied, Reason, Unavailable
from broker.gateway.headers import RawHeaders
from broker.gateway.outcome import Attempt
from broker.gateway.revocations import RevocationFeed
from broker.gateway.route import ProviderRoute
from broker.gateway.tokens import VerifiedTokens
from broker.tokens import InvalidToken, VerifiedToken
from broker.tokens.grant import grant_from_token

MAX_GRANTS = 100_000


def bearer_token(headers: RawHeaders) -> str:
    """The one ``Authorization: Bearer`` credential, or ``InvalidToken``."""
    values = [v for k, v in headers if k.lower() == b"authorization"]
    if len(values) != 1:
        raise InvalidToken("missing or repeated Authorization header")
    scheme, _, token = values[0].decode("latin-1").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("not a Bearer token")
    return token.strip()


class Authenticator:
    def __init__(self, tokens: VerifiedTokens, feed: RevocationFeed) -> None:
        self.tokens, self.feed = tokens, feed
        self._grants: dict[str, Grant] = {}  # jti -> its grant, parsed once

    def authenticate(
        self, headers: RawHeaders, route: ProviderRoute, attempt: Attempt
    ) -> tuple[VerifiedToken, Grant]:
        token = attempt.token = self.tokens.verify(bearer_token(headers))
        grant = self._grants.get(token.jti)
        if grant is None:
            if len(self._grants) > MAX_GRANTS:
                self._grants.clear()
            grant = self._grants[token.jti] = grant_from_token(token)
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
        kill = revocations.killed(
            agent_id=token.sub, template=token.template, provider=grant.provider
        )
        if kill is not None:
            raise Denied(
                f"a kill switch stops {kill.scope} {kill.label}", reason=Reason.KILL_SWITCH
            )
        return token, grant
