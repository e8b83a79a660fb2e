"""``private_key_jwt`` (RFC 7523 section 2.2, OIDC Core section 9): a resource server
authenticates to introspection and revocation with a JWT signed by a key registered for it.

Steps, each refusal one ``invalid_client`` with a fixed text (the cause is never told to
the caller): size cap and strict parsing; the unverified ``iss`` names the resource server
(a ``client_id`` sent beside must be the same); header and signature against that
server's registered keys, the algorithm pinned to the key's (broker.tokens.foreign:
no ``none``, no HS*, no public key used as an HMAC secret); the server not disabled; the
claims (broker.tokens.assertion); the ``jti`` spent in the replay store every replica
shares (unreachable: 503, nothing accepted).

A refusal's cause goes to the audit log once the server's signature verified; before that
(anyone can send such a JWT) only to the log, with the fixed-vocabulary cause.

``authenticate`` blocks (database): the HTTP edge runs it in a worker thread.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from broker.audit.writer import AuditWriter
from broker.auth.authenticator import Caller
from broker.clock import Clock
from broker.errors import Reason, Unauthenticated
from broker.services.resource_servers import ResourceServerService
from broker.store.database import Database
from broker.tokens import ALGORITHMS, InvalidToken
from broker.tokens.assertion import check_assertion_claims
from broker.tokens.foreign import unverified_claims, verify_foreign
from broker.tokens.replay import ReplayStore

log = logging.getLogger(__name__)
MAX_ASSERTION_BYTES = 8192
REFUSED = "the client assertion was not accepted"


def _refused(reason: Reason = Reason.INVALID_CLIENT) -> Unauthenticated:
    return Unauthenticated(REFUSED, reason=reason)


class ClientAssertions:
    def __init__(
        self,
        resource_servers: ResourceServerService,
        replay: ReplayStore,
        db: Database,
        audit: AuditWriter,
        clock: Clock,
        *,
        issuer: str,
        leeway: float,
        algorithms: Iterable[str] = ALGORITHMS,
    ) -> None:
        self.resource_servers, self.replay = resource_servers, replay
        self.db, self.audit, self.clock = db, audit, clock
        self.issuer, self.leeway = issuer, leeway
        self.algorithms = tuple(algorithms)

    def endpoint(self, name: str) -> str:
        """The URL of ``/oauth/<name>`` as the metadata publishes it (never the Host header)."""
        return f"{self.issuer}/oauth/{name}"

    def authenticate(self, assertion: str, *, client_id: str | None, endpoint: str) -> Caller:
        """The resource server that signed ``assertion`` for ``endpoint`` (a URL)."""
        try:
            iss = unverified_claims(assertion, max_bytes=MAX_ASSERTION_BYTES).get("iss")
        except InvalidToken as exc:
            log.info("client assertion refused: %s", exc.audit_detail)
            raise _refused() from None
        if not isinstance(iss, str) or (client_id is not None and client_id != iss):
            log.info("client assertion refused: iss missing or not the client_id")
            raise _refused()
        client = self.resource_servers.client(iss)
        if client is None or not client.keys:
            log.info("client assertion refused: no resource server with keys is named so")
            raise _refused()
        try:
            kid, claims = verify_foreign(
                assertion,
                client.resolve,
                algorithms=self.algorithms,
                max_bytes=MAX_ASSERTION_BYTES,
                kid_optional=True,
            )
        except InvalidToken as exc:
            log.info("client assertion for %s refused: %s", client.name, exc.audit_detail)
            raise _refused() from None
        if client.disabled:
            self._record_refusal(client.name, "resource server disabled")
            raise _refused(Reason.CREDENTIAL_DISABLED)
        now = self.clock()
        try:
            checked = check_assertion_claims(
                claims,
                client_id=client.name,
                audiences=(self.issuer, endpoint),
                now=now,
                leeway=self.leeway,
            )
            self.replay.claim(
                f"client_assertion:{client.name}",
                checked.jti,
                until=checked.exp + self.leeway,
                now=now,
            )
        except InvalidToken as exc:
            self._record_refusal(client.name, exc.audit_detail)
            raise _refused() from None
        return Caller(client.principal_id, "resource_server", client.name, f"jwt:{kid}")

    def _record_refusal(self, name: str, detail: str) -> None:
        with self.db.transaction() as tx:
            self.audit.append(
                tx,
                type="client_assertion.refused",
                actor=f"resource_server:{name}",
                outcome="denied",
                reason=Reason.INVALID_CLIENT.value,
                data={"detail": detail},
            )
