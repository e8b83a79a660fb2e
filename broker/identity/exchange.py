"""Workload identity at the token endpoint: a platform's JWT in, an agent ``Caller`` out.

Steps, each refusal one opaque ``InvalidToken`` (an ``invalid_grant`` at /oauth/token):
size cap; the unverified ``iss`` picks the trusted issuer (unknown issuer: refused);
header and signature against that issuer's keys and algorithms (broker.tokens.foreign);
claims (broker.identity.claims); the agent rule; the ``jti`` once, when the issuer's
tokens are single-use (the replay store every replica shares; unreachable: 503). The
agent principal is created on first use (no credential: it can only ever authenticate
this way or by one an admin adds).

A refusal's cause goes to the audit log once the issuer's signature verified; before that
(anyone can send such a token) only to the log, so garbage cannot flood the audit log.

``authenticate`` blocks (JWKS fetch, database): the HTTP edge runs it in a worker thread.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, Select, select
from sqlalchemy.exc import IntegrityError

from broker.audit.writer import AuditWriter
from broker.auth.authenticator import Caller
from broker.clock import Clock
from broker.errors import Reason, Unauthenticated
from broker.identity.claims import WorkloadIdentity, check_workload_claims
from broker.identity.issuers import TrustedIssuer
from broker.identity.keys import IssuerKeys, JwksFetch, http_fetch
from broker.store.database import Database
from broker.store.tables import Principal
from broker.tokens import InvalidToken
from broker.tokens.foreign import unverified_claims, verify_foreign
from broker.tokens.replay import ReplayCache, ReplayStore

JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
WORKLOAD_TOKEN_TYPES = (JWT_TOKEN_TYPE, ID_TOKEN_TYPE)

_principals = Principal.__table__  # type: ignore[attr-defined]
log = logging.getLogger(__name__)


class WorkloadExchange:
    def __init__(
        self,
        issuers: Sequence[TrustedIssuer],
        db: Database,
        audit: AuditWriter,
        clock: Clock,
        *,
        fetch: JwksFetch = http_fetch,
        replay: ReplayStore | None = None,
    ) -> None:
        self.db, self.audit, self.clock = db, audit, clock
        self._issuers = {i.issuer: IssuerKeys(i, clock=clock, fetch=fetch) for i in issuers}
        # The broker passes the shared table (broker.store.replay), so a single-use token
        # is accepted once across every replica; the memory twin serves alone otherwise.
        self.replay: ReplayStore = replay if replay is not None else ReplayCache()

    def __repr__(self) -> str:
        return f"WorkloadExchange(issuers={sorted(k.issuer.name for k in self._issuers.values())})"

    def identify(self, token: str) -> WorkloadIdentity:
        """The verified identity a token carries (no database); refusals as described above."""
        iss = unverified_claims(token).get("iss")
        keys = self._issuers.get(iss) if isinstance(iss, str) else None
        if keys is None:
            raise InvalidToken("unknown issuer")
        try:
            _, claims = verify_foreign(token, keys.resolve, algorithms=keys.issuer.algorithms)
        except InvalidToken as exc:
            # Anyone can send a token naming a trusted iss: not audited, so garbage cannot
            # flood the audit log; logged with the fixed-vocabulary cause only.
            log.info("workload token for issuer %s refused: %s", keys.issuer.name, exc.audit_detail)
            raise
        try:
            now = self.clock()
            identity = check_workload_claims(claims, keys.issuer, now=now)
            if keys.issuer.single_use and identity.jti is not None:
                self.replay.claim(
                    identity.issuer, identity.jti, until=identity.exp + keys.issuer.leeway, now=now
                )
        except InvalidToken as exc:
            self._record_refusal(keys.issuer.name, exc.audit_detail)
            raise
        return identity

    def authenticate(self, token: str) -> Caller:
        identity = self.identify(token)
        return self._principal(identity)

    def _principal(self, identity: WorkloadIdentity) -> Caller:
        with self.db.read() as conn:
            row = conn.execute(self._lookup(identity.agent)).first()
        if row is None:
            row = self._create(identity)
        if row.disabled_at is not None:
            raise Unauthenticated("the agent is disabled", reason=Reason.CREDENTIAL_DISABLED)
        return Caller(row.id, "agent", identity.agent, f"wi:{identity.issuer}")

    @staticmethod
    def _lookup(name: str) -> Select[Any]:
        return select(_principals.c.id, _principals.c.disabled_at).where(
            _principals.c.kind == "agent", _principals.c.name == name
        )

    def _create(self, identity: WorkloadIdentity) -> Row[Any]:
        try:
            with self.db.transaction() as tx:
                tx.conn.execute(
                    _principals.insert().values(
                        id=uuid.uuid4().hex,
                        kind="agent",
                        name=identity.agent,
                        description=f"workload identity from trusted issuer {identity.issuer}",
                        created_at=self.clock(),
                    )
                )
                self.audit.append(
                    tx,
                    type="agent.created",
                    actor=f"trusted_issuer:{identity.issuer}",
                    subject=f"agent:{identity.agent}",
                    data={"via": "workload_identity", "token_sub": identity.subject[:200]},
                )
        except IntegrityError:
            pass  # another replica created it first
        with self.db.read() as conn:
            return conn.execute(self._lookup(identity.agent)).one()

    def _record_refusal(self, issuer: str, detail: str) -> None:
        # Only for tokens the trusted issuer signed (expired, wrong audience, no rule, replay).
        with self.db.transaction() as tx:
            self.audit.append(
                tx,
                type="workload_identity.refused",
                actor=f"trusted_issuer:{issuer}",
                outcome="denied",
                reason=Reason.TOKEN_INVALID.value,
                data={"detail": detail},
            )
