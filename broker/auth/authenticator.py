"""Authenticate a bearer credential against the store, with a short verified-credential cache.

The slow hash runs once per credential per ``cache_ttl``; every request still reads the
credential's row so a disabled agent or credential is refused at once.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

from sqlalchemy import Connection

from broker.audit.writer import AuditWriter
from broker.auth.credentials import DUMMY_HASH, Kind, parse_credential, verify_secret
from broker.clock import Clock
from broker.errors import Denied, Reason, Unauthenticated
from broker.store.database import Database, Tx
from broker.store.raw import RawStatement

MAX_CACHE = 10_000
# Read on every authenticated request: straight to the driver (broker/store/raw.py).
_CREDENTIAL_ROW = RawStatement(
    "SELECT c.secret_hash, c.disabled_at, p.id, p.kind, p.name, p.disabled_at"
    " FROM credentials c JOIN principals p ON p.id = c.principal_id WHERE c.key_id = :key_id"
)


@dataclass(frozen=True)
class _Row:
    secret_hash: str
    cred_disabled: float | None
    id: str
    kind: str
    name: str
    principal_disabled: float | None


class CredentialRefused(Unauthenticated):
    """A refusal for a key id that exists: worth an audit event (who was tried, not the secret)."""

    def __init__(self, detail: str, reason: Reason, principal: str, key_id: str) -> None:
        super().__init__(detail, reason=reason)
        self.principal = principal
        self.key_id = key_id


# Which kinds a caller may be; None: an agent or an admin (a resource server only where
# it is named, at introspection and revocation).
Accepted = Kind | tuple[Kind, ...] | None


def _accepted(kind: Accepted) -> tuple[Kind, ...]:
    if kind is None:
        return ("agent", "admin")
    return kind if isinstance(kind, tuple) else (kind,)


class WrongRole(Denied):
    """A valid credential of the wrong kind: RFC 6750's insufficient_scope, not a 401."""

    def __init__(self, expected: tuple[Kind, ...]) -> None:
        reason = Reason.ADMIN_REQUIRED if expected == ("admin",) else Reason.INSUFFICIENT_SCOPE
        super().__init__(
            f"an {' or '.join(expected)} credential is required",
            reason=reason,
            extra={"error": "insufficient_scope"},
        )


@dataclass(frozen=True)
class Caller:
    principal_id: str
    kind: Kind
    name: str
    key_id: str

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.name}"


class Authenticator:
    def __init__(self, db: Database, audit: AuditWriter, *, clock: Clock, cache_ttl: float) -> None:
        self.db, self.audit, self.clock = db, audit, clock
        self.cache_ttl = cache_ttl
        self._verified: dict[bytes, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def check(self, credential: str, *, kind: Accepted) -> Caller:
        """Authenticate on a connection of its own; refusals of known keys are audited."""
        try:
            with self.db.read() as conn:
                return self.authenticate(conn, credential, kind=kind)
        except CredentialRefused as refused:
            self.record_refusal(refused)
            raise

    def record_refusal(self, refused: CredentialRefused) -> None:
        """Called after the refused request's own transaction has ended."""
        with self.db.transaction() as tx:
            self.record_refusal_in(tx, refused)

    def record_refusal_in(self, tx: Tx, refused: CredentialRefused) -> None:
        # Only for key ids that exist, so anonymous garbage cannot flood the audit log.
        self.audit.append(
            tx,
            type="auth.refused",
            actor=refused.principal,
            subject=f"key:{refused.key_id}",
            outcome="denied",
            reason=refused.reason.value,
        )

    def authenticate(self, conn: Connection, credential: str, *, kind: Accepted) -> Caller:
        """A credential of a kind not ``kind`` is ``WrongRole`` once it has proved valid (a
        wrong secret stays a 401 whatever its prefix)."""
        parsed = parse_credential(credential)
        found = _CREDENTIAL_ROW.fetch_one(conn, {"key_id": parsed.key_id})
        row = _Row(*found) if found is not None else None
        fingerprint = hashlib.sha256(credential.encode()).digest()
        if row is None or row.kind != parsed.kind:
            verify_secret(parsed.secret, DUMMY_HASH)
            raise Unauthenticated("the credential is not valid", reason=Reason.CREDENTIAL_INVALID)
        known = f"{row.kind}:{row.name}"
        if not self._cached(fingerprint, row.secret_hash):
            if not verify_secret(parsed.secret, row.secret_hash):
                raise CredentialRefused(
                    "the credential is not valid", Reason.CREDENTIAL_INVALID, known, parsed.key_id
                )
            self._remember(fingerprint, row.secret_hash)
        if row.cred_disabled is not None or row.principal_disabled is not None:
            raise CredentialRefused(
                "the credential is disabled", Reason.CREDENTIAL_DISABLED, known, parsed.key_id
            )
        if parsed.kind not in _accepted(kind):
            raise WrongRole(_accepted(kind))
        return Caller(row.id, parsed.kind, row.name, parsed.key_id)

    def recently_verified(self, credential: str) -> bool:
        """True when this exact credential passed the slow hash within the cache time (no I/O).
        Callers that hold a shared transaction run ``check`` in a thread first otherwise, so
        a slow hash never runs while others wait."""
        entry = self._verified.get(hashlib.sha256(credential.encode()).digest())
        return entry is not None and entry[1] > self.clock()

    def _cached(self, fingerprint: bytes, secret_hash: str) -> bool:
        entry = self._verified.get(fingerprint)
        # The stored hash is part of the entry: a replaced credential row invalidates it.
        return entry is not None and entry[0] == secret_hash and entry[1] > self.clock()

    def _remember(self, fingerprint: bytes, secret_hash: str) -> None:
        with self._lock:
            if len(self._verified) >= MAX_CACHE:
                self._verified.clear()
            self._verified[fingerprint] = (secret_hash, self.clock() + self.cache_ttl)
